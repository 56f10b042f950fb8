"""Read-ahead and split reads: same values and errors as a plain read, bounded memory, order,
and nothing left running (threads, file descriptors) once the snapshot is dropped."""

from __future__ import annotations

import gc
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from flowsnap.errors import ChecksumMismatchError, SizeMismatchError
from flowsnap.format import _readahead as ra
from flowsnap.format import open_snapshot, open_variable, write_snapshot
from flowsnap.format._snapshot import Snapshot

MiB = 2**20


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many chunks per variable, so that the caller and the helpers really share them."""
    monkeypatch.setattr(ra, "CHUNK", 64 * 2**10)


def values() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    model: dict[str, np.ndarray] = {}
    for i in range(10):  # 1-2.5 MiB each (read ahead), sizes not multiples of a chunk
        model[f"layer{i:02d}-weight"] = rng.random(262_144 + 37 * i + i * 40_000, np.float32)
        model[f"layer{i:02d}-bias"] = rng.random(16 + i, np.float32)  # small: read directly
    return model


@pytest.fixture
def model() -> dict[str, np.ndarray]:
    return values()


@pytest.fixture
def ckpt(tmp_path: Path, model: dict[str, np.ndarray]) -> Path:
    path = tmp_path / "ckpt"
    write_snapshot(path, model, durable=False)
    return path


def helper_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in ("flowsnap-readahead", "flowsnap-read")]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.005)
    return check()


def reader_of(snap: Snapshot) -> ra.Reader:
    reader = snap._reader
    assert reader is not None
    return reader


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x40]))


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    fds = open_fds()
    yield
    gc.collect()
    assert eventually(lambda: not helper_threads()), helper_threads()
    assert open_fds() <= fds


def test_iteration_returns_every_value_in_order(ckpt: Path, model: dict[str, np.ndarray]) -> None:
    snap = open_snapshot(ckpt)
    names = []
    for name, var in snap.items():
        value = var.numpy()
        names.append(name)
        assert value.tobytes() == model[name].tobytes(), name
        assert value.flags.c_contiguous
        assert value.flags.writeable
        if value.nbytes >= ra.ALIGNED_BYTES:
            assert value.ctypes.data % ra.ALIGN == 0
    assert names == sorted(model)


def test_reads_ahead_in_iteration_order_within_the_window(
    ckpt: Path, model: dict[str, np.ndarray]
) -> None:
    snap = open_snapshot(ckpt)
    reader = reader_of(snap)
    window = reader._shared.window = 5 * MiB
    big = [n for n in snap if snap[n].nbytes >= MiB]
    snap[big[0]].numpy()
    snap[big[1]].numpy()  # in order: the helper reads big[2], big[3]... ahead
    assert eventually(lambda: reader.prefetched_bytes >= MiB)
    assert eventually(lambda: all(j is not None for j in reader._shared.prefetched.values()))
    ahead = sorted(reader._shared.prefetched)
    assert ahead == list(range(2, 2 + len(ahead))), ahead  # the next ones, in order
    peak = 0
    for name in big[2:]:
        peak = max(peak, reader.prefetched_bytes)
        assert snap[name].numpy().tobytes() == model[name].tobytes()
    assert 0 < peak <= window
    assert reader.prefetched_bytes == 0


def test_out_of_order_reads_are_correct_and_drop_the_read_ahead(
    ckpt: Path, model: dict[str, np.ndarray]
) -> None:
    snap = open_snapshot(ckpt)
    reader = reader_of(snap)
    big = [n for n in snap if snap[n].nbytes >= MiB]
    snap[big[0]].numpy()
    snap[big[1]].numpy()
    assert eventually(lambda: reader.prefetched_bytes > 0)
    assert snap[big[7]].numpy().tobytes() == model[big[7]].tobytes()  # a jump
    assert reader.prefetched_bytes == 0  # dropped at once, nothing read ahead after a jump
    order = list(model)
    random.Random(3).shuffle(order)
    for name in order:
        assert snap[name].numpy().tobytes() == model[name].tobytes(), name


def test_concurrent_callers_get_correct_values(ckpt: Path, model: dict[str, np.ndarray]) -> None:
    snap = open_snapshot(ckpt)
    names = list(model) * 3
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: snap[n].numpy(), names))
    for name, value in zip(names, results, strict=True):
        assert value.tobytes() == model[name].tobytes(), name


def test_readinto_and_verify_false_use_the_read_ahead_correctly(
    ckpt: Path, model: dict[str, np.ndarray]
) -> None:
    snap = open_snapshot(ckpt)
    for name, var in snap.items():
        out = np.empty_like(model[name])
        var.readinto(out, verify=False)
        assert out.tobytes() == model[name].tobytes()
        assert var.numpy(verify=True).tobytes() == model[name].tobytes()


def test_damage_found_before_opening_raises_the_usual_error(ckpt: Path) -> None:
    big = sorted(n for n, v in values().items() if v.nbytes >= MiB)
    flip_byte(ckpt / big[4] / "out", 700_001)
    snap = open_snapshot(ckpt)
    reader = reader_of(snap)
    for name in big[:3]:
        snap[name].numpy()
    assert eventually(lambda: 4 in reader._shared.prefetched)  # read ahead (and failed)
    snap[big[3]].numpy()
    with pytest.raises(ChecksumMismatchError) as caught:
        snap[big[4]].numpy()
    assert big[4] in str(caught.value)
    with pytest.raises(ChecksumMismatchError) as plain:
        snap[big[4]]._read_alone()
    assert str(plain.value) == str(caught.value)


def test_damage_after_the_read_ahead_is_still_found(
    ckpt: Path, model: dict[str, np.ndarray]
) -> None:
    """A copy read ahead is handed out only if the file is unchanged since it was read."""
    snap = open_snapshot(ckpt)
    reader = reader_of(snap)
    big = [n for n in snap if snap[n].nbytes >= MiB]
    snap[big[0]].numpy()
    snap[big[1]].numpy()

    def read_ahead_done() -> bool:
        job = reader._shared.prefetched.get(2)
        return job is not None and not job.has_unclaimed() and job._settled()

    assert eventually(read_ahead_done)
    time.sleep(0.02)  # a later mtime even on coarse clocks
    flip_byte(ckpt / big[2] / "out", 123)
    with pytest.raises(ChecksumMismatchError, match=big[2]):
        snap[big[2]].numpy()
    # truncated after the read-ahead: the size check of a plain read
    snap[big[3]].numpy()
    assert eventually(lambda: 4 in reader._shared.prefetched)
    os.truncate(ckpt / big[4] / "out", 1000)
    with pytest.raises(SizeMismatchError, match=big[4]):
        snap[big[4]].numpy()
    assert snap[big[5]].numpy().tobytes() == model[big[5]].tobytes()


def test_early_stop_and_garbage_collection_leave_nothing_running(ckpt: Path) -> None:
    fds = open_fds()
    snap = open_snapshot(ckpt)
    reader = reader_of(snap)
    for i, (_, var) in enumerate(snap.items()):
        var.numpy()
        if i == 4:
            break
    shared = reader._shared
    assert eventually(lambda: shared.prefetched_bytes > 0)
    assert helper_threads()
    del snap, var, reader
    gc.collect()
    assert not helper_threads()  # joined when the reader went away
    assert open_fds() <= fds


def test_a_kept_variable_keeps_the_reader_until_it_goes(ckpt: Path) -> None:
    snap = open_snapshot(ckpt)
    big = [n for n in snap if snap[n].nbytes >= MiB]
    kept = snap[big[3]]
    snap[big[0]].numpy()
    snap[big[1]].numpy()
    del snap
    gc.collect()
    assert kept.numpy().size  # its reader (and the read-ahead) still work
    del kept
    gc.collect()
    assert not helper_threads()


def test_closing_the_reader_mid_read_ahead(ckpt: Path, model: dict[str, np.ndarray]) -> None:
    snap = open_snapshot(ckpt)
    reader = reader_of(snap)
    big = [n for n in snap if snap[n].nbytes >= MiB]
    snap[big[0]].numpy()
    snap[big[1]].numpy()
    reader.close()
    assert not helper_threads()
    assert reader.prefetched_bytes == 0
    for name in big:  # reads go on without helpers
        assert snap[name].numpy().tobytes() == model[name].tobytes()


def test_helpers_end_when_idle(ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ra, "IDLE_SECONDS", 0.05)
    snap = open_snapshot(ckpt)
    big = [n for n in snap if snap[n].nbytes >= MiB]
    snap[big[-1]].numpy()  # nothing after it to read ahead
    assert eventually(lambda: reader_of(snap).helpers_running == 0)
    assert snap[big[0]].numpy().size  # and start again when needed


def test_a_standalone_variable_is_split_between_two_threads(tmp_path: Path) -> None:
    value = np.random.default_rng(1).random((700, 1000), np.float32)  # 2.8 MB, many chunks
    write_snapshot(tmp_path / "c", {"w": value}, durable=False)
    var = open_variable(tmp_path / "c" / "w")
    assert var.numpy().tobytes() == value.tobytes()
    flip_byte(tmp_path / "c" / "w" / "out", 2_000_000)
    with pytest.raises(ChecksumMismatchError, match="'w'"):
        open_variable(tmp_path / "c" / "w").numpy()


@pytest.mark.parametrize("nbytes", [1, 4095, 4096, 65_536, 65_537, 1_000_003])
@pytest.mark.parametrize("threads", [1, 2, 4])
def test_chunked_read_hashes_like_a_serial_read(tmp_path: Path, nbytes: int, threads: int) -> None:
    from flowsnap.format._checksum import new_hasher

    data = np.random.default_rng(nbytes).integers(0, 256, nbytes, dtype=np.uint8)
    path = tmp_path / "out"
    path.write_bytes(data.tobytes())
    ra.CHUNK = 4096
    out = np.empty(nbytes, np.uint8)
    job = ra.ChunkedRead(os.open(path, os.O_RDONLY), str(path), out, hashed=True)
    workers = [threading.Thread(target=job.work) for _ in range(threads - 1)]
    for w in workers:
        w.start()
    job.work()
    digest = job.wait()
    for w in workers:
        w.join()
    expected = new_hasher()
    expected.update(data.tobytes())
    assert digest == expected.hexdigest()
    assert out.tobytes() == data.tobytes()


def test_a_failed_chunk_fails_the_read_and_closes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"x" * 100_000)
    ra.CHUNK = 4096
    fds = open_fds()
    job = ra.ChunkedRead(
        os.open(path, os.O_RDONLY), str(path), np.empty(200_000, np.uint8), hashed=True
    )
    job.work()
    with pytest.raises(SizeMismatchError, match="truncated"):
        job.wait()
    assert open_fds() == fds


def test_reads_ahead_in_the_natural_order_of_layer_numbers(tmp_path: Path) -> None:
    """A model's own order (h2 before h10) is followed too, not only the sorted iteration."""
    rng = np.random.default_rng(11)
    model = {f"h{i}-weight": rng.random(262_144 + 1000 * i, np.float32) for i in range(12)}
    write_snapshot(tmp_path / "ckpt", model, durable=False)
    snap = open_snapshot(tmp_path / "ckpt")
    reader = reader_of(snap)
    reader._shared.window = 3 * MiB  # room for two variables read ahead
    natural = [f"h{i}-weight" for i in range(12)]
    assert list(snap) == sorted(natural) != natural
    index = {name: i for i, name in enumerate(snap)}
    for k, name in enumerate(natural):
        if k == 3:  # h0, h1 agree with the sorted order; after h2, the next are h3 and h4
            assert eventually(lambda: len(reader._shared.prefetched) == 2)
            ahead = sorted(reader._shared.prefetched)
            assert ahead == sorted(index[n] for n in natural[3:5]), ahead
        assert snap[name].numpy().tobytes() == model[name].tobytes(), name
    assert reader.prefetched_bytes == 0
    # iterating (sorted order) after that still reads ahead in that order
    names = list(snap)
    snap[names[0]].numpy()
    snap[names[1]].numpy()
    assert eventually(lambda: bool(reader._shared.prefetched))
    assert min(reader._shared.prefetched) == 2
    for name in names[2:]:
        assert snap[name].numpy().tobytes() == model[name].tobytes(), name


def test_natural_key_orders_numbers_by_value() -> None:
    names = ["h10-w", "h2-w", "h1-b", "wte", "h1-a", "h02-w", "x9y10", "x9y9"]
    ordered = [names[i] for i in ra.reading_orders(names)[1]]
    assert ordered == ["h1-a", "h1-b", "h02-w", "h2-w", "h10-w", "wte", "x9y9", "x9y10"]
    assert ra.reading_orders(["a1", "a2"]) == [[0, 1]]  # one order when they agree
