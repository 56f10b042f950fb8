"""The checkpoint API on live variables: the seed chapter's workflows, load reports, errors that
change nothing, renames and filters, the legacy layout and classes (reference section 7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import (
    ChecksumMismatchError,
    IncompleteSnapshotError,
    LoadMismatchError,
    SnapshotNotFoundError,
    TargetExistsError,
    VariableNotFoundError,
)
from flowsnap.format import open_snapshot

BATCH = 8


def define_mlp(extra_layer: bool = False) -> flow.JobFunction:  # type: ignore[name-defined]
    @flow.global_function(type="train")
    def train_job(
        images: tp.Numpy.Placeholder((BATCH, 1, 4, 4), dtype=flow.float),
        labels: tp.Numpy.Placeholder((BATCH,), dtype=flow.int32),
    ) -> tp.Numpy:
        initializer = flow.truncated_normal(0.1)
        reshape = flow.reshape(images, [images.shape[0], -1])
        hidden = flow.layers.dense(
            reshape, 8, activation=flow.nn.relu, kernel_initializer=initializer, name="dense1"
        )
        logits = flow.layers.dense(hidden, 10, kernel_initializer=initializer, name="dense2")
        if extra_layer:
            logits = flow.layers.dense(logits, 10, kernel_initializer=initializer, name="dense3")
        loss = flow.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [0.1]), momentum=0
        ).minimize(loss)
        return loss

    return train_job


def batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    return (
        rng.random((BATCH, 1, 4, 4), dtype=np.float32),
        rng.integers(0, 10, BATCH).astype(np.int32),
    )


def values() -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    return {k: v.numpy() for k, v in flow.get_all_variables().items()}


def test_seed_myblob_load_variables_example() -> None:
    @flow.global_function(type="predict")
    def job() -> tp.Numpy:
        return flow.get_variable(
            "myblob", shape=(3, 3), initializer=flow.random_normal_initializer()
        )

    myvardict = {"myblob": np.ones((3, 3)).astype(np.float32)}
    report = flow.load_variables(myvardict)
    np.testing.assert_array_equal(flow.get_all_variables()["myblob"].numpy(), np.ones((3, 3)))
    np.testing.assert_array_equal(job(), np.ones((3, 3)))
    assert report.loaded == ("myblob",)


def test_save_writes_the_chapter_tree_and_loads_back(tmp_path: Path) -> None:
    train_job = define_mlp()
    for i in range(3):
        train_job(*batch(i))
    before = values()
    flow.checkpoint.save(tmp_path / "mlp_models_1")
    # the chapter's tree, plus the manifest's hidden copy (which OneFlow ignores)
    tree = sorted(p.name for p in (tmp_path / "mlp_models_1").iterdir() if p.name[0] != ".")
    assert (tmp_path / "mlp_models_1" / ".flowsnap-manifest").is_file()
    assert tree == [
        "System-Train-TrainStep-train_job",
        "dense1-bias",
        "dense1-weight",
        "dense2-bias",
        "dense2-weight",
        "snapshot_done",
    ]
    for name in tree[:-1]:
        assert sorted(p.name for p in (tmp_path / "mlp_models_1" / name).iterdir()) == [
            "meta",
            "out",
        ]
    step = open_snapshot(tmp_path / "mlp_models_1")["System-Train-TrainStep-train_job"]
    assert (step.dtype, step.shape, int(step.numpy()[0])) == (np.int64, (1,), 3)

    flow.clear_default_session()
    train_job = define_mlp()
    report = flow.load_variables(flow.checkpoint.get(tmp_path / "mlp_models_1"))
    assert sorted(report.loaded) == sorted(before)
    assert report.kept == report.ignored == ()
    for name, value in values().items():
        np.testing.assert_array_equal(value, before[name])
        assert value.dtype == before[name].dtype


def test_finetune_with_a_new_layer_reports_what_was_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    train_job = define_mlp()
    train_job(*batch())
    flow.checkpoint.save(tmp_path / "mlp_models_1")
    flow.clear_default_session()

    train_job = define_mlp(extra_layer=True)
    with caplog.at_level("INFO", logger="flowsnap"):
        report = flow.load_variables(flow.checkpoint.get(tmp_path / "mlp_models_1"))
    assert set(report.kept) == {"dense3-weight", "dense3-bias"}
    assert "2 kept their values (not in the checkpoint): dense3-weight, dense3-bias" in caplog.text
    train_job(*batch())
    flow.checkpoint.save(tmp_path / "mlp_ext_models_1")
    assert (tmp_path / "mlp_ext_models_1" / "dense3-weight" / "out").is_file()


def test_get_of_a_variable_directory_returns_one_value(tmp_path: Path) -> None:
    define_mlp()
    flow.checkpoint.save(tmp_path / "ckpt")
    one = flow.checkpoint.get(tmp_path / "ckpt" / "dense2-bias")
    assert one.shape == (10,)
    np.testing.assert_array_equal(one.numpy(), values()["dense2-bias"])
    with pytest.raises(SnapshotNotFoundError):
        flow.checkpoint.get(tmp_path / "missing")


def test_save_never_overwrites(tmp_path: Path) -> None:
    define_mlp()
    flow.checkpoint.save(tmp_path / "ckpt")
    with pytest.raises(TargetExistsError, match="non-empty directory"):
        flow.checkpoint.save(tmp_path / "ckpt")


def test_var_dict_may_mix_variables_files_and_arrays(tmp_path: Path) -> None:
    define_mlp()
    flow.checkpoint.save(tmp_path / "a")
    stored = flow.checkpoint.get(tmp_path / "a")
    live = flow.get_all_variables()
    flow.checkpoint.save(
        tmp_path / "b",
        {
            "dense1-weight": live["dense1-weight"],
            "dense1-bias": stored["dense1-bias"],
            "extra": np.arange(3, dtype=np.int32),
        },
    )
    again = open_snapshot(tmp_path / "b")
    np.testing.assert_array_equal(again["dense1-bias"].numpy(), stored["dense1-bias"].numpy())
    np.testing.assert_array_equal(again["extra"].numpy(), [0, 1, 2])


def test_mismatches_are_listed_together_and_change_nothing() -> None:
    define_mlp()
    before = values()
    bad = {
        "dense1-weight": np.zeros((16, 8), np.float32),  # transposed shape
        "dense1-bias": np.zeros(8, np.float64),  # wrong dtype
        "dense2-bias": np.ones(10, np.float32),  # fine, but must not be applied
    }
    with pytest.raises(LoadMismatchError) as info:
        flow.load_variables(bad)
    message = str(info.value)
    assert "dense1-weight: the model has shape (8, 16), the value has (16, 8)" in message
    assert "dense1-bias: the model has dtype float32, the value has float64" in message
    for name, value in values().items():
        np.testing.assert_array_equal(value, before[name])


def test_unknown_names_are_ignored_or_an_error() -> None:
    define_mlp()
    report = flow.load_variables({"nope": np.zeros(1, np.float32)})
    assert report.ignored == ("nope",)
    assert not report.ok
    with pytest.raises(VariableNotFoundError, match=r"nope is not variable name"):
        flow.load_variables({"nope": np.zeros(1, np.float32)}, ignore_mismatch=False)


def test_a_damaged_checkpoint_changes_nothing(tmp_path: Path) -> None:
    define_mlp()
    flow.checkpoint.save(tmp_path / "ckpt")
    out = tmp_path / "ckpt" / "dense1-weight" / "out"
    data = bytearray(out.read_bytes())
    data[5] ^= 0x40
    out.write_bytes(bytes(data))
    flow.load_variables({"dense2-bias": np.full(10, 7, np.float32)})
    before = values()
    with pytest.raises(ChecksumMismatchError, match="dense1-weight"):
        flow.load_variables(flow.checkpoint.get(tmp_path / "ckpt"))
    for name, value in values().items():
        np.testing.assert_array_equal(value, before[name])


def test_incomplete_checkpoints_are_refused(tmp_path: Path) -> None:
    define_mlp()
    flow.checkpoint.save(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "snapshot_done").unlink()
    with pytest.raises(IncompleteSnapshotError):
        flow.checkpoint.get(tmp_path / "ckpt")
    assert len(flow.checkpoint.get(tmp_path / "ckpt", allow_incomplete=True)) == 5


def test_rename_rules_and_filters_load_a_backbone_under_a_new_prefix(tmp_path: Path) -> None:
    define_mlp()
    flow.checkpoint.save(tmp_path / "small")
    small = values()
    flow.clear_default_session()

    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((BATCH, 16))) -> tp.Numpy:
        with flow.scope.namespace("backbone"):
            h = flow.layers.dense(x, 8, name="dense1")
        return flow.layers.dense(h, 3, name="head")

    report = flow.load_variables(
        flow.checkpoint.get(tmp_path / "small"),
        rename={r"^(dense1-.*)$": r"backbone-\1"},
        exclude=["System-"],
    )
    assert sorted(report.loaded) == ["backbone-dense1-bias", "backbone-dense1-weight"]
    assert report.renamed == {
        "dense1-weight": "backbone-dense1-weight",
        "dense1-bias": "backbone-dense1-bias",
    }
    assert report.skipped == ("System-Train-TrainStep-train_job",)
    assert set(report.ignored) == {"dense2-weight", "dense2-bias"}
    assert set(report.kept) == {"head-weight", "head-bias"}
    np.testing.assert_array_equal(values()["backbone-dense1-weight"], small["dense1-weight"])
    only = flow.load_variables(
        flow.checkpoint.get(tmp_path / "small"),
        include="bias$",
        rename=[("^dense1", "backbone-dense1")],
    )
    assert only.loaded == ("backbone-dense1-bias",)


def test_legacy_layout_saves_out_only_and_loads_into_live_variables(tmp_path: Path) -> None:
    flow.config.enable_legacy_model_io(True)
    train_job = define_mlp()
    train_job(*batch())
    before = values()
    flow.checkpoint.save(tmp_path / "legacy")
    assert not (tmp_path / "legacy" / "dense1-weight" / "meta").exists()
    assert (tmp_path / "legacy" / "snapshot_done").is_file()
    flow.clear_default_session()

    define_mlp()
    report = flow.load_variables(flow.checkpoint.get(tmp_path / "legacy"))  # meta-less values
    assert len(report.loaded) == 5
    for name, value in values().items():
        np.testing.assert_array_equal(value, before[name])


def test_legacy_checkpoint_class_initializes_what_is_missing(tmp_path: Path) -> None:
    flow.config.enable_legacy_model_io(True)
    define_mlp()
    check_point = flow.train.CheckPoint()
    check_point.init()
    check_point.save(tmp_path / "model")
    flow.clear_default_session()

    flow.config.enable_legacy_model_io(True)
    define_mlp(extra_layer=True)
    flow.load_variables({"dense3-bias": np.full(10, 5, np.float32)})
    report = flow.train.CheckPoint().load(tmp_path / "model")
    assert set(report.initialized) == {"dense3-weight", "dense3-bias"}
    np.testing.assert_array_equal(values()["dense3-bias"], np.zeros(10))  # initialized afresh


def test_new_mode_checkpoint_class_and_v05_aliases(tmp_path: Path) -> None:
    define_mlp()
    flow.train.CheckPoint().init()  # nothing to do
    flow.train.CheckPoint().save(tmp_path / "a")
    flow.save(flow.get_all_variables(), tmp_path / "b")
    loaded = flow.load(tmp_path / "b")
    assert sorted(loaded) == sorted(values())
    report = flow.train.CheckPoint().load(tmp_path / "a")
    assert len(report.loaded) == 5


def test_simple_checkpoint_manager(tmp_path: Path) -> None:
    train_job = define_mlp()
    manager = flow.train.SimpleCheckPointManager(tmp_path / "ckpts", prefix="snapshot_")
    assert manager.initialize_or_restore() is None  # nothing yet: saves the initial state
    assert len(manager.list_checkpoints()) == 1
    train_job(*batch())
    manager.save()
    (tmp_path / "ckpts" / "snapshot_99999999_incomplete").mkdir()  # no snapshot_done: ignored
    latest = manager.latest_checkpoint()
    assert latest is not None
    assert latest.startswith("snapshot_")
    assert len(manager.list_checkpoints()) == 2
    trained = values()
    flow.clear_default_session()
    define_mlp()
    report = flow.train.SimpleCheckPointManager(tmp_path / "ckpts").initialize_or_restore()
    assert report is not None
    np.testing.assert_array_equal(values()["dense1-weight"], trained["dense1-weight"])


def test_int64_values_that_do_not_fit_the_device_are_refused() -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        return flow.get_variable(
            "ids",
            shape=(2,),
            dtype=flow.int64,
            initializer=flow.constant_initializer(0, flow.int64),
        )

    with pytest.raises(LoadMismatchError, match="jax_enable_x64"):
        flow.load_variables({"ids": np.array([1, 2**40], np.int64)})
    flow.load_variables({"ids": np.array([1, 2**31 - 1], np.int64)})
    np.testing.assert_array_equal(flow.get_all_variables()["ids"].numpy(), [1, 2**31 - 1])
    assert flow.get_all_variables()["ids"].numpy().dtype == np.int64


def test_save_returns_a_one_line_result_with_the_manifest(tmp_path: Path) -> None:
    define_mlp()
    saved = flow.checkpoint.save(tmp_path / "ckpt")
    assert isinstance(saved, flow.checkpoint.SavedCheckpoint)
    assert repr(saved) == f"SavedCheckpoint({str(tmp_path / 'ckpt')!r}, 5 variables, 912 bytes)"
    assert "\n" not in repr(saved)
    assert len(saved) == 5
    assert saved.nbytes == sum(e.nbytes for e in saved.manifest.variables.values()) == 912
    assert saved.names == tuple(sorted(values()))
    assert saved.manifest == open_snapshot(tmp_path / "ckpt").manifest
    handle = flow.checkpoint.save(tmp_path / "bg", blocking=False)
    waited = handle.wait()
    assert isinstance(waited, flow.checkpoint.SavedCheckpoint)
    assert waited.path == str(tmp_path / "bg")
    assert waited.manifest.variables == saved.manifest.variables
    for other in (
        flow.train.CheckPoint().save(tmp_path / "legacy_class"),
        flow.save(flow.get_all_variables(), tmp_path / "v05"),
    ):
        assert isinstance(other, flow.checkpoint.SavedCheckpoint)
        assert len(other) == 5


def test_saved_checkpoint_sizes_read_naturally() -> None:
    from flowsnap.checkpoint._report import format_bytes

    assert [format_bytes(n) for n in (0, 1, 999, 1000, 1_234_567, 999_960, 5 * 10**12)] == [
        "0 bytes",
        "1 byte",
        "999 bytes",
        "1.0 kB",
        "1.2 MB",
        "1.0 MB",
        "5.0 TB",
    ]


def test_strict_load_refuses_missing_and_unexpected_names_and_changes_nothing(
    tmp_path: Path,
) -> None:
    define_mlp(extra_layer=True)
    before = values()
    small = {k: v for k, v in before.items() if not k.startswith("dense3")}
    small = {k: np.full_like(v, 2) for k, v in small.items()}
    with pytest.raises(LoadMismatchError) as info:
        flow.load_variables({**small, "nope": np.zeros(1, np.float32)}, strict=True)
    message = str(info.value)
    assert "nothing was loaded" in message
    assert "would keep their values: dense3-weight, dense3-bias" in message
    assert "matching no model variable: nope" in message
    for name, value in values().items():
        np.testing.assert_array_equal(value, before[name])
    # Filters exempt names on both sides; renamed names count under their model names.
    report = flow.load_variables(small, strict=True, exclude="^dense3-")
    assert len(report.loaded) == 5
    everything = {f"old-{k}": np.full_like(v, 3) for k, v in before.items()}
    report = flow.load_variables(everything, strict=True, rename={"^old-": ""})
    assert sorted(report.loaded) == sorted(before)
    assert report.kept == ()
    # the default stays OneFlow's: missing names keep their values, unknown ones are ignored
    report = flow.load_variables({**small, "nope": np.zeros(1, np.float32)})
    assert set(report.kept) == {"dense3-weight", "dense3-bias"}
    assert report.ignored == ("nope",)


def test_strict_load_from_a_checkpoint(tmp_path: Path) -> None:
    define_mlp()
    flow.checkpoint.save(tmp_path / "ckpt")
    flow.clear_default_session()
    define_mlp(extra_layer=True)
    with pytest.raises(LoadMismatchError, match="dense3-weight"):
        flow.load_variables(flow.checkpoint.get(tmp_path / "ckpt"), strict=True)
    flow.clear_default_session()
    define_mlp()
    assert len(flow.load_variables(flow.checkpoint.get(tmp_path / "ckpt"), strict=True).loaded) == 5


def test_the_load_report_is_logged_on_the_flowsnap_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    define_mlp()
    with caplog.at_level(logging.INFO, logger="flowsnap"):
        flow.load_variables({"dense2-bias": np.zeros(10, np.float32)})
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert caplog.records[0].name == "flowsnap"
    assert "1 loaded" in caplog.records[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="flowsnap"):
        flow.load_variables({"nope": np.zeros(1, np.float32)})
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def export(tmp_path: Path, fmt: str, tensors: dict[str, np.ndarray]) -> Path:  # type: ignore[type-arg]
    """Write ``tensors`` with the format's own library, as another framework would."""
    if fmt == "safetensors":
        from safetensors.numpy import save_file

        save_file(tensors, str(tmp_path / "model.safetensors"))
        return tmp_path / "model.safetensors"
    if fmt == "sharded":
        import json

        from safetensors.numpy import save_file

        names = sorted(tensors)
        shards = {"model-00001-of-00002.safetensors": names[:2]}
        shards["model-00002-of-00002.safetensors"] = names[2:]
        for shard, members in shards.items():
            save_file({n: tensors[n] for n in members}, str(tmp_path / shard))
        weight_map = {n: shard for shard, members in shards.items() for n in members}
        index = tmp_path / "model.safetensors.index.json"
        index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
        return index
    if fmt == "npz":
        np.savez(tmp_path / "model.npz", **tensors)  # type: ignore[arg-type]
        return tmp_path / "model.npz"
    torch = pytest.importorskip("torch")
    torch.save({n: torch.from_numpy(v.copy()) for n, v in tensors.items()}, tmp_path / "m.pt")
    return tmp_path / "m.pt"


