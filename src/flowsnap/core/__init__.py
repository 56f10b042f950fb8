"""OneFlow's protobuf modules: ``oneflow.core.<package>.<name>_pb2`` (``flowsnap run`` maps
``import oneflow.core...`` here).

Real protobuf classes, built at import from schemas written in this package with OneFlow's
published field numbers, names and types (its ``.proto`` files at v0.3.4, v0.4.0 and v0.5.0;
each module's docstring says which and what differs): a record written with them is what
OneFlow's own parser reads. Engine-free: protobuf only, no JAX.

- ``common.data_type_pb2`` (``DataType``), ``common.shape_pb2`` (``ShapeProto``),
  ``framework.variable_meta_info_pb2`` (``VariableMetaInfo``): one definition with
  :mod:`flowsnap.format`, which reads and writes checkpoints' ``meta`` files with it.
- ``record.record_pb2``: ``OFRecord``, ``Feature`` and its lists.
- ``job.initializer_conf_pb2``, ``job.regularizer_conf_pb2``,
  ``job.learning_rate_schedule_conf_pb2``, ``job.job_conf_pb2`` (``JobConfigProto``).
- ``operator.op_conf_pb2``: ``ActivationType`` (``kNone``...), ``VariableOpConf``,
  ``OperatorConf`` (part).

Conversions: :func:`initializer_conf` (a flowsnap initializer record, via its ``to_conf()``, or
the dict form, to the ``InitializerConf`` message ``flow.<x>_initializer`` returned in OneFlow)
and :func:`initializer_conf_dict` back; :func:`job_config_proto` (``flow.FunctionConfig``
options to the ``JobConfigProto`` fields OneFlow's setters filled) and
:func:`function_config_options` back; :func:`message_to_dict`/:func:`message_from_dict` for any
of these messages.

Example:
    >>> from flowsnap.core.operator import op_conf_pb2 as op_conf_util
    >>> op_conf_util.kRelu, op_conf_util.ActivationType.Name(0)
    (3, 'kNone')
"""

from flowsnap.core._convert import initializer_conf as initializer_conf
from flowsnap.core._convert import initializer_conf_dict as initializer_conf_dict
from flowsnap.core._convert import message_from_dict as message_from_dict
from flowsnap.core._convert import message_to_dict as message_to_dict
from flowsnap.core._job_config import NOT_IN_JOB_CONFIG as NOT_IN_JOB_CONFIG
from flowsnap.core._job_config import function_config_options as function_config_options
from flowsnap.core._job_config import job_config_proto as job_config_proto

__all__ = [
    "NOT_IN_JOB_CONFIG",
    "function_config_options",
    "initializer_conf",
    "initializer_conf_dict",
    "job_config_proto",
    "message_from_dict",
    "message_to_dict",
]
