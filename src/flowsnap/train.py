"""``flow.train``: OneFlow's older checkpoint classes."""

from flowsnap._store import CheckPoint, SimpleCheckPointManager

__all__ = ["CheckPoint", "SimpleCheckPointManager"]
