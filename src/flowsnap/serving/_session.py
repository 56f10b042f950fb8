"""``flow.serving``: ``InferenceSession``, ``SessionOption``, ``ModelVersionPolicy``.

``InferenceSession().load_saved_model(dir)`` picks the version (the largest number by default),
reads ``saved_model.pb`` (or ``.prototxt``), the graph flowsnap exported beside it and, on
``launch()``, the ``variables/`` checkpoint; ``run(job_name, **inputs)`` returns the outputs as a
list of NumPy arrays, in the signature's output order. OneFlow's lower-level sequence
(``set_checkpoint_path``, ``open(job, signature, batch_size)``, ``compile(op_list)``) works too,
for a flowsnap-exported model (whose ``op_list`` is empty; a OneFlow-written one is refused).
Independent of the default session: a served model never touches the program's variables.
"""

from __future__ import annotations

import contextlib
import enum
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from flowsnap.errors import ArgumentError, SessionError, UnsupportedFeatureError
from flowsnap.serving._graph import SavedGraph, read_graph
from flowsnap.serving._proto import message_class

__all__ = ["InferenceSession", "ModelVersionPolicy", "SessionOption"]


class ModelVersionPolicy(enum.Enum):
    """Which version ``load_saved_model`` loads by default."""

    LATEST = 1


class SessionOption:
    """Where an inference session runs (recorded; flowsnap runs the graph on JAX's default
    device)."""

    def __init__(self) -> None:
        self.device_tag = "gpu"
        self.device_num = 1
        self.is_mirrored_view = False


def _latest_version(directory: str) -> str:
    versions = [
        f
        for f in os.listdir(directory)
        if f.isdigit() and os.path.isdir(os.path.join(directory, f))
    ]
    if not versions:
        raise ArgumentError(f"{directory} holds no model version (no numbered subdirectory)")
    return max(versions, key=int)


class _Job:
    """A graph opened in the session, with the signature it is called with."""

    def __init__(self, graph: SavedGraph, signature: Any, batch_size: int | None) -> None:
        self.graph = graph
        self.batch_size = batch_size
        params = [i.name for i in graph.inputs]
        if signature is not None and len(signature.inputs):
            self.inputs = {name: d.lbi.op_name for name, d in signature.inputs.items()}
        else:
            self.inputs = {p: p for p in params}
        missing = set(params) - set(self.inputs.values())
        if missing:
            raise ArgumentError(
                f"the signature of {graph.job!r} leaves its inputs {sorted(missing)} unnamed"
            )
        declared = None
        if signature is not None:
            for described in graph.signatures.values():
                if set(described["outputs"]) == set(signature.outputs):
                    declared = list(described["outputs"])
            if declared is None and len(signature.outputs):
                declared = sorted(signature.outputs)
        self.outputs = declared or [f"output_{i}" for i in range(graph.outputs)]

    def shape(self, parameter: str) -> tuple[int, ...]:
        spec = next(i for i in self.graph.inputs if i.name == parameter)
        if self.batch_size is not None and spec.shape:
            return (self.batch_size, *spec.shape[1:])
        return spec.shape


