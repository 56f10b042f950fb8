"""flow.data.coco_reader: OneFlow's reading of COCO annotations (valid images, boxes, labels,
polygons), its batch order (shards, epochs, aspect-ratio groups) against a straightforward
re-implementation, and the reader in a job."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap._engine import host_op
from flowsnap.data import COCOAnnotations
from flowsnap.errors import DatasetError
from flowsnap.ops._data_coco import _DeviceStream

SIZES = {1: (40, 60), 2: (80, 30), 3: (50, 50), 4: (30, 90), 5: (90, 20), 6: (20, 40)}


def _anno(i: int, image: int, bbox: list[float], cat: int, **extra: Any) -> dict[str, Any]:
    poly = [[0, 0, 4, 0, 4, 4, 0, 4]]
    return {
        "id": i,
        "image_id": image,
        "bbox": bbox,
        "category_id": cat,
        "iscrowd": 0,
        "segmentation": poly,
        **extra,
    }


@pytest.fixture
def coco(tmp_path: Path) -> Path:
    images = [
        {"id": i, "height": h, "width": w, "file_name": f"{i}.jpg"} for i, (h, w) in SIZES.items()
    ]
    annotations = [
        _anno(10, 1, [5.0, 5.0, 10.0, 20.0], 7),
        _anno(11, 1, [55.0, -3.0, 30.0, 8.0], 3),  # clipped to the image
        _anno(12, 2, [1.0, 1.0, 1.0, 40.0], 3),  # width 1: no valid box, image 2 removed
        _anno(13, 3, [0.0, 0.0, 10.0, 10.0], 7),
        _anno(14, 3, [0.0, 0.0, 5.0, 5.0], 3, iscrowd=1),  # crowd: ignored
        _anno(15, 4, [2.0, 2.0, 3.0, 3.0], 3),
        _anno(16, 5, [2.0, 2.0, 3.0, 3.0], 7),
        _anno(17, 6, [2.0, 2.0, 3.0, 3.0], 7),
    ]
    categories = [{"id": 7, "name": "b"}, {"id": 3, "name": "a"}]
    (tmp_path / "ann.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    for i in SIZES:
        (tmp_path / f"{i}.jpg").write_bytes(bytes([i]) * (10 + i))
    return tmp_path


def test_annotations_as_oneflow_read_them(coco: Path) -> None:
    meta = COCOAnnotations(coco / "ann.json", coco)
    assert meta.image_ids == [1, 3, 4, 5, 6]  # image 2 has no valid box
    assert COCOAnnotations(
        coco / "ann.json", coco, remove_images_without_annotations=False
    ).image_ids == [1, 2, 3, 4, 5, 6]
    # xywh -> xyxy with right = left + max(w - 1, 0), clipped to [0, size - 1]
    np.testing.assert_array_equal(meta.boxes(0), np.float32([[5, 5, 14, 24], [55, 0, 59, 4]]))
    assert meta.labels(0).tolist() == [2, 1]  # categories 7 and 3 -> 2 and 1 (sorted ids)
    assert meta.labels(1).tolist() == [2]  # the crowd annotation is ignored
    points, index = meta.segmentation(0)
    assert points.shape == (8, 2)
    assert index[:, 0].tolist() == [0, 1, 2, 3] * 2  # point in polygon
    assert index[:, 2].tolist() == [0] * 4 + [1] * 4  # annotation
    assert meta.read_image(1).tobytes() == bytes([3]) * 13
    (coco / "bad.json").write_text("{}")
    with pytest.raises(DatasetError, match="is not a COCO annotation file"):
        COCOAnnotations(coco / "bad.json", coco)
    doc = json.loads((coco / "ann.json").read_text())
    doc["annotations"][0]["category_id"] = 99
    (coco / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match=r"categories \[99\], which are not in categories"):
        COCOAnnotations(coco / "bad.json", coco)
    del doc["annotations"][0]["bbox"]
    (coco / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match="annotation 10 needs a bbox of 4 numbers"):
        COCOAnnotations(coco / "bad.json", coco)
    del doc["images"][0]["height"]
    (coco / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match="needs id, height, width, file_name"):
        COCOAnnotations(coco / "bad.json", coco)


def _naive_batches(groups: list[int], order: list[int], per: int, count: int) -> list[list[int]]:
    """OneFlow's GroupBatchDataset, written out: batches of one group; samples of other groups
    wait in batches, and the earliest started waiting batch goes out first."""
    stream = deque(order * 20)
    waiting: dict[int, deque[tuple[int, list[int]]]] = {}
    started = 0
    out = []
    for _ in range(count):
        heads = [(q[0][0], g) for g, q in waiting.items() if q]
        batch: list[int] = []
        group = -1
        if heads:
            group = min(heads)[1]
            batch = waiting[group].popleft()[1]
        while len(batch) < per:
            s = stream.popleft()
            group = groups[s] if group == -1 else group
            if groups[s] == group:
                batch.append(s)
                continue
            q = waiting.setdefault(groups[s], deque())
            if q and len(q[-1][1]) < per:
                q[-1][1].append(s)
            else:
                q.append((started, [s]))
                started += 1
        out.append(batch)
    return out


def test_group_batches_match_a_straightforward_reimplementation(coco: Path) -> None:
    meta = COCOAnnotations(coco / "ann.json", coco)
    groups = [h // w for h, w in (meta.size(i) for i in range(len(meta)))]
    assert groups == [0, 1, 0, 4, 0]
    stream = _DeviceStream(meta, 0, 1, True, False, 0, 2, True)
    got = [stream.batch(k) for k in range(12)]
    assert got == _naive_batches(groups, list(range(5)), 2, 12)
    assert [stream.batch(k) for k in (3, 4)] == got[3:5]  # replayed from the start
    for batch in got:
        assert len({groups[i] for i in batch}) == 1


def test_shards_and_shuffled_epochs() -> None:
    class Meta:
        image_ids = tuple(range(10))

        def __len__(self) -> int:
            return 10

        def size(self, i: int) -> tuple[int, int]:
            return 1, 1

    meta: Any = Meta()
    # OneFlow's comment table: 10 images, 4 parts, 3 per iteration
    stride = [_DeviceStream(meta, p, 4, True, False, 0, 3, False) for p in range(4)]
    assert [s.batch(0) for s in stride] == [[0, 4, 8], [1, 5, 9], [2, 6, 0], [3, 7, 1]]
    assert [s.batch(1) for s in stride] == [[2, 6, 0], [3, 7, 1], [4, 8, 2], [5, 9, 3]]
    contiguous = [_DeviceStream(meta, p, 4, False, False, 0, 3, False) for p in range(4)]
    assert [s.batch(0) for s in contiguous] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 0, 1]]
    assert [s.batch(1) for s in contiguous] == [[2, 3, 4], [5, 6, 7], [8, 9, 0], [1, 2, 3]]
    shuffled = _DeviceStream(meta, 0, 1, True, True, 5, 5, False)
    epochs = [shuffled.batch(0) + shuffled.batch(1), shuffled.batch(2) + shuffled.batch(3)]
    assert all(sorted(e) == list(range(10)) for e in epochs)
    assert epochs[0] != epochs[1]


def test_reader_in_a_job(coco: Path) -> None:
    def count(call: Any, values: list[np.ndarray]) -> np.ndarray:
        return np.array([len(v) for v in values], np.int32)

    @flow.global_function()
    def job() -> tuple[tp.Numpy, tp.Numpy]:
        image, image_id, size, bbox, label, segm, segm_index = flow.data.coco_reader(
            str(coco / "ann.json"), str(coco), batch_size=2, shuffle=False, name="coco"
        )
        assert image.shape == (2,)
        counts = [
            host_op(f"count{k}", count, (b,), fed=True)
            for k, b in enumerate((image, bbox, label, segm, segm_index))
        ]
        ids = flow.cast(image_id, flow.int32) * 1000 + size[:, 0]
        return ids, flow.concat([flow.reshape(c, (2, 1)) for c in counts], axis=1)

    meta = COCOAnnotations(coco / "ann.json", coco)
    groups = [h // w for h, w in (meta.size(i) for i in range(len(meta)))]
    for batch in _naive_batches(groups, list(range(5)), 2, 6):
        ids, counts = job()
        assert ids.tolist() == [meta.image_ids[i] * 1000 + meta.size(i)[0] for i in batch]
        want = [
            [
                len(meta.read_image(i)),
                len(meta.boxes(i)),
                len(meta.labels(i)),
                len(meta.segmentation(i)[0]),
                len(meta.segmentation(i)[1]),
            ]
            for i in batch
        ]
        assert counts.tolist() == want
