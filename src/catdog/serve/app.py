"""`catdog serve`: the HTTP API and web page over a trained run, on the fast engines.

Endpoints: POST /v1/predict, POST /v1/explain, GET /healthz, /readyz, /metrics, /docs, and the web
page at /. Bad input gets a 4xx JSON error, never a crashed worker."""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..classifier import Classifier, Prediction
from ..data.decode import decode_image
from ..errors import DecodeError, ModelError
from ..limits import MAX_UPLOAD_BYTES, MAX_UPLOAD_FILES
from .batcher import MicroBatcher
from .metrics import ServiceMetrics

IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff", "application/octet-stream"}


@dataclass
class ServeSettings:
    model: Path
    engine: str = "auto"
    max_body_bytes: int = MAX_UPLOAD_BYTES
    max_files: int = MAX_UPLOAD_FILES
    max_batch: int = 32
    batch_window_ms: float = 2.0
    tta: bool | None = None  # test-time augmentation; None: as the run was trained
    neither: bool = True  # False: every photo holds a cat or a dog, never answer "neither"

    @classmethod
    def from_environment(cls) -> "ServeSettings":
        """Settings for uvicorn worker processes, which start from an import string, not from our CLI."""
        return cls(model=Path(os.environ["CATDOG_SERVE_MODEL"]), engine=os.environ.get("CATDOG_SERVE_ENGINE", "auto"),
                   max_body_bytes=int(os.environ.get("CATDOG_SERVE_MAX_BODY", MAX_UPLOAD_BYTES)),
                   max_files=int(os.environ.get("CATDOG_SERVE_MAX_FILES", MAX_UPLOAD_FILES)),
                   tta={"1": True, "0": False}.get(os.environ.get("CATDOG_SERVE_TTA", "")),
                   neither=os.environ.get("CATDOG_SERVE_NEITHER", "1") != "0")

    def to_environment(self) -> dict[str, str]:
        return {"CATDOG_SERVE_MODEL": str(self.model), "CATDOG_SERVE_ENGINE": self.engine,
                "CATDOG_SERVE_MAX_BODY": str(self.max_body_bytes), "CATDOG_SERVE_MAX_FILES": str(self.max_files),
                "CATDOG_SERVE_TTA": "" if self.tta is None else str(int(self.tta)),
                "CATDOG_SERVE_NEITHER": str(int(self.neither))}


class ModelInfo(BaseModel):
    name: str = Field(description="Run folder name")
    version: str = Field(description="catdog version and engine that answered")
    engine: str


class PhotoPrediction(BaseModel):
    filename: str
    label: str | None = Field(description="cat, dog or neither; null when this photo could not be read")
    p_dog: float | None = Field(description="Probability that the photo shows a dog rather than a cat")
    confidence: float | None
    pet_score: float | None = Field(default=None, description="Evidence that a cat or dog is present at all")
    latency_ms: float
    error: str | None = None


class PredictResponse(BaseModel):
    model: ModelInfo
    predictions: list[PhotoPrediction]


class ErrorResponse(BaseModel):
    error: str
    status: int


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


class BodyTooLarge(Exception):
    pass


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


ERRORS = {code: {"model": ErrorResponse} for code in (413, 415, 422)}


