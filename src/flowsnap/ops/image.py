"""``flow.image``: OneFlow's image ops, run on the host before each step (decode, resize, random
crop, flip, normalize, batch align, crop-mirror-normalize). Each takes OneFlow 0.5's parameter
names, order and defaults (0.3 and 0.4 used the same ones); see ``flowsnap/ops/_image.py``."""

from flowsnap.errors import missing_name
from flowsnap.ops._image import image_decode as decode
from flowsnap.ops._image_augment import CropMirrorNormalize
from flowsnap.ops._image_augment import CropMirrorNormalize as crop_mirror_normalize  # noqa: N813 - OneFlow's alias
from flowsnap.ops._image_augment import image_batch_align as batch_align
from flowsnap.ops._image_augment import image_flip as flip
from flowsnap.ops._image_augment import image_normalize as normalize
from flowsnap.ops._image_augment import image_random_crop as random_crop
from flowsnap.ops._image_resize import image_resize as Resize  # noqa: N812 - OneFlow's name
from flowsnap.ops._image_resize import image_resize as resize
from flowsnap.ops._image_resize import image_target_resize as target_resize

__all__ = [
    "CropMirrorNormalize",
    "Resize",
    "batch_align",
    "crop_mirror_normalize",
    "decode",
    "flip",
    "normalize",
    "random_crop",
    "resize",
    "target_resize",
]


def __getattr__(name: str) -> object:
    raise missing_name("flow.image", name)
