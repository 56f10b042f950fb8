"""``oneflow.core.job``: ``initializer_conf_pb2``, ``regularizer_conf_pb2``,
``learning_rate_schedule_conf_pb2`` and ``job_conf_pb2`` (JobConfigProto)."""

__all__: list[str] = []
