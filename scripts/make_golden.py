"""Regenerate ``tests/golden/``: reference checkpoints, sound and damaged.

Run with ``make golden``; review the diff and commit it. CI never runs this.

OneFlow-style fixtures are written the way OneFlow's ``check_point_v2.py`` wrote them: ``meta`` is
``google.protobuf.text_format.MessageToString`` of a ``VariableMetaInfo`` message (protobuf's own
printer, not flowsnap's encoder), ``out`` is ``ndarray.tobytes()``, and ``snapshot_done`` is empty.
flowsnap-style fixtures are written by ``flowsnap.format.write_snapshot`` and pin format version 1.
OneFlow 0.6 - 0.9 ``flow.save`` fixtures (``oneflow_v0_*``, SPEC.md section 11) are pickled the way
OneFlow pickled them: stand-in ``Tensor``/``Parameter`` classes registered under OneFlow's module
names (``oneflow._oneflow_internal[.nn]`` for 0.6/0.7, ``oneflow[.nn]`` for 0.8/0.9) whose
``__getstate__`` writes ``tensor_<n>/{meta,out}`` and returns ``{"path": "tensor_<n>"}``, exactly as
``check_point_v2.tensor_getstate`` did, pickled by ``pickle.dumps`` with Python's default machinery.
Each damaged fixture starts from a sound one and breaks exactly one thing; ``CASES`` (also read by
the tests) says what each must do.

Values follow a deterministic, compressible pattern (``pattern(shape, dtype)``) so the fixtures stay
small in git and the tests can recompute them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import shutil
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
sys.path.insert(0, str(ROOT / "src"))

from flowsnap.format import write_snapshot  # noqa: E402
from flowsnap.format._proto import variable_meta_info_class  # noqa: E402

# The seed chapter's LeNet (NCHW, 28x28 input), as flow.checkpoint.save wrote it.
LENET = {
    "conv1-weight": ((32, 1, 5, 5), np.float32),
    "conv1-bias": ((32,), np.float32),
    "conv2-weight": ((64, 32, 5, 5), np.float32),
    "conv2-bias": ((64,), np.float32),
    "dense1-weight": ((512, 3136), np.float32),
    "dense1-bias": ((512,), np.float32),
    "dense2-weight": ((10, 512), np.float32),
    "dense2-bias": ((10,), np.float32),
    "System-Train-TrainStep-train_job": ((1,), np.int64),
}

# What each fixture must do: "loads", or the name of the error class it must raise, and when
# ("open" = open_snapshot, "read" = reading the data of the named variable); "open": "incomplete"
# marks a directory that opens only with allow_incomplete=True (OneFlow 0.6-0.9's flow.save).
CASES: dict[str, dict[str, str]] = {
    "lenet_models_name": {"expect": "loads"},
    "oneflow_v0_6_state_dict": {"expect": "loads", "open": "incomplete"},
    "oneflow_v0_9_state_dict": {"expect": "loads", "open": "incomplete"},
    "oneflow_v0_9_nested": {"expect": "loads", "open": "incomplete"},
    "damaged_pickle_os_system": {
        "expect": "PickledDataError",
        "when": "open",
        "open": "incomplete",
    },
    "damaged_pickle_missing_tensor": {
        "expect": "MissingVariableError",
        "when": "open",
        "open": "incomplete",
    },
    "legacy_out_only": {"expect": "loads"},
    "bf16": {"expect": "loads"},
    "meta_variants": {"expect": "loads"},
    "flowsnap_v1": {"expect": "loads"},
    "damaged_missing_out": {"expect": "MissingVariableError", "when": "open"},
    "damaged_truncated_out": {"expect": "SizeMismatchError", "when": "open"},
    "damaged_extended_out": {"expect": "SizeMismatchError", "when": "open"},
    "damaged_unparsable_meta": {"expect": "MetaError", "when": "open"},
    "damaged_unknown_field_meta": {"expect": "MetaError", "when": "open"},
    "damaged_negative_dim": {"expect": "MetaError", "when": "open"},
    "damaged_absurd_dims": {"expect": "SizeMismatchError", "when": "open"},
    "damaged_unknown_dtype": {"expect": "UnsupportedDtypeError", "when": "open"},
    "damaged_unsupported_dtype": {"expect": "UnsupportedDtypeError", "when": "open"},
    "damaged_checksum": {"expect": "ChecksumMismatchError", "when": "read", "variable": "w"},
    "damaged_no_snapshot_done": {"expect": "IncompleteSnapshotError", "when": "open"},
    "damaged_manifest_lists_missing": {"expect": "MissingVariableError", "when": "open"},
    "damaged_unlisted_variable": {"expect": "ManifestError", "when": "open"},
    "damaged_manifest_json": {"expect": "ManifestError", "when": "open"},
    "damaged_emptied_marker": {"expect": "ChecksumMismatchError", "when": "read", "variable": "w"},
    "damaged_manifest_copy_disagrees": {"expect": "ManifestError", "when": "open"},
    "damaged_manifest_future": {"expect": "ManifestError", "when": "open"},
    "damaged_manifest_meta_disagree": {"expect": "ManifestError", "when": "open"},
    "damaged_symlink_outside": {"expect": "UnsafePathError", "when": "open"},
    "damaged_symlinked_dir_outside": {"expect": "UnsafePathError", "when": "open"},
}


def pattern(shape: tuple[int, ...], dtype: object) -> np.ndarray:
    """The deterministic values stored in golden variables of this shape and dtype."""
    n = math.prod(shape)
    base = (np.arange(n, dtype=np.int64) % 251) - 125
    dt = np.dtype(dtype)  # type: ignore[call-overload]
    if dt.kind == "b":
        values = base % 3 == 0
    elif dt.kind in "iu":
        values = np.abs(base) if dt.kind == "u" else base
    else:
        values = base / 256.0  # exact in float16, bfloat16 and wider
    return np.asarray(values).astype(dt).reshape(shape)


def meta_text(shape: tuple[int, ...], data_type: int | str) -> str:
    """protobuf's MessageToString of a VariableMetaInfo, as OneFlow wrote meta files."""
    from google.protobuf import text_format

    message = variable_meta_info_class()()
    message.shape.dim.extend(shape)
    message.data_type = data_type
    return str(text_format.MessageToString(message))


