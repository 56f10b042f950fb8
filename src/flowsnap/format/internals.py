"""Building blocks the format layer lends to flowsnap's own engine-free tools (``flowsnap.tools``,
the checkpoint manager): progress bars, the checksum, safe opening of regular files, the
temporary names of unpublished saves and the crash-safe deletion of a checkpoint; and the protobuf
descriptor pool holding OneFlow's ``data_type``/``shape``/``variable_meta_info.proto``, which
``flowsnap.core`` extends with OneFlow's other ``.proto`` files. Not a public
API: names here may change between releases.
"""

from flowsnap.format._checksum import Hasher, new_hasher
from flowsnap.format._io import open_regular
from flowsnap.format._progress import Progress
from flowsnap.format._proto import oneflow_pool
from flowsnap.format._publish import delete_snapshot, temporary_name

__all__ = [
    "Hasher",
    "Progress",
    "delete_snapshot",
    "new_hasher",
    "oneflow_pool",
    "open_regular",
    "temporary_name",
]

# Sharded saves and loads (SPEC.md section 5.1), driven by flowsnap.checkpoint across processes.
from flowsnap.format._boxes import Box, box_from_index, box_slices, full_box
from flowsnap.format._chunks import (
    DEFAULT_CHUNK,
    BlockRecord,
    ChunkRecord,
    StreamChecker,
    check_file,
)
from flowsnap.format._sharded import (
    ShardedVariable,
    abort,
    block_records,
    create_tmp,
    hash_part,
    write_part,
)
from flowsnap.format._shardpublish import finish
from flowsnap.format._shardread import check_blocks_file, read_blocks, read_box

__all__ += [
    "DEFAULT_CHUNK",
    "BlockRecord",
    "Box",
    "ChunkRecord",
    "ShardedVariable",
    "StreamChecker",
    "abort",
    "block_records",
    "box_from_index",
    "box_slices",
    "check_blocks_file",
    "check_file",
    "create_tmp",
    "finish",
    "full_box",
    "hash_part",
    "read_blocks",
    "read_box",
    "write_part",
]
