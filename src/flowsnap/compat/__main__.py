"""``python -m flowsnap.compat [VERSION]``: the facades' coverage (the README's status table), or
one version's names that are not provided yet, each with why."""

from __future__ import annotations

import sys

from flowsnap.compat._coverage import coverage_table, survey


def main(argv: list[str]) -> int:
    """Print the status table, or (with a version) every name not fully provided."""
    if not argv:
        print(coverage_table())
        return 0
    for r in survey(argv[0]):
        if r.status != "provided":
            print(f"{r.status:13} {r.name}: {r.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
