"""
Title: The ceiling of labelling photos on this machine
Description: where the time per photo goes (model, decode), and the most that any tuning of threads,
batches and overlap could reach, per machine class.

  python benchmarks/ceiling.py --model RUN [--model RUN2 ...] [--label NAME ...] \\
      [--baseline-model M.keras] [--keras] [--photos PARQUET] [--limit 2000] [--rounds 3] [--out DIR]
  python benchmarks/ceiling.py --quick --model RUN --baseline-model M.keras --out /tmp/ceiling   (checks the harness)

For example, before and after a change, on the same machine:

  python benchmarks/ceiling.py --model runs/default --label before --baseline-model base/model.keras
  python benchmarks/ceiling.py --model runs/default --label after --baseline-model base/model.keras

One `--label` names the result file (rows are named by run folder); one `--label` per `--model` names
each run's rows (the file is named by all of them, joined with "-").

1. Model alone: images/s of every verified export of each run (and of its Keras model with --keras),
   batch 16 of real photos decoded at the run's image size, at CATDOG_THREADS (else every CPU) threads
   and at 1 thread; interleaved rounds, best of --rounds. Core-ms per photo = threads x 1000 / images/s.
2. Decode alone: catdog.data.decode.decode_image photos/s on one thread, and its parts timed in the
   order decode_image does them: Pillow open (with our header checks) + JPEG draft + pixel load;
   EXIF orientation + any colour mode to RGB; resize + the uint8 array.
3. Ceiling: cores x 1000 / (model core-ms + decode core-ms) photos/s, every core busy all the time
   (perfect overlap of decode and model, no start-up, no Python between them).
4. End to end: Classifier.load(RUN).predict_photos(PHOTOS) photos/s (model loaded beforehand), and the
   wall seconds of a fresh `catdog predict --model RUN --json PHOTOS` process (start-up included); with
   --baseline-model, the seed-style pipeline's `baseline.py infer` and `baseline.py predict` on the same
   photos, interleaved with ours, and every figure as a ratio to the seed-style one.
5. A run folder holding a cheaper first model in RUN/glance/ (a nested run folder): its exports are
   measured too, at its own image size, in rows labelled "glance".

Prints the machine line first (CPU model and AVX2 / AVX-512 / VNNI / AMX flags: the machine class)
and writes ceiling_LABEL.json and ceiling_LABEL.md into --out (benchmarks/results by default).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CATDOG_PROGRESS", "0")

import numpy as np
import pyarrow.parquet as pq
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catdog.classifier import Classifier  # noqa: E402
from catdog.data import decode  # noqa: E402
from catdog.errors import DecodeError  # noqa: E402
from catdog.files import write_json, write_text  # noqa: E402
from catdog.machine import cpu_info, describe  # noqa: E402
from catdog.run_folder import RunFolder  # noqa: E402
from catdog.runtime import default_threads  # noqa: E402
from catdog.runtime.keras_engine import KerasEngine  # noqa: E402
from catdog.runtime.manifest import FORMATS, usable_exports  # noqa: E402
from catdog.runtime.select import open_export  # noqa: E402
from run import BIN, ROOT, TRAIN, run, use_shared_weights  # noqa: E402

BATCH = 16  # what predict hands an engine at a time (runtime/speed.py measures at the same batch)
MODEL_PHOTOS = 256  # photos per timed model pass: 16 batches, long enough to time, short enough to repeat

"""
## Settings
"""

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--model", type=Path, action="append", required=True, help="run folder (repeatable)")
parser.add_argument("--label", action="append", default=[], help="one for the result, or one per --model")
parser.add_argument("--baseline-model", type=Path, help="seed-style model.keras (benchmarks/baseline.py train makes one)")
parser.add_argument("--keras", action="store_true", help="also time each run's Keras model alone (imports TensorFlow)")
parser.add_argument("--photos", type=Path, default=TRAIN, help="parquet file of photos (its first --limit rows)")
parser.add_argument("--limit", type=int, default=2000)
parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; each figure is its best round")
parser.add_argument("--quick", action="store_true", help="200 photos, 1 round: checks the harness, not the figures")
parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
args = parser.parse_args()
if args.quick:
    args.limit, args.rounds = min(args.limit, 200), 1
if len(args.label) not in (0, 1, len(args.model)):
    raise SystemExit(f"Give one --label for the result or one per --model ({len(args.model)}), not {len(args.label)}.")
folder_names = [path.resolve().name for path in args.model]
if len(args.label) == len(args.model):
    names = list(args.label)
else:
    names = [name if folder_names.count(name) == 1 else f"{name}-{i + 1}" for i, name in enumerate(folder_names)]
label = "-".join(args.label) if args.label else "-".join(names)
if len(set(names)) != len(names):
    raise SystemExit(f"Each --model needs its own --label; got {', '.join(names)}.")

threads = default_threads()
cores = int(cpu_info()["cpus"])  # type: ignore[call-overload]
print(f"Machine: {describe()}; {threads} threads; load average {os.getloadavg()[0]:.1f}", flush=True)
work = Path(tempfile.mkdtemp(prefix="catdog-ceiling-"))
use_shared_weights(work)
# `--engine auto` measures the exports once into this cache; catdog predict processes and the
# in-process classifier then share it, so both choose the same engine.
os.environ["CATDOG_CACHE"] = str(work / "speed_cache")
child_env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


"""
## The photos

