"""The chapter's programs in examples/ run as scripts, end to end, on small generated data: the
MLP is trained and saved, fine-tuned with dense3 from the checkpoint, the LeNet tree and the
load_variables example print what the chapter shows, and the same MLP script with
``import oneflow as flow`` runs unmodified through ``flowsnap run``."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def fashion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Fashion-MNIST in IDX files: 200 training and 100 test images."""
    root = tmp_path_factory.mktemp("fashion")
    rng = np.random.default_rng(0)
    for split, n in (("train", 200), ("t10k", 100)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = (rng.random((n, 28, 28)) * 60 + labels[:, None, None] * 19).astype(np.uint8)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
            (root / f"{split}-{kind}-ubyte.gz").write_bytes(gzip.compress(header + array.tobytes()))
    return root


def run(args: list[str], cwd: Path, fashion: Path) -> str:
    env = {**os.environ, "FLOWSNAP_FASHION_MNIST": str(fashion), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_origin_then_finetune(tmp_path: Path, fashion: Path) -> None:
    out = run([str(EXAMPLES / "mlp_mnist_origin.py"), "--fashion-mnist"], tmp_path, fashion)
    assert len(out.split()) == 1  # one loss printed per 20 steps: 2 steps here
    assert sorted(p.name for p in (tmp_path / "mlp_models_1").iterdir() if p.name[0] != ".") == [
        "System-Train-TrainStep-train_job",
        "dense1-bias",
        "dense1-weight",
        "dense2-bias",
        "dense2-weight",
        "snapshot_done",
    ]
    run([str(EXAMPLES / "mlp_mnist_finetune.py"), "--fashion-mnist"], tmp_path, fashion)
    ext = sorted(p.name for p in (tmp_path / "mlp_ext_models_1").iterdir())
    assert {"dense3-weight", "dense3-bias", "dense1-weight"} <= set(ext)
    step = (tmp_path / "mlp_ext_models_1" / "System-Train-TrainStep-train_job" / "out").read_bytes()
    assert int(np.frombuffer(step, "<i8")[0]) == 4  # 2 steps + 2 more after loading


def test_unmodified_oneflow_script_through_flowsnap_run(tmp_path: Path, fashion: Path) -> None:
    source = (EXAMPLES / "mlp_mnist_origin.py").read_text()
    legacy = source.replace("import flowsnap as flow", "import oneflow as flow").replace(
        "import flowsnap.typing as tp", "import oneflow.typing as tp"
    )
    assert "flowsnap" not in legacy.split('"""')[-1]
    (tmp_path / "mlp_mnist_origin.py").write_text(legacy)
    run(["-m", "flowsnap", "run", "mlp_mnist_origin.py", "--fashion-mnist"], tmp_path, fashion)
    assert (tmp_path / "mlp_models_1" / "dense1-weight" / "meta").is_file()


def test_lenet_tree_and_load_variables_example(tmp_path: Path, fashion: Path) -> None:
    tree = run([str(EXAMPLES / "lenet.py")], tmp_path, fashion)
    for name in (
        "conv1-bias",
        "conv2-weight",
        "dense1-weight",
        "dense2-bias",
        "snapshot_done",
        "System-Train-TrainStep-train_job",
    ):
        assert name in tree
    out = run([str(EXAMPLES / "load_variables_example.py")], tmp_path, fashion)
    assert out.strip().endswith("[[1. 1. 1.]\n [1. 1. 1.]\n [1. 1. 1.]]")


def test_lenet_reads_ofrecords_inside_its_jobs(tmp_path: Path, fashion: Path) -> None:
    out = run(
        [str(EXAMPLES / "lenet_ofrecord.py"), str(fashion), str(tmp_path), "3"], tmp_path, fashion
    )
    assert "60000" not in out
    assert "200 records in 4 parts" in out
    assert "LeNet test accuracy on 10,000 test images" not in out
    assert "LeNet test accuracy on 100 test images" in out
    saved = tmp_path / "lenet_ofrecord_models"
    position = (saved / "System-DataPosition-train_lenet" / "out").read_bytes()
    assert int(np.frombuffer(position, "<i8")[0]) == 3
    assert (saved / "conv1-weight" / "out").stat().st_size == 32 * 1 * 5 * 5 * 4
