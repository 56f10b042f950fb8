"""COCO detection annotations as OneFlow's ``coco_reader`` read them (its ``COCOMeta``).

- Images: every entry of ``images``, sorted by id; with ``remove_images_without_annotations``,
  only those with a valid annotation: at least one box wider and taller than 1 pixel (and, for
  keypoint annotations, at least 10 visible keypoints in all).
- Annotations with ``iscrowd == 1`` are ignored; each polygon of a kept one must have more than
  6 coordinates (three points).
- Labels: category ids mapped to 1, 2, ... in sorted order (``category_id`` to contiguous id).
- Boxes: COCO's ``[left, top, width, height]`` to ``[left, top, right, bottom]`` with
  ``right = left + max(width - 1, 0)``, clipped to ``[0, image_size - 1]`` and dropped when empty
  (so an image may have fewer boxes than labels, as in OneFlow), float32.
- Segmentation: the polygons' points, ``(points, 2)`` float32, and for each point
  ``[point index in its polygon, polygon index in its annotation, annotation index]`` int32.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from flowsnap.errors import DatasetError

Array = np.ndarray[Any, Any]
MIN_KEYPOINTS_PER_IMAGE = 10
_IMAGE_KEYS = ("id", "height", "width", "file_name")


class COCOAnnotations:
    """A COCO annotation file, read as OneFlow's ``coco_reader`` read it (module docstring).

    Raises:
        DatasetError: the file is missing, not JSON, lacks ``images``/``annotations``/
            ``categories``, or has an annotation OneFlow's reader refused (named by id).
    """

    def __init__(
        self,
        annotation_file: str | os.PathLike[str],
        image_dir: str | os.PathLike[str],
        *,
        remove_images_without_annotations: bool = True,
    ) -> None:
        path = Path(annotation_file)
        try:
            doc = json.loads(path.read_text())
            images, annos, cats = doc["images"], doc["annotations"], doc["categories"]
        except OSError as exc:
            raise DatasetError(f"cannot read COCO annotations {path}: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(
                f"{path} is not a COCO annotation file (JSON with images, annotations and "
                f"categories): {exc}"
            ) from None
        self.image_dir = Path(image_dir)
        for im in images:
            if not isinstance(im, dict) or any(k not in im for k in _IMAGE_KEYS):
                raise DatasetError(f"{path}: image entry {im!r:.80} needs {', '.join(_IMAGE_KEYS)}")
        self._images = {int(im["id"]): im for im in images}
        self._annos: dict[int, list[dict[str, Any]]] = {i: [] for i in self._images}
        for anno in annos:
            if anno.get("iscrowd", 0) == 1:
                continue
            segm = anno.get("segmentation")
            if isinstance(segm, list) and any(len(poly) <= 6 for poly in segm):
                raise DatasetError(
                    f"{path}: annotation {anno.get('id')} has a polygon of 3 coordinates or "
                    "fewer; a polygon needs at least 3 points (OneFlow's reader stopped here too)"
                )
            bbox, category = anno.get("bbox"), anno.get("category_id")
            if not isinstance(bbox, list) or len(bbox) != 4 or category is None:
                raise DatasetError(
                    f"{path}: annotation {anno.get('id')} needs a bbox of 4 numbers and a "
                    f"category_id, found bbox={bbox!r}, category_id={category!r}"
                )
            image_id = int(anno["image_id"])
            if image_id not in self._annos:
                raise DatasetError(
                    f"{path}: annotation {anno.get('id')} names image {image_id}, "
                    "which is not in images"
                )
            self._annos[image_id].append(anno)
        ids = sorted(self._images)
        if remove_images_without_annotations:
            ids = [i for i in ids if self._valid(i)]
        self.image_ids: list[int] = ids
        self._labels = {c: k + 1 for k, c in enumerate(sorted(int(c["id"]) for c in cats))}
        unknown = {int(a["category_id"]) for lst in self._annos.values() for a in lst} - set(
            self._labels
        )
        if unknown:
            raise DatasetError(
                f"{path}: annotations name categories {sorted(unknown)}, which are not in "
                "categories"
            )

    def __len__(self) -> int:
        return len(self.image_ids)

    def _valid(self, image_id: int) -> bool:
        annos = self._annos[image_id]
        if not annos or all(a["bbox"][2] <= 1 or a["bbox"][3] <= 1 for a in annos):
            return False
        if "keypoints" not in annos[0]:
            return True
        visible = sum(1 for a in annos for v in a.get("keypoints", [])[2::3] if int(v) > 0)
        return visible >= MIN_KEYPOINTS_PER_IMAGE

    def size(self, index: int) -> tuple[int, int]:
        """``(height, width)`` of image ``index``."""
        im = self._images[self.image_ids[index]]
        return int(im["height"]), int(im["width"])

    def file(self, index: int) -> Path:
        """The image file of image ``index``."""
        return self.image_dir / str(self._images[self.image_ids[index]]["file_name"])

    def read_image(self, index: int) -> Array:
        """The encoded bytes of image ``index`` as ``uint8``.

        Raises:
            DatasetError: the file cannot be read.
        """
        try:
            return np.frombuffer(self.file(index).read_bytes(), np.uint8)
        except OSError as exc:
            raise DatasetError(
                f"cannot read COCO image {self.file(index)}: {exc.strerror}"
            ) from None

    def boxes(self, index: int) -> Array:
        """The image's boxes as ``(n, 4)`` float32 ``[left, top, right, bottom]``."""
        height, width = self.size(index)
        out = []
        one, zero = np.float32(1), np.float32(0)
        for anno in self._annos[self.image_ids[index]]:
            left, top, w, h = (np.float32(v) for v in anno["bbox"])
            right, bottom = left + max(w - one, zero), top + max(h - one, zero)
            left, right = (min(max(v, zero), np.float32(width) - one) for v in (left, right))
            top, bottom = (min(max(v, zero), np.float32(height) - one) for v in (top, bottom))
            if right > left and bottom > top:
                out.append([left, top, right, bottom])
        return np.array(out, np.float32).reshape(-1, 4)

    def labels(self, index: int) -> Array:
        """The image's labels (contiguous category ids from 1), int32."""
        annos = self._annos[self.image_ids[index]]
        return np.array([self._labels[int(a["category_id"])] for a in annos], np.int32)

    def segmentation(self, index: int) -> tuple[Array, Array]:
        """The image's polygon points ``(n, 2)`` float32 and their ``(n, 3)`` int32 index."""
        points: list[Array] = []
        where: list[list[int]] = []
        for a, anno in enumerate(self._annos[self.image_ids[index]]):
            segm = anno.get("segmentation")
            if not isinstance(segm, list):
                continue
            for p, poly in enumerate(segm):
                xy = np.asarray(poly, np.float32).reshape(-1, 2)
                points.append(xy)
                where.extend([k, p, a] for k in range(len(xy)))
        pts = np.concatenate(points) if points else np.zeros((0, 2), np.float32)
        return pts, np.array(where, np.int32).reshape(-1, 3)