def create_app(settings: ServeSettings) -> FastAPI:
    metrics = ServiceMetrics()
    state: dict = {"ready": False}
    explain_lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        classifier = Classifier.load(settings.model, engine=settings.engine, tta=settings.tta, neither=settings.neither)
        classifier.config.decode_threads = 1  # decoding happens per request, in the server's thread pool
        state["classifier"] = classifier
        state["batcher"] = MicroBatcher(classifier.predict_pixels, settings.max_batch, settings.batch_window_ms / 1000,
                                        on_batch=metrics.batch_size.observe)
        await state["batcher"].start()
        size = classifier.engine.image_size
        await state["batcher"].submit(np.zeros((size, size, 3), dtype=np.uint8))  # warm-up before /readyz says yes
        state["ready"] = True
        yield
        await state["batcher"].stop()

    app = FastAPI(title="catdog", version=__version__, lifespan=lifespan,
                  description="Cat-vs-dog photo classifier (MobileNetV2). Answers cat, dog or neither.")

    @app.middleware("http")
    async def limit_and_measure(request: Request, call_next):
        started = time.perf_counter()
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
            response = _error(413, f"Request body is {int(declared)} bytes; the limit is {settings.max_body_bytes}.")
        else:
            response = await call_next(request)
        metrics.observe(request.url.path, response.status_code, time.perf_counter() - started)
        return response

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.message)

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(request: Request, exc: BodyTooLarge):
        return _error(413, f"Request body is over the {settings.max_body_bytes}-byte limit.")

    @app.exception_handler(HTTPException)  # Starlette's base class: FastAPI's and the form parser's
    async def http_error(request: Request, exc: HTTPException):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return _error(422, "Invalid request: " + "; ".join(e.get("msg", "") for e in exc.errors()))

    async def read_body(request: Request) -> bytes:
        """The body, counted while it arrives so a chunked upload cannot exceed the limit either."""
        chunks, total = [], 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > settings.max_body_bytes:
                raise BodyTooLarge()
            chunks.append(chunk)
        return b"".join(chunks)

    async def uploaded_photos(request: Request) -> list[tuple[str, bytes]]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "multipart/form-data":
            body = await read_body(request)
            request._body = body  # Starlette parses the form from the body we already read and counted
            try:
                form = await request.form(max_files=settings.max_files, max_fields=settings.max_files + 8)
            except HTTPException as exc:  # Starlette reports a form over its limits as 400
                if "Too many files" in str(exc.detail):
                    raise ApiError(413, f"Too many files; send at most {settings.max_files} photos per request.") from None
                raise ApiError(422, f"Malformed multipart body: {exc.detail}") from None
            files = [(value.filename or key, await value.read()) for key, value in form.multi_items() if hasattr(value, "read")]
            if not files:
                raise ApiError(422, "No photo in the form; send one or more files (any field name).")
            return files
        if content_type in IMAGE_TYPES or content_type.startswith("image/"):
            return [("body", await read_body(request))]
        raise ApiError(415, f"Unsupported content type '{content_type or 'none'}'; send multipart/form-data or an image/* body.")

    def model_info() -> ModelInfo:
        engine = state["classifier"].engine
        return ModelInfo(name=settings.model.name, version=f"catdog {__version__}", engine=f"{engine.name}:{engine.artifact}")

    async def predict_one(name: str, data: bytes) -> PhotoPrediction:
        started = time.perf_counter()
        classifier = state["classifier"]
        try:
            pixels = await run_in_threadpool(decode_image, data, classifier.engine.image_size)
        except DecodeError as exc:
            return PhotoPrediction(filename=name, label=None, p_dog=None, confidence=None,
                                   latency_ms=(time.perf_counter() - started) * 1000, error=str(exc))
        p_dog, pet = await state["batcher"].submit(pixels)
        answer = Prediction.scored(name, name, p_dog, pet, classifier.decision)
        return PhotoPrediction(filename=name, label=answer.label, p_dog=answer.p_dog, confidence=answer.confidence,
                               pet_score=answer.pet_score, latency_ms=(time.perf_counter() - started) * 1000)

    @app.post("/v1/predict", response_model=PredictResponse, responses=ERRORS,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "multipart/form-data": {"schema": {"type": "object", "properties": {"files": {
                      "type": "array", "items": {"type": "string", "format": "binary"}}}}},
                  "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                  "image/png": {"schema": {"type": "string", "format": "binary"}}}}})
    async def predict(request: Request) -> PredictResponse:
        """Label one or more photos: multipart files (up to the file limit) or one photo as the raw body."""
        photos = await uploaded_photos(request)
        predictions = await asyncio.gather(*(predict_one(name, data) for name, data in photos))
        if all(p.error for p in predictions):
            first = predictions[0]
            raise ApiError(422, f"{first.filename}: {first.error}" if len(predictions) == 1 else
                           f"None of the {len(predictions)} photos could be read; first: {first.filename}: {first.error}")
        return PredictResponse(model=model_info(), predictions=list(predictions))

    @app.post("/v1/explain", responses={200: {"content": {"image/png": {}}}, 501: {"model": ErrorResponse}, **ERRORS},
              response_class=Response,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                  "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}}}})
    async def explain(request: Request) -> Response:
        """The Grad-CAM overlay of one photo, as PNG (needs the Keras model, so TensorFlow)."""
        name, data = (await uploaded_photos(request))[0]
        classifier = state["classifier"]
        try:
            pixels = await run_in_threadpool(decode_image, data, classifier.engine.image_size)
        except DecodeError as exc:
            raise ApiError(422, f"{name}: {exc}")

        def render() -> bytes:
            from PIL import Image

            from ..explain.gradcam import gradcam, overlay

            with explain_lock:  # one Grad-CAM at a time: it holds a whole backward pass in memory
                heatmaps, _ = gradcam(classifier.keras_model(), pixels[None])
            buffer = io.BytesIO()
            Image.fromarray(overlay(pixels, heatmaps[0])).save(buffer, format="PNG")
            return buffer.getvalue()

        try:
            png = await run_in_threadpool(render)
        except (ImportError, ModelError) as exc:
            raise ApiError(501, f"Explanations are not available on this server: {exc}")
        return Response(png, media_type="image/png")

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"model": ErrorResponse}})
    async def readyz():
        if not state["ready"]:
            return _error(503, "The model is still loading.")
        return {"ready": True, "model": model_info().model_dump()}

    @app.get("/metrics", response_class=Response)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(resources.files(__package__).joinpath("static/index.html").read_text(encoding="utf-8"))

    return app


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory` worker processes."""
    return create_app(ServeSettings.from_environment())
