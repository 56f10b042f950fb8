"""``flow.data``'s host side (NumPy only, no JAX): the MNIST and Fashion-MNIST loaders of
OneFlow's tutorials, and OneFlow's OFRecord datasets, read, decoded and written.

OFRecord: :class:`OFRecordDataset` reads part files by record index (cached index, one ``pread``
per run of consecutive records, upb parsing); :func:`decode_raw` and :func:`decode_bytes` are
OneFlow's raw and bytes decoders on a list of records; :func:`write_ofrecord` writes records as
part files OneFlow's readers find, and :func:`image_folder_to_ofrecord`, :func:`idx_to_ofrecord`
and :func:`npz_to_ofrecord` convert whole datasets (also ``flowsnap ofrecord`` on the command line).

Images (OneFlow's image ops as batch functions on lists of ``(H, W, C)`` arrays, parallel over an
optional thread pool): :func:`decode_images`, :func:`decode_random_crop`,
:func:`decode_random_crop_resize`, :func:`random_crop_images` (OneFlow's crop-window rule,
:func:`random_crop_window`), :func:`resize_to_fixed`, :func:`resize_keep_aspect_ratio`,
:func:`crop_mirror_normalize`, :func:`flip_images`, :func:`normalize_images`, :func:`batch_align`,
:func:`coin_flip` and the detection helpers :func:`bbox_flip`, :func:`bbox_scale`,
:func:`polygon_flip`, :func:`polygon_scale`, :func:`polygon_to_mask`.
"""

from flowsnap.data._coco import COCOAnnotations as COCOAnnotations
from flowsnap.data._images import decode_image as decode_image
from flowsnap.data._images import decode_images as decode_images
from flowsnap.data._images import keep_aspect_ratio_size as keep_aspect_ratio_size
from flowsnap.data._images import resize_image as resize_image
from flowsnap.data._images import resize_keep_aspect_ratio as resize_keep_aspect_ratio
from flowsnap.data._images import resize_to_fixed as resize_to_fixed
from flowsnap.data._img_augment import CropWindow as CropWindow
from flowsnap.data._img_augment import decode_random_crop as decode_random_crop
from flowsnap.data._img_augment import decode_random_crop_resize as decode_random_crop_resize
from flowsnap.data._img_augment import image_generators as image_generators
from flowsnap.data._img_augment import random_crop_images as random_crop_images
from flowsnap.data._img_augment import random_crop_window as random_crop_window
from flowsnap.data._img_ops import batch_align as batch_align
from flowsnap.data._img_ops import bbox_flip as bbox_flip
from flowsnap.data._img_ops import bbox_scale as bbox_scale
from flowsnap.data._img_ops import coin_flip as coin_flip
from flowsnap.data._img_ops import crop_mirror_normalize as crop_mirror_normalize
from flowsnap.data._img_ops import flip_images as flip_images
from flowsnap.data._img_ops import normalize_images as normalize_images
from flowsnap.data._img_ops import polygon_flip as polygon_flip
from flowsnap.data._img_ops import polygon_scale as polygon_scale
from flowsnap.data._img_ops import polygon_to_mask as polygon_to_mask
from flowsnap.data._megatron import MegatronGPTDataset as MegatronGPTDataset
from flowsnap.data._megatron import read_megatron_index as read_megatron_index
from flowsnap.data._megatron import write_megatron_dataset as write_megatron_dataset
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
from flowsnap.data._onerec import index_onerec as index_onerec
from flowsnap.data._onerec import parse_example as parse_onerec_example
from flowsnap.data._onerec import write_onerec as write_onerec
from flowsnap.data._onerec_dataset import OneRecDataset as OneRecDataset
from flowsnap.data._onerec_dataset import decode_onerec as decode_onerec

__all__ = [
    "RAW_DTYPES",
    "COCOAnnotations",
    "CropWindow",
    "FeatureInfo",
    "MegatronGPTDataset",
    "OFRecordDataset",
    "OneRecDataset",
    "WrittenDataset",
    "batch_align",
    "bbox_flip",
    "bbox_scale",
    "cache_dir",
    "coin_flip",
    "count_parts",
    "crop_mirror_normalize",
    "decode_bytes",
    "decode_image",
    "decode_images",
    "decode_onerec",
    "decode_random_crop",
    "decode_random_crop_resize",
    "decode_raw",
    "describe_record",
    "flip_images",
    "idx_pairs",
    "idx_to_ofrecord",
    "image_folder_to_ofrecord",
    "image_generators",
    "index_onerec",
    "index_part",
    "keep_aspect_ratio_size",
    "list_image_folder",
    "load_fashion_mnist",
    "load_mnist",
    "make_record",
    "normalize_images",
    "npz_to_ofrecord",
    "ofrecord_feature",
    "parse_onerec_example",
    "parse_record",
    "part_name",
    "part_paths",
    "polygon_flip",
    "polygon_scale",
    "polygon_to_mask",
    "random_crop_images",
    "random_crop_window",
    "read_idx",
    "read_megatron_index",
    "resize_image",
    "resize_keep_aspect_ratio",
    "resize_to_fixed",
    "serialize_record",
    "write_megatron_dataset",
    "write_ofrecord",
    "write_onerec",
]


def __getattr__(name: str) -> object:
    """``flow.data``'s job ops (``ofrecord_reader``, ``OFRecordRawDecoder``, ...) live in
    :mod:`flowsnap.ops.data`, which needs the engine. They are found here by name on first use
    (as the package root binds its names), so ``flow.data.ofrecord_reader`` works whichever way
    this package was imported, and importing it never loads JAX."""
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module("flowsnap.ops.data"), name)
