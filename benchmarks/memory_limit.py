"""What a command's memory is made of, and whether it runs on a machine with only so much.

Peak RSS counts the pages of the shared libraries a process has mapped, and how many of those the
kernel maps depends on the page cache: right after `pip install` wrote them, TensorFlow's libraries
are held as large folios that are mapped whole, and `import tensorflow` alone reads ~870 MB instead
of ~690 MB, with the same 293 MB of anonymous memory (measured on Linux 6.18, docs/BENCHMARKS.md).
Those pages are clean and shared: under memory pressure the kernel drops them and reads them again.
So beside peak RSS, two figures that do not depend on the page cache:

- `AnonymousPeak`: the largest anonymous memory (RssAnon: heap, tensors, Python objects) of any
  process of the command's tree, sampled every 20 ms;
- `MemoryCap`: the command run inside a memory cgroup limited to N MiB (anonymous memory and the
  page cache it reads, libraries included, all charged to it; no swap), after the installed
  libraries were dropped from the page cache so that the command reads them in again, as on a
  machine that has just started. A command that needs more than N MiB is killed by the kernel.
"""

from __future__ import annotations

import os
import sysconfig
import threading
from pathlib import Path

MiB = 1024 * 1024


class AnonymousPeak:
    """Samples RssAnon of a process and its descendants; `watch(pid)` starts, the function it
    returns stops. `mb`: the largest of one process, in MiB."""

    def __init__(self, every_seconds: float = 0.02):
        self.every, self.mb = every_seconds, 0.0

    def watch(self, pid: int):
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                for process in _tree(pid):
                    self.mb = max(self.mb, _anonymous_kb(process) / 1024)
                done.wait(self.every)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()

        def stop() -> None:
            done.set()
            thread.join()
        return stop


def _tree(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                queue += [int(child) for child in Path(f"/proc/{current}/task/{task}/children").read_text().split()]
        except OSError:  # it ended meanwhile
            continue
    return found


def _anonymous_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemoryCap:
    """A memory cgroup (v2, or v1) limited to `mb` MiB for one command: `enter` is the command's
    preexec_fn; `result()` its peak usage and how many of its processes the kernel killed."""

    def __init__(self, mb: int, name: str):
        self.mb = mb
        v2 = Path("/sys/fs/cgroup/cgroup.controllers").is_file()
        self.v2 = v2
        self.path = Path("/sys/fs/cgroup" if v2 else "/sys/fs/cgroup/memory") / name
        try:
            self.path.mkdir()
            if v2:
                (self.path / "memory.max").write_text(str(mb * MiB))
                (self.path / "memory.swap.max").write_text("0")
            else:
                (self.path / "memory.limit_in_bytes").write_text(str(mb * MiB))
                swap = self.path / "memory.memsw.limit_in_bytes"
                if swap.exists():  # (only where swap accounting is on)
                    swap.write_text(str(mb * MiB))
        except OSError as exc:
            self.close()
            raise SystemExit(f"--cap-mb needs a memory cgroup this user may create ({self.path}: {exc}); run as root, "
                             "or without --cap-mb.") from exc

    def enter(self) -> None:
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def result(self) -> dict:
        if self.v2:
            peak = int((self.path / "memory.peak").read_text())
            events = dict(line.split() for line in (self.path / "memory.events").read_text().splitlines())
            kills = int(events.get("oom_kill", 0))
        else:
            peak = int((self.path / "memory.max_usage_in_bytes").read_text())
            control = dict(line.split() for line in (self.path / "memory.oom_control").read_text().splitlines())
            kills = int(control.get("oom_kill", 0))
        return {"cap_mb": self.mb, "cgroup_peak_mb": round(peak / MiB, 1), "oom_kills": kills}

    def close(self) -> None:
        try:
            self.path.rmdir()
        except OSError:
            pass


def evict_installed_libraries() -> int:
    """Drop the shared libraries of this Python's packages from the page cache (the pages no process
    maps): the next command reads them from disk, charged to its own cgroup. Returns the files."""
    count = 0
    for root in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        for path in Path(root).rglob("*.so*"):
            if not path.is_file():
                continue
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
                count += 1
            finally:
                os.close(descriptor)
    return count
