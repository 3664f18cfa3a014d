"""What `catdog data audit --out DIR` writes: audit.json (what --json prints), exclude.csv (what
`catdog train --exclude` reads; edit it to keep rows you disagree with) and index.html, a thumbnail
gallery per kind of issue for a person to look through. Photos are inlined as small JPEGs: the page
is one file that opens anywhere."""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from ..data.sources import PhotoSource, open_source
from ..files import atomic_path, write_json, write_text
from .exclude_list import exclusions

THUMBNAIL = 160
SHOWN = 200  # per kind of issue: the page stays light; audit.json has them all


def _thumbnails(source: PhotoSource, rows: set[int]) -> dict[int, str]:
    images = {}
    for photo in source.photos(sorted(rows)):
        try:
            image = ImageOps.exif_transpose(Image.open(io.BytesIO(photo.data or b""))).convert("RGB")
            image.thumbnail((THUMBNAIL, THUMBNAIL))
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=75)
            images[photo.index] = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
        except Exception:  # noqa: BLE001 - an unreadable photo still gets its card, without a picture
            continue
    return images


def _card(thumbs: dict[int, str], row: int, name: str, caption: str) -> str:
    picture = f'<img src="{thumbs[row]}" alt="">' if row in thumbs else '<div class="none">no picture</div>'
    return f'<figure data-row="{row}">{picture}<figcaption><b>row {row}</b> {html.escape(name)}<br>{html.escape(caption)}</figcaption></figure>'


def _sections(result: dict[str, Any], thumbs: dict[int, str], other_thumbs: dict[int, str]) -> list[tuple[str, str, list[str]]]:
    shown = slice(0, SHOWN)
    return [
        ("label_issues", "Likely wrong labels (lowest label quality first)",
         [_card(thumbs, i["row"], i["name"], f"given {i['given']}, likely {i['suggested']} · quality {i['score']:.3f}")
          for i in result["label_issues"][shown]]),
        ("near_duplicates", "Near-duplicates (one row per group)",
         ['<div class="group">' + "".join(_card(thumbs, r, n, "first" if k == 0 else "copy") for k, (r, n) in enumerate(zip(g["rows"], g["names"])))
          + "</div>" for g in result["near_duplicates"][shown]]),
        ("leaks", f"Also in {result.get('against') or 'the other file'}",
         ['<div class="group">' + _card(thumbs, leak["row"], leak["name"], f"similarity {leak['similarity']:.3f}")
          + _card(other_thumbs, leak["other_row"], leak["other_name"], "in the other file") + "</div>" for leak in result["leaks"][shown]]),
        ("no_pet", "No cat or dog (what training on this file would answer \u201cneither\u201d)",
         [_card(thumbs, p["row"], p["name"], f"pet score {p['pet_score']:.2f}") for p in result["no_pet"][shown]]),
        ("odd", "Too small or too stretched", [_card(thumbs, p["row"], p["name"], p["reason"]) for p in result["odd"][shown]]),
        ("unreadable", "Unreadable", [_card(thumbs, p["row"], p["name"], p["reason"]) for p in result["unreadable"][shown]]),
    ]


def write_audit(result: dict[str, Any], out: Path) -> list[Path]:
    """audit.json, exclude.csv and index.html in `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    rows = {i["row"] for key in ("label_issues", "no_pet", "odd", "unreadable", "leaks") for i in result[key]}
    rows |= {r for g in result["near_duplicates"] for r in g["rows"]}
    thumbs = _thumbnails(open_source(result["data"], require_labels=False), rows)
    other_thumbs = _thumbnails(open_source(result["against"], require_labels=False), {leak["other_row"] for leak in result["leaks"]}) \
        if result["leaks"] else {}
    body = "".join(f'<section id="{key}"><h2>{html.escape(title)} \u2014 {result["counts"][key]}</h2>'
                   f'{"".join(cards) or "<p>None found.</p>"}</section>' for key, title, cards in _sections(result, thumbs, other_thumbs))
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>catdog audit of {html.escape(result['data'])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d2430}}figure{{display:inline-block;width:{THUMBNAIL}px;margin:.4rem;vertical-align:top;font-size:.8rem}}
figure img{{max-width:{THUMBNAIL}px;max-height:{THUMBNAIL}px}}
.group{{border:1px solid #ccd;border-radius:8px;margin:.4rem 0;padding:.2rem}}.none{{height:60px;background:#eee}}</style>
</head><body><h1>Audit of {html.escape(result['data'])}</h1><p>{result['photos']} photos, {result['seconds']} s. Rows are 0-based rows of the file
(or positions in the folder listing). <code>exclude.csv</code> beside this page lists every flagged row; edit it, then
<code>catdog train --exclude exclude.csv</code>.</p>{body}</body></html>"""
    written = [out / "audit.json", out / "exclude.csv", out / "index.html"]
    write_json(written[0], result)
    with atomic_path(written[1]) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["row", "name", "reason"])
        writer.writeheader()
        writer.writerows(exclusions(result))
    write_text(written[2], page)
    return written

