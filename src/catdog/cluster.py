"""One place that connects to Ray for every scale-out job."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    """Without an address: a local Ray instance for this job, shut down afterwards. With one (auto,
    ray://HOST:PORT): that cluster, left running."""
    import ray
    import ray.data

    started_here = not ray.is_initialized() and address is None
    if not ray.is_initialized():
        # A local instance gets this machine's cores; a cluster says for itself what it has.
        cpus = os.cpu_count() if address is None else None
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False, num_cpus=cpus)
    ray.data.DataContext.get_current().enable_progress_bars = False  # our logs say what happened; stdout stays clean
    try:
        yield
    finally:
        if started_here:
            ray.shutdown()


def threads_per_worker(workers: int) -> int:
    """Engine threads for each of `workers` actors sharing this machine's cores."""
    return max(1, (os.cpu_count() or 1) // workers)