The first --limit rows of --photos, written to a parquet file of their own so that every pipeline,
in this process or a fresh one, reads the very same photos.
"""

table = pq.read_table(args.photos).slice(0, args.limit)
photos = work / "photos.parquet"
pq.write_table(table, photos)
blobs = [item["bytes"] for item in table.column("image").to_pylist()]
count = len(blobs)

"""
## The looks: each run, and its cheaper first model when RUN/glance/ holds one
"""

looks = []  # (run name, look, RunFolder)
for name, path in zip(names, args.model):
    looks.append((name, "full", RunFolder.resolve(path)))
    if (path / "glance" / "config.json").is_file():
        looks.append((name, "glance", RunFolder.at(path / "glance")))
sizes = sorted({folder.read_config().image_size for _, _, folder in looks})
note(f"{count} photos of {args.photos}; looks: {', '.join(f'{n} {look}' for n, look, _ in looks)}; sizes {sizes}")


def decoded(size: int, n: int) -> np.ndarray:
    """The first `n` photos that decode, at `size`: real pixels, not random ones."""
    arrays = []
    for blob in blobs:
        try:
            arrays.append(decode.decode_image(blob, size))
        except DecodeError:
            continue
        if len(arrays) == n:
            break
    return np.stack(arrays)


"""
## 1. Model alone

Every engine of every look is opened at `threads` threads and at 1, warmed up, then timed over the
same batches, one engine after another within each round.
"""

engines = []  # dicts: name, look, engine (format), threads, plus the opened engine under "opened"
thread_counts = sorted({threads, 1}, reverse=True)
for name, look, folder in looks:
    exports = [fmt for fmt in usable_exports(folder) if FORMATS[fmt][1]]
    if not exports:
        note(f"{name} {look}: no verified export that an engine runs")
    for fmt in exports:
        for count_threads in thread_counts:
            engines.append({"name": name, "look": look, "engine": fmt, "threads": count_threads,
                            "opened": open_export(folder, fmt, count_threads)})
    if args.keras and folder.model_path.is_file():
        import tensorflow as tf

        # TensorFlow's thread pools are set once per process, before its first operation: Keras is
        # timed at `threads` threads only, one pool of them (inter-op 1, so the core count holds).
        if not any(e["engine"] == "keras" for e in engines):
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        engines.append({"name": name, "look": look, "engine": "keras", "threads": threads,
                        "opened": KerasEngine.load(folder.model_path)})

model_photos = max(BATCH, min(MODEL_PHOTOS, count) // BATCH * BATCH)
pixels = {size: decoded(size, model_photos) for size in {e["opened"].image_size for e in engines}}
batches = {size: [array[i:i + BATCH] for i in range(0, len(array) - BATCH + 1, BATCH)] for size, array in pixels.items()}
for entry in engines:
    entry["image_size"] = entry["opened"].image_size
    entry["rounds"] = []
    for _ in range(2):  # the first call allocates tensors and packs weights
        entry["opened"].run(batches[entry["image_size"]][0])
for round_ in range(args.rounds):
    note(f"model alone, round {round_ + 1}/{args.rounds}")
    for entry in engines:
        timed = batches[entry["image_size"]]
        started = time.perf_counter()
        for batch in timed:
            entry["opened"].run(batch)
        entry["rounds"].append(len(timed) * BATCH / (time.perf_counter() - started))
for entry in engines:
    entry["images_per_second"] = max(entry["rounds"])
    entry["core_ms"] = entry["threads"] * 1000 / entry["images_per_second"]
    del entry["opened"]
gc.collect()  # the engines' thread pools go before the end-to-end runs share these cores

"""
## 2. Decode alone

