"""``oneflow.core.operator``: ``op_conf_pb2`` (ActivationType and the variable op's conf)."""

__all__: list[str] = []