def write_oneflow_var(root: Path, name: str, array: np.ndarray, data_type: str | None) -> None:
    """Write ``<root>/<name>/{out,meta}`` the way OneFlow did (``meta`` omitted if no type)."""
    vdir = root / name
    vdir.mkdir(parents=True)
    (vdir / "out").write_bytes(np.ascontiguousarray(array).tobytes())
    if data_type is not None:
        (vdir / "meta").write_text(meta_text(array.shape, data_type))


def oneflow_snapshot(root: Path, specs: dict[str, tuple[tuple[int, ...], object, str]]) -> None:
    """A OneFlow snapshot: one directory per variable and an empty ``snapshot_done``."""
    root.mkdir(parents=True)
    for name, (shape, dtype, data_type) in specs.items():
        write_oneflow_var(root, name, pattern(shape, dtype), data_type)
    (root / "snapshot_done").write_bytes(b"")


def flowsnap_snapshot(root: Path) -> None:
    """A small flowsnap snapshot with a manifest: every dtype, a scalar and an empty variable."""
    variables = {
        "w": pattern((4, 3), np.float32),
        "b": pattern((3,), np.float64),
        "step": pattern((1,), np.int64),
        "half": pattern((2, 2), np.float16),
        "bf": pattern((2, 3), ml_dtypes.bfloat16),
        "mask": pattern((5,), np.bool_),
        "bytes": pattern((6,), np.uint8),
        "scalar": pattern((), np.float32),
        "empty": pattern((0, 4), np.int32),
    }
    write_snapshot(root, variables, durable=False, metadata={"fixture": "flowsnap_v1"})


