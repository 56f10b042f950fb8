"""``flowsnap`` subcommands and the one place that maps errors to exit codes.

Only :mod:`flowsnap.format`, :mod:`flowsnap.foreign` and :mod:`flowsnap.tools` are imported:
``ls``, ``show``, ``verify``, ``diff`` and ``convert`` never load JAX (``run`` loads whatever the
script imports).

Exit codes: 0 ok; 1 ``verify`` found damage or ``diff`` found differences; 2 bad arguments; 3 any
other error (a wrong path, an unreadable checkpoint...), printed as one line on stderr (and, with
``--json``, as ``{"ok": false, "error": {...}}`` on stdout); 130 interrupted; 141 the reader of
the output went away (``flowsnap ls CKPT | head -1``), quietly, as Unix tools do.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

from flowsnap._version import __version__
from flowsnap.cli._inputs import UsageError, describe, write_json
from flowsnap.errors import FlowsnapError

EXIT_OK = 0
EXIT_FOUND = 1  # verify found problems; diff found differences
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_ERROR = 3  # a flowsnap error (bad path, unreadable checkpoint...)
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a Unix tool whose reader went away

FORMATS = ["flowsnap", "safetensors", "safetensors-sharded", "torch", "npz"]
CASTS = ["bf16", "fp16", "fp32", "fp64", "bfloat16", "float16", "float32", "float64"]


class _ParseError(Exception):
    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ParseError(self, message)


def _size(text: str) -> int:
    units = {
        "": 1,
        "B": 1,
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
        value = int(float(number) * units[text[len(number) :].upper()])
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 5GB, 500MB)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a shard size must be positive")
    return value


def _add_reading(p: argparse.ArgumentParser, *, verify: bool = True, like: bool = True) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="read a OneFlow/flowsnap directory without snapshot_done (an unfinished save, or "
        "variable directories written by OneFlow's C++ API or converters)",
    )
    if verify:
        p.add_argument(
            "--no-verify",
            action="store_true",
            help="do not check the manifest and checksums (to read a damaged checkpoint)",
        )
    if like:
        p.add_argument(
            "--like",
            action="append",
            metavar="CKPT",
            help="take shape and dtype of legacy variables without meta from CKPT, a "
            "checkpoint of the same model (any format)",
        )
        p.add_argument(
            "--shapes",
            metavar="JSON",
            help='shape and dtype of legacy variables: {"name": {"shape": [10, 784], '
            '"dtype": "float32"}}, inline or in a file',
        )


def _parser() -> _Parser:
    from flowsnap.cli._convert import cmd_convert
    from flowsnap.cli._inspect import cmd_diff, cmd_ls, cmd_show, cmd_verify

    parser = _Parser(
        prog="flowsnap",
        description="Inspect, check and convert OneFlow/flowsnap checkpoints (and safetensors, "
        "PyTorch and .npz files).",
        epilog="Exit codes: 0 ok, 1 damage (verify) or differences (diff), 2 bad arguments, "
        "3 other errors.",
    )
    parser.add_argument("--version", action="version", version=f"flowsnap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    where = (
        "a checkpoint: a OneFlow/flowsnap directory (or one variable's directory), "
        "*.safetensors, *.safetensors.index.json (or its directory), *.pt/*.pth/*.bin, *.npz"
    )

    ls = sub.add_parser("ls", help="list the variables of a checkpoint", description=where)
    ls.add_argument("path", help="the checkpoint")
    _add_reading(ls)
    ls.set_defaults(run=cmd_ls)

    verify = sub.add_parser(
        "verify",
        help="check every size and checksum (as far as the format allows); exit 1 on damage",
        description=where,
    )
    verify.add_argument("path", help="the checkpoint")
    _add_reading(verify, verify=False, like=False)
    verify.set_defaults(run=cmd_verify)

    show = sub.add_parser(
        "show", help="statistics and a preview of one variable", description=where
    )
    show.add_argument("path", help="the checkpoint")
    show.add_argument("name", nargs="?", help="the variable (not needed for a variable directory)")
    show.add_argument("--preview", type=int, default=8, help="values to preview (default 8)")
    _add_reading(show)
    show.set_defaults(run=cmd_show)

    diff = sub.add_parser(
        "diff",
        help="variables added, removed or changed between A and B; exit 1 if they differ",
        description="A and B may be of different formats: " + where,
    )
    diff.add_argument("a", help="a checkpoint")
    diff.add_argument("b", help="another checkpoint")
    _add_reading(diff)
    diff.set_defaults(run=cmd_diff)

    conv = sub.add_parser(
        "convert",
        help="convert between flowsnap/OneFlow, safetensors, PyTorch and .npz",
        description="Formats are guessed from the paths: a directory is flowsnap/OneFlow (or "
        "sharded safetensors with an index), *.safetensors, *.safetensors.index.json, "
        "*.pt/*.pth/*.bin (PyTorch, read with weights_only=True), *.npz. A new DST without a "
        "suffix is a flowsnap directory. --max-shard-size follows Hugging Face: DST "
        "model.safetensors gives model-00001-of-0000N.safetensors + "
        "model.safetensors.index.json next to each other; a DST directory gets them inside.",
    )
    conv.add_argument("src", help="the checkpoint to read")
    conv.add_argument("dst", help="the new file or directory to write (must not exist)")
    conv.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="REGEX",
        help="convert only names REGEX finds (searched; repeatable: any one matches)",
    )
    conv.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="REGEX",
        help="leave out names REGEX finds, e.g. '-(m|v|momentum)$' '^System-' (repeatable)",
    )
    conv.add_argument(
        "--rename",
        action="append",
        default=[],
        metavar="REGEX=REPL",
        help="rename tensors after the filters (repeatable; the first matching rule applies)",
    )
    conv.add_argument(
        "--dtype",
        choices=CASTS,
        metavar="bf16|fp16|fp32|fp64",
        help="cast floating-point tensors (also bfloat16, float16, float32, float64)",
    )
    formats = "|".join(FORMATS)
    conv.add_argument(
        "--from",
        dest="from_format",
        choices=FORMATS,
        metavar="FMT",
        help=f"source format: {formats}",
    )
    conv.add_argument(
        "--to", dest="to_format", choices=FORMATS, metavar="FMT", help=f"target format: {formats}"
    )
    conv.add_argument(
        "--max-shard-size",
        type=_size,
        metavar="SIZE",
        help="write sharded safetensors with shards of at most SIZE (e.g. 5GB, 500MB, 2GiB)",
    )
    _add_reading(conv)
    conv.set_defaults(run=cmd_convert)

    from flowsnap.cli._data import add_parser as add_ofrecord_parser

    add_ofrecord_parser(sub)  # flowsnap ofrecord (cli/_data.py)

    run = sub.add_parser(
        "run",
        help="run a legacy OneFlow script unmodified (import oneflow -> flowsnap)",
        description="Run SCRIPT with 'import oneflow' / 'oneflow.compatible.single_client' "
        "provided by flowsnap for this run only, each with its OneFlow version's signatures: "
        "'import oneflow' is OneFlow 0.4's API (0.2-0.4 programs), "
        "'oneflow.compatible.single_client' is 0.5's.",
    )
    run.add_argument(
        "--oneflow-version",
        choices=["0.3", "0.4", "0.5"],
        default=None,
        help="the OneFlow version whose signatures every oneflow import gets (default: 0.4 for "
        "'import oneflow', 0.5 for 'oneflow.compatible.single_client')",
    )
    run.add_argument("script", help="the Python script")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    run.set_defaults(run=_cmd_run)

    comp = sub.add_parser(
        "completion",
        help="print a shell completion script",
        description='bash: eval "$(flowsnap completion bash)" (e.g. in ~/.bashrc); zsh: the '
        "same with zsh.",
    )
    comp.add_argument("shell", choices=["bash", "zsh"])
    comp.set_defaults(run=_cmd_completion)
    return parser


def _cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    del out
    from flowsnap.cli._run import run_script

    return run_script(args.script, args.args, version=args.oneflow_version)


def _cmd_completion(args: argparse.Namespace, out: TextIO) -> int:
    from flowsnap.cli._completion import script

    out.write(script(args.shell, _parser(), FORMATS, CASTS))
    return EXIT_OK


# Options whose values often start with '-' (regexes such as '-(m|v)$', '-=.'): argparse would
# take such a value for an option, so 'OPTION VALUE' is joined into 'OPTION=VALUE' first.
_DASHED_VALUES = ("--include", "--exclude", "--rename")


def _join_dashed_values(argv: list[str]) -> list[str]:
    words = [a for a in argv if not a.startswith("-")]
    if words and words[0] == "run":
        return argv
    out: list[str] = []
    i = 0
    while i < len(argv):
        value = argv[i + 1] if i + 1 < len(argv) else ""
        if argv[i] in _DASHED_VALUES and value.startswith("-") and not value.startswith("--"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _wants_json(argv: Sequence[str]) -> bool:
    words = [a for a in argv if not a.startswith("-")]
    return bool(words) and words[0] != "run" and "--json" in argv


def _report(command: str, exc: BaseException, code: int, as_json: bool, stream: TextIO) -> int:
    kind, message = describe(exc)
    print(f"flowsnap {command}: error: {message}", file=sys.stderr)
    if as_json:
        doc = {"ok": False, "error": {"kind": kind, "message": message, "exit_code": code}}
        write_json(doc, stream)
    return code


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the ``flowsnap`` command with ``argv``; return the exit code (never raises SystemExit:
    errors are printed to stderr as one line, and with ``--json`` as a JSON object on stdout)."""
    stream = sys.stdout if out is None else out
    argv = _join_dashed_values(list(sys.argv[1:] if argv is None else argv))
    as_json = _wants_json(argv)
    command = next((a for a in argv if not a.startswith("-")), "")
    parser = _parser()
    try:
        try:
            args = parser.parse_args(argv)
        except _ParseError as exc:
            exc.parser.print_usage(sys.stderr)
            return _report(exc.parser.prog.removeprefix("flowsnap ") or command, UsageError(
                str(exc)), EXIT_USAGE, as_json, stream)  # fmt: skip
        except SystemExit as exc:  # --help, --version
            stream.flush()
            return int(exc.code) if isinstance(exc.code, int) else EXIT_OK
        code: int = args.run(args, stream)
        stream.flush()
        return code
    except BrokenPipeError:
        _silence(stream)
        return EXIT_PIPE
    except KeyboardInterrupt:
        print(f"flowsnap {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as exc:
        return _report(command, exc, EXIT_USAGE, as_json, stream)
    except FlowsnapError as exc:
        return _report(command, exc, EXIT_ERROR, as_json, stream)
    except OSError as exc:  # e.g. permission denied: one line, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        error = OSError(f"{where}{exc.strerror or exc}")
        return _report(command, error, EXIT_ERROR, as_json, stream)


def _silence(stream: TextIO) -> None:
    """After the reader of stdout went away: point stdout at /dev/null, so that the flush at exit
    does not complain."""
    if stream is not sys.stdout:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def entrypoint() -> None:
    """Console-script entry point."""
    sys.exit(main())
