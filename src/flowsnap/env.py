"""``flow.env``: environment set-up (see :mod:`flowsnap._engine.process_config`)."""

from flowsnap._engine import current_resource
from flowsnap._engine.process_config import (
    all_device_placement,
    ctrl_port,
    data_port,
    grpc_use_no_signal,
    init,
    init_bootstrap_confs,
    log_dir,
    logbuflevel,
    logtostderr,
    machine,
)

__all__ = [
    "all_device_placement",
    "ctrl_port",
    "current_resource",
    "data_port",
    "grpc_use_no_signal",
    "init",
    "init_bootstrap_confs",
    "log_dir",
    "logbuflevel",
    "logtostderr",
    "machine",
]