decode_image itself, then its parts, timed as it does them (the same functions, in the same order):
open (our header checks) + draft + load; EXIF orientation + RGB; resize + the uint8 array.
exif_transpose loads the pixels first thing, so loading them just before it moves no work.
"""


def decode_parts(size: int) -> tuple[list[float], int]:
    """Seconds spent in each part over every photo, and how many photos could not be read."""
    parts, failed = [0.0, 0.0, 0.0], 0
    for blob in blobs:
        try:
            started = time.perf_counter()
            image = decode._open(blob)
            if image.format == "JPEG":
                image.draft("RGB", (size, size))
            image.load()
            loaded = time.perf_counter()
            image = decode._to_rgb(ImageOps.exif_transpose(image))
            converted = time.perf_counter()
            np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
            done = time.perf_counter()
        except Exception:  # what decode_image turns into a DecodeError: the photo is skipped there too
            failed += 1
            continue
        for i, seconds in enumerate((loaded - started, converted - loaded, done - converted)):
            parts[i] += seconds
    return parts, failed


decoding: dict[int, dict] = {size: {"rounds": [], "parts_rounds": []} for size in sizes}
for round_ in range(args.rounds):
    note(f"decode alone, round {round_ + 1}/{args.rounds}")
    for size in sizes:
        failed = 0
        started = time.perf_counter()
        for blob in blobs:
            try:
                decode.decode_image(blob, size)
            except DecodeError:
                failed += 1
        decoding[size]["rounds"].append(count / (time.perf_counter() - started))
        decoding[size]["failed"] = failed
        parts, _ = decode_parts(size)
        decoding[size]["parts_rounds"].append([seconds * 1000 / count for seconds in parts])
for d in decoding.values():
    d["photos_per_second"] = max(d["rounds"])
    d["core_ms"] = 1000 / d["photos_per_second"]
    # Each part's best round: the parts are timed over the same photos, so best rounds add up.
    d["parts_ms"] = dict(zip(("open_draft_load", "exif_rgb", "resize"), np.min(d["parts_rounds"], axis=0).tolist()))

"""
## 3. Ceiling

Every core decoding or running the model all the time, nothing else: cores x 1000 / (model core-ms
+ decode core-ms). For each look, the fastest engine at `threads` threads (what `--engine auto`
picks) at its cheapest thread count per photo; every model row gets its own ceiling too.
"""

for entry in engines:
    entry["ceiling_photos_per_second"] = cores * 1000 / (entry["core_ms"] + decoding[entry["image_size"]]["core_ms"])
ceilings = []
for name, look, _ in looks:
    rows = [e for e in engines if e["name"] == name and e["look"] == look]
    if not rows:
        continue
    fastest = max((e for e in rows if e["threads"] == threads), key=lambda e: e["images_per_second"])["engine"]
    cheapest = min((e for e in rows if e["engine"] == fastest), key=lambda e: e["core_ms"])
    decode_ms = decoding[cheapest["image_size"]]["core_ms"]
    per_photo = cheapest["core_ms"] + decode_ms
    ceilings.append({"name": name, "look": look, "engine": fastest, "threads": cheapest["threads"],
                     "image_size": cheapest["image_size"], "model_core_ms": cheapest["core_ms"], "decode_core_ms": decode_ms,
                     "core_ms": per_photo, "photos_per_second_per_core": 1000 / per_photo,
                     "photos_per_second": cores * 1000 / per_photo, "decode_share": decode_ms / per_photo})

"""
## 4. End to end

