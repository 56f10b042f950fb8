"""``flow.scope``: variable-name prefixes, device placement and logical views."""

from flowsnap._engine import consistent_view, mirrored_view, namespace, placement

__all__ = ["consistent_view", "mirrored_view", "namespace", "placement"]
