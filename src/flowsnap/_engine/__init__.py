"""The engine: turns legacy job bodies into pure compiled steps (internal)."""

from flowsnap._engine import process_config as process_config
from flowsnap._engine._amp import amp_apply as amp_apply
from flowsnap._engine._current import Scope as Scope
from flowsnap._engine._current import cast_to_current_logical_view as cast_to_current_logical_view
from flowsnap._engine._current import current_machine_id as current_machine_id
from flowsnap._engine._current import current_resource as current_resource
from flowsnap._engine._current import current_scope as current_scope
from flowsnap._engine._decorator import global_function as global_function
from flowsnap._engine._function_config import FunctionConfig as FunctionConfig
from flowsnap._engine._function_config import (
    current_job_config as current_job_config,
)
from flowsnap._engine._function_config import initializer_from_conf as initializer_from_conf
from flowsnap._engine._get_variable import get_variable as get_variable
from flowsnap._engine._hooks import assign_variable as assign_variable
from flowsnap._engine._hooks import is_training as is_training
from flowsnap._engine._hooks import random_key as random_key
from flowsnap._engine._hooks import record_minimize as record_minimize
from flowsnap._engine._host import POSITION_PREFIX as POSITION_PREFIX
from flowsnap._engine._host import HostBlob as HostBlob
from flowsnap._engine._host import HostCall as HostCall
from flowsnap._engine._host import host_op as host_op
from flowsnap._engine._job import TRAIN_STEP_PREFIX as TRAIN_STEP_PREFIX
from flowsnap._engine._job import JobFunction as JobFunction
from flowsnap._engine._mesh import constrain_layout as constrain_layout
from flowsnap._engine._protocol import RegularizerLike as RegularizerLike
from flowsnap._engine._protocol import Slots as Slots
from flowsnap._engine._protocol import SlotSpec as SlotSpec
from flowsnap._engine._protocol import TrainingOptimizer as TrainingOptimizer
from flowsnap._engine._returns import LazyResult as LazyResult
from flowsnap._engine._returns import LocalBlob as LocalBlob
from flowsnap._engine._scaling import DynamicLossScale as DynamicLossScale
from flowsnap._engine._scope import LogicalView as LogicalView
from flowsnap._engine._scope import broadcast as broadcast
from flowsnap._engine._scope import consistent_view as consistent_view
from flowsnap._engine._scope import current_placement as current_placement
from flowsnap._engine._scope import mirrored_view as mirrored_view
from flowsnap._engine._scope import namespace as namespace
from flowsnap._engine._scope import namespace_prefix as namespace_prefix
from flowsnap._engine._scope import placement as placement
from flowsnap._engine._scope import split as split
from flowsnap._engine._trace import current_trace as current_trace
from flowsnap._engine._watch import watch as watch
from flowsnap._engine._watch import watch_diff as watch_diff
from flowsnap.typing import FixedTensorDef as FixedTensorDef
from flowsnap.typing import MirroredTensorDef as MirroredTensorDef
from flowsnap.typing import MirroredTensorListDef as MirroredTensorListDef

__all__ = [
    "POSITION_PREFIX",
    "TRAIN_STEP_PREFIX",
    "DynamicLossScale",
    "FixedTensorDef",
    "FunctionConfig",
    "HostBlob",
    "HostCall",
    "JobFunction",
    "LazyResult",
    "LocalBlob",
    "LogicalView",
    "MirroredTensorDef",
    "MirroredTensorListDef",
    "RegularizerLike",
    "Scope",
    "SlotSpec",
    "Slots",
    "TrainingOptimizer",
    "amp_apply",
    "assign_variable",
    "broadcast",
    "cast_to_current_logical_view",
    "consistent_view",
    "constrain_layout",
    "current_job_config",
    "current_machine_id",
    "current_placement",
    "current_resource",
    "current_scope",
    "current_trace",
    "get_variable",
    "global_function",
    "host_op",
    "initializer_from_conf",
    "is_training",
    "mirrored_view",
    "namespace",
    "namespace_prefix",
    "placement",
    "process_config",
    "random_key",
    "record_minimize",
    "split",
    "watch",
    "watch_diff",
]
