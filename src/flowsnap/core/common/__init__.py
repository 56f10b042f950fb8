"""``oneflow.core.common``: ``data_type_pb2`` (DataType) and ``shape_pb2`` (ShapeProto)."""

__all__: list[str] = []
