"""Checkpoints in other formats, opened lazily: safetensors (one file or sharded), PyTorch
``state_dict`` files (``weights_only`` only) and ``.npz``.

:func:`open_foreign` gives ``{name: ForeignTensor}``; a :class:`ForeignTensor` answers what a
:class:`flowsnap.format.StoredVariable` answers (shape, dtype, size, ``numpy()``, ``readinto``,
row slices, raw bytes in slices), so the ``flowsnap`` command and ``flow.load_variables`` treat
both alike. :func:`open_checkpoint` opens any format, flowsnap's own included. Engine-free (NumPy
only; PyTorch only for its files). Every reader checks sizes before allocating, refuses FIFOs and
devices, and never unpickles (except ``torch.load(weights_only=True)``).

Example:
    >>> import numpy as np, tempfile, os
    >>> from flowsnap.foreign import open_foreign
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> np.savez(path, w=np.ones((2, 3), np.float32))
    >>> t = open_foreign(path)["w"]
    >>> t.shape, t.dtype, t.numpy().sum()
    ((2, 3), dtype('float32'), np.float32(6.0))
"""

from flowsnap.foreign._open import FOREIGN_FORMATS as FOREIGN_FORMATS
from flowsnap.foreign._open import FORMATS as FORMATS
from flowsnap.foreign._open import detect_format as detect_format
from flowsnap.foreign._open import format_of_name as format_of_name
from flowsnap.foreign._open import open_checkpoint as open_checkpoint
from flowsnap.foreign._open import open_foreign as open_foreign
from flowsnap.foreign._open import with_shapes as with_shapes
from flowsnap.foreign._safetensors import INDEX_SUFFIX as INDEX_SUFFIX
from flowsnap.foreign._safetensors import SAFETENSORS_DTYPES as SAFETENSORS_DTYPES
from flowsnap.foreign._safetensors import read_index as read_index
from flowsnap.foreign._safetensors import read_safetensors as read_safetensors
from flowsnap.foreign._tensor import ForeignTensor as ForeignTensor
from flowsnap.foreign._verify import ForeignReport as ForeignReport
from flowsnap.foreign._verify import verify_foreign as verify_foreign

__all__ = [
    "FOREIGN_FORMATS",
    "FORMATS",
    "INDEX_SUFFIX",
    "SAFETENSORS_DTYPES",
    "ForeignReport",
    "ForeignTensor",
    "detect_format",
    "format_of_name",
    "open_checkpoint",
    "open_foreign",
    "read_index",
    "read_safetensors",
    "verify_foreign",
    "with_shapes",
]
