"""``flow.checkpoint``: checkpoints of live variables.

Saving and opening checkpoints (:func:`save`, :func:`get`), background saves (:class:`SaveHandle`,
:func:`set_staging_budget`), the checkpoint manager (:class:`CheckpointManager`), what a save wrote
(:class:`SavedCheckpoint`) and the report of a load (:class:`LoadReport`). The package also owns
``flow.load_variables``, OneFlow's older ``flow.train.CheckPoint``/``SimpleCheckPointManager`` and
``flow.save``/``flow.load``, which the facade re-exports where users find them; and the rename
rules (:mod:`flowsnap.checkpoint.rename`) shared with ``flowsnap convert``.

Everything but the rename rules needs JAX, so names are bound on first use (PEP 562): importing
:mod:`flowsnap.checkpoint.rename` (as the engine-free tools do) never loads JAX.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowsnap.checkpoint._async import SaveHandle as SaveHandle
    from flowsnap.checkpoint._async import set_staging_budget as set_staging_budget
    from flowsnap.checkpoint._legacy import CheckPoint as CheckPoint
    from flowsnap.checkpoint._legacy import SimpleCheckPointManager as SimpleCheckPointManager
    from flowsnap.checkpoint._load import load_variables as load_variables
    from flowsnap.checkpoint._manager import CheckpointManager as CheckpointManager
    from flowsnap.checkpoint._report import LoadReport as LoadReport
    from flowsnap.checkpoint._report import SavedCheckpoint as SavedCheckpoint
    from flowsnap.checkpoint._save import get as get
    from flowsnap.checkpoint._save import load as load
    from flowsnap.checkpoint._save import save as save
    from flowsnap.checkpoint._save import save_obj as save_obj

__all__ = [
    "CheckpointManager",
    "LoadReport",
    "SaveHandle",
    "SavedCheckpoint",
    "get",
    "save",
    "set_staging_budget",
]

# name -> private module; the names after __all__'s are re-exported by the facade elsewhere
# (flow.load_variables, flow.save, flow.load, flow.train.CheckPoint, ...)
_MODULES = {
    "CheckpointManager": "_manager",
    "LoadReport": "_report",
    "SaveHandle": "_async",
    "SavedCheckpoint": "_report",
    "get": "_save",
    "save": "_save",
    "set_staging_budget": "_async",
    "CheckPoint": "_legacy",
    "SimpleCheckPointManager": "_legacy",
    "load": "_save",
    "load_variables": "_load",
    "save_obj": "_save",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'flowsnap.checkpoint' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"flowsnap.checkpoint.{module}"), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULES})
