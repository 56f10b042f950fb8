"""OneFlow-style training programs run unmodified under ``flowsnap run`` (issues #12, #16).

Each program in this directory is written in the style of one of OneFlow's model-zoo programs
(ImageNet CNN training, BERT pretraining, Megatron-style GPT) and exercises what that program
needs: data read inside the job, image augmentation, gradient accumulation, mixed precision with a
dynamic loss scale, ``oneflow.core`` protobuf modules, OneFlow's result shapes. The programs check
their own decoders against the records they wrote; these tests check that they train.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import flowsnap as flow
from flowsnap import typing as tp
from flowsnap.cli import main
from flowsnap.compat import facade

HERE = Path(__file__).parent
OF = facade("0.4")  # what `import oneflow` is under flowsnap run


@pytest.fixture(autouse=True)
def _fresh_session() -> None:
    flow.clear_default_session()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["run", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err[-3000:]
    return out


def _image_folder(root: Path, per_class: int, seed: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(4):  # four classes told apart by colour
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            h, w = (int(v) for v in rng.integers(28, 48, 2))
            img = np.full((h, w, 3), 128 if c == 3 else 0, np.uint8)
            if c < 3:
                img[..., c] = 200
            img = np.clip(img + rng.integers(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / f"class{c}" / f"{i}.jpg", quality=90)
    return root


def test_resnet_style_program_trains_from_jpeg_ofrecords(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for split, n in (("train", 8), ("validation", 4)):
        src = _image_folder(tmp_path / f"img_{split}", n, seed=len(split))
        argv = ["ofrecord", str(src), str(tmp_path / split), "--parts", "2", "--suffix-length", "5"]
        assert main(argv) == 0
    out = _run(
        capsys,
        str(HERE / "resnet_style.py"),
        str(tmp_path / "train"),
        str(tmp_path / "validation"),
        "4",
    )
    train = [float(m) for m in re.findall(r"^train \d+ (\S+)", out, re.M)]
    val = [float(m) for m in re.findall(r"^val \d+ (\S+)", out, re.M)]
    assert len(train) == len(val) == 4, out
    assert train[-1] < 0.8 * train[0], out
    assert val[-1] >= 0.75, out  # colour-coded classes: the small CNN learns them


def test_bert_style_program_with_accumulation_amp_and_dynamic_loss_scale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(capsys, str(HERE / "bert_pretrain_style.py"), str(tmp_path / "bert"), "14")
    assert "decoded ok" in out  # the raw decoders gave back exactly what record_pb2 wrote
    steps = [line.split()[2:] for line in out.splitlines() if line.startswith("step ")]
    assert len(steps) == 14, out
    assert all(len(s) == 2 for s in steps), out  # one loss per micro-batch
    losses = np.array(steps, float)
    assert abs(losses[0].mean() - np.log(32)) < 0.05, out  # tiny initial weights: uniform guess
    assert losses[-3:].mean() < 0.7 * losses[0].mean(), out
    scale = float(re.findall(r"^loss scale (\S+)", out, re.M)[0])
    # started at 2**20; float16 overflows halved it (skipped steps), never below 1
    assert 1.0 <= scale < 2.0**20, out
    assert np.log2(scale) == int(np.log2(scale)), out


@pytest.mark.parametrize("accumulation", [1, 2])
def test_gpt_style_program_counts_micro_batches_by_the_loss_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], accumulation: int
) -> None:
    rng = np.random.default_rng(0)
    starts, lengths = rng.integers(0, 50, 80), rng.integers(12, 40, 80)
    docs = [(s + np.arange(n)) % 60 + 1 for s, n in zip(starts, lengths, strict=True)]
    flow.data.write_megatron_dataset(tmp_path / "text_document", docs)
    prefix = str(tmp_path / "text_document")
    out = _run(capsys, str(HERE / "gpt_style.py"), prefix, "10", str(accumulation))
    rows = [line.split()[2:] for line in out.splitlines() if line.startswith("step ")]
    assert len(rows) == 10, out
    assert all(int(m) == accumulation for m, _ in rows), out
    losses = [float(loss) for _, loss in rows]
    assert np.isfinite(losses).all(), out
    assert np.mean(losses[-3:]) < losses[0], out


def test_results_of_shape_0_come_back_as_shape_1_as_in_oneflow() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)

    @flow.global_function(type="predict")
    def job(v: tp.Numpy.Placeholder((2, 3))) -> tuple[tp.Numpy, tp.Numpy, tp.Numpy]:
        return flow.math.reduce_mean(v), flow.math.reduce_sum(v, axis=1), v

    mean, sums, same = job(x)
    assert mean.shape == (1,)
    assert mean[0] == pytest.approx(x.mean())
    np.testing.assert_array_equal(sums, x.sum(axis=1))
    np.testing.assert_array_equal(same, x)


def test_numpy_aliases_of_oneflow_s_time_exist_for_the_run_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # OneFlow's GPT (Megatron's dataset code) maps dtype codes to np.float; NumPy 1.24 removed it
    script = tmp_path / "legacy_numpy.py"
    script.write_text(
        "import numpy as np\n"
        "codes = {1: np.uint8, 6: np.float, 7: np.double, 8: np.int}\n"
        "print(np.dtype(codes[6]).name, np.dtype(codes[8]).kind, np.object is object)\n"
    )
    out = _run(capsys, str(script))
    assert out.split() == ["float64", "i", "True"]
    assert "float" not in vars(np)
    assert "object" not in vars(np)


def _add_loss_then_minimize(add_first: bool) -> dict[str, np.ndarray]:
    # OneFlow's BERT fine-tuning (run_classifier.py): flow.losses.add_loss(loss) then
    # opt.minimize(loss) in one body
    flow.clear_default_session()

    @flow.global_function(type="train")
    def finetune(x: tp.Numpy.Placeholder((4, 3)), y: tp.Numpy.Placeholder((4,))) -> tp.Numpy:
        w = flow.get_variable("w", shape=(3,), initializer=flow.constant_initializer(0.5))
        loss = flow.math.reduce_mean(flow.math.square(flow.math.reduce_sum(x * w, axis=1) - y))
        if add_first:
            OF.losses.add_loss(loss)
        lr = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
        flow.optimizer.SGD(lr).minimize(loss)  # a doubled loss would move w twice as far
        return loss

    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.normal(size=(4, 3)).astype(np.float32)
        finetune(x, x.sum(axis=1))
    return {k: v.numpy() for k, v in flow.get_all_variables().items()}


def test_add_loss_before_minimize_trains_the_loss_once_as_oneflow() -> None:
    # OneFlow's minimize replaced the job's train conf, the losses add_loss had recorded included
    got, want = _add_loss_then_minimize(True), _add_loss_then_minimize(False)
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


def test_add_loss_with_nothing_to_train_it_names_the_options() -> None:
    from flowsnap.errors import TraceError

    @flow.global_function(type="train")
    def job(x: tp.Numpy.Placeholder((2,))) -> None:
        v = flow.get_variable("v", shape=(2,), initializer=flow.zeros_initializer())
        OF.losses.add_loss(flow.math.reduce_sum(x * v))

    with pytest.raises(TraceError, match=r"add_loss.*train\.model_update_conf"):
        job(np.ones(2, np.float32))


def test_a_pooling_window_larger_than_the_input_is_refused() -> None:
    # OneFlow's MobileNetV2 pools 7x7 (built for 224x224): on 32x32 images the window is larger
    # than the 1x1 feature map, which OneFlow could not build; not a silently empty blob
    from flowsnap.errors import ArgumentError

    with pytest.raises(ArgumentError, match="7-wide window does not fit the input's spatial"):
        flow.nn.avg_pool2d(np.ones((2, 4, 1, 1), np.float32), 7, 1, "VALID", "NCHW")
    fits = flow.nn.max_pool2d(np.ones((1, 1, 7, 7), np.float32), 7, 1, "VALID", "NCHW")
    assert fits.shape == (1, 1, 1, 1)
