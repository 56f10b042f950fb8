"""The report of a load: what was loaded, kept, initialized, ignored, skipped and renamed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


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
