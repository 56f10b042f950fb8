"""``flow.checkpoint``: save and open checkpoints of live variables."""

from flowsnap._store import LoadReport, get, save

__all__ = ["LoadReport", "get", "save"]
