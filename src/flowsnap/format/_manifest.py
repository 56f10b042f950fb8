"""The JSON manifest flowsnap writes inside ``snapshot_done`` (SPEC.md section 5)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowsnap.errors import ManifestError
from flowsnap.format._checksum import ALGORITHM
from flowsnap.format._chunks import BlockRecord, ChunkRecord, tiling_problem
from flowsnap.format._dtypes import BY_NAME, DataType

FORMAT_NAME = "flowsnap"
FORMAT_VERSION = 1
# A manifest with chunk checksums instead of whole-file ones (a sharded save, SPEC.md 5.1) says
# version 2, so that readers knowing only version 1 refuse it by name rather than misread it.
CHUNKED_FORMAT_VERSION = 2
READABLE_VERSION = CHUNKED_FORMAT_VERSION
_HEX16 = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class ManifestEntry:
    """What the manifest records about one variable.

    Attributes:
        data_type: the OneFlow DataType.
        shape: the dims.
        nbytes: the size of ``out`` in bytes.
        checksum: XXH3-64 of ``out``, 16 hex digits; ``""`` when the variable has chunk
            checksums instead (a sharded save).
        has_meta: whether a ``meta`` file was written (False in legacy layout).
        chunks: ``(offset, length, checksum)`` of byte ranges tiling ``out`` (a sharded save),
            or None.
        blocks: ``(box, checksum)`` of blocks a sharded save wrote whose bytes are strided in
            ``out`` (SPEC.md 5.2; a loader of exactly that block reads only its bytes), or None.
    """

    data_type: DataType
    shape: tuple[int, ...]
    nbytes: int
    checksum: str
    has_meta: bool = True
    chunks: tuple[ChunkRecord, ...] | None = None
    blocks: tuple[BlockRecord, ...] | None = None


@dataclass(frozen=True)
class Manifest:
    """The content of a flowsnap ``snapshot_done``.

    Attributes:
        variables: name -> entry, for every variable in the snapshot.
        metadata: the user's JSON object, uninterpreted.
        format_version: the format version the writer followed.
        writer: the program that wrote it (``"flowsnap 0.1.0"``).
        checksum_algorithm: always ``"xxh3-64"`` in format version 1.
    """

    variables: Mapping[str, ManifestEntry]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    writer: str = ""
    checksum_algorithm: str = ALGORITHM


def encode_manifest(manifest: Manifest) -> bytes:
    """Serialize a manifest as the UTF-8 JSON stored in ``snapshot_done``."""
    head = {
        "format": FORMAT_NAME,
        "format_version": manifest.format_version,
        "writer": manifest.writer,
        "checksum_algorithm": manifest.checksum_algorithm,
        "metadata": dict(manifest.metadata),
    }
    # One line per variable: readable with grep/less, compact for 10^5 variables.
    lines = [
        f" {json.dumps(k, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False)}"
        for k, v in head.items()
    ]
    entries = [
        "  " + json.dumps(name, ensure_ascii=False) + ": " + json.dumps(_entry_doc(e))
        for name, e in sorted(manifest.variables.items())
    ]
    body = ",\n".join(entries)
    text = "{\n" + ",\n".join(lines) + ',\n "variables": {' + ("\n" + body + "\n " if body else "")
    return (text + "}\n}\n").encode("utf-8")


def _entry_doc(e: ManifestEntry) -> dict[str, Any]:
    doc: dict[str, Any] = {"data_type": e.data_type.name, "shape": list(e.shape)}
    doc["nbytes"] = e.nbytes
    if e.checksum:
        doc["checksum"] = e.checksum
    doc["meta"] = e.has_meta
    if e.chunks is not None:
        doc["chunks"] = [list(c) for c in e.chunks]
    if e.blocks:
        doc["blocks"] = [[[list(d) for d in box], digest] for box, digest in e.blocks]
    return doc


def decode_manifest(data: bytes, *, where: str) -> Manifest | None:
    """Parse ``snapshot_done``; return None for an empty one (as OneFlow writes it).

    Raises:
        ManifestError: the content is not a flowsnap manifest, or is from a newer format version.
    """
    if not data.strip():
        return None

    def bad(why: str) -> ManifestError:
        return ManifestError(
            f"{where}: {why}. snapshot_done is either empty (OneFlow) or a flowsnap JSON "
            "manifest; this one is damaged. To read the variables without verification, open "
            "the snapshot with verify=False."
        )

    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"not valid UTF-8 JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise bad('not a flowsnap manifest (no "format": "flowsnap")')
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise bad(f"format_version {version!r} is not a positive integer")
    if version > READABLE_VERSION:
        raise ManifestError(
            f"{where}: written in flowsnap format version {version} by {doc.get('writer')!r}; "
            f"this flowsnap reads versions up to {READABLE_VERSION}. Upgrade flowsnap."
        )
    algorithm = doc.get("checksum_algorithm")
    if algorithm != ALGORITHM:
        raise bad(f"unknown checksum_algorithm {algorithm!r} (expected {ALGORITHM!r})")
    metadata = doc.get("metadata", {})
    raw_vars = doc.get("variables")
    if not isinstance(metadata, dict) or not isinstance(raw_vars, dict):
        raise bad("'metadata' and 'variables' must be JSON objects")
    variables = {}
    for name, raw in raw_vars.items():
        entry = _decode_entry(raw)
        if entry is None:
            raise bad(f"the entry for variable {name!r} is malformed: {raw!r}")
        variables[name] = entry
    return Manifest(
        variables=variables,
        metadata=metadata,
        format_version=version,
        writer=str(doc.get("writer", "")),
        checksum_algorithm=algorithm,
    )


def _decode_entry(raw: object) -> ManifestEntry | None:
    if type(raw) is not dict:
        return None
    data_type = BY_NAME.get(raw.get("data_type"))  # type: ignore[arg-type]
    shape, nbytes, digest = raw.get("shape"), raw.get("nbytes"), raw.get("checksum")
    has_meta = raw.get("meta", True)
    chunks = _decode_chunks(raw.get("chunks"), nbytes)
    blocks = _decode_blocks(raw.get("blocks"), shape)
    if digest is None and chunks is not None:
        digest = ""  # a sharded save: the chunks are the checksums
    # ``type(x) is int`` also rejects bools, which are ints to isinstance.
    if (
        data_type is None
        or type(shape) is not list
        or not all(type(d) is int and d >= 0 for d in shape)
        or type(nbytes) is not int
        or nbytes < 0
        or type(digest) is not str
        or (_HEX16.fullmatch(digest) is None and not (digest == "" and chunks is not None))
        or type(has_meta) is not bool
        or chunks is False
        or blocks is False
    ):
        return None
    return ManifestEntry(
        data_type,
        tuple(shape),
        nbytes,
        digest,
        has_meta,
        chunks if isinstance(chunks, tuple) else None,
        blocks if isinstance(blocks, tuple) else None,
    )


def _decode_chunks(raw: object, nbytes: object) -> tuple[ChunkRecord, ...] | bool | None:
    """The chunk list of an entry; None when absent, False when malformed."""
    if raw is None:
        return None
    if type(raw) is not list or type(nbytes) is not int:
        return False
    chunks: list[ChunkRecord] = []
    for item in raw:
        if (
            type(item) is not list
            or len(item) != 3
            or type(item[0]) is not int
            or type(item[1]) is not int
            or type(item[2]) is not str
            or _HEX16.fullmatch(item[2]) is None
        ):
            return False
        chunks.append((item[0], item[1], item[2]))
    if tiling_problem(chunks, nbytes) is not None:
        return False
    return tuple(chunks)


def _decode_blocks(raw: object, shape: object) -> tuple[BlockRecord, ...] | bool | None:
    """The block checksums of an entry (SPEC.md 5.2); None when absent, False when malformed:
    a box must have one ``[start, stop]`` per dim with ``0 <= start <= stop <= dim``, and
    appear once."""
    if raw is None:
        return None
    if type(raw) is not list or type(shape) is not list:
        return False
    blocks: list[BlockRecord] = []
    seen = set()
    for item in raw:
        if (
            type(item) is not list
            or len(item) != 2
            or type(item[0]) is not list
            or len(item[0]) != len(shape)
            or type(item[1]) is not str
            or _HEX16.fullmatch(item[1]) is None
        ):
            return False
        box = []
        for dim, bounds in zip(shape, item[0], strict=True):
            if (
                type(bounds) is not list
                or len(bounds) != 2
                or type(bounds[0]) is not int
                or type(bounds[1]) is not int
                or type(dim) is not int
                or not 0 <= bounds[0] <= bounds[1] <= dim
            ):
                return False
            box.append((bounds[0], bounds[1]))
        key = tuple(box)
        if key in seen:
            return False
        seen.add(key)
        blocks.append((key, item[1]))
    return tuple(blocks)
