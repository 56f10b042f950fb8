"""The variable store: declarations, values and jobs of a session (internal)."""

from flowsnap._store._layout import Layout as Layout
from flowsnap._store._layout import Where as Where
from flowsnap._store._layout import parse_sbp as parse_sbp
from flowsnap._store._layout import partition_spec as partition_spec
from flowsnap._store._layout import variable_layout as variable_layout
from flowsnap._store._layout import variable_sharding as variable_sharding
from flowsnap._store._session import Job as Job
from flowsnap._store._session import Session as Session
from flowsnap._store._session import SessionSettings as SessionSettings
from flowsnap._store._session import clear_default_session as clear_default_session
from flowsnap._store._session import current_session as current_session
from flowsnap._store._session import get_all_variables as get_all_variables
from flowsnap._store._session import set_random_seed as set_random_seed
from flowsnap._store._session import sync_default_session as sync_default_session
from flowsnap._store._session import use_session as use_session
from flowsnap._store._spec import Distribute as Distribute
from flowsnap._store._spec import RegularizerLike as RegularizerLike
from flowsnap._store._spec import VariableSpec as VariableSpec
from flowsnap._store._spec import device_dtype as device_dtype
from flowsnap._store._spec import name_hash as name_hash
from flowsnap._store._spec import variable_key as variable_key
from flowsnap._store._variable import Variable as Variable

# Transitional: _engine/_step.py and _engine/_protocol.py still import the old name; remove this

__all__ = [
    "Distribute",
    "Job",
    "Layout",
    "RegularizerLike",
    "Session",
    "SessionSettings",
    "Variable",
    "VariableSpec",
    "Where",
    "clear_default_session",
    "current_session",
    "device_dtype",
    "get_all_variables",
    "name_hash",
    "parse_sbp",
    "partition_spec",
    "set_random_seed",
    "sync_default_session",
    "use_session",
    "variable_key",
    "variable_layout",
    "variable_sharding",
]
