"""``flow.model.Model.fit`` against the equivalent hand-written jobs: the same variables after
training, callbacks with each step's outputs, validation every ``step_interval`` steps, and
checkpoints written to ``<dirpath>-<step>`` and loaded per ``CheckpointConfig``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.compat import facade
from flowsnap.errors import ArgumentError

Array = np.ndarray[Any, Any]
RNG = np.random.default_rng(3)
XS = [RNG.standard_normal((8, 3)).astype(np.float32) for _ in range(6)]
TRUE_W = np.array([[1.0], [-2.0], [0.5]], np.float32)
YS = [x @ TRUE_W for x in XS]


def body(x: Any, y: Any) -> Any:
    w = flow.get_variable("w", shape=(3, 1), initializer=flow.constant_initializer(0.1))
    b = flow.get_variable("b", shape=(1,), initializer=flow.constant_initializer(0))
    pred = flow.matmul(x, w) + b
    return flow.math.reduce_mean(flow.math.square(pred - y), axis=1)


def optimizer() -> flow.optimizer.SGD:
    return flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.05]), momentum=0.9)


class Regression(flow.model.Model):
    def __init__(self) -> None:
        super().__init__(is_deprecated_function_style=True)

    def training_step(self, batch: Any, optimizer_idx: int = 0) -> Any:
        x, y = batch
        return body(x, y)

    def validation_step(self, batch: Any) -> Any:
        x, y = batch
        return body(x, y)

    def configure_optimizers(self) -> Any:
        return optimizer()


class Batches(flow.model.NumpyDataModule):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def forward(self, step_idx: int = 0, optimizer_idx: int = 0) -> Any:
        self.calls.append(step_idx)
        return XS[step_idx], YS[step_idx]


class Recorder(flow.model.Callback):
    def __init__(self) -> None:
        self.train: list[tuple[int, int, Array]] = []
        self.val: list[int] = []

    def on_training_step_end(self, outputs: Any, step_idx: int = 0, optimizer_idx: int = 0) -> None:
        self.train.append((step_idx, optimizer_idx, np.asarray(outputs)))

    def on_validation_step_end(self, outputs: Any, step_idx: int = 0) -> None:
        self.val.append(step_idx)


def configs(
    data: flow.model.DataModule, val_interval: int = 2
) -> tuple[flow.model.TrainingConfig, flow.model.ValidationConfig]:
    train = flow.model.TrainingConfig()
    train.config_execution(flow.FunctionConfig())
    train.config_data(data)
    val = flow.model.ValidationConfig()
    val.config_execution(flow.FunctionConfig())
    val.config_data(data)
    val.config_step_interval(val_interval)
    return train, val


def hand_written(steps: int) -> dict[str, Array]:
    flow.clear_default_session()

    @flow.global_function(type="train")
    def train_job(x: tp.Numpy.Placeholder((8, 3)), y: tp.Numpy.Placeholder((8, 1))) -> tp.Numpy:
        loss = body(x, y)
        optimizer().minimize(loss)
        return loss

    for step in range(steps):
        train_job(XS[step], YS[step])
    return {k: v.numpy() for k, v in flow.get_all_variables().items()}


def test_fit_trains_like_the_hand_written_job() -> None:
    data, recorder = Batches(), Recorder()
    train, val = configs(data)
    Regression().fit(training_config=train, validation_config=val, callbacks=recorder, max_steps=4)
    got = {k: v.numpy() for k, v in flow.get_all_variables().items()}
    step_name = "System-Train-TrainStep-Regression_Model_train_numpy_job_0"
    assert int(got[step_name][0]) == 4
    want = hand_written(4)
    for name in ("w", "b", "w-momentum", "b-momentum"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, err_msg=name)
    # the first batch is read once, when the job is built; validation reads its own
    assert [c for c in data.calls if c] == [1, 1, 2, 3, 3]
    assert [(s, i) for s, i, _ in recorder.train] == [(0, 0), (1, 0), (2, 0), (3, 0)]
    assert recorder.train[0][2].shape == (8,)  # the per-example loss of step 0
    assert recorder.val == [1, 3]  # after every 2nd step


def test_checkpoints_are_saved_and_loaded(tmp_path: Path) -> None:
    data = Batches()
    train, _ = configs(data)
    ckpt = flow.model.CheckpointConfig()
    ckpt.config_save(dirpath=str(tmp_path / "regression"), step_interval=2)
    Regression().fit(training_config=train, checkpoint_config=ckpt, max_steps=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["regression-1", "regression-3"]
    trained = flow.get_all_variables()["w"].numpy()
    saved = flow.checkpoint.get(str(tmp_path / "regression-3"))
    np.testing.assert_array_equal(np.asarray(saved["w"].numpy()), trained)

    # a new fit clears the session, loads regression-3, and trains on from it (steps 4, 5)
    resume = flow.model.CheckpointConfig()
    resume.config_load(dirpath=str(tmp_path / "regression-3"))
    data2 = Batches()
    train2, _ = configs(data2)

    class FromStep4(flow.model.NumpyDataModule):
        def forward(self, step_idx: int = 0, optimizer_idx: int = 0) -> Any:
            return XS[step_idx + 4], YS[step_idx + 4]

    train2.config_data(FromStep4())
    Regression().fit(training_config=train2, checkpoint_config=resume, max_steps=2)
    resumed = {k: v.numpy() for k, v in flow.get_all_variables().items()}
    want = hand_written(6)
    np.testing.assert_allclose(resumed["w"], want["w"], rtol=1e-5)
    np.testing.assert_allclose(resumed["w-momentum"], want["w-momentum"], rtol=1e-5)


def test_one_train_job_per_optimizer() -> None:
    class TwoOptimizers(Regression):
        def configure_optimizers(self) -> Any:
            return [optimizer(), optimizer()]

    recorder = Recorder()
    train, _ = configs(Batches())
    TwoOptimizers().fit(training_config=train, callbacks=[recorder], max_steps=2)
    assert [(s, i) for s, i, _ in recorder.train] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    names = flow.get_all_variables()
    assert "System-Train-TrainStep-TwoOptimizers_Model_train_numpy_job_1" in names


def test_missing_parts_are_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    class NoValidation(flow.model.Model):
        def training_step(self, batch: Any, optimizer_idx: int = 0) -> Any:
            return body(*batch)

        def configure_optimizers(self) -> Any:
            return optimizer()

    train, val = configs(Batches())
    NoValidation().fit(training_config=train, validation_config=val, max_steps=1)
    assert "validation_step() is empty" in caplog.text
    caplog.clear()
    Regression().fit(max_steps=1)
    assert "config is None" in caplog.text
    assert "fit() will do nothing" in caplog.text
    bad = flow.model.TrainingConfig()
    assert not bad.check_valid()
    assert "exe_cfg" in bad.error_msg


def test_config_refusals_and_records() -> None:
    ckpt = flow.model.CheckpointConfig()
    with pytest.raises(ArgumentError):
        ckpt.config_save(dirpath=None)
    with pytest.raises(ArgumentError):
        ckpt.config_save(dirpath="x", step_interval=0)
    with pytest.raises(ArgumentError):
        ckpt.config_load(None)
    assert ckpt.check_valid()
    val = flow.model.ValidationConfig()
    val.config_step_interval(0)
    assert not val.check_valid()
    with pytest.raises(TypeError, match="tuple of NumPy arrays"):
        flow.model.NumpyDataModule().infer_oneflow_data_placeholder([np.zeros(2)])  # type: ignore[arg-type]


def test_module_base() -> None:
    class Inner(flow.model.DataModule):
        pass

    outer = flow.model.DataModule()
    outer.inner = Inner()
    assert [name for name, _ in outer.named_modules()] == ["", "inner"]
    assert outer.eval() is outer
    assert not outer.inner.training
    seen: list[Any] = []
    outer.register_forward_pre_hook(lambda module, args: seen.append(args))
    assert outer(1, 2) is None
    assert seen == [(1, 2)]


def test_facades_expose_flow_model() -> None:
    for version in ("0.4", "0.5"):
        of = facade(version)
        assert issubclass(of.model.Model, flow.model.Model)
        assert of.Model is of.model.Model or issubclass(of.Model, flow.model.Model)
        assert issubclass(of.model.NumpyDataModule, flow.model.DataModule)
