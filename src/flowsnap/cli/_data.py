"""``flowsnap ofrecord``: make OFRecord datasets (from an image folder, IDX files or ``.npz``
arrays) and look inside them (``--inspect``). The command-line face of :mod:`flowsnap.data`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from flowsnap.cli._inputs import UsageError, human, write_json
from flowsnap.errors import DatasetError, plural

SOURCES = ["image-folder", "idx", "npz"]

DESCRIPTION = (
    "Write SRC as OFRecord part files in OUT, named as flow.data.ofrecord_reader finds them "
    "(part-0, part-1... by default; --suffix-length 5 gives part-00000). SRC is detected: an "
    "*.npz file (one feature per array, one record per row), an IDX images file or a directory "
    "of IDX files (MNIST, Fashion-MNIST: features 'images' and 'labels'; each split, e.g. train "
    "and t10k, goes to OUT/<split>), or an image folder SRC/<class>/<image> (features 'encoded' "
    "and 'class/label', as OneFlow's ImageNet OFRecords; class names in OUT/labels.txt). With "
    "--inspect, SRC is an OFRecord directory: its parts, record counts and features are listed."
)


def add_parser(sub: Any) -> None:
    """Register ``ofrecord`` on the ``flowsnap`` subcommand parser ``sub``."""
    p = sub.add_parser(
        "ofrecord",
        help="make an OFRecord dataset from an image folder, IDX files or .npz (or --inspect one)",
        description=DESCRIPTION,
    )
    p.add_argument(
        "src",
        help="the image folder, IDX file/directory or .npz (with --inspect: an OFRecord directory)",
    )
    p.add_argument("out", nargs="?", help="the dataset directory to write")
    p.add_argument(
        "--from", dest="source", choices=SOURCES, help="the kind of SRC (default: detected)"
    )
    parts = p.add_mutually_exclusive_group()
    parts.add_argument("--parts", type=int, metavar="N", help="write N part files (default 1)")
    parts.add_argument(
        "--records-per-part", type=int, metavar="N", help="at most N records per part"
    )
    p.add_argument("--prefix", default="part-", help="part name prefix (default 'part-')")
    p.add_argument(
        "--suffix-length",
        type=int,
        default=-1,
        metavar="N",
        help="zero-pad part numbers to N digits (default -1: no padding)",
    )
    p.add_argument(
        "--no-shuffle",
        action="store_true",
        help="image folder: keep "
        "sorted order (default: shuffled with --seed, each part has every class)",
    )
    p.add_argument("--seed", type=int, default=0, help="image folder shuffle seed (default 0)")
    p.add_argument(
        "--images-as",
        choices=["bytes", "float"],
        default="bytes",
        help="IDX: raw uint8 bytes (default) or float32 values in [0, 1]",
    )
    p.add_argument("--overwrite", action="store_true", help="replace part files already in OUT")
    p.add_argument(
        "--inspect",
        action="store_true",
        help="list the parts, records and features of the OFRecord directory SRC",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_ofrecord)


def _detect(src: Path) -> str:
    if src.is_file():
        if src.suffix == ".npz":
            return "npz"
        if "idx3-ubyte" in src.name:
            return "idx"
        raise DatasetError(
            f"cannot tell what {src} is: expected an *.npz file, an IDX images file "
            "(*-images-idx3-ubyte[.gz]) or a directory; pass --from"
        )
    if not src.is_dir():
        raise DatasetError(f"{src} does not exist")
    from flowsnap.data import idx_pairs

    return "idx" if idx_pairs(src) else "image-folder"


class _Bar:
    """A tqdm bar on a terminal (stderr), nothing otherwise."""

    def __init__(self, desc: str, quiet: bool) -> None:
        self._bar: Any = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(desc=desc, unit=" records", file=sys.stderr)
        self._n = 0

    def __call__(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(done - self._n)
        self._n = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def cmd_ofrecord(args: argparse.Namespace, out: TextIO) -> int:
    """Convert SRC into OFRecord parts in OUT, or inspect SRC."""
    from flowsnap import data

    src = Path(args.src)
    if args.inspect:
        return _inspect(src, args, out)
    if args.out is None:
        raise UsageError("OUT, the dataset directory to write, is missing (or pass --inspect)")
    for opt in ("parts", "records_per_part"):
        value = getattr(args, opt)
        if value is not None and value <= 0:
            raise UsageError(f"--{opt.replace('_', '-')} must be a positive number, got {value}")
    kind = args.source or _detect(src)
    write_args: dict[str, Any] = {
        "data_part_num": args.parts,
        "records_per_part": args.records_per_part,
        "part_name_prefix": args.prefix,
        "part_name_suffix_length": args.suffix_length,
        "overwrite": args.overwrite,
    }
    written: list[tuple[str, Any]] = []
    if kind == "idx":
        pairs = data.idx_pairs(src)
        if not pairs:
            raise DatasetError(f"no IDX images file (*images-idx3-ubyte[.gz]) in {src}")
        for split, images, labels in pairs:
            target = Path(args.out) if src.is_file() else Path(args.out) / split
            bar = _Bar(split, args.json)
            try:
                done = data.idx_to_ofrecord(
                    images, labels, target, images_as=args.images_as, progress=bar, **write_args
                )
            finally:
                bar.close()
            written.append((split, done))
    else:
        bar = _Bar(src.name, args.json)
        try:
            if kind == "npz":
                done = data.npz_to_ofrecord(src, args.out, progress=bar, **write_args)
            else:
                done = data.image_folder_to_ofrecord(
                    src,
                    args.out,
                    shuffle=not args.no_shuffle,
                    seed=args.seed,
                    progress=bar,
                    **write_args,
                )
        finally:
            bar.close()
        written.append((src.name, done))
    if args.json:
        doc = {
            "source": kind,
            "datasets": [dict(d.__dict__, records=d.records, name=n) for n, d in written],
        }
        write_json(doc, out)
        return 0
    for name, d in written:
        out.write(
            f"{kind} {name} -> {d.out_dir}: {plural(d.records, 'record')} in "
            f"{plural(len(d.parts), 'part')} ({Path(d.parts[0]).name}"
            f"{' ... ' + Path(d.parts[-1]).name if len(d.parts) > 1 else ''}), {human(d.nbytes)}\n"
        )
    return 0


def _inspect(src: Path, args: argparse.Namespace, out: TextIO) -> int:
    from flowsnap.data import OFRecordDataset

    ds = OFRecordDataset(
        src, part_name_prefix=args.prefix, part_name_suffix_length=args.suffix_length
    )
    features = ds.features(0) if len(ds) else []
    if args.json:
        doc = {
            "parts": [str(p) for p in ds.paths],
            "records_per_part": list(ds.part_lengths),
            "records": len(ds),
            "features": [f.__dict__ for f in features],
        }
        write_json(doc, out)
        return 0
    out.write(
        f"{src}: {plural(len(ds), 'record')} in {plural(len(ds.paths), 'part')} "
        f"({', '.join(f'{p.name}: {n}' for p, n in zip(ds.paths, ds.part_lengths, strict=True))})\n"
    )
    out.write("features of record 0:\n")
    for f in features:
        size = f" of {human(f.sizes[0])}" if f.sizes and len(f.sizes) == 1 else ""
        out.write(f"  {f.name}: {f.kind} list, {plural(f.count, 'value')}{size}\n")
    return 0
