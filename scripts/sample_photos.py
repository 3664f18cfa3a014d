"""Write a few photos of a parquet file out as JPEG files, so the demo can predict real files. Each file
is named after its class: the file's ClassLabel names (cat and dog for the Bingsu schema without them)."""

import sys
from pathlib import Path

import pyarrow.parquet as pq

from catdog.data.sources import label_names

source, target, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
target.mkdir(parents=True, exist_ok=True)
table = pq.read_table(source).slice(0, count)
names = label_names(table.schema, "labels") or ("cat", "dog")
for row, (image, label) in enumerate(zip(table.column("image").to_pylist(), table.column("labels").to_pylist())):
    name = Path(image.get("path") or f"row{row}.jpg").name
    kind = names[label] if label is not None and 0 <= label < len(names) else "unlabelled"
    (target / f"{kind}_{row}_{name}").write_bytes(image["bytes"])
print(f"wrote {count} photos to {target}")
