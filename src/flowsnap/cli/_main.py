"""``flowsnap`` subcommands and the one place that maps errors to exit codes.

Only :mod:`flowsnap.format` and :mod:`flowsnap.tools` are imported here: ``ls``, ``show``,
``verify``, ``diff`` and ``convert`` never load JAX (``run`` loads whatever the script imports).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from flowsnap._version import __version__
from flowsnap.errors import FlowsnapError

EXIT_OK = 0
EXIT_DAMAGED = 1  # verify found problems; diff found differences
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_ERROR = 3  # a flowsnap error (bad path, unreadable checkpoint...)


def _human(nbytes: int) -> str:
    size = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{nbytes} B"  # pragma: no cover


def _cmd_ls(args: argparse.Namespace, out: TextIO) -> int:
    from flowsnap.format import StoredVariable, open_path

    opened = open_path(args.path, allow_incomplete=args.allow_incomplete)
    variables = {opened.name: opened} if isinstance(opened, StoredVariable) else dict(opened)
    rows: list[dict[str, Any]] = []
    for name, var in variables.items():
        rows.append(
            {
                "name": name,
                "dtype": None if var.dtype is None else str(var.dtype),
                "data_type": None if var.data_type is None else var.data_type.name,
                "shape": None if var.shape is None else list(var.shape),
                "nbytes": var.nbytes,
                "checksum": var.expected_checksum,
            }
        )
    total = sum(int(r["nbytes"]) for r in rows)
    if args.json:
        json.dump({"path": args.path, "variables": rows, "nbytes": total}, out, indent=1)
        out.write("\n")
        return EXIT_OK
    widths = [max([len("name"), *(len(str(r["name"])) for r in rows)]), 9, 20, 10]
    out.write(
        f"{'name':<{widths[0]}}  {'dtype':<{widths[1]}}  {'shape':<{widths[2]}}  "
        f"{'size':>{widths[3]}}  checksum\n"
    )
    for r in rows:
        shape = "?" if r["shape"] is None else str(tuple(r["shape"]))
        dtype = r["dtype"] or "?"
        checksum = f"xxh3:{str(r['checksum'])[-8:]}" if r["checksum"] else "none (OneFlow)"
        out.write(
            f"{r['name']:<{widths[0]}}  {dtype:<{widths[1]}}  {shape:<{widths[2]}}  "
            f"{_human(int(r['nbytes'])):>{widths[3]}}  {checksum}\n"
        )
    recorded = sum(1 for r in rows if r["checksum"])
    out.write(
        f"{len(rows)} variables, {_human(total)}, {recorded} with recorded checksums "
        "(flowsnap verify checks them)\n"
    )
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    from flowsnap.format import verify_snapshot

    report = verify_snapshot(args.path)
    if args.json:
        doc = {
            "path": report.path,
            "ok": report.ok,
            "checked": len(report.checked),
            "nbytes": report.nbytes,
            "has_manifest": report.has_manifest,
            "problems": [p.__dict__ for p in report.problems],
        }
        json.dump(doc, out, indent=1)
        out.write("\n")
    else:
        for p in report.problems:
            out.write(f"DAMAGED {p.name or '(snapshot)'}: {p.kind}: {p.message}\n")
        how = "checksums verified" if report.has_manifest else "sizes checked (no manifest)"
        verdict = "OK" if report.ok else f"{len(report.problems)} problem(s)"
        out.write(f"{verdict}: {len(report.checked)} variables, {_human(report.nbytes)}, {how}\n")
    return EXIT_OK if report.ok else EXIT_DAMAGED


def _cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    from flowsnap.format import StoredVariable, open_path
    from flowsnap.tools import variable_stats

    opened = open_path(args.path, allow_incomplete=args.allow_incomplete)
    if isinstance(opened, StoredVariable):
        var = opened
    else:
        if args.name is None:
            raise _usage(f"{args.path} is a snapshot: name a variable (flowsnap ls lists them)")
        var = opened[args.name]
    stats = variable_stats(var, preview=args.preview)
    if args.json:
        json.dump(stats.as_dict(), out, indent=1)
        out.write("\n")
        return EXIT_OK
    out.write(f"{stats.name}: {stats.dtype} {stats.shape}, {stats.count} elements\n")
    if stats.min is not None:
        out.write(
            f"  min {stats.min:.6g}  max {stats.max:.6g}  mean {stats.mean:.6g}  "
            f"std {stats.std:.6g}\n"
        )
    out.write(f"  zeros {stats.zeros}  nan {stats.nan}  +inf {stats.posinf}  -inf {stats.neginf}\n")
    out.write(f"  first values: {stats.preview}\n")
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace, out: TextIO) -> int:
    from flowsnap.format import open_snapshot
    from flowsnap.tools import diff_snapshots

    diffs = diff_snapshots(open_snapshot(args.a), open_snapshot(args.b))
    changed = [d for d in diffs if d.status != "same"]
    if args.json:
        doc = {
            "a": args.a,
            "b": args.b,
            "same": not changed,
            "variables": [d.as_dict() for d in diffs],
        }
        json.dump(doc, out, indent=1)
        out.write("\n")
    else:
        for d in changed:
            if d.status == "added":
                out.write(f"+ {d.name}  {d.dtype_b} {d.shape_b}\n")
            elif d.status == "removed":
                out.write(f"- {d.name}  {d.dtype_a} {d.shape_a}\n")
            elif d.differing is None:
                out.write(f"~ {d.name}  {d.dtype_a} {d.shape_a} -> {d.dtype_b} {d.shape_b}\n")
            else:
                out.write(
                    f"~ {d.name}  {d.differing} element(s) differ, max abs difference "
                    f"{d.max_abs_diff:.6g}\n"
                )
        out.write(f"{len(diffs) - len(changed)} same, {len(changed)} different\n")
    return EXIT_OK if not changed else EXIT_DAMAGED


def _cmd_convert(args: argparse.Namespace, out: TextIO) -> int:
    from flowsnap.tools import RenameRules, convert

    try:
        rules = RenameRules.parse(args.rename)
    except ValueError as exc:
        raise _usage(str(exc)) from None
    done = convert(
        args.src,
        args.dst,
        src_format=args.from_format,
        dst_format=args.to_format,
        rename=rules,
        dtype=args.dtype,
        max_shard_bytes=args.max_shard_size,
    )
    if args.json:
        json.dump(done.__dict__, out, indent=1)
        out.write("\n")
        return EXIT_OK
    out.write(
        f"{done.source_format} -> {done.target_format}: {done.tensors} tensors, "
        f"{_human(done.nbytes)}, {len(done.renamed)} renamed, {done.cast} cast\n"
    )
    return EXIT_OK


class _UsageError(Exception):
    pass


def _usage(message: str) -> _UsageError:
    return _UsageError(message)


def _size(text: str) -> int:
    units = {
        "": 1,
        "K": 10**3,
        "M": 10**6,
        "G": 10**9,
        "KB": 10**3,
        "MB": 10**6,
        "GB": 10**9,
        "KIB": 2**10,
        "MIB": 2**20,
        "GIB": 2**30,
    }
    number = text.rstrip("BbIiKkMmGg")
    try:
        return int(float(number) * units[text[len(number) :].upper()])
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 5GB, 500MB)") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowsnap", description="Inspect and check OneFlow/flowsnap checkpoints."
    )
    parser.add_argument("--version", action="version", version=f"flowsnap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("ls", help="list the variables of a checkpoint")
    ls.add_argument("path", help="a snapshot directory (or one variable's directory)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.add_argument(
        "--allow-incomplete", action="store_true", help="list a snapshot without snapshot_done"
    )
    ls.set_defaults(run=_cmd_ls)

    verify = sub.add_parser("verify", help="check every size and checksum; exit 1 on damage")
    verify.add_argument("path", help="a snapshot directory")
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    verify.set_defaults(run=_cmd_verify)

    show = sub.add_parser("show", help="statistics and a preview of one variable")
    show.add_argument("path", help="a snapshot directory (or one variable's directory)")
    show.add_argument("name", nargs="?", help="the variable (not needed for a variable directory)")
    show.add_argument("--preview", type=int, default=8, help="values to preview (default 8)")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.add_argument(
        "--allow-incomplete", action="store_true", help="read a snapshot without snapshot_done"
    )
    show.set_defaults(run=_cmd_show)

    diff = sub.add_parser(
        "diff", help="variables added, removed or changed between A and B; exit 1 if they differ"
    )
    diff.add_argument("a", help="a snapshot directory")
    diff.add_argument("b", help="another snapshot directory")
    diff.add_argument("--json", action="store_true", help="machine-readable output")
    diff.set_defaults(run=_cmd_diff)

    conv = sub.add_parser(
        "convert",
        help="convert between flowsnap/OneFlow, safetensors, PyTorch and .npz",
        description="Formats are guessed from the paths: a directory is flowsnap/OneFlow (or "
        "sharded safetensors with an index), *.safetensors, *.safetensors.index.json, "
        "*.pt/*.pth/*.bin (PyTorch, read with weights_only=True), *.npz.",
    )
    conv.add_argument("src", help="the checkpoint to read")
    conv.add_argument("dst", help="the new file or directory to write (must not exist)")
    conv.add_argument(
        "--rename",
        action="append",
        default=[],
        metavar="REGEX=REPL",
        help="rename tensors (repeatable; the first matching rule applies)",
    )
    conv.add_argument("--json", action="store_true", help="machine-readable output")
    conv.add_argument("--dtype", help="cast floating-point tensors: bf16, fp16, fp32, fp64")
    conv.add_argument("--from", dest="from_format", help="source format (default: guessed)")
    conv.add_argument("--to", dest="to_format", help="target format (default: guessed)")
    conv.add_argument(
        "--max-shard-size",
        type=_size,
        metavar="SIZE",
        help="write sharded safetensors with shards of at most SIZE (e.g. 5GB)",
    )
    conv.set_defaults(run=_cmd_convert)

    run = sub.add_parser(
        "run",
        help="run a legacy OneFlow script unmodified (import oneflow -> flowsnap)",
        description="Run SCRIPT with 'import oneflow' / 'oneflow.compatible.single_client' "
        "provided by flowsnap for this run only.",
    )
    run.add_argument("script", help="the Python script")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    run.set_defaults(run=_cmd_run)
    return parser


def _cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    del out
    from flowsnap.cli._run import run_script

    return run_script(args.script, args.args)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the ``flowsnap`` command with ``argv``; return the exit code (never raises SystemExit
    for flowsnap errors: they are printed to stderr as one line and give exit code 3)."""
    stream = sys.stdout if out is None else out
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    try:
        code: int = args.run(args, stream)
    except _UsageError as exc:
        print(f"flowsnap {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FlowsnapError as exc:
        print(f"flowsnap {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return code


def entrypoint() -> None:
    """Console-script entry point."""
    sys.exit(main())
