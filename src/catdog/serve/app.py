"""`catdog serve`: the HTTP API and web page over a trained run, on the fast engines.

Endpoints: POST /v1/predict, POST /v1/explain, GET /v1/model (the run's class names and its refusal),
/healthz, /readyz, /metrics, /docs, and the web page at /. Typed FastAPI endpoints; the OpenAPI schema is FastAPI's own. Bad input gets a 4xx JSON
error, never a crashed worker."""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..classifier import Classifier, Prediction
from ..data.decode import decode_image
from ..errors import DecodeError, ModelError, missing_library
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
    neither: bool = True  # False: every photo holds one of the classes, never refuse ("neither" / "none of these")
    refuse: str | None = None  # operating point of the refusal (--refuse); None: the run's own

    @classmethod
    def from_environment(cls) -> ServeSettings:
        """Settings for uvicorn worker processes, which start from an import string, not from our CLI."""
        return cls(model=Path(os.environ["CATDOG_SERVE_MODEL"]), engine=os.environ.get("CATDOG_SERVE_ENGINE", "auto"),
                   max_body_bytes=int(os.environ.get("CATDOG_SERVE_MAX_BODY", MAX_UPLOAD_BYTES)),
                   max_files=int(os.environ.get("CATDOG_SERVE_MAX_FILES", MAX_UPLOAD_FILES)),
                   tta={"1": True, "0": False}.get(os.environ.get("CATDOG_SERVE_TTA", "")),
                   neither=os.environ.get("CATDOG_SERVE_NEITHER", "1") != "0",
                   refuse=os.environ.get("CATDOG_SERVE_REFUSE") or None)

    def to_environment(self) -> dict[str, str]:
        return {"CATDOG_SERVE_MODEL": str(self.model), "CATDOG_SERVE_ENGINE": self.engine,
                "CATDOG_SERVE_MAX_BODY": str(self.max_body_bytes), "CATDOG_SERVE_MAX_FILES": str(self.max_files),
                "CATDOG_SERVE_TTA": "" if self.tta is None else str(int(self.tta)),
                "CATDOG_SERVE_NEITHER": str(int(self.neither)), "CATDOG_SERVE_REFUSE": self.refuse or ""}


# ------------------------------------------------------------------ response models


class ModelInfo(BaseModel):
    name: str = Field(description="Run folder name")
    version: str = Field(description="catdog version")
    engine: str = Field(description="Engine and file that answered, for example tflite:tflite-int8")
    classes: list[str] = Field(description="The run's class names, in label order (cat, dog by default)")
    refusal: str = Field(description="The label of a photo of none of the classes: neither for cat and dog, none of these for other classes")


class PhotoPrediction(BaseModel):
    filename: str
    label: str | None = Field(description="One of the run's classes (cat or dog by default), or its refusal (neither: no cat or "
                                          "dog in the photo; none of these for other classes); null when it could not be read")
    p_dog: float | None = Field(description="Cat and dog runs: probability that the photo shows a dog rather than a cat, means "
                                            "nothing when the label is neither; null for runs of other classes")
    probabilities: dict[str, float] | None = Field(default=None, description="Each class's probability by name (they sum to 1 "
                                                   "and say which class it is; they mean nothing for a refusal); null when unread")
    confidence: float | None = Field(description="How sure the answer is: the label's probability (for the refusal: that none of "
                                                 "the classes is there)")
    pet_probability: float | None = Field(default=None, description="Chance that one of the classes (a cat or dog) is in the "
                                                                    "photo at all; under 0.5 the label is the refusal")
    pet_score: float | None = Field(default=None, description="The raw evidence behind pet_probability, in the model's own units (for scripts)")
    latency_ms: float
    error: str | None = Field(default=None, description="Why this photo could not be read")


class PredictResponse(BaseModel):
    model: ModelInfo
    predictions: list[PhotoPrediction]


