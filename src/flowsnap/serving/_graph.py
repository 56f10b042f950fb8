"""The graph a flowsnap saved model runs: a predict job exported with ``jax.export``.

OneFlow stored its compiled job as C++ operator protos (``GraphDef.op_list``) that only its
runtime can run. flowsnap stores, beside ``saved_model.pb``, what its own runtime can: for each
graph ``<version>/flowsnap/<graph>.jaxexport``, the job's predict step serialized by
``jax.export`` (StableHLO, portable across JAX versions within its compatibility window), a pure
function ``(variables, inputs) -> outputs``, and ``<graph>.json`` describing it::

    {"format": "flowsnap-saved-graph", "format_version": 1, "job": "<name>",
     "inputs": [{"name": "<parameter>", "shape": [...], "dtype": "float32"}, ...],
     "variables": ["<name>", ...], "outputs": <count>, "batch_polymorphic": true|false,
     "platforms": ["cpu", "cuda"],
     "signatures": {"<signature>": {"inputs": {"<input name>": "<parameter>"},
                                    "outputs": ["<output name>", ...]}}}

The variables' values come from the saved model's ``variables/`` checkpoint (OneFlow's layout), so
they can be inspected, converted or replaced like any checkpoint. The batch dimension (axis 0 of
every input) is exported symbolically when the job allows it, so another batch size runs the same
graph (as OneFlow's ``InferenceSession.open(..., batch_size)``); otherwise the shapes are fixed.
The graph is lowered for both CPU and CUDA when it can be, so a model exported on one machine
serves on the other.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from flowsnap.errors import ArgumentError, UnsupportedFeatureError
from flowsnap.typing import PlaceholderDef

FORMAT = "flowsnap-saved-graph"
FORMAT_VERSION = 1
DIRECTORY = "flowsnap"
_PLATFORMS = ("cpu", "cuda")


@dataclass(frozen=True)
class GraphInput:
    """One input of an exported graph."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]


@dataclass(frozen=True)
class SavedGraph:
    """An exported graph, loaded: call :meth:`run` with the variables' values and the inputs."""

    job: str
    inputs: tuple[GraphInput, ...]
    variables: tuple[str, ...]
    outputs: int
    batch_polymorphic: bool
    exported: Any  # jax.export.Exported
    signatures: Mapping[str, Any]  # name -> {"inputs": {name: parameter}, "outputs": [names]}

    def run(self, values: Mapping[str, Any], inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The outputs of the graph for ``inputs`` (in :attr:`inputs` order)."""
        params = {n: values[n] for n in self.variables}
        return [np.asarray(o) for o in self.exported.call(params, tuple(inputs))]


def _require_flatbuffers() -> None:
    import importlib.util

    if importlib.util.find_spec("flatbuffers") is None:
        raise UnsupportedFeatureError(
            "saved models store their graph with jax.export, whose serialization needs the "
            "'flatbuffers' package: pip install 'flowsnap[serving]' (or flatbuffers)"
        )


def _plain_inputs(job: Any) -> list[GraphInput]:
    inputs = []
    for name, spec in job.params.items():
        if not isinstance(spec, PlaceholderDef) or spec.kind != "Numpy":
            raise UnsupportedFeatureError(
                f"saved_model: job {job.name!r} parameter {name!r} is not a tp.Numpy "
                "placeholder; flowsnap exports predict jobs whose inputs are plain arrays"
            )
        inputs.append(GraphInput(name, tuple(spec.shape), np.dtype(spec.dtype)))
    return inputs


def export_job(job: Any, values: Mapping[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """Serialize the predict job ``job`` (a ``@flow.global_function``) over the variables'
    current ``values``; return the bytes and the description.

    Raises:
        UnsupportedFeatureError: a train job, or inputs that are not plain arrays.
    """
    import jax
    from jax import export

    _require_flatbuffers()
    if getattr(job, "is_train", False) or not hasattr(job, "params"):
        raise UnsupportedFeatureError(
            f"saved_model: {getattr(job, 'name', job)!r} is not a predict job; export a "
            "@flow.global_function(type='predict') job (inference needs no optimizer)"
        )
    inputs = _plain_inputs(job)
    variables = tuple(job.var_names)
    # the engine's compiled predict step: (params, inputs) -> (outputs, assigned values)
    step = job._compile()

    def infer(params: dict[str, Any], args: tuple[Any, ...]) -> list[Any]:
        outputs, _ = step(params, args)
        return list(jax.tree.leaves(outputs))

    params = {
        n: jax.ShapeDtypeStruct(values[n].shape, values[n].dtype)  # type: ignore[no-untyped-call]
        for n in variables
    }

    def specs(batch: Any) -> tuple[Any, ...]:
        return tuple(
            jax.ShapeDtypeStruct(
                (batch, *i.shape[1:]) if batch is not None else i.shape,
                jax.dtypes.canonicalize_dtype(i.dtype),  # type: ignore[no-untyped-call]
            )
            for i in inputs
        )

    def lower(batch: Any) -> Any:
        """Exported for CPU and CUDA (so a model saved on one serves on the other), else for
        this machine's platform only (an op with no lowering for the other)."""
        try:
            return export.export(jax.jit(infer), platforms=_PLATFORMS)(params, specs(batch))
        except Exception:
            return export.export(jax.jit(infer))(params, specs(batch))

    exported = None
    polymorphic = False
    batches = {i.shape[0] for i in inputs if i.shape}
    if inputs and all(i.shape for i in inputs) and len(batches) == 1:
        try:
            (b,) = export.symbolic_shape("b")
            exported = lower(b)
            polymorphic = True
        except Exception:  # a job whose shapes depend on the batch size: fixed shapes
            exported = None
    if exported is None:
        exported = lower(None)
    description = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "job": job.name,
        "inputs": [{"name": i.name, "shape": list(i.shape), "dtype": i.dtype.name} for i in inputs],
        "variables": list(variables),
        "outputs": len(exported.out_avals),
        "batch_polymorphic": polymorphic,
        "platforms": list(exported.platforms),
    }
    return bytes(exported.serialize()), description


