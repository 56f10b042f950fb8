"""``flow.saved_model``: ``ModelBuilder``, ``GraphBuilder``, ``SignatureBuilder``.

``ModelBuilder(path).ModelName(name).Version(v).AddFunction(job).AddSignature(sig)`` then
``.Input(name, lbn)`` / ``.Output(name, lbn)`` and ``Save()`` writes OneFlow's layout::

    <path>/<version>/saved_model.pb         SavedModel (OneFlow's field numbers), op_list empty
    <path>/<version>/saved_model.prototxt   the same, protobuf text format
    <path>/<version>/variables/             every variable (flow.checkpoint.save)
    <path>/<version>/flowsnap/<graph>.*     the graph flowsnap runs (see _graph.py)

An input's ``lbn`` is ``"<op>/<blob>"`` as in OneFlow; flowsnap's placeholders are the job's
parameters, so the op name is the parameter's name (``"image/out"``). Outputs are the job's
results in order (nested results flattened): the signature's outputs name them in the order they
are declared, their ``lbn`` is recorded as given.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flowsnap.errors import ArgumentError, TargetExistsError
from flowsnap.serving._graph import export_job, write_graph
from flowsnap.serving._proto import data_type_number, message_class

__all__ = ["GraphBuilder", "ModelBuilder", "SignatureBuilder"]


def _lbi(lbn: str, target: Any) -> None:
    if not isinstance(lbn, str) or lbn.count("/") != 1:
        raise ArgumentError(f'invalid lbn "{lbn}": write "<op name>/<blob name>", e.g. "image/out"')
    target.op_name, target.blob_name = lbn.split("/")


def _entry_proto(
    name: str,
    owner: Any,
    param: str,
    owner_type: type[Any],
    *,
    field: str,
    message: str,
    taken: Callable[[Any], str],
) -> Any:
    """The message of a new builder called ``name``: the new entry ``owner.proto.<field>[name]``,
    or a detached ``message`` when there is no ``owner``. ``taken(owner)`` says why a name
    already in ``field`` is refused."""
    if not isinstance(name, str):
        raise ArgumentError(f"param 'name' must be str, but got {name!r}")
    if owner is None:
        return message_class(message)()
    if not isinstance(owner, owner_type):
        raise ArgumentError(f"param '{param}' must be a type of {owner_type.__name__} or None")
    entries = getattr(owner.proto, field)
    if name in entries:
        raise ArgumentError(taken(owner))
    return entries[name]


class ModelBuilder:
    """Builds a saved model of one or more predict jobs."""

    DEFAULT_CHECKPOINT_DIR = "variables"
    DEFAULT_SAVED_MODEL_FILE_BASENAME = "saved_model"

    def __init__(self, save_path: str) -> None:
        if not isinstance(save_path, str | os.PathLike):
            raise ArgumentError(f"param 'save_path' must be str, but got {save_path!r}")
        self.version: int | None = None
        self.checkpoint_dir = self.DEFAULT_CHECKPOINT_DIR
        self.saved_model_dir = os.fspath(save_path)
        self._proto = message_class("SavedModel")()
        self.graph_builders: dict[str, GraphBuilder] = {}

    @property
    def proto(self) -> Any:
        """The ``SavedModel`` message being built."""
        return self._proto

    def ModelName(self, model_name: str) -> ModelBuilder:  # noqa: N802 - OneFlow's name
        """Name the model."""
        if not isinstance(model_name, str):
            raise ArgumentError(f"ModelName: a str, got {model_name!r}")
        self.proto.name = model_name
        return self

    def Version(self, version: int) -> ModelBuilder:  # noqa: N802 - OneFlow's name
        """Set the version (the subdirectory's name)."""
        if not isinstance(version, int) or isinstance(version, bool):
            raise ArgumentError(f"Version: an int, got {version!r}")
        self.version = version
        return self

    def AddFunction(self, func: Any) -> GraphBuilder:  # noqa: N802 - OneFlow's name
        """Add the job ``func`` (a ``@flow.global_function``) as a graph named after it; the
        first one added is the default graph."""
        name = func.__name__
        if name in self.graph_builders:
            raise ArgumentError(f"function with name {name} already exists")
        builder = GraphBuilder(name, self)
        builder.job = func
        self.graph_builders[name] = builder
        if not self.proto.HasField("default_graph_name"):
            self.proto.default_graph_name = name
        return builder

    def _check_input_output_name_conflict(self) -> None:
        names: set[str] = set()
        lbns: set[str] = set()
        for graph in self.proto.graphs.values():
            for signature in graph.signatures.values():
                for name, blob in [*signature.inputs.items(), *signature.outputs.items()]:
                    if name in names:
                        raise ArgumentError(f"input conflict, {name} already exist")
                    names.add(name)
                    lbn = f"{blob.lbi.op_name}/{blob.lbi.blob_name}"
                    if lbn in lbns:
                        raise ArgumentError(f"input conflict, {lbn} already bind to other input")
                    lbns.add(lbn)

    def Save(self, save_model_before_graph_complete: bool = True) -> None:  # noqa: N802
        """Export every graph, then write the version directory (which must not exist).

        Raises:
            ArgumentError: no version, or conflicting signature names.
            TargetExistsError: the version directory exists.
            UnsupportedFeatureError: a job flowsnap cannot export (a train job, list inputs).
        """
        del save_model_before_graph_complete  # flowsnap's graph is the traced job either way
        from flowsnap._store import current_session
        from flowsnap.checkpoint import save

        self._check_input_output_name_conflict()
        if self.version is None:
            raise ArgumentError("model version is not set; call .Version(1) before Save()")
        version_dir = os.path.join(self.saved_model_dir, str(self.version))
        if os.path.exists(version_dir):
            raise TargetExistsError(
                f'Directory of model "{self.saved_model_dir}" version "{self.version}" already '
                "exist."
            )
        session = current_session()
        session.start()
        session.sync()
        for builder in self.graph_builders.values():
            if not builder.finished:
                builder.Finish()
        graphs = {
            name: export_job(builder.job, session.values)
            for name, builder in self.graph_builders.items()
            if builder.job is not None
        }
        for name, (_, description) in graphs.items():
            signatures = self.graph_builders[name].signature_builders
            for signature in signatures.values():
                if len(signature.output_names) > description["outputs"]:
                    raise ArgumentError(
                        f"saved_model: signature {signature.name!r} of graph {name!r} declares "
                        f"{len(signature.output_names)} outputs; the job returns "
                        f"{description['outputs']}"
                    )
            description["signatures"] = {
                s.name: {
                    "inputs": {k: v.lbi.op_name for k, v in s.proto.inputs.items()},
                    "outputs": list(s.output_names),
                }
                for s in signatures.values()
            }
        os.makedirs(version_dir)
        self.proto.version = self.version
        save(os.path.join(version_dir, self.checkpoint_dir))
        self.proto.checkpoint_dir = self.checkpoint_dir
        for name, (data, description) in graphs.items():
            write_graph(version_dir, name, data, description)
        from google.protobuf import text_format

        base = os.path.join(version_dir, self.DEFAULT_SAVED_MODEL_FILE_BASENAME)
        with open(base + ".pb", "wb") as f:
            f.write(self.proto.SerializeToString())
        with open(base + ".prototxt", "w", encoding="utf-8") as f:
            f.write(text_format.MessageToString(self.proto))


class GraphBuilder:
    """One graph (job) of a saved model and its signatures."""

    def __init__(self, name: str, model_builder: ModelBuilder | None = None) -> None:
        self._proto = _entry_proto(
            name,
            model_builder,
            "model_builder",
            ModelBuilder,
            field="graphs",
            message="GraphDef",
            taken=lambda owner: (
                f"graph function ({name}) is already added to model ({owner.proto.name})"
            ),
        )
        self.owner = model_builder
        self._name = name
        self.job: Any = None
        self._finished = False
        self.signature_builders: dict[str, SignatureBuilder] = {}

    @property
    def name(self) -> Any:
        """The graph's (job's) name."""
        return self._name

    @property
    def proto(self) -> Any:
        """The ``GraphDef`` message."""
        return self._proto

    @property
    def finished(self) -> Any:
        """Whether :meth:`Finish` ran."""
        return self._finished

    def AddSignature(self, signature_name: str) -> SignatureBuilder:  # noqa: N802
        """Add a signature; the first one added is the default."""
        if signature_name in self.signature_builders:
            raise ArgumentError(f"signature name {signature_name} already exists")
        builder = SignatureBuilder(signature_name, self)
        self.signature_builders[signature_name] = builder
        if not self.proto.HasField("default_signature_name"):
            self.proto.default_signature_name = signature_name
        return builder

    def Finish(self) -> None:  # noqa: N802 - OneFlow's name
        """Check each input names a parameter of the job and record its shape and dtype.

        Raises:
            ArgumentError: an input's op name is not a parameter of the job.
        """
        if self._finished:
            raise ArgumentError(f"graph {self.name!r} is finished already")
        params = getattr(self.job, "params", None)
        for signature in self.proto.signatures.values():
            for input_name, input_def in signature.inputs.items():
                if params is None:
                    continue
                op = input_def.lbi.op_name
                if op not in params:
                    raise ArgumentError(
                        f"signature input {input_name!r}: {op!r} is not a parameter of job "
                        f"{self.name!r} (its parameters: {', '.join(params)}); flowsnap names a "
                        'placeholder\'s blob "<parameter>/out"'
                    )
                spec = params[op]
                conf = input_def.blob_conf
                del conf.shape.dim[:]
                conf.shape.dim.extend(getattr(spec, "shape", ()))
                conf.data_type = data_type_number(getattr(spec, "dtype", "float32"))
                conf.is_dynamic = getattr(spec, "kind", "Numpy") != "Numpy"
        self._finished = True

    def OwnerModelBuilder(self) -> ModelBuilder | None:  # noqa: N802 - OneFlow's name
        """The model this graph belongs to."""
        return self.owner

    def AsDefault(self) -> GraphBuilder:  # noqa: N802 - OneFlow's name
        """Make this the model's default graph."""
        if self.owner is not None:
            self.owner.proto.default_graph_name = self.name
        return self


class SignatureBuilder:
    """Names a graph's inputs and outputs."""

    def __init__(self, name: str, graph_builder: GraphBuilder | None = None) -> None:
        self._proto = _entry_proto(
            name,
            graph_builder,
            "graph_builder",
            GraphBuilder,
            field="signatures",
            message="JobSignatureDef",
            taken=lambda owner: f"signature ({name}) already exist in graph ({owner.name})",
        )
        self.owner = graph_builder
        self._name = name
        self.output_names: list[str] = []  # in declaration order: the job's results in order

    @property
    def name(self) -> Any:
        """The signature's name."""
        return self._name

    @property
    def proto(self) -> Any:
        """The ``JobSignatureDef`` message."""
        return self._proto

    def Input(self, input_name: str, lbn: str) -> SignatureBuilder:  # noqa: N802
        """Name the input blob ``lbn`` (``"<parameter>/out"``) ``input_name``."""
        if input_name in self.proto.inputs:
            raise ArgumentError(f"input_name ({input_name}) already exist in signature {self.name}")
        _lbi(lbn, self.proto.inputs[input_name].lbi)
        return self

    def Output(self, output_name: str, lbn: str) -> SignatureBuilder:  # noqa: N802
        """Name the next result of the job ``output_name`` (``lbn`` is recorded)."""
        if output_name in self.proto.outputs:
            raise ArgumentError(
                f"output_name ({output_name}) already exist in signature {self.name}"
            )
        _lbi(lbn, self.proto.outputs[output_name].lbi)
        self.output_names.append(output_name)
        return self

    def OwnerGraphBuilder(self) -> GraphBuilder | None:  # noqa: N802 - OneFlow's name
        """The graph this signature belongs to."""
        return self.owner

    def AsDefault(self) -> SignatureBuilder:  # noqa: N802 - OneFlow's name
        """Make this the graph's default signature."""
        if self.owner is not None:
            self.owner.proto.default_signature_name = self.name
        return self
