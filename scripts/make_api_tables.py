"""Regenerate ``src/flowsnap/compat/api/``: OneFlow's legacy public API, as facts only.

Run ``python scripts/make_api_tables.py [REFERENCE_DIR]`` (default:
``../shared/reference/oneflow-api`` beside the repository); review the diff and commit it. CI never
runs this.

The reference tables (``v0.3.4.json``, ``v0.4.0.json``, ``v0.5.0.json``, ``function_config.json``)
were taken from OneFlow's source with ``ast`` and hold names, kinds and parameters. This script
keeps only what flowsnap's version facades and their conformance test read, one compact JSON file
per version::

    {"version": "0.5.0",
     "names": {"nn.conv2d": {"kind": "function",
                             "params": [["input", "pk", null], ..., ["bias", "pk", "None"], ...]},
               "optimizer.SGD": {"kind": "class", "params": [...], "methods": ["minimize", ...]},
               "math.relu": {"kind": "function", "params": [...], "same": ["nn.relu"]},
               "float32": {"kind": "attribute"}, ...},
     "function_config": {"default_data_type": ["value"], ...}}

A parameter is ``[name, kind, default]``: kind ``po`` positional-only, ``pk`` positional-or-keyword,
``ko`` keyword-only, ``var`` ``*args``, ``kw`` ``**kwargs``; default is OneFlow's source text, or
null when the parameter is required. ``same`` lists the other names OneFlow exported from the same
``def``/``class`` (the same ``path:line``), so one implementation serves them all. No docstrings,
no code bodies.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "flowsnap" / "compat" / "api"
DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference" / "oneflow-api"
VERSIONS = ("v0.3.4", "v0.4.0", "v0.5.0")
KINDS = {
    "positional_only": "po",
    "positional_or_keyword": "pk",
    "keyword_only": "ko",
    "var_positional": "var",
    "var_keyword": "kw",
}


def compact(row: dict[str, Any], same: list[str]) -> dict[str, Any]:
    """One table row as the facade reads it; ``same``: the other names of the same object."""
    entry: dict[str, Any] = {"kind": row["kind"]}
    if row["kind"] != "attribute":
        entry["params"] = [[p["name"], KINDS[p["kind"]], p["default"]] for p in row["params"]]
    if row["kind"] == "class":
        entry["methods"] = sorted(row.get("methods", []))
    if same:
        entry["same"] = same
    if row.get("deprecated"):
        entry["deprecated"] = True
    return entry


def same_objects(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """name -> the other names exported from the same ``def``/``class`` (same ``path:line``)."""
    by_source: dict[str, list[str]] = {}
    for row in rows:
        if row["kind"] != "attribute":
            by_source.setdefault(row["source"], []).append(row["name"])
    return {
        name: sorted(n for n in names if n != name)
        for names in by_source.values()
        for name in names
    }


def dump(table: dict[str, Any]) -> str:
    """JSON with one name per line, so a diff shows which names changed."""
    lines = [f'{{"version": {json.dumps(table["version"])},', ' "names": {']
    names = table["names"]
    for i, name in enumerate(sorted(names)):
        comma = "," if i < len(names) - 1 else ""
        lines.append(f"  {json.dumps(name)}: {json.dumps(names[name])}{comma}")
    lines.append(" },")
    lines.append(f' "function_config": {json.dumps(table["function_config"], sort_keys=True)}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    reference = Path(argv[0]) if argv else DEFAULT_REFERENCE
    options = json.loads((reference / "function_config.json").read_text())
    OUT.mkdir(parents=True, exist_ok=True)
    for tag in VERSIONS:
        rows = json.loads((reference / f"{tag}.json").read_text())
        same = same_objects(rows)
        table = {
            "version": tag.removeprefix("v"),
            "names": {row["name"]: compact(row, same.get(row["name"], [])) for row in rows},
            "function_config": {k: v["params"] for k, v in options[tag].items()},
        }
        path = OUT / f"{tag}.json"
        path.write_text(dump(table))
        print(f"{path.relative_to(ROOT)}: {len(rows)} names, {len(options[tag])} options")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
