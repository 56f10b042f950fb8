"""``flow.env``: environment set-up (see :mod:`flowsnap._engine.process_config`)."""

from flowsnap._engine.process_config import (
    ctrl_port,
    data_port,
    grpc_use_no_signal,
    init,
    log_dir,
    machine,
)

__all__ = ["ctrl_port", "data_port", "grpc_use_no_signal", "init", "log_dir", "machine"]
