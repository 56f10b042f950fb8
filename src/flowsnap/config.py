"""``flow.config``: process settings (what each does: :mod:`flowsnap._engine.process_config`)."""

from flowsnap._engine.process_config import (
    cpu_device_num,
    enable_debug_mode,
    enable_fusion,
    enable_legacy_model_io,
    enable_model_io_v2,
    gpu_device_num,
    legacy_model_io_enabled,
    machine_num,
)

__all__ = [
    "cpu_device_num",
    "enable_debug_mode",
    "enable_fusion",
    "enable_legacy_model_io",
    "enable_model_io_v2",
    "gpu_device_num",
    "legacy_model_io_enabled",
    "machine_num",
]
