"""The first look (RUN/glance/) fitted in a child process, before `catdog train` loads TensorFlow.

Fitted in the training process, beside the full model, it took `catdog train` to 1,013 MB: what one
TensorFlow fit leaves behind (its runtime's caches, not the small model) stayed under the full fit's
peak. In a child process it has a TensorFlow of its own, which exits before the parent imports one;
the parent waits meanwhile at the ~200 MB the feature pass leaves it (docs/BENCHMARKS.md, "Training
memory"). The child is

  python -c "...; from catdog.first_look import main; main()" < {config, data, out, cache_path, ray, extra}

and fits exactly what Classifier.fit fits in-process (the Python API's path): the same settings,
photos, split and seed, so the same model."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .errors import ModelError
from .progress import log


def fit_in_child(config: TrainConfig, data: str, out: Path, *, cache_path: str | os.PathLike[str] | None,
                 ray: dict[str, Any] | None, extra: dict[str, Any]) -> None:
    """Fit the first look with `config` on `data` (a source spec) and save it as the run folder `out`."""
    for module in ("keras", "tensorflow"):  # said here as the training would say it, not as a child's exit status
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(f"No module named '{module}'", name=module)
    log(f"Fitting the first look at {config.image_size} px in a child process …")
    started = time.perf_counter()
    payload = {"config": config.to_dict(), "data": data, "out": str(out), "ray": ray, "extra": extra,
               "cache_path": None if cache_path is None else str(cache_path)}
    # The child gets this process's import path, so it runs the same catdog (a source checkout too).
    code = "import json, sys; sys.path[:] = json.loads(sys.argv[1]); from catdog.first_look import main; main()"
    with tempfile.TemporaryFile("w+") as settings, tempfile.TemporaryFile("w+") as output:
        json.dump(payload, settings)
        settings.seek(0)
        # Its log lines reach the user as the parent's would; TensorFlow's start-up noise is silenced there.
        child = subprocess.run([sys.executable, "-c", code, json.dumps(sys.path)], stdin=settings, stdout=output, text=True,
                               env={**os.environ, "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")})
        output.seek(0)
        reported = [line for line in output.read().splitlines() if line.startswith("{")]
    if child.returncode != 0 or not reported:
        raise ModelError(f"Fitting the first look failed (exit status {child.returncode}; its error is above); "
                         "train with --glance-size 0 to go without it.")
    peak = json.loads(reported[-1]).get("peak_rss_mb")
    log(f"Fitted the first look in {time.perf_counter() - started:.1f} s in a child process"
        + (f" (peak RSS {peak} MB)" if peak else ""))


def main() -> None:
    from . import quiet
    from .classifier import Classifier
    from .memory import tune_allocator
    from .run_folder import library_versions
    from .training.convert_backbone import own_peak_rss_mb

    quiet.enable()
    tune_allocator()
    payload = json.load(sys.stdin)
    config = TrainConfig.from_dict(payload["config"])
    classifier = Classifier(config, cache_path=payload["cache_path"], ray=payload["ray"]).fit(payload["data"])
    classifier.save(payload["out"], extra={**payload["extra"], "versions": library_versions()})
    print(json.dumps({"peak_rss_mb": own_peak_rss_mb()}))  # for the parent's log
