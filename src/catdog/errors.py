"""Errors a user can act on. Each class maps to one CLI exit code."""

from __future__ import annotations


class CatdogError(Exception):
    """Base for expected errors: the message says what is wrong and how to fix it."""

    exit_code = 1


class UsageError(CatdogError):
    """A flag or argument is wrong."""

    exit_code = 2


class DataError(CatdogError):
    """A data source cannot be used: missing, wrong schema, wrong labels, empty."""

    exit_code = 3


class ModelError(CatdogError):
    """A model or its weights cannot be found or loaded."""

    exit_code = 4


class DecodeError(CatdogError):
    """One photo cannot be decoded. Runs skip and report it instead of stopping."""

    exit_code = 3


# The optional libraries by import name: (what to call it, the extra of pyproject.toml that installs it).
OPTIONAL_LIBRARIES = {
    "tensorflow": ("TensorFlow", "train"),
    "keras": ("Keras", "train"),
    "h5py": ("h5py", "train"),
    "scipy": ("SciPy", "train"),
    "sklearn": ("scikit-learn", "train"),
    "matplotlib": ("matplotlib", "train"),
    "tf2onnx": ("tf2onnx", "train"),
    "onnx": ("onnx", "train"),
    "mediapipe": ("MediaPipe", "train"),
    "cleanlab": ("cleanlab", "train"),
    "huggingface_hub": ("huggingface_hub", "train"),
    "onnxruntime": ("ONNX Runtime", "serve"),
    "ai_edge_litert": ("LiteRT", "serve"),
    "fastapi": ("FastAPI", "serve"),
    "starlette": ("FastAPI", "serve"),
    "uvicorn": ("uvicorn", "serve"),
    "multipart": ("python-multipart", "serve"),
    "python_multipart": ("python-multipart", "serve"),
    "prometheus_client": ("prometheus-client", "serve"),
    "datasets": ("the Hugging Face datasets library", "hub"),
    "ray": ("Ray", "ray"),
}


def missing_library(exc: ImportError, purpose: str, error: type[CatdogError] = UsageError) -> CatdogError | None:
    """The error to raise when `purpose` (for example "Serving") failed on `exc`: one sentence naming the
    optional library that is missing, and the extra that installs it. None when the import that failed
    is no optional library's (a bug, not something a user installs)."""
    module = (exc.name or "").split(".")[0]
    if module not in OPTIONAL_LIBRARIES:
        return None
    library, extra = OPTIONAL_LIBRARIES[module]
    install = f"pip install 'mobilenetv2-catdog[{extra}]'"
    if isinstance(exc, ModuleNotFoundError):
        return error(f"{purpose} needs {library}, which is not installed: {install}.")
    reason = " ".join(str(exc).split()).rstrip(".")
    return error(f"{purpose} needs {library}, which is installed but does not import ({reason}); reinstall it: {install} --force-reinstall.")


class ClusterError(CatdogError):
    """A Ray cluster cannot be used: unreachable, refused our token, or too small for --workers."""

    exit_code = 5