class ErrorResponse(BaseModel):
    error: str = Field(description="What is wrong, in one sentence")
    status: int


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    model: ModelInfo


# 400: a malformed multipart body (the form parser's answer); 413: over a limit; 415: not a photo's
# content type; 422: a body that is not photos, or photos that cannot be read.
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (400, 413, 415, 422)}
UPLOAD_PATHS = ("/v1/predict", "/v1/explain")


# ------------------------------------------------------------------ state and errors


@dataclass
class ServiceState:
    """What the running service holds, in app.state.catdog."""

    settings: ServeSettings
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    classifier: Classifier | None = None
    batcher: MicroBatcher | None = None
    explain_lock: threading.Lock = field(default_factory=threading.Lock)  # one Grad-CAM (a backward pass) at a time

    @property
    def ready(self) -> bool:
        return self.classifier is not None and self.batcher is not None

    def model_info(self) -> ModelInfo:
        assert self.classifier is not None and self.classifier.engine is not None
        engine, decision = self.classifier.engine, self.classifier.decision
        return ModelInfo(name=self.settings.model.name, version=f"catdog {__version__}", engine=f"{engine.name}:{engine.artifact}",
                         classes=list(decision.classes), refusal=decision.refusal)


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class BodyTooLarge(Exception):
    pass


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


class BodyLimit:
    """Counts the request body as it arrives: over the limit, whether declared by Content-Length or
    sent in chunks, the request ends with 413 before the rest is read."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await _error(413, f"Request body is {int(declared)} bytes; the limit is {self.limit}.")(scope, receive, send)
            return
        received, started = 0, False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise BodyTooLarge()
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            # Raised wherever the body was being read (a dependency, the form parser, a middleware's task):
            # answered here, so it never surfaces as a server error.
            if not started:
                await _error(413, f"Request body is over the {self.limit}-byte limit.")(scope, receive, send)


class Measured:
    """Counts requests by path and status, and their latency, for /metrics. Pure ASGI, like BodyLimit:
    Starlette's BaseHTTPMiddleware runs the app in a task group, whose exception groups would hide a
    BodyTooLarge from the code that answers it."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def recorded(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recorded)
        finally:
            self.metrics.observe(scope["path"], status, time.perf_counter() - started)


def service(request: Request) -> ServiceState:
    return request.app.state.catdog


