"""``flow.data.coco_reader``: COCO images and their annotations, batch by batch, as data ops.

The order is OneFlow's ``COCODataReader``: each device of the reader's placement walks the
images (:class:`flowsnap.data.COCOAnnotations`, sorted by id) in a sequence reshuffled every
epoch when ``shuffle`` (OneFlow seeded it with ``random_seed + epoch``; here NumPy's permutation
of ``(random_seed, epoch)``, ``random_seed=None`` taking the op's seed), taking every
``devices``-th image (``stride_partition``) or a contiguous shard; with
``group_by_aspect_ratio`` a batch holds images of one group (``height // width``: landscape 0,
portrait 1 and up), the others waiting, in arrival order, for a batch of their group. Batch ``k``
is recomputed from the start of the stream when it is not the next one (grouping keeps state;
only image indices are replayed, no file is read), so a resumed run reads the batches the
uninterrupted run read.

Outputs, as OneFlow's: ``image`` (encoded bytes per image, a host blob the image decoders take),
``image_id`` (int64), ``image_size`` (``(batch, 2)`` int32 height and width), ``gt_bbox``,
``gt_label``, ``gt_segm``, ``gt_segm_index`` (per-image arrays, host blobs).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from flowsnap._engine import HostCall, current_placement, host_op
from flowsnap.data import COCOAnnotations
from flowsnap.errors import ArgumentError, DatasetError


class _DeviceStream:
    """One device's image indices (DistributedTrainingDataset) and group batching
    (GroupBatchDataset), replayable from the start."""

    def __init__(
        self,
        meta: COCOAnnotations,
        device: int,
        devices: int,
        stride: bool,
        shuffle: bool,
        seed: int,
        per: int,
        group: bool,
    ) -> None:
        self.n, self.device, self.devices = len(meta), device, devices
        self.stride, self.shuffle, self.seed, self.per, self.group = (
            stride,
            shuffle,
            seed,
            per,
            group,
        )
        self.shard = -(-self.n // devices)
        self.groups = [h // w for h, w in (meta.size(i) for i in range(self.n))]
        self._perms: dict[int, np.ndarray[Any, Any]] = {}
        self.reset()

    def reset(self) -> None:
        self.next_batch, self.j = 0, 0
        self.waiting: dict[int, list[list[int]]] = {}  # group -> batches in arrival order
        self.order: dict[int, list[int]] = {}  # group -> arrival numbers of those batches
        self.count = 0

    def _sample(self, j: int) -> int:
        if self.stride:
            u = self.device + j * self.devices
        else:
            u = self.device * self.shard + (j // self.shard) * self.devices * self.shard
            u += j % self.shard
        epoch, pos = divmod(u, self.n)
        if not self.shuffle:
            return pos
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
        return int(self._perms[epoch][pos])

    def _take(self) -> tuple[int, int]:
        s = self._sample(self.j)
        self.j += 1
        return s, self.groups[s]

    def batch(self, k: int) -> list[int]:
        if k < self.next_batch:
            self.reset()
        while self.next_batch < k:
            self._one()
        return self._one()

    def _one(self) -> list[int]:
        self.next_batch += 1
        if not self.group:
            return [self._take()[0] for _ in range(self.per)]
        ready = [g for g, lst in self.waiting.items() if lst]
        out: list[int] = []
        want = -1
        if ready:
            want = min(ready, key=lambda g: self.order[g][0])
            out = self.waiting[want].pop(0)
            self.order[want].pop(0)
        while len(out) < self.per:
            s, g = self._take()
            if want == -1:
                want = g
            if g == want:
                out.append(s)
                continue
            lst = self.waiting.setdefault(g, [])
            if not lst or len(lst[-1]) == self.per:
                lst.append([s])
                self.order.setdefault(g, []).append(self.count)
                self.count += 1
            else:
                lst[-1].append(s)
        return out


def coco_reader(
    annotation_file: str,
    image_dir: str,
    batch_size: int,
    shuffle: bool = True,
    random_seed: int | None = None,
    group_by_aspect_ratio: bool = True,
    stride_partition: bool = True,
    remove_images_without_annotations: bool = True,
    name: str | None = None,
) -> list[Any]:
    """``[image, image_id, image_size, gt_bbox, gt_label, gt_segm, gt_segm_index]`` of
    ``batch_size`` COCO images per job call (module docstring).

    Raises:
        ArgumentError: a batch size the placement's devices cannot share.
        DatasetError: the annotation file is missing or malformed, or has no image.
    """
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ArgumentError(f"coco_reader: batch_size must be a positive int, got {batch_size!r}")
    meta = COCOAnnotations(
        annotation_file,
        image_dir,
        remove_images_without_annotations=bool(remove_images_without_annotations),
    )
    if not len(meta):
        raise DatasetError(f"coco_reader: {annotation_file} has no image to read")
    devices = current_placement().count
    if batch_size % devices:
        raise ArgumentError(
            f"coco_reader: batch_size {batch_size} is not divisible by the {devices} devices of "
            "the reader's placement"
        )
    streams: dict[int, list[_DeviceStream]] = {}
    lock = threading.Lock()

    def indices(call: HostCall) -> list[int]:
        seed = call.seed if random_seed is None else int(random_seed)
        with lock:
            if seed not in streams:
                streams[seed] = [
                    _DeviceStream(
                        meta,
                        d,
                        devices,
                        bool(stride_partition),
                        bool(shuffle),
                        seed,
                        batch_size // devices,
                        bool(group_by_aspect_ratio),
                    )
                    for d in range(devices)
                ]
            return [i for s in streams[seed] for i in s.batch(call.batch)]

    key = (
        str(annotation_file),
        str(image_dir),
        batch_size,
        bool(shuffle),
        random_seed,
        bool(group_by_aspect_ratio),
        bool(stride_partition),
        bool(remove_images_without_annotations),
        devices,
    )
    batch = host_op("coco_reader", indices, fed=False, name=name, key=key, shape=(batch_size,))

    def per_image(kind: str, fn: Any, fed: bool, dtype: Any) -> Any:
        def compute(call: HostCall, idx: list[int]) -> Any:
            values = list(call.pool.map(fn, idx)) if kind == "image" else [fn(i) for i in idx]
            return np.stack(values) if fed else values

        return host_op(
            f"coco_reader.{kind}",
            compute,
            (batch,),
            fed=fed,
            key=key,
            shape=(batch_size,),
            dtype=dtype,
        )

    return [
        per_image("image", meta.read_image, False, np.uint8),
        per_image("image_id", lambda i: np.int64(meta.image_ids[i]), True, np.int64),
        per_image("image_size", lambda i: np.array(meta.size(i), np.int32), True, np.int32),
        per_image("gt_bbox", meta.boxes, False, np.float32),
        per_image("gt_label", meta.labels, False, np.int32),
        per_image("gt_segm", lambda i: meta.segmentation(i)[0], False, np.float32),
        per_image("gt_segm_index", lambda i: meta.segmentation(i)[1], False, np.int32),
    ]