In each round: ours in this process (model loaded beforehand), the seed-style `baseline.py infer`,
then fresh `catdog predict` processes and the seed-style `baseline.py predict`.
"""

classifiers = {}
for name, path in zip(names, args.model):
    classifiers[name] = Classifier.load(path)
    classifiers[name].predict(blobs[0])  # warm-up, as baseline.py infer does
    run([BIN / "catdog", "predict", "--model", path, "--json", photos], env=child_env)  # same speed cache, warm disk
baseline = [sys.executable, ROOT / "benchmarks" / "baseline.py"]
end_to_end: dict[str, dict] = {name: {"engine": f"{c.engine.name}: {c.engine.artifact}", "in_process": [], "whole_process": []}
                               for name, c in classifiers.items()}
seed: dict[str, list] = {"in_process": [], "whole_process": []}
for round_ in range(args.rounds):
    note(f"end to end, round {round_ + 1}/{args.rounds}")
    for name, classifier in classifiers.items():
        started = time.perf_counter()
        predictions = classifier.predict_photos(str(photos))
        end_to_end[name]["in_process"].append(len(predictions) / (time.perf_counter() - started))
    if args.baseline_model:
        measured, _, _ = run([*baseline, "infer", "--model", args.baseline_model, "--data", photos, "--latency-photos", "1"])
        seed["in_process"].append(measured["images_per_second"] if measured else float("nan"))
    for name, path in zip(names, args.model):
        _, wall, _ = run([BIN / "catdog", "predict", "--model", path, "--json", photos], env=child_env)
        end_to_end[name]["whole_process"].append(wall)
    if args.baseline_model:
        _, wall, _ = run([*baseline, "predict", "--model", args.baseline_model, "--data", photos])
        seed["whole_process"].append(wall)
for name, e in end_to_end.items():
    e["photos_per_second"], e["wall_seconds"] = max(e["in_process"]), min(e["whole_process"])
    full = next((c for c in ceilings if c["name"] == name and c["look"] == "full"), None)
    e["share_of_ceiling"] = e["photos_per_second"] / full["photos_per_second"] if full else None
    if args.baseline_model:
        e["x_seed_in_process"] = e["photos_per_second"] / max(seed["in_process"])
        e["x_seed_whole_process"] = min(seed["whole_process"]) / e["wall_seconds"]
if args.baseline_model:
    for c in ceilings:
        c["x_seed_in_process"] = c["photos_per_second"] / max(seed["in_process"])

"""
## Results
"""

results = {
    "machine": {**cpu_info(), "described": describe(), "threads": threads, "cores": cores, "date": time.strftime("%Y-%m-%d"),
                "load_average_after": os.getloadavg()},
    "label": label, "quick": args.quick, "rounds": args.rounds, "batch": BATCH, "model_photos": model_photos,
    "photos": {"path": str(args.photos), "count": count}, "runs": {name: str(path) for name, path in zip(names, args.model)},
    "baseline_model": str(args.baseline_model) if args.baseline_model else None,
    "model_alone": engines, "decode": {str(size): d for size, d in decoding.items()}, "ceiling": ceilings,
    "end_to_end": end_to_end, "seed_style": {**seed, "photos_per_second": max(seed["in_process"], default=None),
                                             "wall_seconds": min(seed["whole_process"], default=None)},
}


def render(r: dict) -> str:
    m, n = r["machine"], r["photos"]["count"]
    seed_ = r["seed_style"]
    lines = [f"Machine: {m['described']}; {m['threads']} threads; {m['platform']}; {m['date']}; load average "
             f"{m['load_average_after'][0]:.1f} after (the machine may be shared). {n} photos of {r['photos']['path']}; "
             f"best of {r['rounds']} interleaved rounds." + (" QUICK MODE: checks the harness, not the figures." if r["quick"] else ""),
             "", f"### Model alone (batch {r['batch']} of real photos at the look's size, {r['model_photos']} photos a round)", "",
             f"| run | look | engine | px | threads | images/s | core-ms per photo | all rounds images/s | "
             f"ceiling photos/s on {m['cores']} cores with decode |", "|---|---|---|---|---|---|---|---|---|"]
    for e in r["model_alone"]:
        lines.append(f"| {e['name']} | {e['look']} | {e['engine']} | {e['image_size']} | {e['threads']} | {e['images_per_second']:.1f} | "
                     f"{e['core_ms']:.2f} | {', '.join(f'{v:.1f}' for v in e['rounds'])} | {e['ceiling_photos_per_second']:.0f} |")
    if any(e["engine"] == "keras" for e in r["model_alone"]):
        lines += ["", f"Keras at {m['threads']} threads only: TensorFlow sets its thread pools once per process."]
    lines += ["", "### Decode alone (decode_image, one thread; its parts timed in its order)", "",
              "| px | photos/s | core-ms per photo | open + draft + load ms | EXIF + RGB ms | resize ms | parts' sum ms | unreadable |",
              "|---|---|---|---|---|---|---|---|"]
    for size, d in r["decode"].items():
        p = d["parts_ms"]
        lines.append(f"| {size} | {d['photos_per_second']:.0f} | {d['core_ms']:.2f} | {p['open_draft_load']:.2f} | {p['exif_rgb']:.2f} | "
                     f"{p['resize']:.2f} | {sum(p.values()):.2f} | {d['failed']} |")
    with_seed = seed_["photos_per_second"] is not None
    lines += ["", f"### Ceiling: {m['cores']} cores decoding or running the model all the time (perfect overlap)", "",
              "| run | look | engine, threads | model core-ms | decode core-ms | core-ms per photo | decode share | "
              f"photos/s per core | ceiling photos/s ({m['cores']} cores) |" + (" × seed-style in-process |" if with_seed else ""),
              "|---|---|---|---|---|---|---|---|---|" + ("---|" if with_seed else "")]
    for c in r["ceiling"]:
        lines.append(f"| {c['name']} | {c['look']} | {c['engine']}, {c['threads']} | {c['model_core_ms']:.2f} | {c['decode_core_ms']:.2f} | "
                     f"{c['core_ms']:.2f} | {c['decode_share']:.0%} | {c['photos_per_second_per_core']:.1f} | {c['photos_per_second']:.0f} |"
                     + (f" {c['x_seed_in_process']:.1f}× |" if with_seed else ""))
    lines += ["", f"### End to end: labelling the {n} photos", "",
              "| pipeline | engine | in-process photos/s | × seed-style | share of ceiling | whole process wall s | "
              "whole process photos/s | × seed-style | all rounds wall s |", "|---|---|---|---|---|---|---|---|---|"]
    if with_seed:
        lines.append(f"| seed-style (baseline.py infer / predict) | Keras model.predict | {seed_['photos_per_second']:.1f} | 1.00× | — | "
                     f"{seed_['wall_seconds']:.1f} | {n / seed_['wall_seconds']:.1f} | 1.00× | "
                     f"{', '.join(f'{v:.1f}' for v in seed_['whole_process'])} |")
    for name, e in r["end_to_end"].items():
        share = "—" if e["share_of_ceiling"] is None else f"{e['share_of_ceiling']:.0%}"
        x_in, x_whole = (f"{e['x_seed_in_process']:.2f}×", f"{e['x_seed_whole_process']:.2f}×") if with_seed else ("—", "—")
        lines.append(f"| {name} (Classifier.predict_photos / catdog predict) | {e['engine']} | {e['photos_per_second']:.1f} | {x_in} | "
                     f"{share} | {e['wall_seconds']:.1f} | {n / e['wall_seconds']:.1f} | {x_whole} | "
                     f"{', '.join(f'{v:.1f}' for v in e['whole_process'])} |")
    return "\n".join(lines)


args.out.mkdir(parents=True, exist_ok=True)
write_json(args.out / f"ceiling_{label}.json", results)
write_text(args.out / f"ceiling_{label}.md", render(results) + "\n")
print(render(results))
shutil.rmtree(work, ignore_errors=True)
