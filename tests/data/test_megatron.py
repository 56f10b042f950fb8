"""Megatron .bin/.idx datasets: the index layout byte by byte, OneFlow's sample construction
against a naive re-implementation, splits, epochs, shuffling, damaged files; and the
megatron_gpt_mmap_data_loader data op in a job, resumed exactly."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.data import MegatronGPTDataset, read_megatron_index, write_megatron_dataset
from flowsnap.errors import ArgumentError, DatasetError

DOCS = [np.arange(100 * k, 100 * k + n) for k, n in enumerate([5, 3, 8, 2, 7, 4, 6, 1, 9, 5])]


@pytest.fixture
def prefix(tmp_path: Path) -> str:
    write_megatron_dataset(tmp_path / "corpus", DOCS, np.uint16)
    return str(tmp_path / "corpus")


def test_index_layout_byte_by_byte(prefix: str) -> None:
    raw = Path(prefix + ".idx").read_bytes()
    assert raw[:9] == b"MMIDIDX\x00\x00"
    version, code, n, m = struct.unpack_from("<QBQQ", raw, 9)
    assert (version, code, n, m) == (1, 8, 10, 11)  # 8: uint16
    sizes = struct.unpack_from("<10i", raw, 34)
    pointers = struct.unpack_from("<10q", raw, 74)
    assert list(sizes) == [len(d) for d in DOCS]
    assert list(pointers) == list(np.cumsum([0] + [2 * len(d) for d in DOCS[:-1]]))
    assert len(raw) == 34 + 40 + 80 + 88
    data = np.frombuffer(Path(prefix + ".bin").read_bytes(), "<u2")
    np.testing.assert_array_equal(data, np.concatenate(DOCS))
    dtype, got_sizes, got_pointers = read_megatron_index(prefix + ".idx")
    assert dtype == np.uint16
    assert got_sizes.tolist() == list(sizes)
    assert got_pointers.tolist() == list(pointers)


def _naive(docs: list[Any], seq: int, count: int) -> np.ndarray:
    """Unshuffled samples: the stream of the documents, repeated, cut every ``seq`` tokens into
    ``seq + 1``-token windows."""
    stream = np.concatenate(docs * 10)
    return np.stack([stream[i * seq : i * seq + seq + 1] for i in range(count)])


def test_unshuffled_samples_are_windows_of_the_repeated_stream(prefix: str) -> None:
    ds = MegatronGPTDataset(prefix, seq_length=6, num_samples=20, shuffle=False)
    # 50 tokens per epoch; 20 * 6 + 1 = 121 tokens -> 3 epochs; the last epoch's 20 - 16 = 4
    # samples are under 80 % of the 8 per epoch, so it is kept apart (2 complete epochs).
    assert ds.total_samples == (3 * 50 - 1) // 6
    got = ds.samples(range(ds.total_samples))
    np.testing.assert_array_equal(got, _naive(DOCS, 6, ds.total_samples))
    assert got.dtype == np.int64
    assert ds.samples([3, 0], np.int32).dtype == np.int32


def test_splits_take_contiguous_document_ranges(prefix: str) -> None:
    train = MegatronGPTDataset(prefix, 4, 5, split_sizes=[8, 1, 1], split_index=0, shuffle=False)
    valid = MegatronGPTDataset(prefix, 4, 5, split_sizes=[8, 1, 1], split_index=1, shuffle=False)
    np.testing.assert_array_equal(train.samples(range(5)), _naive(DOCS[:8], 4, 5))
    np.testing.assert_array_equal(valid.samples(range(5)), _naive(DOCS[8:9], 4, 5))
    with pytest.raises(ArgumentError, match="split_index 3 is out of range"):
        MegatronGPTDataset(prefix, 4, 5, split_sizes=[8, 1, 1], split_index=3)


def test_shuffled_samples_are_a_permutation_and_deterministic(prefix: str) -> None:
    a = MegatronGPTDataset(prefix, 5, 30, seed=7)
    b = MegatronGPTDataset(prefix, 5, 30, seed=7)
    c = MegatronGPTDataset(prefix, 5, 30, seed=8)
    all_a = a.samples(range(a.total_samples))
    np.testing.assert_array_equal(all_a, b.samples(range(b.total_samples)))
    assert not np.array_equal(all_a, c.samples(range(c.total_samples)))
    # Each sample is a window of the shuffled document stream: consecutive tokens of a document
    # stay consecutive, and every token of each complete epoch appears.
    tokens = set(np.concatenate(DOCS).tolist())
    assert set(all_a.ravel().tolist()) == tokens
    with pytest.raises(DatasetError, match="larger num_samples"):
        a.samples([a.total_samples])


def test_damaged_files_are_named(prefix: str, tmp_path: Path) -> None:
    idx = Path(prefix + ".idx")
    raw = idx.read_bytes()
    idx.write_bytes(b"NOTANIDX!" + raw[9:])
    with pytest.raises(DatasetError, match="not a Megatron MMIDIDX index"):
        read_megatron_index(idx)
    idx.write_bytes(raw[:-8])
    with pytest.raises(DatasetError, match="need 242 bytes, the file has 234"):
        read_megatron_index(idx)
    idx.write_bytes(raw)
    Path(prefix + ".bin").write_bytes(b"\x00" * 10)
    with pytest.raises(DatasetError, match="shorter than its index"):
        MegatronGPTDataset(prefix, 4, 4)
    with pytest.raises(DatasetError, match="cannot read Megatron index"):
        MegatronGPTDataset(str(tmp_path / "nope"), 4, 4)


def test_loader_in_a_job_resumes_exactly(prefix: str, tmp_path: Path) -> None:
    def build() -> Any:
        @flow.global_function()
        def tokens() -> tp.Numpy:
            return flow.data.megatron_gpt_mmap_data_loader(
                prefix, seq_length=6, num_samples=40, batch_size=3, random_seed=5
            )

        return tokens

    job = build()
    first = [job() for _ in range(4)]
    ds = MegatronGPTDataset(prefix, 6, 40, seed=5)
    for k, batch in enumerate(first):
        assert batch.shape == (3, 7)
        np.testing.assert_array_equal(batch, ds.samples(range(3 * k, 3 * k + 3)))
    flow.checkpoint.save(str(tmp_path / "ck"))
    after = [job() for _ in range(2)]
    flow.clear_default_session()
    job = build()
    flow.load_variables(flow.checkpoint.get(str(tmp_path / "ck")))
    for a, b in zip(after, [job(), job()], strict=True):
        np.testing.assert_array_equal(a, b)
