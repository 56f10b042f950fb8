"""``flow.data``'s host side (NumPy only, no JAX): the MNIST and Fashion-MNIST loaders of
OneFlow's tutorials, and OneFlow's OFRecord datasets, read, decoded and written.

OFRecord: :class:`OFRecordDataset` reads part files by record index (cached index, one ``pread``
per run of consecutive records, upb parsing); :func:`decode_raw` and :func:`decode_bytes` are
OneFlow's raw and bytes decoders on a list of records; :func:`write_ofrecord` writes records as
part files OneFlow's readers find, and :func:`image_folder_to_ofrecord`, :func:`idx_to_ofrecord`
and :func:`npz_to_ofrecord` convert whole datasets (also ``flowsnap ofrecord`` on the command line).
"""

from flowsnap.data._mnist import cache_dir as cache_dir
from flowsnap.data._mnist import load_fashion_mnist as load_fashion_mnist
from flowsnap.data._mnist import load_mnist as load_mnist
from flowsnap.data._mnist import read_idx as read_idx
from flowsnap.data._ofrecord import count_parts as count_parts
from flowsnap.data._ofrecord import index_part as index_part
from flowsnap.data._ofrecord import parse_record as parse_record
from flowsnap.data._ofrecord import part_name as part_name
from flowsnap.data._ofrecord import part_paths as part_paths
from flowsnap.data._ofrecord_convert import idx_pairs as idx_pairs
from flowsnap.data._ofrecord_convert import idx_to_ofrecord as idx_to_ofrecord
from flowsnap.data._ofrecord_convert import image_folder_to_ofrecord as image_folder_to_ofrecord
from flowsnap.data._ofrecord_convert import list_image_folder as list_image_folder
from flowsnap.data._ofrecord_convert import npz_to_ofrecord as npz_to_ofrecord
from flowsnap.data._ofrecord_dataset import FeatureInfo as FeatureInfo
from flowsnap.data._ofrecord_dataset import OFRecordDataset as OFRecordDataset
from flowsnap.data._ofrecord_dataset import describe_record as describe_record
from flowsnap.data._ofrecord_decode import RAW_DTYPES as RAW_DTYPES
from flowsnap.data._ofrecord_decode import decode_bytes as decode_bytes
from flowsnap.data._ofrecord_decode import decode_raw as decode_raw
from flowsnap.data._ofrecord_write import WrittenDataset as WrittenDataset
from flowsnap.data._ofrecord_write import feature as ofrecord_feature
from flowsnap.data._ofrecord_write import make_record as make_record
from flowsnap.data._ofrecord_write import serialize as serialize_record
from flowsnap.data._ofrecord_write import write_ofrecord as write_ofrecord

__all__ = [
    "RAW_DTYPES",
    "FeatureInfo",
    "OFRecordDataset",
    "WrittenDataset",
    "cache_dir",
    "count_parts",
    "decode_bytes",
    "decode_raw",
    "describe_record",
    "idx_pairs",
    "idx_to_ofrecord",
    "image_folder_to_ofrecord",
    "index_part",
    "list_image_folder",
    "load_fashion_mnist",
    "load_mnist",
    "make_record",
    "npz_to_ofrecord",
    "ofrecord_feature",
    "parse_record",
    "part_name",
    "part_paths",
    "read_idx",
    "serialize_record",
    "write_ofrecord",
]
