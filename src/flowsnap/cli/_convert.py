"""``flowsnap convert``: the command-line face of :func:`flowsnap.tools.convert`."""

from __future__ import annotations

import argparse
from typing import TextIO

from flowsnap.cli._inputs import (
    UsageError,
    compile_regexes,
    human,
    shapes_from,
    write_json,
)
from flowsnap.errors import plural


def cmd_convert(args: argparse.Namespace, out: TextIO) -> int:
    """Convert SRC into the new DST."""
    from flowsnap.tools import RenameRules, convert

    for spec in args.rename:
        pattern, sep, _ = spec.partition("=")
        if not sep:
            raise UsageError(
                f"--rename {spec!r}: expected REGEX=REPLACEMENT (e.g. '-=.' turns "
                "conv1-weight into conv1.weight)"
            )
        compile_regexes("--rename", [pattern])
    compile_regexes("--include", args.include)
    compile_regexes("--exclude", args.exclude)
    done = convert(
        args.src,
        args.dst,
        src_format=args.from_format,
        dst_format=args.to_format,
        rename=RenameRules.parse(args.rename),
        dtype=args.dtype,
        max_shard_bytes=args.max_shard_size,
        include=args.include,
        exclude=args.exclude,
        shapes=shapes_from(args),
        allow_incomplete=args.allow_incomplete,
        verify=not args.no_verify,
    )
    if args.json:
        write_json(done.__dict__, out)
        return 0
    parts = [
        plural(done.tensors, "tensor"),
        human(done.nbytes),
        f"{len(done.renamed)} renamed",
        f"{done.cast} cast",
    ]
    if done.excluded:
        parts.append(f"{len(done.excluded)} left out by --include/--exclude")
    out.write(f"{done.source_format} -> {done.target_format}: {', '.join(parts)}\n")
    if len(done.files) > 1:
        out.write(f"wrote {plural(len(done.files), 'file')}: {', '.join(done.files)}\n")
    return 0
