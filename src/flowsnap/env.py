"""``flow.env``: environment set-up; nothing to do on one machine (see ``_engine/_env.py``)."""

from flowsnap._engine._env import ctrl_port, data_port, grpc_use_no_signal, init, log_dir, machine

__all__ = ["ctrl_port", "data_port", "grpc_use_no_signal", "init", "log_dir", "machine"]
