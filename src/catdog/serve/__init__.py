"""The HTTP service: FastAPI app, micro-batching, and the static web page."""
