"""How much of a TensorFlow process's RSS is its libraries' pages, just after `pip install` and later.

  python benchmarks/library_pages.py [--out benchmarks/results]

Makes a fresh venv in a temporary folder and installs this project's pinned TensorFlow and Keras
into it (constraints.txt), then runs `import tensorflow, keras` there three times, reading
/proc/self/status at the end of each: right after the install (the files pip just wrote are in the
page cache), again, and after the venv's shared libraries were dropped from the page cache
(memory_limit.evict_installed_libraries: what a machine holds after a restart, the state the
libraries are in once the kernel has needed their memory). Writes library_pages.json/.md.

Anonymous memory (RssAnon) is what the process allocated; RssFile the pages of mapped files, clean
and shared, which the kernel drops under memory pressure and reads again when touched.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catdog.machine import describe  # noqa: E402
from run import ROOT  # noqa: E402

IMPORT = ("import json, tensorflow, keras; print(json.dumps({k: int(v.split()[0]) // 1024 for k, v in "
          "(line.split(':', 1) for line in open('/proc/self/status')) if k in ('VmHWM', 'RssAnon', 'RssFile')}))")
EVICT = ("import sys; sys.path.insert(0, sys.argv[1]); from memory_limit import evict_installed_libraries; "
         "print(evict_installed_libraries())")


def pinned(names: tuple[str, ...]) -> list[str]:
    """The constraints.txt lines of `names` (name==version)."""
    def normal(name: str) -> str:  # (PEP 503: tensorflow_cpu is tensorflow-cpu)
        return re.sub(r"[-_.]+", "-", name).lower()

    lines = [line.strip() for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line]
    return [line for line in lines if normal(line.split("==")[0]) in {normal(name) for name in names}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="catdog-library-pages-") as work:
        venv = Path(work) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        packages = pinned(("tensorflow-cpu", "tensorflow", "keras"))
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"), *packages], check=True)
        env = {"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}

        def imported() -> dict:
            done = subprocess.run([str(python), "-c", IMPORT], capture_output=True, text=True, check=True, env=env)
            return json.loads(done.stdout.strip().splitlines()[-1])

        states = {"just_installed": imported(), "again": imported()}
        subprocess.run([str(python), "-c", EVICT, str(Path(__file__).resolve().parent)], check=True, capture_output=True)
        states["after_eviction"] = imported()
        states["after_eviction_again"] = imported()
    result = {"machine": describe(), "date": time.strftime("%Y-%m-%d"), "packages": packages,
              "command": "python -c 'import tensorflow, keras'", "states": states}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "library_pages.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"Machine: {result['machine']}. `import tensorflow, keras` in a fresh venv ({', '.join(packages)}), MiB.", "",
             "### The libraries' pages", "", "| state | VmHWM MB | RssAnon MB | RssFile MB |", "|---|---|---|---|"]
    for state, figures in states.items():
        lines.append(f"| {state.replace('_', ' ')} | {figures['VmHWM']} | {figures['RssAnon']} | {figures['RssFile']} |")
    (args.out / "library_pages.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
