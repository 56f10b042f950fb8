"""flowsnap convert as a new user runs it: legacy out-only sources (--like, --shapes), one
--max-shard-size rule, exit codes, empty names, filters, messages in command-line words."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from flowsnap.cli import main
from flowsnap.foreign import open_foreign
from flowsnap.format import open_snapshot, write_snapshot

GOLDEN = Path(__file__).parent.parent / "golden"
LEGACY = str(GOLDEN / "legacy_out_only")
LEGACY_SHAPES = {
    "dense1-weight": {"shape": [8, 16], "dtype": "float32"},
    "dense1-bias": {"shape": [16], "dtype": "float32"},
}


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    write_snapshot(
        tmp_path / "ck",
        {
            "conv1-weight": rng.normal(size=(4, 1, 3, 3)).astype(np.float32),
            "conv1-bias": np.zeros(4, np.float32),
            "conv1-weight-momentum": np.zeros((4, 1, 3, 3), np.float32),
            "dense1-weight-m": np.zeros((2, 4), np.float32),
            "dense1-weight-v": np.zeros((2, 4), np.float32),
            "dense1-weight": rng.normal(size=(2, 4)).astype(np.float32),
            "System-Train-TrainStep-train_job": np.array([12], np.int64),
        },
        durable=False,
    )
    return tmp_path / "ck"


# -- 1: legacy out-only sources ----------------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["x.safetensors", "x.npz", "dir", "x.pt", "sh.safetensors.index.json"]
)
def test_legacy_out_only_needs_and_takes_shapes(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if target.endswith(".pt"):
        pytest.importorskip("torch")
    dst = str(tmp_path / target)
    code, _ = run("convert", LEGACY, dst)
    err = capsys.readouterr().err
    assert code == 3
    assert err.count("\n") == 1, err  # one line, no traceback
    assert "--like CKPT" in err
    assert "--shapes" in err
    assert ".with_meta" not in err
    code, text = run("convert", LEGACY, dst, "--shapes", json.dumps(LEGACY_SHAPES))
    assert code == 0, capsys.readouterr().err
    code, text = run("ls", "--json", dst)
    shapes = {v["name"]: v["shape"] for v in json.loads(text)["variables"]}
    assert shapes == {"dense1-weight": [8, 16], "dense1-bias": [16]}


def test_legacy_shapes_from_another_checkpoint_or_a_file(tmp_path: Path) -> None:
    like = tmp_path / "like"
    write_snapshot(
        like,
        {"dense1-weight": np.zeros((8, 16), np.float32), "dense1-bias": np.zeros(16, np.float32)},
        durable=False,
    )
    assert run("convert", LEGACY, str(tmp_path / "a.safetensors"), "--like", str(like))[0] == 0
    ref = open_snapshot(GOLDEN / "legacy_out_only")["dense1-weight"].with_meta((8, 16), "float32")
    got = open_foreign(tmp_path / "a.safetensors")["dense1-weight"].numpy()
    np.testing.assert_array_equal(got, ref.numpy())
    (tmp_path / "shapes.json").write_text(json.dumps(LEGACY_SHAPES))
    shapes = str(tmp_path / "shapes.json")
    assert run("convert", LEGACY, str(tmp_path / "b.npz"), "--shapes", shapes)[0] == 0
    # show and diff take them too
    code, text = run("show", LEGACY, "dense1-bias", "--shapes", shapes)
    assert code == 0, text
    assert "float32 (16,)" in text
    assert run("diff", LEGACY, str(tmp_path / "b.npz"), "--shapes", shapes)[0] == 0
    assert run("convert", LEGACY, str(tmp_path / "c.npz"), "--shapes", "nonsense")[0] == 2
    assert run("convert", LEGACY, str(tmp_path / "c.npz"), "--shapes", "{bad json")[0] == 2


def test_show_of_a_legacy_variable_says_how_to_give_its_shape(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run("show", LEGACY, "dense1-bias")[0] == 3
    err = capsys.readouterr().err
    assert "--like CKPT" in err
    assert "with_meta" not in err


# -- 2: one --max-shard-size rule ----------------------------------------------------------------


def test_max_shard_size_on_a_safetensors_target_follows_hugging_face(
    ckpt: Path, tmp_path: Path
) -> None:
    code, text = run(
        "convert", str(ckpt), str(tmp_path / "model.safetensors"), "--max-shard-size", "100B"
    )
    assert code == 0, text
    names = sorted(p.name for p in tmp_path.iterdir() if p.name != "ck")
    assert "model.safetensors.index.json" in names
    shards = [n for n in names if n.startswith("model-")]
    assert shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    assert len(shards) > 1
    assert not (tmp_path / "model.safetensors").exists()
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert sorted(set(index["weight_map"].values())) == shards
    assert run("diff", str(ckpt), str(tmp_path / "model.safetensors.index.json"))[0] == 0
    # a directory target gets save_pretrained's layout inside it
    assert run("convert", str(ckpt), str(tmp_path / "hf"), "--max-shard-size", "1KB")[0] == 0
    assert (tmp_path / "hf" / "model.safetensors.index.json").is_file()
    assert run("diff", str(ckpt), str(tmp_path / "hf"))[0] == 0


@pytest.mark.parametrize(
    ("dst", "options"),
    [
        ("out.pt", ["--max-shard-size", "1KB"]),
        ("out.npz", ["--max-shard-size", "1KB"]),
        ("out.txt", ["--max-shard-size", "1KB"]),
        ("out", ["--max-shard-size", "1KB", "--to", "npz"]),
        ("out.safetensors", ["--to", "flowsnap"]),
        ("out.safetensors", ["--to", "npz"]),
        ("out.npz", ["--to", "safetensors"]),
        ("out.txt", []),
        ("out.safetensors/", []),
        ("out.npz/", ["--max-shard-size", "1KB"]),
        ("out", ["--max-shard-size", "0"]),
    ],
)
def test_contradictions_are_refused_before_writing(
    ckpt: Path, tmp_path: Path, dst: str, options: list[str]
) -> None:
    target = f"{tmp_path}/{dst}"  # (pathlib would drop a trailing slash)
    code, _ = run("convert", str(ckpt), target, *options)
    assert code in (2, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_to_names_the_format_of_a_name_without_suffix(ckpt: Path, tmp_path: Path) -> None:
    assert run("convert", str(ckpt), str(tmp_path / "weights"), "--to", "safetensors")[0] == 0
    assert (tmp_path / "weights").is_file()
    assert run("ls", str(tmp_path / "weights"))[0] == 3  # no suffix: say what it is
    assert run("ls", str(tmp_path / "weights"), "--json")[0] == 3


# -- 5: exit codes --------------------------------------------------------------------------


def test_wrong_paths_exit_3_for_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nonexistent")
    for argv in (
        ["ls", missing],
        ["show", missing, "w"],
        ["verify", missing],
        ["verify", missing + ".safetensors"],
        ["diff", missing, missing],
        ["convert", missing, str(tmp_path / "x")],
        ["convert", missing + ".safetensors", str(tmp_path / "x")],
        ["run", missing + ".py"],
    ):
        assert run(*argv)[0] == 3, argv
        err = capsys.readouterr().err
        assert "does not exist" in err, argv
        assert "Traceback" not in err
        assert "DAMAGED" not in err


def test_write_errors_are_one_line(
    ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    for target in ("file/x.npz", "file/x.safetensors", "file/sh"):
        extra = ["--max-shard-size", "1KB"] if target.endswith("sh") else []
        assert run("convert", str(ckpt), str(tmp_path / target), *extra)[0] == 3
        err = capsys.readouterr().err
        assert err.startswith(f"flowsnap convert: error: cannot write {tmp_path / target}")
        assert err.count("\n") == 1


def test_bad_option_values_exit_2(ckpt: Path, tmp_path: Path) -> None:
    assert run("convert", str(ckpt), str(tmp_path / "x"), "--to", "bogus")[0] == 2
    assert run("convert", str(ckpt), str(tmp_path / "x"), "--from", "bogus")[0] == 2
    assert run("convert", str(ckpt), str(tmp_path / "x"), "--dtype", "int3")[0] == 2
    assert run("show", str(ckpt), "conv1-bias", "--preview", "-1")[0] == 2
    assert not (tmp_path / "x").exists()


# -- 6: empty names ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["x.safetensors", "x.npz", "x.pt", "dir"])
def test_a_rename_to_an_empty_name_is_refused_for_every_target(
    ckpt: Path, tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run("convert", str(ckpt), str(tmp_path / target), "--rename", "^System-.*=")
    assert code == 3
    assert "empty name" in capsys.readouterr().err
    assert not (tmp_path / target).exists()


# -- 8: messages in command-line words; --json errors ------------------------------------------


def test_bad_regexes_are_named_by_their_option(
    ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for option in ("--rename", "--include", "--exclude"):
        value = "conv(=x" if option == "--rename" else "conv("
        assert run("convert", str(ckpt), str(tmp_path / "x"), option, value)[0] == 2
        err = capsys.readouterr().err
        assert f"{option} " in err
        assert "not a valid regular expression" in err
        assert "{regex" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["ls", "{missing}"],
        ["show", "{missing}", "w"],
        ["verify", "{missing}"],
        ["diff", "{missing}", "{missing}"],
        ["convert", "{missing}", "{out}"],
        ["convert", "{ckpt}", "{out}", "--to", "bogus"],
    ],
)
def test_json_errors_are_a_json_object_on_stdout(
    ckpt: Path, tmp_path: Path, argv: list[str]
) -> None:
    paths = {"missing": str(tmp_path / "missing"), "out": str(tmp_path / "o"), "ckpt": str(ckpt)}
    code, text = run(*[a.format(**paths) for a in argv], "--json")
    doc = json.loads(text)
    assert doc["ok"] is False
    assert doc["error"]["exit_code"] == code
    assert code in (2, 3)
    assert doc["error"]["kind"] in ("SnapshotNotFoundError", "UsageError")
    assert doc["error"]["message"]


# -- 10: filters -------------------------------------------------------------------------------


def test_include_and_exclude_make_an_inference_export(ckpt: Path, tmp_path: Path) -> None:
    dst = str(tmp_path / "model.safetensors")
    code, text = run(
        "convert", str(ckpt), dst, "--exclude", "-(m|v|momentum)$", "--exclude", "^System-"
    )
    assert code == 0, text
    assert "3 tensors" in text
    assert "4 left out by --include/--exclude" in text
    assert sorted(open_foreign(dst)) == ["conv1-bias", "conv1-weight", "dense1-weight"]
    code, _ = run("convert", str(ckpt), str(tmp_path / "c.npz"), "--include", "^conv1-")
    assert sorted(open_foreign(tmp_path / "c.npz")) == [
        "conv1-bias",
        "conv1-weight",
        "conv1-weight-momentum",
    ]
    doc = json.loads(
        run("convert", str(ckpt), str(tmp_path / "d.npz"), "--include", "bias", "--json")[1]
    )
    assert doc["tensors"] == 1
    assert len(doc["excluded"]) == 6


def test_oneflow_to_pytorch_recipe_and_back(ckpt: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pt = str(tmp_path / "model.pt")
    code, text = run(
        "convert", str(ckpt), pt,
        "--exclude", "-(m|v|momentum)$", "--exclude", "^System-",
        "--rename", "-(weight|bias)$=.\\1",
    )  # fmt: skip
    assert code == 0, text
    state = torch.load(pt, weights_only=True)
    assert sorted(state) == ["conv1.bias", "conv1.weight", "dense1.weight"]
    linear = torch.nn.Linear(4, 2, bias=False)  # OneFlow dense weights are (out, in) too
    linear.load_state_dict({"weight": state["dense1.weight"]})
    conv = torch.nn.Conv2d(1, 4, 3)  # conv weights are OIHW in both
    conv.load_state_dict({"weight": state["conv1.weight"], "bias": state["conv1.bias"]})
    back = str(tmp_path / "back")
    code, text = run("convert", pt, back, "--rename", "\\.(weight|bias)$=-\\1")
    assert code == 0, text
    assert sorted(open_snapshot(back)) == ["conv1-bias", "conv1-weight", "dense1-weight"]
    code, text = run("diff", str(ckpt), back)
    assert code == 1
    assert "3 same, 4 different" in text  # the 4 left out


# -- 14: polish --------------------------------------------------------------------------------


def test_show_previews_in_the_variables_own_precision(tmp_path: Path) -> None:
    import ml_dtypes

    write_snapshot(
        tmp_path / "p",
        {
            "f32": np.array([0.1, 1 / 3], np.float32),
            "bf16": np.array([0.1, 1 / 3], ml_dtypes.bfloat16),
            "f16": np.array([0.1], np.float16),
        },
        durable=False,
    )
    assert "first values: [0.1, 0.33333334]" in run("show", str(tmp_path / "p"), "f32")[1]
    assert "first values: [0.1, 0.334]" in run("show", str(tmp_path / "p"), "bf16")[1]
    doc = json.loads(run("show", str(tmp_path / "p"), "f16", "--json")[1])
    assert doc["preview"] == [0.1]
    assert "1 element\n" in run("show", str(tmp_path / "p"), "f16")[1]


def test_ls_checksum_column_is_a_recognizable_prefix(ckpt: Path) -> None:
    doc = json.loads(run("ls", "--json", str(ckpt))[1])
    full = doc["variables"][0]["checksum"]
    text = run("ls", str(ckpt))[1]
    assert f"xxh3:{full[:8]}" in text
    assert "7 variables," in text


def test_show_needs_a_name_and_suggests_close_ones(
    ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("show", str(ckpt))[0] == 2
    assert "flowsnap ls" in capsys.readouterr().err
    for path in (str(ckpt), str(GOLDEN / "flowsnap_v1")):
        assert run("show", path, "conv1-weigth")[0] == 3
    np.savez(ckpt.parent / "m.npz", **{"conv1-weight": np.ones(2)})
    assert run("show", str(ckpt.parent / "m.npz"), "conv1-weigth")[0] == 3
    assert "Did you mean 'conv1-weight'" in capsys.readouterr().err


def test_completion_scripts() -> None:
    code, text = run("completion", "bash")
    assert code == 0
    assert "complete -o filenames -F _flowsnap flowsnap" in text
    assert "--max-shard-size" in text
    assert "safetensors-sharded" in text
    code, text = run("completion", "zsh")
    assert code == 0
    assert "bashcompinit" in text


def test_regex_values_may_start_with_a_dash(ckpt: Path, tmp_path: Path) -> None:
    code, text = run("convert", str(ckpt), str(tmp_path / "a.npz"), "--rename", "-=.", "--json")
    assert code == 0, text
    assert json.loads(text)["renamed"]["conv1-weight"] == "conv1.weight"
    code, text = run("convert", str(ckpt), str(tmp_path / "b.npz"), "--include", "--json")
    assert code in (2, 3)  # a missing value, or a regex '--json' that leaves nothing
    assert not (tmp_path / "b.npz").exists()
    code, _ = run("convert", str(ckpt), str(tmp_path / "c.npz"), "--include", "^nothing")
    assert code == 3
    assert not (tmp_path / "c.npz").exists()


def test_rename_rules_as_the_readme_recipe_orders_them(tmp_path: Path) -> None:
    write_snapshot(
        tmp_path / "ck",
        {
            n: np.zeros(2, np.float32)
            for n in ("dense1-weight", "conv1-bias", "layer1-conv1-weight")
        },
        durable=False,
    )
    dst = tmp_path / "m.npz"
    code, text = run(
        "convert", str(tmp_path / "ck"), str(dst),
        "--rename", r"^dense1-(weight|bias)$=fc1.\1",
        "--rename", r"^(\w+)-(\w+)-(weight|bias)$=\1.\2.\3",
        "--rename", r"-(weight|bias)$=.\1",
    )  # fmt: skip
    assert code == 0, text
    assert sorted(open_foreign(dst)) == ["conv1.bias", "fc1.weight", "layer1.conv1.weight"]
