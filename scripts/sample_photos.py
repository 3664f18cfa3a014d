"""Write a few photos of a parquet file out as JPEG files, so the demo can predict real files."""

import sys
from pathlib import Path

import pyarrow.parquet as pq

source, target, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
target.mkdir(parents=True, exist_ok=True)
table = pq.read_table(source).slice(0, count)
for row, (image, label) in enumerate(zip(table.column("image").to_pylist(), table.column("labels").to_pylist())):
    name = Path(image.get("path") or f"row{row}.jpg").name
    (target / f"{'cat' if label == 0 else 'dog'}_{row}_{name}").write_bytes(image["bytes"])
print(f"wrote {count} photos to {target}")
