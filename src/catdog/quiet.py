"""Keep TensorFlow's and LiteRT's native start-up chatter off the terminal.

TensorFlow writes lines such as "This TensorFlow binary is optimized to use available CPU
instructions…" and absl's "All log messages before absl::InitializeLog()…" from C++ straight to file
descriptor 2 while it is imported, and LiteRT announces its XNNPACK delegate the same way: no Python
logging setting reaches them. The command line turns this on unless `--debug` is given: then the
file descriptor is pointed at /dev/null around those moments only (an import, an interpreter's
creation), so progress bars and errors still show."""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# Modules whose first import prints to fd 2 from native code.
NOISY_IMPORTS = ("tensorflow",)

_enabled = False


def enable() -> None:
    """Silence native start-up output from now on (the CLI calls this unless --debug)."""
    global _enabled
    _enabled = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not any(isinstance(finder, _QuietImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


@contextmanager
def native_output_silenced() -> Iterator[None]:
    """Point fd 2 at /dev/null for the block, when enabled; Python's own stderr is flushed around it."""
    if not _enabled:
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        with native_output_silenced():
            self.loader.exec_module(module)


class _QuietImport(importlib.abc.MetaPathFinder):
    """Wraps the loader of NOISY_IMPORTS so their first import runs with native output silenced."""

    def find_spec(self, name, path, target=None):
        if name not in NOISY_IMPORTS:
            return None
        sys.meta_path.remove(self)  # find the real module, then stand aside
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec
