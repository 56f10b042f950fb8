"""Legacy programs written against OneFlow 0.4/0.5's ``flow.model`` run unmodified under
``flowsnap run`` (the version facades), and a ``DataModule`` that builds its batch inside the job
body trains like a hand-written job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

import flowsnap as flow
from flowsnap.cli import main

PROGRAM_0_5 = """
import sys
import numpy as np
import oneflow.compatible.single_client as flow

class Classifier(flow.model.Model):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

    def forward(self, images):
        init = flow.glorot_uniform_initializer()
        hidden = flow.layers.dense(
            images, 16, activation=flow.nn.relu, kernel_initializer=init, name="hidden"
        )
        return flow.layers.dense(hidden, 3, kernel_initializer=init, name="logits")

    def training_step(self, batch, optimizer_idx):
        images, labels = batch
        logits = self(images)
        loss = flow.nn.sparse_softmax_cross_entropy_with_logits(labels, logits, name="loss")
        return loss

    def validation_step(self, batch):
        images, labels = batch
        return flow.math.argmax(self(images), axis=1)

    def configure_optimizers(self):
        lr = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
        return flow.optimizer.Adam(lr, do_bias_correction=True)

class Points(flow.model.NumpyDataModule):
    def __init__(self, seed):
        super().__init__()
        self.rng = np.random.default_rng(seed)

    def forward(self, step_idx=0, optimizer_idx=0):
        labels = self.rng.integers(0, 3, size=12).astype(np.int32)
        images = (np.eye(3, 4)[labels] * 2 + self.rng.normal(0, 0.1, (12, 4))).astype(np.float32)
        return images, labels

class Accuracy(flow.model.Callback):
    def __init__(self):
        self.losses = []

    def on_training_step_end(self, outputs, step_idx, optimizer_idx):
        self.losses.append(float(outputs.mean()))

    def on_validation_step_end(self, outputs, step_idx):
        print("validated at", step_idx, outputs.shape)

exe = flow.ExecutionConfig()
exe.default_data_type(flow.float)
train = flow.model.TrainingConfig()
train.config_execution(exe)
train.config_data(Points(0))
val = flow.model.ValidationConfig()
val.config_execution(exe)
val.config_data(Points(1))
val.config_step_interval(10)
ckpt = flow.model.CheckpointConfig()
ckpt.config_save(dirpath=sys.argv[1] + "/clf", step_interval=15)

cb = Accuracy()
model = Classifier(is_deprecated_function_style=True)
model.fit(training_config=train, validation_config=val, checkpoint_config=ckpt,
          callbacks=[cb], max_steps=30)
assert cb.losses[-1] < cb.losses[0] / 4, cb.losses
print("trained", round(cb.losses[0], 3), round(cb.losses[-1], 3))
"""


def test_a_oneflow_0_5_model_program_runs_unmodified(tmp_path: Path, capsys: Any) -> None:
    script = tmp_path / "program.py"
    script.write_text(PROGRAM_0_5)
    assert main(["run", str(script), str(tmp_path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "validated at 9 (12,)" in out
    assert "validated at 29 (12,)" in out
    assert "trained" in out
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("clf")) == [
        "clf-14",
        "clf-29",
    ]


X = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
Y = np.array([[1.0], [0.0], [2.0], [1.0]], np.float32)


def loss_of(x: Any, y: Any) -> Any:
    w = flow.get_variable("w", shape=(3, 1), initializer=flow.constant_initializer(0.2))
    return flow.math.reduce_mean(flow.math.square(flow.matmul(x, w) - y), axis=1)


def test_a_data_module_read_inside_the_job() -> None:
    class Constant(flow.model.DataModule):
        def forward(self, *args: Any) -> Any:
            return jnp.asarray(X), jnp.asarray(Y)

    class Fit(flow.model.Model):
        def training_step(self, batch: Any, optimizer_idx: int = 0) -> Any:
            return loss_of(*batch)

        def configure_optimizers(self) -> Any:
            return flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.1]))

    train = flow.model.TrainingConfig()
    train.config_execution(flow.FunctionConfig())
    train.config_data(Constant())
    Fit().fit(training_config=train, max_steps=3)
    got = flow.get_all_variables()
    assert "System-Train-TrainStep-Fit_Model_train_job_0" in got
    w_fit = got["w"].numpy()

    flow.clear_default_session()

    @flow.global_function(type="train")
    def by_hand() -> None:
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.1])).minimize(
            loss_of(jnp.asarray(X), jnp.asarray(Y))
        )

    for _ in range(3):
        by_hand()
    np.testing.assert_allclose(w_fit, flow.get_all_variables()["w"].numpy(), rtol=1e-6)