def edit_manifest(root: Path, edit: object, *, copy_too: bool = True) -> None:
    """Rewrite the manifest of a flowsnap fixture with ``edit(doc)`` (in ``snapshot_done`` and,
    unless ``copy_too`` is False, in its copy ``.flowsnap-manifest``)."""
    doc = json.loads((root / "snapshot_done").read_text())
    edit(doc)  # type: ignore[operator]
    text = json.dumps(doc, indent=1) + "\n"
    for name in ("snapshot_done", ".flowsnap-manifest") if copy_too else ("snapshot_done",):
        (root / name).write_text(text)


# -- OneFlow 0.6 - 0.9 flow.save -------------------------------------------------------------

# A small module's state_dict: Parameters (weights), and buffers, which are plain Tensors.
STATE_DICT = {
    "conv1.weight": ((4, 1, 3, 3), np.float32, "Parameter"),
    "conv1.bias": ((4,), np.float32, "Parameter"),
    "bn1.weight": ((4,), np.float32, "Parameter"),
    "bn1.running_mean": ((4,), np.float32, "Tensor"),
    "bn1.num_batches_tracked": ((), np.int64, "Tensor"),
    "fc.weight": ((10, 36), np.float32, "Parameter"),
    "fc.bias": ((10,), np.float32, "Parameter"),
}
DATA_TYPE_NAMES = {np.dtype(np.float32): "kFloat", np.dtype(np.int64): "kInt64"}
# where OneFlow's tensor classes lived: (tensor module, parameter module)
ONEFLOW_MODULES = {
    "0.6": ("oneflow._oneflow_internal", "oneflow._oneflow_internal.nn"),
    "0.9": ("oneflow", "oneflow.nn"),
}


@contextlib.contextmanager
def oneflow_classes(version: str, root: Path, first_id: int) -> Iterator[tuple[type, type]]:
    """Stand-ins for OneFlow's ``Tensor`` and ``nn.Parameter`` of ``version``, registered under
    OneFlow's module names while the block runs. Pickling one writes its directory under
    ``root`` and pickles ``{"path": "tensor_<n>"}``, as ``check_point_v2.tensor_getstate`` did
    (the counter is process-wide in OneFlow, hence the gaps)."""
    counter = iter(range(first_id, 10**6, 3))

    class Tensor:
        def __init__(self, array: np.ndarray) -> None:
            self.array = array

        def __getstate__(self) -> dict[str, str]:
            name = f"tensor_{next(counter)}"
            write_oneflow_var(root, name, self.array, DATA_TYPE_NAMES[self.array.dtype])
            return {"path": name}

    class Parameter(Tensor):
        pass

    tensor_module, parameter_module = ONEFLOW_MODULES[version]
    names = {tensor_module: Tensor, parameter_module: Parameter}
    packages = {".".join(m.split(".")[: i + 1]) for m in names for i in range(m.count(".") + 1)}
    saved = {name: sys.modules.get(name) for name in packages}
    for name in sorted(packages):  # parents first, each an attribute of its parent
        sys.modules[name] = types.ModuleType(name)
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, sys.modules[name])
    for module_name, cls in names.items():
        cls.__module__, cls.__qualname__ = module_name, cls.__name__
        setattr(sys.modules[module_name], cls.__name__, cls)
    try:
        yield Tensor, Parameter
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def oneflow_save(root: Path, version: str, build: Any, *, protocol: int, first_id: int) -> None:
    """``flow.save(obj, root)`` of OneFlow ``version``; ``build(Tensor, Parameter)`` makes obj."""
    root.mkdir(parents=True)
    with oneflow_classes(version, root, first_id) as (tensor, parameter):
        obj = build(tensor, parameter)
        data = pickle.dumps({"protocol_version": 1, "data": obj}, protocol=protocol)
    (root / "pickled_data").write_bytes(data)


def state_dict(tensor: type, parameter: type) -> OrderedDict[str, Any]:
    """The stand-in module's ``state_dict()`` (values follow ``pattern``)."""
    return OrderedDict(
        (name, (parameter if kind == "Parameter" else tensor)(pattern(shape, dtype)))
        for name, (shape, dtype, kind) in STATE_DICT.items()
    )


