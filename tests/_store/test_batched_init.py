"""Initialization through shared kernels (``_store/_init_batch.py``) gives bit for bit the values
of the per-variable program (every initializer inside one ``jax.jit``, what flowsnap did before),
for every initializer, dtype and shape; compiles a bounded number of kernels, reused by later
sessions; and falls back to the per-variable path where the prefix property does not hold."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowsnap import initializers as init
from flowsnap._store import Session, VariableSpec, variable_key
from flowsnap._store import _init_batch as batch
from tests.distributed._run import device_env

FLOATS = ("float32", "float16", "bfloat16")
RANDOM_FLOAT = {
    "truncated_normal": init.truncated_normal(0.1),
    "truncated_normal_mean": init.truncated_normal_initializer(0.5, 2.0),
    "random_normal": init.random_normal_initializer(-1.5, 0.3),
    "random_uniform": init.random_uniform_initializer(-1.0, 3.0),
    "random_uniform_point": init.random_uniform_initializer(1.5, 1.5),
    "vs_truncated_nchw": init.variance_scaling_initializer(
        2.0, "fan_in", "truncated_normal", "NCHW"
    ),
    "vs_normal_nhwc": init.variance_scaling_initializer(0.5, "fan_out", "random_normal", "NHWC"),
    "vs_uniform_avg": init.variance_scaling_initializer(3.0, "fan_avg", "random_uniform", "NHWC"),
    "glorot_uniform": init.glorot_uniform_initializer("NCHW"),
    "glorot_normal": init.xavier_normal_initializer("NCHW"),
    "kaiming_normal": init.kaiming_initializer((6, 3, 3, 3)),
    "kaiming_uniform": init.kaiming_initializer((6, 3, 3, 3), "random_uniform", "fan_out", "tanh"),
}
RANDOM_INT = {
    "int_small": init.random_uniform_initializer(-3, 5, dtype=np.int32),
    "int_top": init.RandomUniformInt(2**31 - 8, 2**31 - 1),
    "int_full": init.RandomUniformInt(-(2**31), 2**31 - 1),
}
OTHER = {
    "zeros": init.zeros_initializer(),
    "ones": init.ones_initializer(),
    "constant": init.constant_initializer(0.25),
    "constant_int": init.constant_initializer(7, dtype=np.int32),
    "empty": init.empty_initializer(),
}
# 4-D shapes suit every initializer (variance scaling needs 2-D or a data format)
SHAPES = ((2, 3, 1, 1), (3, 4, 5, 6), (5, 7, 3, 3))
FLAT_SHAPES = ((), (1,), (0, 3), (257,), (3, 5))


def spec(
    name: str, shape: tuple[int, ...], dtype: str, initializer: Any, **kw: Any
) -> VariableSpec:
    return VariableSpec(name, shape, np.dtype(jnp.dtype(dtype)), initializer, **kw)


def one_device(specs: list[VariableSpec]) -> dict[str, jax.sharding.Sharding]:
    return {s.name: jax.sharding.SingleDeviceSharding(jax.devices()[0]) for s in specs}


def assert_same_bits(got: dict[str, jax.Array], want: dict[str, jax.Array]) -> None:
    assert got.keys() == want.keys()
    for name, value in want.items():
        a, b = np.asarray(got[name]), np.asarray(value)
        assert a.dtype == b.dtype, name
        assert a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), f"{name}: values differ"
        assert got[name].sharding == value.sharding, name


def catalogue() -> list[VariableSpec]:
    """Every initializer with several dtypes and shapes, own seeds included."""
    specs = []
    for k, (label, initializer) in enumerate(RANDOM_FLOAT.items()):
        for j, shape in enumerate(SHAPES):
            specs.append(spec(f"{label}/{j}", shape, FLOATS[(k + j) % 3], initializer))
    for label, initializer in RANDOM_INT.items():
        specs.append(spec(f"{label}/i32", (3, 4, 5, 6), "int32", initializer))
        specs.append(spec(f"{label}/i8", (257,), "int8", initializer))
    for label, initializer in {**OTHER, "normal_flat": init.random_normal_initializer()}.items():
        for j, shape in enumerate(FLAT_SHAPES):
            dtype = "int32" if label == "constant_int" else FLOATS[j % 3]
            specs.append(spec(f"{label}/{j}", shape, dtype, initializer))
    specs.append(spec("own_seed", (3, 5), "float32", init.truncated_normal(0.1), random_seed=42))
    specs.append(
        spec("own_seed_big", (3, 5), "float32", init.truncated_normal(0.1), random_seed=2**40 + 7)
    )
    specs.append(spec("vs_empty", (0, 4, 3, 3), "float32", RANDOM_FLOAT["vs_truncated_nchw"]))
    return specs


@pytest.fixture(scope="module")
def reference() -> dict[str, jax.Array]:
    """The catalogue through the per-variable program (seed 3)."""
    specs = catalogue()
    return batch.initialize(specs, 3, one_device(specs), batch=False)


def test_every_initializer_dtype_and_shape_keeps_its_bits(reference: dict[str, jax.Array]) -> None:
    specs = catalogue()
    assert_same_bits(batch.initialize(specs, 3, one_device(specs)), reference)


def test_the_reference_is_what_each_initializer_gives_alone(
    reference: dict[str, jax.Array],
) -> None:
    # a few variables compiled one by one: the per-variable program is each initializer under jit
    for s in catalogue()[::9]:
        alone = jax.jit(lambda s=s: s.initializer(variable_key(3, s), s.shape, s.device_dtype))()
        assert np.asarray(alone).tobytes() == np.asarray(reference[s.name]).tobytes(), s.name


def test_64_bit_dtypes() -> None:
    with jax.enable_x64(True):
        specs = [
            spec("f64", (3, 5), "float64", init.random_normal_initializer(0.5, 2.0)),
            spec("f64_vs", (4, 7), "float64", init.glorot_uniform_initializer()),
            spec("i64", (9,), "int64", init.random_uniform_initializer(-9, 9, dtype=np.int64)),
            spec("c64", (2,), "float64", init.constant_initializer(0.1, dtype=np.float64)),
        ]
        got = batch.initialize(specs, 5, one_device(specs))
        want = batch.initialize(specs, 5, one_device(specs), batch=False)
        assert got["f64"].dtype == np.float64
        assert got["i64"].dtype == np.int64
        assert_same_bits(got, want)


@settings(max_examples=8)
@given(
    name=st.sampled_from(sorted({**RANDOM_FLOAT, **RANDOM_INT})),
    shape=st.lists(st.integers(1, 7), min_size=4, max_size=4).map(tuple),
    longer=st.sampled_from([0, 1, 300, 4096]),
    key=st.integers(0, 2**31 - 1),
)
def test_a_flat_draw_is_a_prefix_of_any_longer_one(
    name: str, shape: tuple[int, ...], longer: int, key: int
) -> None:
    initializer = {**RANDOM_FLOAT, **RANDOM_INT}[name]
    dtype = np.dtype("int32" if name in RANDOM_INT else "float32")
    flat = initializer.flat_draw(shape, dtype)
    assert flat is not None
    size = int(np.prod(shape))
    n = batch.bucket_size(size) + longer
    k = jax.random.key(key)
    drawn = jax.jit(flat.draw, static_argnums=1)(k, n, jnp.asarray(flat.params, flat.param_dtype))
    alone = jax.jit(initializer.sample, static_argnums=(1, 2))(k, shape, dtype)
    got = np.asarray(drawn)[:size].reshape(shape).astype(dtype)
    assert got.tobytes() == np.asarray(alone).tobytes()


def test_buckets_pad_small_variables_to_powers_of_two_and_large_ones_by_under_a_quarter() -> None:
    assert batch.bucket_size(1) == batch.bucket_size(256) == 256
    assert batch.bucket_size(257) == 512
    assert batch.bucket_size(4096) == 4096
    assert batch.bucket_size(4097) == 5120  # 4096 + 4096 / 4
    assert batch.bucket_size(768 * 768) == 655_360  # 11% padding
    assert batch.bucket_size(30522 * 768) == 25_165_824  # BERT's word embedding: 7%
    assert batch.bucket_size(2**20) == 2**20
    for size in (1, 255, 257, 1000, 4097, 65_537, 2**20 - 1, 2**20 + 1, 3 * 2**20 + 5, 10**8):
        padded = batch.bucket_size(size)
        assert size <= padded < max(2 * size, 257)
        assert size <= 4096 or 4 * (padded - size) < size
    # four buckets an octave
    assert len({batch.bucket_size(s) for s in range(2**16 + 1, 2**17 + 1, 97)}) == 4


def test_small_buckets_join_larger_ones_when_it_costs_few_values() -> None:
    normal = init.random_normal_initializer().flat_draw((1,), np.dtype("float32"))
    uniform = init.random_uniform_initializer().flat_draw((1,), np.dtype("float32"))
    drawn = [batch._Drawn(i, normal, n) for i, n in enumerate([256] * 3 + [4096] * 2 + [2**21])]
    drawn += [batch._Drawn(10 + i, uniform, 256) for i in range(3)]
    drawn += [batch._Drawn(20, normal, 2**20)] * 5  # 5 * 2**20 more values to join 2**21: no
    merged = batch.merge_buckets(drawn)
    assert [d.index for d in merged] == [d.index for d in drawn]
    # 256 joins 4096 (11520 more values); 4096 stays (5 * ~2**20 more to join 2**20)
    assert [d.n for d in merged] == [4096] * 5 + [2**21] + [256] * 3 + [2**20] * 5
    many = batch.merge_buckets([batch._Drawn(i, normal, 256) for i in range(10_000)])
    assert {d.n for d in many} == {256}


def test_a_large_variable_in_a_fine_bucket() -> None:
    specs = [spec("big", (2049, 1025), "float16", init.truncated_normal(0.02))]  # padded 12%
    got = batch.initialize(specs, 0, one_device(specs))
    want = batch.initialize(specs, 0, one_device(specs), batch=False)
    assert_same_bits(got, want)


@dataclass
class Counts:
    kernels: int = 0
    programs: int = 0


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Counts:
    found = Counts()
    compile_kernel, compile_program = batch._compile_kernel, batch._compile_program

    def kernel(*args: Any) -> Any:
        found.kernels += 1
        return compile_kernel(*args)

    def program(*args: Any) -> Any:
        found.programs += 1
        return compile_program(*args)

    monkeypatch.setattr(batch, "_compile_kernel", kernel)
    monkeypatch.setattr(batch, "_compile_program", program)
    return found


def many_variables(prefix: str, count: int) -> list[VariableSpec]:
    """``count`` conv weights of a few dozen sizes, all in the buckets 256 and 512."""
    conv = init.variance_scaling_initializer(2.0, "fan_in", "random_normal", "NCHW")
    return [
        spec(f"{prefix}/w{i}", (4 + i % 25, 3, 3, 3), "float32", conv) for i in range(count)
    ] + [
        spec(f"{prefix}/b{i}", (4 + i % 25,), "float32", init.zeros_initializer())
        for i in range(count)
    ]


def test_kernels_are_bounded_and_shared_across_models_and_sessions(counts: Counts) -> None:
    specs = many_variables("a", 60)
    batch.initialize(specs, 0, one_device(specs))
    assert counts.kernels <= 2  # one per bucket (256, 512), however many variables
    assert counts.programs == 1
    first = counts.kernels
    # the same model again (a new session): nothing compiles
    batch.initialize(many_variables("a", 60), 0, one_device(specs))
    assert (counts.kernels, counts.programs) == (first, 1)
    # another model with the same kinds of variables: only its slicing program
    other = many_variables("b", 30)
    batch.initialize(other, 1, one_device(other))
    assert (counts.kernels, counts.programs) == (first, 2)


def test_constants_compile_nothing(counts: Counts) -> None:
    specs = [
        spec(f"{label}/{j}", shape, "int32" if label == "constant_int" else dtype, initializer)
        for label, initializer in OTHER.items()
        for j, (shape, dtype) in enumerate(
            zip(FLAT_SHAPES, ("bfloat16", *FLOATS, "int8"), strict=True)
        )
    ]
    # and large ones, broadcast on the device
    specs += [
        spec("big_zeros", (300, 300), "float32", init.zeros_initializer()),
        spec("big_const", (2, 40000), "bfloat16", init.constant_initializer(0.1)),
        spec("big_int", (70000,), "int8", init.constant_initializer(-3, dtype=np.int32)),
    ]
    got = batch.initialize(specs, 0, one_device(specs))
    assert (counts.kernels, counts.programs) == (0, 0)
    assert_same_bits(got, batch.initialize(specs, 0, one_device(specs), batch=False))


def test_the_slicing_program_holds_no_random_kernel() -> None:
    specs = many_variables("hlo", 20)
    batch.initialize(specs, 0, one_device(specs))
    (program,) = [p for ident, p in batch._programs.items() if ident[1][0][0] == "hlo/w0"]
    assert "xor" not in program.as_text()  # threefry's rounds: none left in the program
    old = jax.jit(
        lambda: [s.initializer(variable_key(0, s), s.shape, s.device_dtype) for s in specs[:2]]
    )
    assert "xor" in old.lower().compile().as_text()  # where the check would see them


def test_waves_give_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    specs = catalogue()[:20]
    want = batch.initialize(specs, 9, one_device(specs), batch=False)
    monkeypatch.setattr(batch, "WAVE_BYTES", 4096)  # a wave per variable or two
    waves = batch._waves(specs, [batch._Drawn(i, None, 512) for i in range(5)])  # type: ignore[arg-type]
    assert [len(w.drawn) for w in waves] == [2, 2, 1]
    assert waves[-1].singles == list(range(5, 20))
    assert_same_bits(batch.initialize(specs, 9, one_device(specs)), want)


class Custom(init.Initializer):
    """An initializer written outside flowsnap, without a flat draw."""

    def to_conf(self) -> dict[str, dict[str, Any]]:
        return {"custom_conf": {}}

    def sample(self, key: jax.Array, shape: tuple[int, ...], dtype: np.dtype[Any]) -> jax.Array:
        return (jax.random.normal(key, shape) * 3.0).astype(dtype)


def test_initializers_without_a_flat_draw_take_the_per_variable_path(counts: Counts) -> None:
    specs = [
        spec("custom", (3, 5), "float32", Custom()),
        spec("c", (2,), "float32", init.ones_initializer()),
    ]
    got = batch.initialize(specs, 0, one_device(specs))
    assert counts.kernels == 0
    alone = jax.jit(lambda: Custom()(variable_key(0, specs[0]), (3, 5), "float32"))()
    assert np.asarray(got["custom"]).tobytes() == np.asarray(alone).tobytes()
    assert np.asarray(got["c"]).tolist() == [1.0, 1.0]


def test_without_partitionable_threefry_every_variable_takes_the_per_variable_path(
    counts: Counts,
) -> None:
    specs = many_variables("np", 3)
    jax.config.update("jax_threefry_partitionable", False)
    try:
        assert not batch.batching_supported()
        got = batch.initialize(specs, 0, one_device(specs))
        want = batch.initialize(specs, 0, one_device(specs), batch=False)
    finally:
        jax.config.update("jax_threefry_partitionable", True)
    assert counts.kernels == 0
    assert_same_bits(got, want)


def test_a_session_initializes_and_reinitializes_through_the_batches() -> None:
    session = Session(seed=11)
    specs = catalogue()[:12]
    session.declare("job", specs)
    session.initialize_missing()
    want = batch.initialize(specs, 11, one_device(specs), batch=False)
    assert_same_bits(dict(session.values), want)
    session.values[specs[0].name] = jnp.zeros(specs[0].shape, specs[0].device_dtype)
    session.reinitialize([specs[0].name, specs[1].name])
    assert_same_bits(dict(session.values), want)


MESH_WORKER = textwrap.dedent(
    """
    import json, jax, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from flowsnap import initializers as init
    from flowsnap._store import VariableSpec
    from flowsnap._store import _init_batch as batch

    mesh = Mesh(np.array(jax.devices()[:4]).reshape(2, 2), ("x", "y"))
    specs, shardings = [], {}
    for i, (shape, part) in enumerate([
        ((8, 6), P()), ((8, 6), P("x")), ((8, 6), P("x", "y")), ((5, 2), P()), ((4, 3, 3, 3), P()),
        ((4, 2), P(None, "y")), ((256, 300), P("x")),
    ]):
        for j, ini in enumerate([
            init.truncated_normal(0.1), init.glorot_uniform_initializer("NCHW"),
            init.random_uniform_initializer(-2, 2, dtype=np.int32), init.ones_initializer(),
        ]):
            dtype = np.dtype("int32") if j == 2 else np.dtype("float32")
            name = f"v{i}_{j}"
            specs.append(VariableSpec(name, shape, dtype, ini))
            shardings[name] = NamedSharding(mesh, part)
    got = batch.initialize(specs, 4, shardings)
    want = batch.initialize(specs, 4, shardings, batch=False)
    print("RESULT " + json.dumps({
        "devices": len(jax.devices()),
        "kernels": len(batch._kernels),
        "same_bits": [
            n for n in want if np.asarray(got[n]).tobytes() == np.asarray(want[n]).tobytes()
        ],
        "same_sharding": [n for n in want if got[n].sharding == want[n].sharding],
        "count": len(want),
    }))
    """
)


def test_on_a_mesh_of_four_devices() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", MESH_WORKER],
        env=device_env(4),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stderr[-3000:]
    result = json.loads(lines[0][len("RESULT ") :])
    assert result["devices"] == 4
    assert len(result["same_bits"]) == result["count"] == 28
    assert len(result["same_sharding"]) == result["count"]
    assert 1 <= result["kernels"] <= 6  # the replicated random variables shared kernels
