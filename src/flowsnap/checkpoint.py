"""``flow.checkpoint``: save and open checkpoints of live variables; background saves; the
checkpoint manager."""

from flowsnap._store import (
    CheckpointManager,
    LoadReport,
    SaveHandle,
    get,
    save,
    set_staging_budget,
)

__all__ = ["CheckpointManager", "LoadReport", "SaveHandle", "get", "save", "set_staging_budget"]