class InferenceSession:
    """Runs the graphs of a saved model."""

    class SessionStatus(enum.Enum):
        OPEN = 1
        RUNNING = 2
        CLOSED = 3

    def __init__(self, option: SessionOption | None = None) -> None:
        if option is not None and not isinstance(option, SessionOption):
            raise ArgumentError("InferenceSession: option must be a flow.serving.SessionOption")
        self.option = option or SessionOption()
        self.status = self.SessionStatus.OPEN
        self.checkpoint_path: str | None = None
        self._jobs: dict[str, _Job] = {}
        self._signatures: dict[str, Any] = {}
        self._batch_sizes: dict[str, int] = {}
        self._values: dict[str, Any] = {}
        self._current: str | None = None

    def _check_status(self, *allowed: InferenceSession.SessionStatus) -> None:
        if self.status not in allowed:
            names = ", ".join(s.name for s in allowed)
            raise SessionError(
                f"InferenceSession: allowed only when the session is {names}; it is "
                f"{self.status.name}"
            )

    def init(self) -> None:
        """(Re)open the session: nothing loaded, status OPEN."""
        self._jobs.clear()
        self._values.clear()
        self.checkpoint_path = None
        self.status = self.SessionStatus.OPEN

    async def wait_for_all_jobs_finished(self) -> None:
        """Nothing to wait for: ``run`` returns when its outputs are ready."""

    def close(self) -> None:
        """Release the graphs and variables."""
        self._jobs.clear()
        self._values.clear()
        self.status = self.SessionStatus.CLOSED

    def set_checkpoint_path(self, checkpoint_path: str) -> None:
        """The checkpoint ``launch()`` loads (a saved model's ``variables/``)."""
        self._check_status(self.SessionStatus.OPEN)
        self.checkpoint_path = os.fspath(checkpoint_path)

    def set_job_signature(self, job_name: str, signature: Any) -> None:
        """The signature (a ``JobSignatureDef``) job ``job_name`` is called with."""
        self._signatures[job_name] = signature

    def set_job_batch_size(self, job_name: str, batch_size: int) -> None:
        """Run job ``job_name`` with another batch size (axis 0 of every input)."""
        self._check_status(self.SessionStatus.OPEN)
        self._batch_sizes[job_name] = int(batch_size)

    @contextlib.contextmanager
    def open(
        self, job_name: str, signature: Any = None, batch_size: int | None = None
    ) -> Iterator[InferenceSession]:
        """Open job ``job_name`` for ``compile``."""
        self._check_status(self.SessionStatus.OPEN)
        if signature is not None:
            self.set_job_signature(job_name, signature)
        if isinstance(batch_size, int):
            self.set_job_batch_size(job_name, batch_size)
        self._current = job_name
        try:
            yield self
        finally:
            self._current = None

    def compile(self, op_list: Any) -> None:
        """Add the open job's graph: the one flowsnap exported beside the checkpoint.

        Raises:
            UnsupportedFeatureError: ``op_list`` holds OneFlow's operators (a model OneFlow
                exported).
        """
        self._check_status(self.SessionStatus.OPEN)
        if self._current is None:
            raise SessionError("InferenceSession.compile: call it inside `with sess.open(job):`")
        if op_list is not None and len(op_list):
            raise UnsupportedFeatureError(
                "InferenceSession.compile: the graph is OneFlow's C++ operators (a model "
                "exported by OneFlow), which flowsnap cannot run; export the model with flowsnap"
            )
        if self.checkpoint_path is None:
            raise SessionError("InferenceSession: set_checkpoint_path() before compile()")
        version_dir = os.path.dirname(os.path.abspath(self.checkpoint_path))
        self._add(self._current, read_graph(version_dir, self._current))

    def _add(self, name: str, graph: SavedGraph) -> None:
        job = _Job(graph, self._signatures.get(name), self._batch_sizes.get(name))
        if job.batch_size is not None and not graph.batch_polymorphic:
            fixed = graph.inputs[0].shape[0] if graph.inputs and graph.inputs[0].shape else None
            if fixed != job.batch_size:
                raise UnsupportedFeatureError(
                    f"job {name!r} was exported with fixed shapes (batch {fixed}); it cannot "
                    f"run with batch size {job.batch_size}"
                )
        self._jobs[name] = job

    def launch(self) -> None:
        """Load the checkpoint's variables; the session then runs jobs."""
        self._check_status(self.SessionStatus.OPEN)
        if self.checkpoint_path is None:
            raise SessionError("checkpoint path not set; call set_checkpoint_path() first")
        from flowsnap.checkpoint import get

        stored = get(self.checkpoint_path)
        if not isinstance(stored, Mapping):
            raise ArgumentError(
                f"{self.checkpoint_path} is one variable's directory, not a checkpoint"
            )
        needed = {n for job in self._jobs.values() for n in job.graph.variables}
        missing = needed - set(stored)
        if missing:
            raise ArgumentError(
                f"checkpoint {self.checkpoint_path} lacks the variables {sorted(missing)} the "
                "graphs need"
            )
        self._values = {n: stored[n].numpy() for n in needed}
        self.status = self.SessionStatus.RUNNING

    def load_saved_model(
        self,
        saved_model_dir: str,
        model_version: Any = ModelVersionPolicy.LATEST,
        saved_model_meta_file_basename: str = "saved_model",
        graph_name: str | None = None,
        signature_name: str | None = None,
    ) -> None:
        """Open a graph of a saved model (``launch()`` then loads its variables).

        Raises:
            ArgumentError: no such directory, version, meta file, graph or signature.
        """
        from google.protobuf import text_format

        self._check_status(self.SessionStatus.OPEN)
        if not os.path.isdir(saved_model_dir):
            raise ArgumentError(f"{saved_model_dir} is not a valid directory")
        if model_version == ModelVersionPolicy.LATEST:
            model_version = _latest_version(saved_model_dir)
        elif not isinstance(model_version, int):
            raise ArgumentError(
                f"model_version: an int or ModelVersionPolicy.LATEST, got {model_version!r}"
            )
        version_dir = os.path.join(saved_model_dir, str(model_version))
        if not os.path.isdir(version_dir):
            raise ArgumentError(
                f"version {model_version} of saved model in dir {saved_model_dir} do not exist"
            )
        proto = message_class("SavedModel")()
        base = os.path.join(version_dir, saved_model_meta_file_basename)
        if os.path.isfile(base + ".pb"):
            with open(base + ".pb", "rb") as f:
                proto.ParseFromString(f.read())
        elif os.path.isfile(base + ".prototxt"):
            with open(base + ".prototxt", encoding="utf-8") as f:
                text_format.Merge(f.read(), proto)
        else:
            raise ArgumentError(
                f"saved model meta file {saved_model_meta_file_basename} do not exist in "
                f"{version_dir}"
            )
        self.set_checkpoint_path(os.path.join(version_dir, proto.checkpoint_dir))
        if graph_name is None:
            graph_name = proto.default_graph_name
        elif graph_name not in proto.graphs:
            raise ArgumentError(f"graph {graph_name} do not exist")
        graph_def = proto.graphs[graph_name]
        if signature_name is None and graph_def.HasField("default_signature_name"):
            signature_name = graph_def.default_signature_name
        signature = None
        if signature_name is not None:
            if signature_name not in graph_def.signatures:
                raise ArgumentError(f"signature {signature_name} do not exist")
            signature = graph_def.signatures[signature_name]
        with self.open(graph_name, signature):
            self.compile(graph_def.op_list)

    def print_job_set(self) -> None:
        """Print each job and its inputs and outputs."""
        self._check_status(self.SessionStatus.OPEN, self.SessionStatus.RUNNING)
        for name, job in self._jobs.items():
            print("job_name:", name)
            for input_name in job.inputs:
                print("\tinput:", input_name)
            for output_name in job.outputs:
                print("\toutput:", output_name)

    def list_jobs(self) -> list[str]:
        """The jobs' names."""
        self._check_status(self.SessionStatus.RUNNING)
        return list(self._jobs)

    def list_inputs(self) -> tuple[str, ...]:
        """The input names of every job."""
        self._check_status(self.SessionStatus.RUNNING)
        return tuple(n for job in self._jobs.values() for n in job.inputs)

    def list_outputs(self) -> tuple[str, ...]:
        """The output names of every job."""
        self._check_status(self.SessionStatus.RUNNING)
        return tuple(n for job in self._jobs.values() for n in job.outputs)

    def _job(self, job_name: str | None) -> _Job:
        name = job_name or self._current or (next(iter(self._jobs)) if self._jobs else None)
        if name is None or name not in self._jobs:
            raise ArgumentError(f"no job {job_name!r} in the session (jobs: {list(self._jobs)})")
        return self._jobs[name]

    def input_info(self, input_name: str, job_name: str | None = None) -> dict[str, Any]:
        """``{"shape": ..., "dtype": ...}`` of an input."""
        self._check_status(self.SessionStatus.OPEN, self.SessionStatus.RUNNING)
        job = self._job(job_name)
        if input_name not in job.inputs:
            raise ArgumentError(f"no input {input_name!r} (inputs: {list(job.inputs)})")
        parameter = job.inputs[input_name]
        spec = next(i for i in job.graph.inputs if i.name == parameter)
        return {"shape": job.shape(parameter), "dtype": spec.dtype}

    def output_info(self, output_name: str, job_name: str | None = None) -> dict[str, Any]:
        """``{"shape": ..., "dtype": ...}`` of an output (a symbolic batch shows as -1)."""
        self._check_status(self.SessionStatus.OPEN, self.SessionStatus.RUNNING)
        job = self._job(job_name)
        if output_name not in job.outputs:
            raise ArgumentError(f"no output {output_name!r} (outputs: {job.outputs})")
        aval = job.graph.exported.out_avals[job.outputs.index(output_name)]
        shape = tuple(d if isinstance(d, int) else (job.batch_size or -1) for d in aval.shape)
        return {"shape": shape, "dtype": np.dtype(aval.dtype)}

    def run(self, job_name: str, **kwargs: Any) -> list[np.ndarray]:
        """Run ``job_name`` with its inputs by name; the outputs in order.

        Raises:
            ArgumentError: an input is absent, not an ndarray, or of the wrong shape or dtype.
        """
        self._check_status(self.SessionStatus.RUNNING)
        job = self._job(job_name)
        by_parameter: dict[str, np.ndarray] = {}
        for input_name, parameter in job.inputs.items():
            if input_name not in kwargs:
                raise ArgumentError(f'input "{input_name}" is absent')
            value = kwargs[input_name]
            if not isinstance(value, np.ndarray):
                raise ArgumentError(f'input "{input_name}" requires numpy.ndarray')
            spec = next(i for i in job.graph.inputs if i.name == parameter)
            want = job.shape(parameter)
            shape_ok = value.shape == want or (
                job.graph.batch_polymorphic
                and job.batch_size is None
                and value.shape[1:] == spec.shape[1:]
                and value.ndim == len(spec.shape)
            )
            if not shape_ok or value.dtype != spec.dtype:
                raise ArgumentError(
                    f'input "{input_name}": expected {spec.dtype} of shape {want}, got '
                    f"{value.dtype} of shape {value.shape}"
                )
            by_parameter[parameter] = value
        outputs = job.graph.run(self._values, [by_parameter[i.name] for i in job.graph.inputs])
        return outputs[: len(job.outputs)]

    async def async_run(self, job_name: str, **kwargs: Any) -> list[np.ndarray]:
        """:meth:`run`, awaitable."""
        return self.run(job_name, **kwargs)
