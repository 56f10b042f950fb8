"""``flowsnap ls``, ``show``, ``verify`` and ``diff``: reading checkpoints of any format."""

from __future__ import annotations

import argparse
import difflib
import os
from collections.abc import Mapping
from typing import Any, TextIO

from flowsnap.cli._inputs import (
    Tensor,
    UsageError,
    cli_words,
    human,
    open_input,
    open_tensors,
    require_shapes,
    write_json,
)
from flowsnap.errors import (
    ChecksumMismatchError,
    CorruptCheckpointError,
    SnapshotNotFoundError,
    VariableNotFoundError,
    plural,
)
from flowsnap.foreign import ForeignTensor, detect_format, verify_foreign
from flowsnap.format import StoredVariable, open_variable, verify_snapshot
from flowsnap.format.internals import check_blocks_file, check_file, open_regular

EXIT_OK = 0
EXIT_FOUND = 1  # verify found damage; diff found differences


def _chunks(var: Tensor) -> Any:
    """A sharded save's chunk checksums (format/SPEC.md 5.1), or None."""
    return getattr(var, "expected_chunks", None)


def _checksum(var: Tensor, kind: str) -> str:
    if var.expected_checksum:
        return f"xxh3:{var.expected_checksum[:8]}"
    if _chunks(var) is not None:
        return f"xxh3 x{len(_chunks(var))} chunks"
    if isinstance(var, ForeignTensor):
        return f"none ({var.format})"
    return f"none ({kind})"


def cmd_ls(args: argparse.Namespace, out: TextIO) -> int:
    """List the variables of a checkpoint."""
    variables = open_tensors(args.path, args)
    rows: list[dict[str, Any]] = []
    for name, var in variables.items():
        data_type = var.data_type
        rows.append(
            {
                "name": name,
                "dtype": None if var.dtype is None else str(var.dtype),
                "data_type": None if data_type is None else data_type.name,
                "shape": None if var.shape is None else list(var.shape),
                "nbytes": var.nbytes,
                "checksum": var.expected_checksum,
                "chunks": None if _chunks(var) is None else len(_chunks(var)),
            }
        )
    total = sum(int(r["nbytes"]) for r in rows)
    fmt = detect_format(args.path)
    if args.json:
        doc = {"path": args.path, "format": fmt, "variables": rows, "nbytes": total}
        write_json(doc, out)
        return EXIT_OK
    kind = "OneFlow" if fmt == "flowsnap" else fmt
    table = [
        (
            str(r["name"]),
            r["dtype"] or "?",
            "?" if r["shape"] is None else str(tuple(r["shape"])),
            human(int(r["nbytes"])),
            _checksum(variables[r["name"]], kind),
        )
        for r in rows
    ]
    header = ("name", "dtype", "shape", "size", "checksum")
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(4)]
    for row in [header, *table]:
        out.write(
            f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  "
            f"{row[3]:>{widths[3]}}  {row[4]}\n"
        )
    recorded = sum(1 for r in rows if r["checksum"] or r["chunks"] is not None)
    unknown = sum(1 for r in rows if r["shape"] is None)
    tail = (
        f", {recorded} with recorded checksums (flowsnap verify checks them)"
        if fmt == "flowsnap"
        else f" ({fmt}: no checksums recorded)"
    )
    out.write(f"{plural(len(rows), 'variable')}, {human(total)}{tail}\n")
    if unknown:
        out.write(
            f"{plural(unknown, 'variable')} without meta (shape '?'): --like CKPT or --shapes "
            "JSON supplies shape and dtype\n"
        )
    return EXIT_OK


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    """Statistics and a preview of one variable."""
    from flowsnap.tools import variable_stats

    if args.preview < 0:
        raise UsageError(f"--preview {args.preview}: give a number of values >= 0")
    opened = open_input(args.path, args)
    if isinstance(opened, StoredVariable):
        var: Tensor = opened
    else:
        if args.name is None:
            names = list(opened)
            shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
            raise UsageError(
                f"{args.path} holds {plural(len(names), 'variable')} ({shown}): name one "
                f"(flowsnap ls {args.path} lists them)"
            )
        var = _pick(opened, args.name, args.path)
    require_shapes({var.name: var})
    stats = variable_stats(var, preview=args.preview, verify=not args.no_verify)
    if args.json:
        write_json(stats.as_dict(), out)
        return EXIT_OK
    out.write(f"{stats.name}: {stats.dtype} {stats.shape}, {plural(stats.count, 'element')}\n")
    if stats.min is not None:
        out.write(
            f"  min {stats.min:.6g}  max {stats.max:.6g}  mean {stats.mean:.6g}  "
            f"std {stats.std:.6g}\n"
        )
    out.write(f"  zeros {stats.zeros}  nan {stats.nan}  +inf {stats.posinf}  -inf {stats.neginf}\n")
    if args.preview:
        more = " ..." if stats.count > len(stats.preview) else ""
        out.write(f"  first values: {_values(stats.preview)}{more}\n")
    return EXIT_OK


