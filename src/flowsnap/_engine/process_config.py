"""``flow.config.*`` and ``flow.env.*``: OneFlow's process settings.

The documented internal module behind :mod:`flowsnap.config` and :mod:`flowsnap.env`.

Most of them configured OneFlow's own runtime (device counts, ports, log directories); JAX finds
its devices itself, so here they are recorded and have no effect, which is what a user of a
one-machine script expects. ``enable_legacy_model_io`` is real: it makes checkpoints use the
pre-0.3.2 layout. As in OneFlow, a setter called after the session started has no effect: it
logs ``Nothing happened because the session is running`` and returns False.
"""

from __future__ import annotations

import logging
from typing import Any

from flowsnap._store import Session, current_session
from flowsnap.errors import UnsupportedFeatureError

_log = logging.getLogger("flowsnap")


def _set(key: str, value: Any) -> bool:
    """Record a setting that has no effect here (returns False once the session runs)."""
    session = current_session()
    if _refused(key, session):
        return False
    session.settings.recorded[key] = value
    return True


def _refused(key: str, session: Session) -> bool:
    if session.started:
        _log.warning("flow.config.%s: Nothing happened because the session is running", key)
    return session.started


def _count(name: str, value: int) -> int:
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"flow.config.{name}: expected an int >= 0, got {value!r}")
    return value


def gpu_device_num(val: int) -> bool:
    """Record the number of GPUs per machine (no effect: jobs run on their placement's device)."""
    return _set("gpu_device_num", _count("gpu_device_num", val))


def cpu_device_num(val: int) -> bool:
    """Record the number of CPU devices per machine (no effect)."""
    return _set("cpu_device_num", _count("cpu_device_num", val))


def machine_num(val: int) -> bool:
    """Record the number of machines; only 1 is supported."""
    if val != 1:
        raise UnsupportedFeatureError(
            f"flow.config.machine_num({val}): multi-machine runs are not supported yet"
        )
    return _set("machine_num", val)


def enable_legacy_model_io(val: bool = True) -> bool:
    """Write checkpoints in the pre-0.3.2 legacy layout (``out`` files only) when True."""
    session = current_session()
    if _refused("enable_legacy_model_io", session):
        return False
    session.settings.legacy_model_io = bool(val)
    return True


def legacy_model_io_enabled() -> bool:
    """Whether checkpoints use the legacy layout."""
    return current_session().settings.legacy_model_io


def enable_model_io_v2(val: bool = True) -> bool:
    """Accepted for compatibility (no effect)."""
    return _set("model_io_v2", bool(val))


def enable_debug_mode(val: bool = True) -> bool:
    """Accepted for compatibility (no effect)."""
    return _set("debug_mode", bool(val))


def enable_fusion(val: bool = True) -> bool:
    """Accepted for compatibility (no effect: XLA fuses)."""
    return _set("fusion", bool(val))


def init(*args: Any, **kwargs: Any) -> bool:
    """``flow.env.init()``: the environment needs no set-up here; returns True."""
    del args, kwargs
    return True


def machine(*args: Any, **kwargs: Any) -> None:
    """``flow.env.machine(...)``: multi-machine set-up is not supported yet."""
    del args, kwargs
    raise UnsupportedFeatureError("flow.env.machine: multi-machine runs are not supported yet")


def ctrl_port(val: int) -> None:
    """Accepted for compatibility (no effect)."""
    del val


def data_port(val: int) -> None:
    """Accepted for compatibility (no effect)."""
    del val


def log_dir(val: str) -> None:
    """Accepted for compatibility (no effect: flowsnap logs through ``logging``)."""
    del val


def grpc_use_no_signal(val: bool = True) -> None:
    """Accepted for compatibility (no effect)."""
    del val
