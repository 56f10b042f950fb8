"""How much of each version's API the facades provide (the README's status table)."""

from __future__ import annotations

from typing import NamedTuple

from flowsnap.compat import _rules
from flowsnap.compat._facade import Resolution, get_facade
from flowsnap.compat._table import VERSIONS


class Coverage(NamedTuple):
    """One version's counts over the groups a program uses (``_rules.GROUPS``)."""

    version: str  # "0.5.0"
    total: int
    provided: int  # with exactly the version's signature, every parameter implemented
    partial: int  # callable, some parameters not implemented yet (they raise when given)
    pending: int  # not implemented yet
    not_provided: int  # cannot be provided honestly (NOT_PROVIDED, with the reason)
    all_names: int  # every name of the version, groups outside the list included
    all_provided: int


def survey(version: str, *, in_groups: bool = True) -> list[Resolution]:
    """Every name of ``version`` (only those in the listed groups unless ``in_groups=False``),
    resolved."""
    facade = get_facade(version)
    return [
        facade.resolve(entry.name)
        for entry in facade.table.entries.values()
        if not in_groups or entry.group in _rules.GROUPS
    ]


def coverage(version: str) -> Coverage:
    """The counts of ``version``."""
    scoped = survey(version)
    everything = survey(version, in_groups=False)

    def count(status: str) -> int:
        return sum(1 for r in scoped if r.status == status)

    return Coverage(
        version=get_facade(version).table.version,
        total=len(scoped),
        provided=count("provided"),
        partial=count("partial"),
        pending=count("pending"),
        not_provided=count("not-provided"),
        all_names=len(everything),
        all_provided=sum(1 for r in everything if r.status == "provided"),
    )


def coverage_table() -> str:
    """The README's status table (markdown), one row per version."""
    rows = [
        "| OneFlow | import | provided / total | partial | pending | not provided | all groups |",
        "|---|---|---|---|---|---|---|",
    ]
    for short in VERSIONS:
        c = coverage(short)
        root = get_facade(short).root_name
        rows.append(
            f"| {c.version} | `{root}` | {c.provided} / {c.total} | {c.partial} | {c.pending} "
            f"| {c.not_provided} | {c.all_provided} / {c.all_names} |"
        )
    return "\n".join(rows)
