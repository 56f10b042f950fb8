"""Every command opens every format convert reads (ls, show, verify, diff), diff compares across
formats, and --allow-incomplete is accepted by every command."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from flowsnap.cli import main
from flowsnap.format import SNAPSHOT_DONE, write_snapshot

GOLDEN = Path(__file__).parent.parent / "golden"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def values() -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    return {
        "conv1-weight": np.linspace(-1, 1, 32 * 5 * 5, dtype=np.float32).reshape(32, 1, 5, 5),
        "dense1-bias": np.full(10, 0.1, np.float32),
        "System-Train-TrainStep-train_job": np.array([7], np.int64),
    }


@pytest.fixture
def exports(tmp_path: Path) -> dict[str, Path]:
    write_snapshot(tmp_path / "ck", values(), durable=False)
    paths = {"flowsnap": tmp_path / "ck"}
    targets = {
        "safetensors": "m.safetensors",
        "safetensors-sharded": "sh",
        "npz": "m.npz",
    }
    if _has_torch():
        targets["torch"] = "m.pt"
    for fmt, name in targets.items():
        extra = ["--max-shard-size", "1KB"] if fmt == "safetensors-sharded" else []
        assert run("convert", str(tmp_path / "ck"), str(tmp_path / name), *extra)[0] == 0
        paths[fmt] = tmp_path / name
    return paths


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def test_ls_show_verify_diff_open_every_format(exports: dict[str, Path]) -> None:
    for fmt, path in exports.items():
        code, text = run("ls", str(path))
        assert code == 0, (fmt, text)
        assert "conv1-weight" in text
        assert "float32" in text
        assert "(32, 1, 5, 5)" in text
        doc = json.loads(run("ls", "--json", str(path))[1])
        assert doc["format"] == fmt
        assert sorted(v["name"] for v in doc["variables"]) == sorted(values())
        code, text = run("show", str(path), "dense1-bias", "--json")
        assert code == 0, (fmt, text)
        assert json.loads(text)["preview"][:2] == [0.1, 0.1]
        code, text = run("verify", str(path))
        assert code == 0, (fmt, text)
        assert text.startswith("OK")
        # a flowsnap checkpoint and its export compare equal, in both directions
        assert run("diff", str(exports["flowsnap"]), str(path)) == (0, "3 same, 0 different\n")
        assert run("diff", str(path), str(exports["flowsnap"]))[0] == 0


def test_diff_across_formats_finds_changes(exports: dict[str, Path], tmp_path: Path) -> None:
    changed = values()
    changed["dense1-bias"] = changed["dense1-bias"].copy()
    changed["dense1-bias"][3] = 0.5
    np.savez(tmp_path / "changed.npz", **changed)
    code, text = run("diff", str(exports["safetensors"]), str(tmp_path / "changed.npz"))
    assert code == 1
    assert "~ dense1-bias  1 element differs, max abs difference 0.4" in text


def test_verify_without_checksums_says_what_it_checked(exports: dict[str, Path]) -> None:
    code, text = run("verify", str(exports["safetensors"]))
    assert code == 0
    assert "checked: header, dtype, shape and offsets of every tensor" in text
    assert "not checked: the values: safetensors records no checksums" in text
    doc = json.loads(run("verify", "--json", str(exports["npz"]))[1])
    assert doc["ok"] is True
    assert doc["format"] == "npz"
    assert "CRC-32" in doc["checks"]
    assert doc["not_checked"]
    data = bytearray(exports["safetensors"].read_bytes())
    exports["safetensors"].write_bytes(bytes(data[:-3]))  # truncated
    code, text = run("verify", str(exports["safetensors"]))
    assert code == 1
    assert text.startswith("DAMAGED (file): CorruptCheckpointError")


def test_verify_a_oneflow_snapshot_says_sizes_only(tmp_path: Path) -> None:
    code, text = run("verify", str(GOLDEN / "lenet_models_name"))
    assert code == 0
    assert "sizes checked (no manifest: OneFlow)" in text


def test_every_command_takes_allow_incomplete(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "ck", values(), durable=False)
    shutil.copytree(tmp_path / "ck", tmp_path / "inc")
    (tmp_path / "inc" / SNAPSHOT_DONE).unlink()
    (tmp_path / "inc" / ".flowsnap-manifest").unlink(missing_ok=True)
    inc = str(tmp_path / "inc")
    for argv in (
        ["ls", inc],
        ["show", inc, "dense1-bias"],
        ["diff", inc, str(tmp_path / "ck")],
        ["convert", inc, str(tmp_path / "out.safetensors")],
    ):
        assert run(*argv)[0] == 3, argv
        code, text = run(*argv, "--allow-incomplete")
        assert code == 0, (argv, text)
    code, text = run("verify", inc)
    assert code == 1
    assert "IncompleteSnapshotError" in text
    assert "--allow-incomplete" in text
    code, text = run("verify", inc, "--allow-incomplete")
    assert code == 0, text
    assert "no snapshot_done" in text


def test_incomplete_message_uses_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_snapshot(tmp_path / "ck", values(), durable=False)
    (tmp_path / "ck" / SNAPSHOT_DONE).unlink()
    assert run("show", str(tmp_path / "ck"), "dense1-bias")[0] == 3
    err = capsys.readouterr().err
    assert "pass --allow-incomplete" in err
    assert "allow_incomplete=True" not in err


def test_single_variable_directory_verifies(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "ck", values(), durable=False)
    code, text = run("verify", str(tmp_path / "ck" / "dense1-bias"))
    assert (code, text) == (0, "OK: 1 variable, 40 B, checksum verified\n")
    out = tmp_path / "ck" / "dense1-bias" / "out"
    data = bytearray(out.read_bytes())
    data[0] ^= 1
    out.write_bytes(bytes(data))
    code, text = run("verify", str(tmp_path / "ck" / "dense1-bias"))
    assert code == 1
    assert "ChecksumMismatchError" in text


def test_a_sharded_export_is_named_by_its_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_snapshot(tmp_path / "ck", values(), durable=False)
    dst = str(tmp_path / "m.safetensors")
    assert run("convert", str(tmp_path / "ck"), dst, "--max-shard-size", "1KB")[0] == 0
    assert run("ls", dst)[0] == 3
    assert "m.safetensors.index.json does" in capsys.readouterr().err
    assert run("ls", dst + ".index.json")[0] == 0


def test_damage_messages_name_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("ls", str(GOLDEN / "damaged_manifest_json"))[0] == 3
    err = capsys.readouterr().err
    assert "pass --no-verify" in err
    assert "verify=False" not in err
    assert run("ls", str(GOLDEN / "damaged_manifest_json"), "--no-verify")[0] == 0
    assert run("show", str(GOLDEN / "damaged_checksum"), "w")[0] == 3
    assert "--no-verify reads the damaged bytes" in capsys.readouterr().err
    assert run("show", str(GOLDEN / "damaged_checksum"), "w", "--no-verify")[0] == 0


def test_a_directory_that_is_no_checkpoint_is_called_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("")
    for argv in (
        ["ls", str(tmp_path / "src")],
        ["ls", str(tmp_path / "src"), "--allow-incomplete"],
    ):
        assert run(*argv)[0] == 3
        err = capsys.readouterr().err
        assert "is not a checkpoint" in err
        assert "never finished" not in err
    assert run("verify", str(tmp_path / "src"))[0] == 3
    np.savez(tmp_path / "src" / "weights.npz", w=np.ones(2))
    assert run("ls", str(tmp_path / "src"))[0] == 3
    assert "It holds weights.npz: name that file" in capsys.readouterr().err


def test_a_damaged_variable_directory_is_damage(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "ck", values(), durable=False)
    out = tmp_path / "ck" / "dense1-bias" / "out"
    out.write_bytes(out.read_bytes()[:-4])  # truncated
    code, text = run("verify", str(tmp_path / "ck" / "dense1-bias"))
    assert code == 1
    assert text.startswith("DAMAGED dense1-bias: SizeMismatchError")
    write_snapshot(tmp_path / "other", {"x": np.zeros(1, np.float32)}, durable=False)
    code, text = run("diff", str(GOLDEN / "legacy_out_only"), str(tmp_path / "other"))
    assert code == 1
    assert "- dense1-weight  ? ?  (only in A)" in text
