"""``flowsnap`` subcommands and the one place that maps errors to exit codes.

Only :mod:`flowsnap.format` is imported here: ``ls`` and ``verify`` never load JAX (``run`` loads
whatever the script imports).
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
EXIT_DAMAGED = 1  # verify found problems
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
    out.write(f"{'name':<{widths[0]}}  {'dtype':<{widths[1]}}  {'shape':<{widths[2]}}  size\n")
    for r in rows:
        shape = "?" if r["shape"] is None else str(tuple(r["shape"]))
        dtype = r["dtype"] or "?"
        out.write(
            f"{r['name']:<{widths[0]}}  {dtype:<{widths[1]}}  {shape:<{widths[2]}}  "
            f"{_human(int(r['nbytes']))}\n"
        )
    out.write(f"{len(rows)} variables, {_human(total)}\n")
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
    except FlowsnapError as exc:
        print(f"flowsnap {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return code


def entrypoint() -> None:
    """Console-script entry point."""
    sys.exit(main())
