"""``oneflow.core.record``: ``record_pb2`` (OFRecord, the records of OneFlow's data files)."""

__all__: list[str] = []
