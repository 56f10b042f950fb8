"""The OneFlow snapshot format: reading and writing checkpoint directories.

Engine-free: this package needs only NumPy, ml_dtypes, xxhash and (for unusual ``meta`` files)
protobuf; it never imports JAX, so tools can inspect checkpoints without it. The normative
description of the bytes on disk is ``SPEC.md`` next to this file.

Example:
    >>> import numpy as np, tempfile, os
    >>> from flowsnap import format as fmt
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt")
    >>> _ = fmt.write_snapshot(path, {"w": np.ones((2, 3), np.float32)}, durable=False)
    >>> snap = fmt.open_snapshot(path)
    >>> snap["w"].shape, snap["w"].numpy().sum()
    ((2, 3), np.float32(6.0))
"""

from flowsnap.format._checksum import ALGORITHM as CHECKSUM_ALGORITHM
from flowsnap.format._dtypes import DATA_TYPES as DATA_TYPES
from flowsnap.format._dtypes import DataType as DataType
from flowsnap.format._dtypes import data_type_for as data_type_for
from flowsnap.format._manifest import FORMAT_VERSION as FORMAT_VERSION
from flowsnap.format._manifest import Manifest as Manifest
from flowsnap.format._manifest import ManifestEntry as ManifestEntry
from flowsnap.format._meta import VariableMeta as VariableMeta
from flowsnap.format._meta import encode_meta as encode_meta
from flowsnap.format._meta import parse_meta as parse_meta
from flowsnap.format._names import DATA_FILENAME as DATA_FILENAME
from flowsnap.format._names import META_FILENAME as META_FILENAME
from flowsnap.format._names import SNAPSHOT_DONE as SNAPSHOT_DONE
from flowsnap.format._names import validate_name as validate_name
from flowsnap.format._publish import sweep_temporaries as sweep_temporaries
from flowsnap.format._snapshot import Snapshot as Snapshot
from flowsnap.format._snapshot import is_variable_dir as is_variable_dir
from flowsnap.format._snapshot import open_path as open_path
from flowsnap.format._snapshot import open_snapshot as open_snapshot
from flowsnap.format._snapshot import open_variable as open_variable
from flowsnap.format._snapshot import read_snapshot as read_snapshot
from flowsnap.format._variable import StoredVariable as StoredVariable
from flowsnap.format._verify import Problem as Problem
from flowsnap.format._verify import VerifyReport as VerifyReport
from flowsnap.format._verify import verify_snapshot as verify_snapshot
from flowsnap.format._writer import DeferredArray as DeferredArray
from flowsnap.format._writer import write_snapshot as write_snapshot

__all__ = [
    "CHECKSUM_ALGORITHM",
    "DATA_FILENAME",
    "DATA_TYPES",
    "FORMAT_VERSION",
    "META_FILENAME",
    "SNAPSHOT_DONE",
    "DataType",
    "DeferredArray",
    "Manifest",
    "ManifestEntry",
    "Problem",
    "Snapshot",
    "StoredVariable",
    "VariableMeta",
    "VerifyReport",
    "data_type_for",
    "encode_meta",
    "is_variable_dir",
    "open_path",
    "open_snapshot",
    "open_variable",
    "parse_meta",
    "read_snapshot",
    "sweep_temporaries",
    "validate_name",
    "verify_snapshot",
    "write_snapshot",
]
