"""Checkpoint tools behind the ``flowsnap`` command: statistics, diffs and conversion to and from
safetensors (single or sharded), PyTorch ``state_dict`` files and ``.npz``. Engine-free (NumPy
only; PyTorch only when converting its files). The readers live in :mod:`flowsnap.foreign`;
``read_safetensors``, ``read_index`` and ``read_tensors`` are re-exported from there."""

from flowsnap.checkpoint.rename import RenameRules as RenameRules
from flowsnap.errors import ConversionError as ConversionError
from flowsnap.foreign import FORMATS as FORMATS
from flowsnap.foreign import read_index as read_index
from flowsnap.foreign import read_safetensors as read_safetensors
from flowsnap.tools._convert import CASTS as CASTS
from flowsnap.tools._convert import Converted as Converted
from flowsnap.tools._convert import convert as convert
from flowsnap.tools._convert import detect as detect
from flowsnap.tools._convert import read_tensors as read_tensors
from flowsnap.tools._diff import VariableDiff as VariableDiff
from flowsnap.tools._diff import diff_snapshots as diff_snapshots
from flowsnap.tools._diff import diff_variables as diff_variables
from flowsnap.tools._safetensors import write_safetensors as write_safetensors
from flowsnap.tools._safetensors import write_sharded as write_sharded
from flowsnap.tools._stats import Stats as Stats
from flowsnap.tools._stats import variable_stats as variable_stats

__all__ = [
    "CASTS",
    "FORMATS",
    "ConversionError",
    "Converted",
    "RenameRules",
    "Stats",
    "VariableDiff",
    "convert",
    "detect",
    "diff_snapshots",
    "diff_variables",
    "read_index",
    "read_safetensors",
    "read_tensors",
    "variable_stats",
    "write_safetensors",
    "write_sharded",
]
