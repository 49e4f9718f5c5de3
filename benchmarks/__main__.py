"""``python -m benchmarks [name ...] [options]``: run benchmarks, print one markdown table.

Each name in :data:`BENCHMARKS` is a module of this package exposing ``run(args) -> list[Row]``
(and optionally ``add_arguments(parser)``). With no names, every benchmark runs. The rows are also
written as JSON to ``benchmarks/results/latest.json`` (git-ignored). The exit status is 1 when a
benchmark crashed, or (with ``--strict``) when a target was missed; otherwise 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from benchmarks import Row, progress

# name -> module; add a module here to add its rows to the table.
BENCHMARKS: dict[str, str] = {
    "upload": "benchmarks.upload",
    "training": "benchmarks.training",
    "prediction": "benchmarks.prediction",
    "stores": "benchmarks.stores",
    "studio": "benchmarks.studio",
    "load": "benchmarks.load",
    "migration": "benchmarks.migration",
    "exports": "benchmarks.exports",
}

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def _modules(names: Sequence[str]) -> dict[str, ModuleType]:
    return {name: importlib.import_module(BENCHMARKS[name]) for name in names}


def _parser(modules: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run of each benchmark")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"where to write the rows (default: {RESULTS})")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    for module in modules.values():
        add_arguments = getattr(module, "add_arguments", None)
        if add_arguments is not None:
            add_arguments(parser)
    return parser


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| benchmark | result | target | met? | notes |", "|---|---:|---|:---:|---|"]
    for row in rows:
        met = {True: "yes", False: "**no**", None: "—"}[row.met]
        cells = (row.name, row.result(), row.target or "—", met, row.note)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Every module may add options, so all are imported before parsing; they import lazily.
    parser = _parser(_modules(list(BENCHMARKS)))
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    selected = list(dict.fromkeys(args.names)) or list(BENCHMARKS)

    rows: list[Row] = []
    crashed = False
    started = time.monotonic()
    for name, module in _modules(selected).items():
        progress(f"{name}: starting")
        t0 = time.monotonic()
        try:
            rows.extend(module.run(args))
        except Exception as exc:  # one crashed benchmark must not hide the others' rows
            crashed = True
            traceback.print_exc()
            rows.append(Row(f"{name}: crashed", None, note=f"{type(exc).__name__}: {exc}", met=False))
        progress(f"{name}: done in {time.monotonic() - t0:.0f} s")

    print(markdown_table(rows))
    report = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "argv": argv,
        "benchmarks": selected,
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "seconds": round(time.monotonic() - started, 1),
        "rows": [r.to_json() for r in rows],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    progress(f"rows written to {args.json}")
    if crashed:
        return 1
    return 1 if args.strict and any(r.met is False for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
