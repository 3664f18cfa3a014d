"""The FastAPI app in-process (TestClient): typed endpoints, limits and error answers, without a server.
test_serve.py covers the same service through a real server on loopback, a browser and schemathesis."""

import io

import pytest
from fastapi.testclient import TestClient

from catdog import Classifier
from catdog.serve.app import ServeSettings, create_app
from conftest import DATA, TEST, read_rows

LIMIT = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def app_client(exported_run):
    settings = ServeSettings(model=exported_run, engine="onnx", max_body_bytes=LIMIT, max_files=4)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def photos():
    rows = read_rows(TEST, count=20)
    return next(r for r in rows if r["label"] == 0)["bytes"], next(r for r in rows if r["label"] == 1)["bytes"]


def test_multipart_and_raw_body_give_the_python_api_answers(app_client, exported_run, photos):
    flower = read_rows(DATA / "ood.parquet", count=1)[0]["bytes"]
    expected = Classifier.load(exported_run, engine="onnx", glance=False).predict([*photos, flower])
    files = [("files", (name, data, "image/jpeg")) for name, data in zip(("cat.jpg", "dog.jpg", "flower.jpg"), [*photos, flower])]
    body = app_client.post("/v1/predict", files=files).json()
    assert [p["label"] for p in body["predictions"]] == expected
    assert [p["filename"] for p in body["predictions"]] == ["cat.jpg", "dog.jpg", "flower.jpg"]
    raw = app_client.post("/v1/predict", content=photos[1], headers={"content-type": "image/jpeg"}).json()
    assert raw["predictions"][0]["label"] == expected[1] and raw["model"]["engine"] == "onnx:onnx"


@pytest.mark.parametrize("method, path, allowed", [("get", "/v1/predict", "POST"), ("delete", "/healthz", "GET"),
                                                   ("put", "/v1/explain", "POST")])
def test_a_wrong_method_answers_405_with_allow(app_client, method, path, allowed):
    response = getattr(app_client, method)(path)
    assert response.status_code == 405 and response.json()["status"] == 405
    assert response.headers["allow"] == allowed  # RFC 9110: a 405 says which methods the resource has


def test_limits_and_bad_bodies_answer_json_4xx(app_client, photos):
    too_big = app_client.post("/v1/predict", content=b"\xff" * (LIMIT + 1), headers={"content-type": "image/jpeg"})
    assert too_big.status_code == 413 and "limit" in too_big.json()["error"]
    files = [("files", (f"{i}.jpg", photos[0], "image/jpeg")) for i in range(5)]
    assert app_client.post("/v1/predict", files=files).status_code == 413
    empty_form = app_client.post("/v1/predict", files={"note": (None, "just text")})
    assert empty_form.status_code == 422 and "No photo" in empty_form.json()["error"]
    text = app_client.post("/v1/predict", content=b"hello", headers={"content-type": "text/plain"})
    assert text.status_code == 415 and "Unsupported content type" in text.json()["error"]
    broken = app_client.post("/v1/predict", files=[("files", ("broken.jpg", photos[0][:300], "image/jpeg"))])
    assert broken.status_code == 422 and broken.json()["error"].startswith("broken.jpg: truncated")


def test_the_schema_is_fastapis_own_and_declares_the_upload(app_client):
    schema = app_client.get("/openapi.json").json()
    body = schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    properties = schema["components"]["schemas"][body["$ref"].split("/")[-1]]["properties"]
    assert "files" in properties
    assert {"413", "415", "422"} <= set(schema["paths"]["/v1/predict"]["post"]["responses"])
    assert app_client.get("/readyz").json()["ready"] is True
    assert set(schema["components"]["schemas"]["PhotoPrediction"]["properties"]) >= {"label", "p_dog", "probabilities", "confidence"}
    assert app_client.get("/v1/model").json()["classes"] == ["cat", "dog"] and "/v1/model" in schema["paths"]
    assert "catdog_requests_total" in app_client.get("/metrics").text


def test_explain_returns_a_png(app_client, photos):
    from PIL import Image

    response = app_client.post("/v1/explain", content=photos[0], headers={"content-type": "image/jpeg"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (224, 224)


def test_a_form_without_a_photo_says_which_file_and_why(app_client, photos):
    """As `catdog predict` says it: the file's name, then why it is no photo; one sentence each."""
    def error(**request) -> str:
        response = app_client.post("/v1/predict", **request)
        assert response.status_code == 422, response.text
        return response.json()["error"]

    assert error(files=[("files", ("notes.txt", b"name,age\nfelix,3\n", "text/plain"))]) == "notes.txt: not an image (unrecognised format)"
    assert error(files=[("files", ("notes.txt", b"name,age", "text/plain")), ("files", ("a.pdf", b"%PDF-1.4", "application/pdf"))]) == (
        "None of the 2 photos could be read; first: notes.txt: not an image (unrecognised format)")
    assert error(files=[("file", ("cat.jpg", photos[0], "image/jpeg"))]) == "cat.jpg came in the field 'file'; send photos in the field 'files'."
    assert error(data={"files": "just text"}, files=[("other", (None, "x"))]) == (
        "The field 'files' holds the text 'just text', not a file; send each photo as a file (curl -F files=@photo.jpg).")