@pytest.mark.parametrize("fmt", ["safetensors", "sharded", "npz", "torch"])
def test_foreign_weights_load_into_a_legacy_model(tmp_path: Path, fmt: str) -> None:
    define_mlp()
    before = values()
    # a PyTorch-style export of the weights: dotted names, no optimizer state or train step
    theirs = {
        k.replace("-", "."): np.full_like(v, i + 1)
        for i, (k, v) in enumerate(sorted(before.items()))
        if not k.startswith("System-")
    }
    opened = flow.checkpoint.get(export(tmp_path, fmt, theirs))
    assert sorted(opened) == sorted(theirs)
    report = flow.load_variables(opened, rename={r"\.": "-"}, strict=True, exclude="^System-")
    assert sorted(report.loaded) == sorted(k.replace(".", "-") for k in theirs)
    after = values()
    for name, value in theirs.items():
        np.testing.assert_array_equal(after[name.replace(".", "-")], value)
    step = "System-Train-TrainStep-train_job"
    np.testing.assert_array_equal(after[step], before[step])


def test_foreign_mismatches_change_nothing(tmp_path: Path) -> None:
    define_mlp()
    before = values()
    path = export(tmp_path, "safetensors", {"dense1.bias": np.zeros(8, np.float64)})
    with pytest.raises(LoadMismatchError, match="the value has float64"):
        flow.load_variables(flow.checkpoint.get(path), rename={r"\.": "-"})
    for name, value in values().items():
        np.testing.assert_array_equal(value, before[name])


