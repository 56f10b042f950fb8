"""``flow.watch`` / ``flow.watch_diff`` (see the engine, which runs them) and the job-body
queries of where a body runs: ``flow.current_scope``, ``flow.current_machine_id``,
``flow.current_resource``, ``flow.cast_to_current_logical_view``."""

from flowsnap._engine import (
    cast_to_current_logical_view,
    current_machine_id,
    current_resource,
    current_scope,
    watch,
    watch_diff,
)

__all__ = [
    "cast_to_current_logical_view",
    "current_machine_id",
    "current_resource",
    "current_scope",
    "watch",
    "watch_diff",
]
