"""``flow.data``: OneFlow's data ops for job bodies, and its dataset loaders.

Data ops run on the host before each step of the job that calls them (see
:mod:`flowsnap.ops._data` for the order of the records, shuffling, epochs and resume):
``ofrecord_reader`` (and its older name ``ofrecord_loader``), ``OFRecordRawDecoder`` /
``ofrecord_raw_decoder``, ``OFRecordBytesDecoder`` / ``ofrecord_bytes_decoder``, the deprecated
``decode_ofrecord`` with ``BlobConf`` and its codecs and preprocessors, ``decode_random``, and
Megatron's GPT loader ``megatron_gpt_mmap_data_loader`` / ``MegatronGPTMMapDataLoader``. The image
decoders (``OFRecordImageDecoder``...) are flow.image's and are re-exported here when present.
OneRec files (``onerec_reader``, ``OneRecDecoder``/``onerec_decoder``) and COCO detection data
(``coco_reader``) too.

The loaders of OneFlow's tutorials (``load_mnist``, ``load_fashion_mnist``) and the OFRecord part
of the host library (:mod:`flowsnap.data`: ``OFRecordDataset``, ``write_ofrecord``...) are here
too.

Each function takes OneFlow 0.5's parameter names, order and defaults; the version facades map
0.3/0.4's spellings (``auto_zero_padding``, ``parallel_distribution``) by keyword.
"""

from flowsnap.data import (
    OFRecordDataset,
    count_parts,
    decode_bytes,
    decode_raw,
    idx_to_ofrecord,
    image_folder_to_ofrecord,
    load_fashion_mnist,
    load_mnist,
    make_record,
    npz_to_ofrecord,
    part_name,
    write_ofrecord,
)
from flowsnap.errors import missing_name
from flowsnap.ops._data import (
    OFRecordBytesDecoder,
    OFRecordRawDecoder,
    decode_random,
    ofrecord_bytes_decoder,
    ofrecord_loader,
    ofrecord_raw_decoder,
    ofrecord_reader,
)
from flowsnap.ops._data_coco import coco_reader
from flowsnap.ops._data_gpt import MegatronGPTMMapDataLoader, megatron_gpt_mmap_data_loader
from flowsnap.ops._data_legacy import (
    BlobConf,
    BytesListCodec,
    ImageCodec,
    ImagePreprocessor,
    ImageResizePreprocessor,
    NormByChannelPreprocessor,
    RawCodec,
    decode_ofrecord,
)
from flowsnap.ops._data_onerec import OneRecDecoder, onerec_decoder, onerec_reader
from flowsnap.ops._image import (  # flow.image's decoders, published as flow.data's
    ImageDecoderRandomCropResize,
    OFRecordImageDecoder,
    OFRecordImageDecoderRandomCrop,
    image_decoder_random_crop_resize,
    ofrecord_image_classification_reader,
    ofrecord_image_decoder,
    ofrecord_image_decoder_random_crop,
)

__all__ = [
    "BlobConf",
    "BytesListCodec",
    "ImageCodec",
    "ImageDecoderRandomCropResize",
    "ImagePreprocessor",
    "ImageResizePreprocessor",
    "MegatronGPTMMapDataLoader",
    "NormByChannelPreprocessor",
    "OFRecordBytesDecoder",
    "OFRecordDataset",
    "OFRecordImageDecoder",
    "OFRecordImageDecoderRandomCrop",
    "OFRecordRawDecoder",
    "OneRecDecoder",
    "RawCodec",
    "coco_reader",
    "count_parts",
    "decode_bytes",
    "decode_ofrecord",
    "decode_random",
    "decode_raw",
    "idx_to_ofrecord",
    "image_decoder_random_crop_resize",
    "image_folder_to_ofrecord",
    "load_fashion_mnist",
    "load_mnist",
    "make_record",
    "megatron_gpt_mmap_data_loader",
    "npz_to_ofrecord",
    "ofrecord_bytes_decoder",
    "ofrecord_image_classification_reader",
    "ofrecord_image_decoder",
    "ofrecord_image_decoder_random_crop",
    "ofrecord_loader",
    "ofrecord_raw_decoder",
    "ofrecord_reader",
    "onerec_decoder",
    "onerec_reader",
    "part_name",
    "write_ofrecord",
]


def __getattr__(name: str) -> object:
    raise missing_name("flow.data", name)