def _values(preview: list[Any]) -> str:
    return "[" + ", ".join(str(v) for v in preview) + "]"


def _pick(tensors: Mapping[str, Tensor], name: str, path: str) -> Tensor:
    if name in tensors:
        return tensors[name]
    close = difflib.get_close_matches(name, list(tensors), n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise VariableNotFoundError(
        f"no variable {name!r} in {path} ({plural(len(tensors), 'variable')}).{hint} "
        f"flowsnap ls {path} lists them."
    )


def cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    """Check a checkpoint as far as its format allows."""
    if not os.path.lexists(args.path):
        raise SnapshotNotFoundError(f"{args.path} does not exist; check the path")
    fmt = detect_format(args.path)
    if fmt != "flowsnap":
        return _verify_foreign(args, out, fmt)
    if os.path.isfile(os.path.join(args.path, "out")):  # one variable's directory
        return _verify_variable(args, out)
    report = verify_snapshot(args.path)
    problems = list(report.problems)
    incomplete = [p for p in problems if p.kind == "IncompleteSnapshotError"]
    if args.allow_incomplete:
        problems = [p for p in problems if p.kind != "IncompleteSnapshotError"]
    how = "checksums verified" if report.has_manifest else "sizes checked (no manifest: OneFlow)"
    if incomplete and args.allow_incomplete:
        how += "; no snapshot_done (incomplete save, read as asked)"
    ok = not problems
    if args.json:
        doc = {
            "path": report.path,
            "format": fmt,
            "ok": ok,
            "checked": len(report.checked),
            "nbytes": report.nbytes,
            "has_manifest": report.has_manifest,
            "checks": how,
            "problems": [_problem(p) for p in problems],
        }
        write_json(doc, out)
    else:
        for p in problems:
            out.write(f"DAMAGED {p.name or '(snapshot)'}: {p.kind}: {cli_words(p.message)}\n")
        verdict = "OK" if ok else plural(len(problems), "problem")
        out.write(
            f"{verdict}: {plural(len(report.checked), 'variable')}, {human(report.nbytes)}, {how}\n"
        )
    return EXIT_OK if ok else EXIT_FOUND


def _problem(p: Any) -> dict[str, Any]:
    return {"name": p.name, "kind": p.kind, "message": cli_words(p.message)}


def _verify_variable(args: argparse.Namespace, out: TextIO) -> int:
    problems: list[dict[str, Any]] = []
    try:
        var = open_variable(args.path)
    except CorruptCheckpointError as exc:  # sizes or meta wrong: damage, reported as such
        problem = {"name": os.path.basename(os.path.abspath(args.path)), "kind": type(exc).__name__,
                   "message": cli_words(str(exc))}  # fmt: skip
        if args.json:
            doc = {"path": args.path, "format": "flowsnap", "ok": False, "checked": 0,
                   "nbytes": 0, "problems": [problem]}  # fmt: skip
            write_json(doc, out)
        else:
            out.write(f"DAMAGED {problem['name']}: {problem['kind']}: {problem['message']}\n")
            out.write("1 problem: 1 variable\n")
        return EXIT_FOUND
    if var.expected_checksum is not None:
        digest = var.compute_checksum()
        if digest != var.expected_checksum:
            problems.append(
                {
                    "name": var.name,
                    "kind": "ChecksumMismatchError",
                    "message": f"{var.file_path} has checksum {digest}, the manifest recorded "
                    f"{var.expected_checksum}; the data was corrupted after the save",
                }
            )
    if _chunks(var) is not None:  # a sharded save: every chunk against its own checksum
        fd, _ = open_regular(var.file_path, what=f"variable {var.name!r}: data file")
        try:
            check_file(var.name, var.file_path, fd, _chunks(var))
            blocks = tuple(getattr(var, "expected_blocks", {}).items())
            if blocks and var.shape is not None and var.data_type is not None:  # SPEC.md 5.2
                itemsize = var.data_type.itemsize
                check_blocks_file(var.name, var.file_path, fd, var.shape, itemsize, blocks)
        except ChecksumMismatchError as exc:
            problems.append({"name": var.name, "kind": type(exc).__name__, "message": str(exc)})
        finally:
            os.close(fd)
    checked = var.expected_checksum is not None or _chunks(var) is not None
    how = "checksum verified" if checked else "size checked (no manifest)"
    if args.json:
        doc = {"path": args.path, "format": "flowsnap", "ok": not problems, "checked": 1,
               "nbytes": var.nbytes, "has_manifest": checked,
               "checks": how, "problems": problems}  # fmt: skip
        write_json(doc, out)
    else:
        for p in problems:
            out.write(f"DAMAGED {p['name']}: {p['kind']}: {p['message']}\n")
        verdict = "OK" if not problems else plural(len(problems), "problem")
        out.write(f"{verdict}: 1 variable, {human(var.nbytes)}, {how}\n")
    return EXIT_OK if not problems else EXIT_FOUND


def _verify_foreign(args: argparse.Namespace, out: TextIO, fmt: str) -> int:
    report = verify_foreign(args.path, fmt=fmt)
    if args.json:
        doc = {
            "path": report.path,
            "format": fmt,
            "ok": report.ok,
            "checked": len(report.checked),
            "nbytes": report.nbytes,
            "has_manifest": False,
            "checks": report.checks,
            "not_checked": report.unchecked,
            "problems": [_problem(p) for p in report.problems],
        }
        write_json(doc, out)
    else:
        for p in report.problems:
            out.write(f"DAMAGED {p.name or '(file)'}: {p.kind}: {cli_words(p.message)}\n")
        verdict = "OK" if report.ok else plural(len(report.problems), "problem")
        out.write(
            f"{verdict}: {plural(len(report.checked), 'tensor')}, {human(report.nbytes)} "
            f"({fmt})\n  checked: {report.checks}\n  not checked: {report.unchecked}\n"
        )
    return EXIT_OK if report.ok else EXIT_FOUND


def _kind(dtype: str | None, shape: tuple[int, ...] | None) -> str:
    return f"{'?' if dtype in (None, 'None') else dtype} {'?' if shape is None else shape}"


def cmd_diff(args: argparse.Namespace, out: TextIO) -> int:
    """Variables added, removed or changed between A and B (any formats)."""
    from flowsnap.tools import diff_snapshots

    a, b = open_tensors(args.a, args), open_tensors(args.b, args)
    common = [n for n in a if n in b]
    require_shapes(a, common)
    require_shapes(b, common)
    diffs = diff_snapshots(a, b, verify=not args.no_verify)
    changed = [d for d in diffs if d.status != "same"]
    if args.json:
        doc = {
            "a": args.a,
            "b": args.b,
            "same": not changed,
            "variables": [d.as_dict() for d in diffs],
        }
        write_json(doc, out)
        return EXIT_OK if not changed else EXIT_FOUND
    width = max((len(d.name) for d in changed), default=0)
    for d in changed:
        if d.status == "added":
            mark, detail = "+", f"{_kind(d.dtype_b, d.shape_b)}  (only in B)"
        elif d.status == "removed":
            mark, detail = "-", f"{_kind(d.dtype_a, d.shape_a)}  (only in A)"
        elif d.differing is None:
            mark, detail = "~", f"{d.dtype_a} {d.shape_a} -> {d.dtype_b} {d.shape_b}"
        else:
            mark = "~"
            detail = (
                f"{plural(d.differing, 'element')} differ"
                f"{'s' if d.differing == 1 else ''}, max abs difference {d.max_abs_diff:.6g}"
            )
        out.write(f"{mark} {d.name:<{width}}  {detail}\n")
    out.write(f"{len(diffs) - len(changed)} same, {len(changed)} different\n")
    return EXIT_OK if not changed else EXIT_FOUND