def ready_service(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.catdog
    if not state.ready:
        raise ApiError(503, "The model is still loading; try again in a moment.")
    return state


# ------------------------------------------------------------------ uploads


async def uploaded_photos(request: Request, state: Annotated[ServiceState, Depends(service)],
                          files: Annotated[list[UploadFile] | None, File(description="One or more photos.")] = None,
                          ) -> list[tuple[str, bytes]]:
    """The photos of a request: multipart files (field `files`), or one photo as the raw body (any
    image/* content type). The body itself is limited by BodyLimit."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        if not files:
            raise ApiError(422, _no_files(await request.form()))
        if len(files) > state.settings.max_files:
            raise ApiError(413, f"Too many files; send at most {state.settings.max_files} photos per request.")
        return [(upload.filename or "files", await upload.read()) for upload in files]
    if content_type in IMAGE_TYPES or content_type.startswith("image/"):
        return [("body", await request.body())]
    raise ApiError(415, f"Unsupported content type '{content_type or 'none'}'; send multipart/form-data or an image/* body.")


def _no_files(form: Any) -> str:
    """Why a multipart form gave no photos: say which file came in another field, if one did."""
    for key, value in form.multi_items():
        if not isinstance(value, str):
            return f"{value.filename or 'A file'} came in the field '{key}'; send photos in the field 'files'."
    return "No photo in the form; send one or more files in the field 'files'."


def _text_in_files(errors: Any) -> str | None:
    """The answer when the form's `files` field holds text rather than a file (FastAPI's validation
    error for it says "Expected UploadFile"); None for any other invalid request."""
    for error in errors:
        if tuple(error.get("loc", ()))[:2] == ("body", "files") and "UploadFile" in str(error.get("msg", "")):
            text = " ".join(str(error.get("input", "")).split())
            shown = repr(text if len(text) <= 40 else text[:39] + "…")
            return f"The field 'files' holds the text {shown}, not a file; send each photo as a file (curl -F files=@photo.jpg)."
    return None


Photos = Annotated[list[tuple[str, bytes]], Depends(uploaded_photos)]
Ready = Annotated[ServiceState, Depends(ready_service)]


async def _decode(state: ServiceState, name: str, data: bytes) -> np.ndarray | str:
    assert state.classifier is not None and state.classifier.engine is not None
    try:
        return await run_in_threadpool(decode_image, data, state.classifier.engine.image_size)
    except DecodeError as exc:
        return str(exc)


async def _predict_one(state: ServiceState, name: str, data: bytes) -> PhotoPrediction:
    started = time.perf_counter()
    pixels = await _decode(state, name, data)
    if isinstance(pixels, str):
        return PhotoPrediction(filename=name, label=None, p_dog=None, confidence=None,
                               latency_ms=(time.perf_counter() - started) * 1000, error=pixels)
    assert state.batcher is not None and state.classifier is not None
    p, pet = await state.batcher.submit(pixels)
    answer = Prediction.scored(name, name, p, pet, state.classifier.decision)
    return PhotoPrediction(filename=name, label=answer.label, p_dog=answer.p_dog, probabilities=answer.probabilities,
                           confidence=answer.confidence, pet_probability=answer.pet_probability, pet_score=answer.pet_score,
                           latency_ms=(time.perf_counter() - started) * 1000)


# ------------------------------------------------------------------ endpoints

router = APIRouter()


@router.post("/v1/predict", response_model=PredictResponse, responses=ERRORS)
async def predict(photos: Photos, state: Ready) -> PredictResponse:
    """Label one or more photos with one of the run's classes (cat or dog by default) or its refusal
    (neither / none of these): multipart files (up to the file limit), or one photo as the raw body
    with an image/* content type."""
    predictions = await asyncio.gather(*(_predict_one(state, name, data) for name, data in photos))
    if all(p.error for p in predictions):
        first = predictions[0]
        raise ApiError(422, f"{first.filename}: {first.error}" if len(predictions) == 1 else
                       f"None of the {len(predictions)} photos could be read; first: {first.filename}: {first.error}")
    return PredictResponse(model=state.model_info(), predictions=list(predictions))


@router.post("/v1/explain", response_class=Response, responses={200: {"content": {"image/png": {}}},
                                                                   501: {"model": ErrorResponse}, **ERRORS})
async def explain(photos: Photos, state: Ready) -> Response:
    """The Grad-CAM overlay of one photo (the first, if several are sent), as PNG: where the evidence
    for its likeliest class lies. Needs the Keras model, so TensorFlow."""
    name, data = photos[0]
    pixels = await _decode(state, name, data)
    if isinstance(pixels, str):
        raise ApiError(422, f"{name}: {pixels}")
    classifier = state.classifier
    assert classifier is not None and state.batcher is not None
    # The answer through the batcher, which owns the serving engine (TFLite's interpreter runs one call at a time).
    p, pet = await state.batcher.submit(pixels)
    scores = (np.asarray(p)[None], None if pet is None else np.array([pet]))

    def render() -> bytes:
        from PIL import Image

        from ..explain.gradcam import overlay
        from ..explain.run import explain_pixels

        with state.explain_lock:
            [explanation] = explain_pixels(classifier, classifier.keras_model(), pixels[None], [name], scores)
        buffer = io.BytesIO()
        Image.fromarray(overlay(pixels, explanation.heatmap)).save(buffer, format="PNG")
        return buffer.getvalue()

    try:
        png = await run_in_threadpool(render)
    except ImportError as exc:
        raise ApiError(501, f"Explanations are not available on this server: {missing_library(exc, 'Grad-CAM') or exc}") from exc
    except ModelError as exc:
        raise ApiError(501, f"Explanations are not available on this server: {exc}") from exc
    return Response(png, media_type="image/png")


@router.get("/v1/model", responses={503: {"model": ErrorResponse}})
async def model_info(state: Ready) -> ModelInfo:
    """The run that answers: its class names, in label order, and the label of a photo of none of them."""
    return state.model_info()


@router.get("/healthz")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", responses={503: {"model": ErrorResponse}})
async def readyz(state: Ready) -> Readiness:
    return Readiness(ready=True, model=state.model_info())


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def prometheus(state: Annotated[ServiceState, Depends(service)]) -> Response:
    return Response(state.metrics.render(), media_type=state.metrics.content_type)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page() -> HTMLResponse:
    return HTMLResponse(resources.files(__package__).joinpath("static/index.html").read_text(encoding="utf-8"))


def create_app(settings: ServeSettings) -> FastAPI:
    state = ServiceState(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One photo per request, decoded at the full size: the first look (which decodes twice when in doubt) stays unloaded.
        classifier = Classifier.load(settings.model, engine=settings.engine, tta=settings.tta, neither=settings.neither,
                                     refuse=settings.refuse, glance=False)
        classifier.config.decode_threads = 1  # decoding happens per request, in the server's thread pool
        batcher = MicroBatcher(classifier.predict_pixels, settings.max_batch, settings.batch_window_ms / 1000,
                               on_batch=state.metrics.batch_size.observe)
        await batcher.start()
        size = classifier.config.image_size
        await batcher.submit(np.zeros((size, size, 3), dtype=np.uint8))  # warm-up before /readyz says yes
        state.classifier, state.batcher = classifier, batcher
        yield
        await batcher.stop()

    app = FastAPI(title="catdog", version=__version__, lifespan=lifespan,
                  description="Photo classifier (MobileNetV2) of a run's classes: cat, dog or neither by default, or "
                              "the classes it was trained on or none of these (GET /v1/model lists them).")
    app.state.catdog = state
    app.include_router(router)
    app.openapi = lambda: _schema(app)  # type: ignore[method-assign]
    _install_error_handlers(app, state)

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(Measured, metrics=state.metrics)  # outermost: sees the 413s BodyLimit answers too
    return app


def _schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's own schema, made exact about uploads: the `files` parameter is optional in Python
    only so that a raw image body can take its place, so the schema says what the endpoint takes:
    a multipart body with at least one file, or one photo as the raw body."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in UPLOAD_PATHS:
            body = schema["paths"][path]["post"]["requestBody"]
            form = schema["components"]["schemas"][body["content"]["multipart/form-data"]["schema"]["$ref"].split("/")[-1]]
            files = form["properties"]["files"]
            files.update({"type": "array", "items": files["anyOf"][0]["items"], "minItems": 1})
            files.pop("anyOf", None)
            form["required"] = ["files"]
            body["required"] = True
            for media_type in ("image/jpeg", "image/png"):
                body["content"][media_type] = {"schema": {"type": "string", "format": "binary"}}
        app.openapi_schema = schema
    return app.openapi_schema


def _install_error_handlers(app: FastAPI, state: ServiceState) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.message)

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(request: Request, exc: BodyTooLarge):
        return _error(413, f"Request body is over the {state.settings.max_body_bytes}-byte limit.")

    @app.exception_handler(HTTPException)  # Starlette's base class: FastAPI's, routing's (404, 405) and the form parser's
    async def http_error(request: Request, exc: HTTPException):
        # 405 carries Allow (RFC 9110) and 401 WWW-Authenticate: keep the headers the exception has.
        return _error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        return _error(422, _text_in_files(errors) or "Invalid request: " + "; ".join(str(e.get("msg", "")) for e in errors))


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory` worker processes."""
    return create_app(ServeSettings.from_environment())
