"""Reports: what a load did (:class:`LoadReport`), what a save wrote (:class:`SavedCheckpoint`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from flowsnap.format import Manifest


@dataclass(frozen=True)
class LoadReport:
    """What a load did.

    Attributes:
        loaded: model variables that received a value.
        kept: model variables not in the values, which kept their current value.
        initialized: model variables given fresh initial values instead (legacy loads only).
        ignored: names in the values that are not model variables (after renaming).
        skipped: names the ``include``/``exclude`` filters left out.
        renamed: ``{name in the values: model name}`` for every rename rule that applied.
    """

    loaded: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    initialized: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    renamed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether anything was loaded."""
        return bool(self.loaded)

    def __str__(self) -> str:
        parts = [f"{len(self.loaded)} loaded"]
        for label, names in (
            ("kept their values (not in the checkpoint)", self.kept),
            ("initialized afresh (not in the checkpoint)", self.initialized),
            ("ignored (not in the model)", self.ignored),
            ("skipped by filters", self.skipped),
        ):
            if names:
                parts.append(f"{len(names)} {label}: {list_names(names)}")
        if self.renamed:
            parts.append(f"{len(self.renamed)} renamed")
        return "load_variables: " + "; ".join(parts)


def list_names(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... (+{len(names) - limit})" if len(names) > limit else "")


@dataclass(frozen=True)
class SavedCheckpoint:
    """What a save wrote: returned by ``flow.checkpoint.save`` and ``SaveHandle.wait()``.

    Its repr is one line (a bare ``flow.checkpoint.save(...)`` in a notebook prints
    ``SavedCheckpoint('ckpt', 9 variables, 1.7 MB)``); the full manifest is in :attr:`manifest`.

    Attributes:
        path: the published checkpoint directory.
        manifest: the manifest written into ``snapshot_done`` (every variable's shape, dtype, size
            and checksum).
    """

    path: str
    manifest: Manifest = field(repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        """The saved variables' names, sorted."""
        return tuple(sorted(self.manifest.variables))

    @property
    def nbytes(self) -> int:
        """The total size of the variables' data (``out`` files) in bytes."""
        return sum(e.nbytes for e in self.manifest.variables.values())

    def __len__(self) -> int:
        return len(self.manifest.variables)

    def __repr__(self) -> str:
        count = len(self)
        return (
            f"SavedCheckpoint({self.path!r}, {count} variable{'' if count == 1 else 's'}, "
            f"{format_bytes(self.nbytes)})"
        )


def format_bytes(nbytes: int) -> str:
    """``1234567`` -> ``'1.2 MB'`` (decimal units, as ``ls -h --si`` and file managers show)."""
    if nbytes < 1000:
        return f"{nbytes} byte{'' if nbytes == 1 else 's'}"
    size, unit = nbytes / 1000, "kB"
    for bigger in ("MB", "GB", "TB"):
        if size < 999.95:
            break
        size, unit = size / 1000, bigger
    return f"{size:.1f} {unit}"