def write_graph(version_dir: str, name: str, data: bytes, description: dict[str, Any]) -> None:
    """Write graph ``name``'s two files under ``<version_dir>/flowsnap/``."""
    directory = os.path.join(version_dir, DIRECTORY)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, f"{name}.jaxexport"), "wb") as f:
        f.write(data)
    with open(os.path.join(directory, f"{name}.json"), "w", encoding="utf-8") as f:
        json.dump(description, f, indent=1)


def read_graph(version_dir: str, name: str) -> SavedGraph:
    """Load graph ``name`` of the saved model version at ``version_dir``.

    Raises:
        UnsupportedFeatureError: no flowsnap graph there (a model OneFlow exported, whose graph
            is OneFlow's C++ operators).
        ArgumentError: an unknown description format.
    """
    from jax import export

    directory = os.path.join(version_dir, DIRECTORY)
    described = os.path.join(directory, f"{name}.json")
    if not os.path.isfile(described):
        raise UnsupportedFeatureError(
            f"saved model {version_dir!r} has no flowsnap graph {name!r} ({described} is "
            "missing): a model exported by OneFlow holds its graph as OneFlow's C++ operators, "
            "which flowsnap cannot run; load its variables/ checkpoint into the job's Python "
            "definition, or export the model again with flowsnap"
        )
    with open(described, encoding="utf-8") as f:
        description = json.load(f)
    if description.get("format") != FORMAT or description.get("format_version") != FORMAT_VERSION:
        raise ArgumentError(
            f"{described}: not a {FORMAT} version {FORMAT_VERSION} description "
            f"(format {description.get('format')!r}, version {description.get('format_version')!r})"
        )
    _require_flatbuffers()
    with open(os.path.join(directory, f"{name}.jaxexport"), "rb") as f:
        exported = export.deserialize(bytearray(f.read()))
    return SavedGraph(
        job=description["job"],
        inputs=tuple(
            GraphInput(i["name"], tuple(i["shape"]), np.dtype(i["dtype"]))
            for i in description["inputs"]
        ),
        variables=tuple(description["variables"]),
        outputs=int(description["outputs"]),
        batch_polymorphic=bool(description["batch_polymorphic"]),
        exported=exported,
        signatures=description.get("signatures", {}),
    )
