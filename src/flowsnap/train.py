"""``flow.train``: OneFlow's older checkpoint classes."""

from flowsnap.checkpoint import CheckPoint, SimpleCheckPointManager

__all__ = ["CheckPoint", "SimpleCheckPointManager"]
