"""``oneflow.core.framework``: ``variable_meta_info_pb2`` (a checkpoint's ``meta`` file)."""

__all__: list[str] = []
