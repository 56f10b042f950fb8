"""``flow.distribute``: how a variable is laid out over the devices of its placement."""

from flowsnap._engine import broadcast, split

__all__ = ["broadcast", "split"]