def nested(tensor: type, parameter: type) -> dict[str, Any]:
    """A training checkpoint: model and optimizer state, a tied weight, plain values."""
    model = state_dict(tensor, parameter)
    model["head.weight"] = model["fc.weight"]  # tied: pickled once, two names
    return {
        "model": model,
        "optimizer": {
            "state": {0: {"exp_avg": tensor(pattern((10,), np.float32))}},
            "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), "params": [0, 1]}],
        },
        "epoch": 3,
        "note": "written the way OneFlow 0.9 wrote it",
    }


class _Hostile:
    """Pickles as a call of ``os.system``: what a malicious ``pickled_data`` would hold."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, ("echo 'flowsnap: a pickle ran code' >&2; exit 1",)


def main() -> None:
    if GOLDEN.exists():
        shutil.rmtree(GOLDEN)
    GOLDEN.mkdir(parents=True)

    # -- sound fixtures ----------------------------------------------------------------------
    lenet = {
        n: (shape, dt, "kFloat" if dt is np.float32 else "kInt64")
        for n, (shape, dt) in LENET.items()
    }
    oneflow_snapshot(GOLDEN / "lenet_models_name", lenet)

    legacy = GOLDEN / "legacy_out_only"  # pre-0.3.2 legacy model IO: out files only
    legacy.mkdir()
    for name in ("dense1-weight", "dense1-bias"):
        shape = (16, 8) if name.endswith("weight") else (16,)
        write_oneflow_var(legacy, name, pattern(shape, np.float32), None)
    (legacy / "snapshot_done").write_bytes(b"")

    oneflow_snapshot(
        GOLDEN / "bf16",
        {
            "w": ((3, 4), ml_dtypes.bfloat16, "kBFloat16"),
            "b": ((4,), ml_dtypes.bfloat16, "kBFloat16"),
        },
    )

    variants = GOLDEN / "meta_variants"  # forms protobuf's text parser accepts
    variants.mkdir()
    forms = {
        "numeric_enum": "shape {\n  dim: 2\n  dim: 3\n}\ndata_type: 2\n",
        "comments": (
            "# written by hand\nshape {  # the dims\n  dim: 2\n  dim: 3\n}\n"
            "data_type: kFloat  # f32\n"
        ),
        "reordered": "data_type: kFloat\nshape {\n  dim: 2\n  dim: 3\n}\n",
        "list_syntax": "shape { dim: [2, 3] }\ndata_type: kFloat\n",
        "one_line": "shape { dim: 2 dim: 3 } data_type: kFloat",
        "angle_brackets": "shape: < dim: 2, dim: 3 >; data_type: kFloat",
        "char_as_int8": None,
    }
    for name, text in forms.items():
        if text is None:
            write_oneflow_var(variants, name, pattern((2, 3), np.int8), "kChar")
            continue
        write_oneflow_var(variants, name, pattern((2, 3), np.float32), None)
        (variants / name / "meta").write_text(text)
    (variants / "snapshot_done").write_bytes(b"")

    flowsnap_snapshot(GOLDEN / "flowsnap_v1")

    # OneFlow 0.6 (pybind11 classes, Python 3.7: pickle protocol 3) and 0.9 (protocol 4)
    oneflow_save(GOLDEN / "oneflow_v0_6_state_dict", "0.6", state_dict, protocol=3, first_id=4)
    oneflow_save(GOLDEN / "oneflow_v0_9_state_dict", "0.9", state_dict, protocol=4, first_id=17)
    oneflow_save(GOLDEN / "oneflow_v0_9_nested", "0.9", nested, protocol=4, first_id=40)

    # -- damaged fixtures: each breaks one thing -----------------------------------------------
    small = {"w": ((4, 3), np.float32, "kFloat"), "b": ((3,), np.float32, "kFloat")}

    def damaged(name: str, base: str = "oneflow") -> Path:
        root = GOLDEN / f"damaged_{name}"
        if base == "oneflow":
            oneflow_snapshot(root, small)
        else:
            write_snapshot(
                root,
                {"w": pattern((4, 3), np.float32), "b": pattern((3,), np.float32)},
                durable=False,
            )
        return root

    (damaged("missing_out") / "w" / "out").unlink()
    out = damaged("truncated_out") / "w" / "out"
    out.write_bytes(out.read_bytes()[:-4])
    out = damaged("extended_out") / "w" / "out"
    out.write_bytes(out.read_bytes() + b"\0\0\0\0")
    (damaged("unparsable_meta") / "w" / "meta").write_text(
        "shape {\n  dim: 4\n  dim: 3\ndata_type: kFloat\n"
    )
    (damaged("unknown_field_meta") / "w" / "meta").write_text(
        "shape {\n  dim: 4\n  dim: 3\n}\ndata_type: kFloat\nchecksum: 12\n"
    )
    (damaged("negative_dim") / "w" / "meta").write_text(
        "shape {\n  dim: -4\n  dim: -3\n}\ndata_type: kFloat\n"
    )
    (damaged("absurd_dims") / "w" / "meta").write_text(meta_text((10**15,), "kFloat"))
    (damaged("unknown_dtype") / "w" / "meta").write_text(
        "shape {\n  dim: 4\n  dim: 3\n}\ndata_type: 99\n"
    )
    (damaged("unsupported_dtype") / "w" / "meta").write_text(meta_text((4, 3), "kOFRecord"))

    out = damaged("checksum", base="flowsnap") / "w" / "out"
    data = bytearray(out.read_bytes())
    data[5] ^= 0x10  # one bit flipped
    out.write_bytes(bytes(data))

    (damaged("no_snapshot_done", base="flowsnap") / "snapshot_done").unlink()
    shutil.rmtree(damaged("manifest_lists_missing", base="flowsnap") / "b")
    write_oneflow_var(
        damaged("unlisted_variable", base="flowsnap"), "extra", pattern((2,), np.float32), "kFloat"
    )
    root = damaged("manifest_json", base="flowsnap")
    for name in ("snapshot_done", ".flowsnap-manifest"):
        (root / name).write_text('{"format": "flowsnap", "vari')
    root = damaged("emptied_marker", base="flowsnap")  # the copy still has the checksums
    (root / "snapshot_done").write_bytes(b"")
    out = root / "w" / "out"
    data = bytearray(out.read_bytes())
    data[0] ^= 0x01
    out.write_bytes(bytes(data))
    root = damaged("manifest_copy_disagrees", base="flowsnap")
    copy = root / ".flowsnap-manifest"
    copy.write_text(copy.read_text().replace('"nbytes": 48', '"nbytes": 49'))
    edit_manifest(
        damaged("manifest_future", base="flowsnap"), lambda d: d.update(format_version=99)
    )
    (damaged("manifest_meta_disagree", base="flowsnap") / "w" / "meta").write_text(
        meta_text((3, 4), "kFloat")
    )

    root = damaged("symlink_outside")
    (root / "w" / "out").unlink()
    os.symlink("../../lenet_models_name/conv1-bias/out", root / "w" / "out")
    root = damaged("symlinked_dir_outside")
    shutil.rmtree(root / "b")
    os.symlink("../lenet_models_name/conv1-bias", root / "b")

    root = GOLDEN / "damaged_pickle_os_system"  # must be refused, never run
    oneflow_save(
        root, "0.9", lambda t, p: {"x": t(pattern((2,), np.float32))}, protocol=4, first_id=1
    )
    (root / "pickled_data").write_bytes(
        pickle.dumps({"protocol_version": 1, "data": {"x": _Hostile()}}, protocol=4)
    )
    root = GOLDEN / "damaged_pickle_missing_tensor"
    oneflow_save(root, "0.9", state_dict, protocol=4, first_id=5)
    shutil.rmtree(root / "tensor_8")

    (GOLDEN / "CASES.json").write_text(json.dumps(CASES, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(CASES)} fixtures under {GOLDEN}")


if __name__ == "__main__":
    main()