def test_a_oneflow_0_9_state_dict_loads_into_a_legacy_model() -> None:
    from tests.conftest import GOLDEN

    @flow.global_function()
    def job() -> tp.Numpy:
        w = flow.get_variable(
            "conv1-weight", shape=(4, 1, 3, 3), initializer=flow.zeros_initializer()
        )
        b = flow.get_variable("fc-bias", shape=(10,), initializer=flow.zeros_initializer())
        return flow.math.reduce_sum(w) + flow.math.reduce_sum(b)

    path = GOLDEN / "oneflow_v0_9_state_dict"
    with pytest.raises(IncompleteSnapshotError, match="allow_incomplete"):
        flow.checkpoint.get(path)
    state_dict = flow.checkpoint.get(path, allow_incomplete=True)
    assert "conv1.weight" in state_dict
    assert sorted(flow.load(path, allow_incomplete=True)) == sorted(state_dict)  # 0.5's alias
    report = flow.load_variables(
        state_dict, rename={r"\.": "-"}, include=[r"^conv1\.weight$", r"^fc\.bias$"], strict=True
    )
    assert sorted(report.loaded) == ["conv1-weight", "fc-bias"]
    got = values()
    np.testing.assert_array_equal(got["conv1-weight"], state_dict["conv1.weight"].numpy())
    np.testing.assert_array_equal(got["fc-bias"], state_dict["fc.bias"].numpy())
