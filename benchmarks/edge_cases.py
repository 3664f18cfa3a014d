"""The edge cases of "neither", measured on a trained run, and thumbnails of what it still gets wrong.

  python benchmarks/edge_cases.py --model RUN [--engine keras] [--grid docs/images/neither_edges.jpg] [--json OUT]

- Bengal cats (shift.parquet): a hybrid-looking domestic cat, to be answered cat.
- A cat beside a dog: 100 test cats pasted beside 100 test dogs, to be answered cat or dog, never neither.
- Line drawings: 60 test photos through an edge filter (a stand-in for drawings of pets: there are no
  drawings, toys or statues among the shared files), not promised either way; reported as measured.
- The grid: shared pets answered "neither" (test and shift) and lookalikes let through as cat or dog.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
from pathlib import Path

os.environ.setdefault("CATDOG_PROGRESS", "0")

import pyarrow.parquet as pq
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from catdog import Classifier

SHARED = Path(os.environ.get("SHARED", Path(__file__).resolve().parents[2] / "shared"))


def rows(name: str) -> list[dict]:
    table = pq.read_table(SHARED / "data" / f"{name}.parquet")
    return [{"bytes": i["bytes"], "path": i["path"], "label": label}
            for i, label in zip(table.column("image").to_pylist(), table.column("labels").to_pylist())]


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--engine", default="keras")
    parser.add_argument("--grid", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    classifier = Classifier.load(args.model, engine=args.engine)
    test, shift, lookalikes = rows("test"), rows("shift"), rows("lookalikes")
    kinds = [row["kind"] for row in csv.DictReader((SHARED / "data" / "lookalikes.classes.csv").open())]
    result: dict = {"model": str(args.model), "engine": args.engine}

    def answers(blobs: list[bytes]) -> dict[str, int]:
        said = classifier.predict(blobs)
        return {label: said.count(label) for label in ("cat", "dog", "neither")}

    bengal = [r["bytes"] for r in shift if r["path"].lower().startswith("bengal")]
    result["bengal cats (shift)"] = answers(bengal)
    cats = [opened(r["bytes"]) for r in test if r["label"] == 0][:100]
    dogs = [opened(r["bytes"]) for r in test if r["label"] == 1][:100]
    pairs = []
    for cat, dog in zip(cats, dogs):
        canvas = Image.new("RGB", (448, 224))
        canvas.paste(cat.resize((224, 224)), (0, 0))
        canvas.paste(dog.resize((224, 224)), (224, 0))
        pairs.append(jpeg(canvas))
    result["a cat beside a dog (test)"] = answers(pairs)
    drawings = [jpeg(ImageOps.invert(opened(r["bytes"]).convert("L").filter(ImageFilter.FIND_EDGES)).point(lambda v: 255 if v > 200 else 0))
                for r in test[:60]]
    result["line drawings of test photos (edge filter)"] = answers(drawings)

    # What is still wrong on the shared files, for the grid: pets refused and lookalikes let through.
    refused = []
    for source in (test, shift):
        for row, label in zip(source, classifier.predict([r["bytes"] for r in source])):
            if label == "neither":
                refused.append((row["bytes"], f"{Path(row['path']).stem[:18]}: neither"))
    through = [(row["bytes"], f"{kind}: {label}") for row, kind, label in
               zip(lookalikes, kinds, classifier.predict([r["bytes"] for r in lookalikes])) if label != "neither"]
    result["pets refused (test + shift)"] = [caption for _, caption in refused]
    result["lookalikes let through"] = [caption for _, caption in through]
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}, indent=1))
    print(f"pets refused: {len(refused)}; lookalikes let through: {len(through)}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.grid:
        shown = refused[:12] + through[:12]
        columns, cell = 6, 160
        grid = Image.new("RGB", (columns * cell, ((len(shown) + columns - 1) // columns) * (cell + 28)), "white")
        draw = ImageDraw.Draw(grid)
        for i, (data, caption) in enumerate(shown):
            x, y = (i % columns) * cell, (i // columns) * (cell + 28)
            grid.paste(ImageOps.fit(opened(data), (cell - 6, cell - 6)), (x + 3, y + 3))
            draw.text((x + 4, y + cell - 2), caption[:26], fill="black")
        args.grid.parent.mkdir(parents=True, exist_ok=True)
        grid.save(args.grid, quality=85)
        print(f"wrote {args.grid}")


if __name__ == "__main__":
    main()
