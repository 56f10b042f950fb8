"""Every exception flowsnap raises for a user mistake or a damaged checkpoint.

One small hierarchy rooted at :class:`FlowsnapError`. Each class also subclasses the matching
builtin, so ``except ValueError`` keeps working for code written against OneFlow or NumPy. Messages
say what went wrong, where (variable, file), what was expected, what was found, and what to do.
"""

from __future__ import annotations

__all__ = [
    "ArgumentError",
    "ChecksumMismatchError",
    "ConversionError",
    "CorruptCheckpointError",
    "DatasetError",
    "FlowsnapError",
    "IncompleteSnapshotError",
    "InvalidNameError",
    "JobArgumentError",
    "JobDefinitionError",
    "LoadMismatchError",
    "ManifestError",
    "MetaError",
    "MissingInitializerError",
    "MissingMetaError",
    "MissingOpError",
    "MissingVariableError",
    "NotASnapshotError",
    "PickledDataError",
    "SessionError",
    "SizeMismatchError",
    "SnapshotNotFoundError",
    "SnapshotWriteError",
    "TargetExistsError",
    "TraceError",
    "UnknownOptionError",
    "UnsafePathError",
    "UnsupportedDtypeError",
    "UnsupportedFeatureError",
    "VariableConflictError",
    "VariableNotFoundError",
]


class FlowsnapError(Exception):
    """Base class of every error flowsnap raises on purpose."""


class InvalidNameError(FlowsnapError, ValueError):
    """A variable name cannot name a directory in a snapshot (empty, `..`, `/`, duplicate...)."""


class UnsupportedDtypeError(FlowsnapError, TypeError):
    """A data type has no OneFlow DataType code, or the code has no array type (kOFRecord...)."""


class _PlainMessageOSError(OSError):
    """Print only the explanation, not OSError's ``[Errno N] ...: 'path'`` decoration."""

    def __str__(self) -> str:
        return str(self.strerror) if self.strerror else super().__str__()


class TargetExistsError(FlowsnapError, _PlainMessageOSError, FileExistsError):
    """The save target is a file, a symlink or a non-empty directory (OneFlow refused these too)."""


class SnapshotWriteError(FlowsnapError, _PlainMessageOSError):
    """The operating system failed a write while saving (disk full, permission, I/O error)."""


class SnapshotNotFoundError(FlowsnapError, FileNotFoundError):
    """The path to read does not exist or is not a directory."""


class NotASnapshotError(FlowsnapError, ValueError):
    """A directory is not a snapshot (for instance it is a single variable's directory)."""


class VariableNotFoundError(FlowsnapError, KeyError):
    """A variable name asked for is not in the snapshot or the model."""

    def __str__(self) -> str:
        # KeyError would print the message with quotes around it.
        return str(self.args[0]) if self.args else ""


class IncompleteSnapshotError(FlowsnapError, ValueError):
    """A snapshot directory has no ``snapshot_done``: its save never finished."""


class UnsafePathError(FlowsnapError, ValueError):
    """A symlink leads outside the snapshot, or a file is not a regular file (FIFO, device...)."""


class MissingMetaError(FlowsnapError, ValueError):
    """A legacy variable has no ``meta``; its shape and dtype must come from the caller."""


class CorruptCheckpointError(FlowsnapError, ValueError):
    """Base class for a snapshot whose files contradict each other or the format."""


class MetaError(CorruptCheckpointError):
    """A ``meta`` file is not a valid ``oneflow.VariableMetaInfo`` in protobuf text format."""


class ManifestError(CorruptCheckpointError):
    """The JSON manifest in ``snapshot_done`` is unreadable or disagrees with the files."""


class MissingVariableError(CorruptCheckpointError, KeyError):
    """A variable's ``out`` file is missing although the snapshot says it should be there."""

    def __str__(self) -> str:
        # KeyError would print the message with quotes around it.
        return str(self.args[0]) if self.args else ""


class SizeMismatchError(CorruptCheckpointError):
    """An ``out`` file's size differs from prod(shape) * itemsize (truncated or extended)."""


class ChecksumMismatchError(CorruptCheckpointError):
    """The bytes of an ``out`` file do not hash to the checksum recorded in the manifest."""


class PickledDataError(CorruptCheckpointError):
    """OneFlow 0.6-0.9's ``pickled_data`` is malformed, or refers to something other than plain
    containers and OneFlow tensors (refused, never imported or called)."""


# -- the runtime: variables, job functions, sessions -----------------------------------------


class JobDefinitionError(FlowsnapError, TypeError):
    """A ``@global_function`` cannot be built: bad ``type``, parameter or return annotation."""


class JobArgumentError(FlowsnapError, ValueError):
    """A job function was called with the wrong number, shape or dtype of arguments."""


class VariableConflictError(FlowsnapError, ValueError):
    """Two ``get_variable`` calls disagree: a ``reuse=False`` duplicate, or one name with two
    shapes or dtypes in different job functions."""


class MissingInitializerError(FlowsnapError, ValueError):
    """A variable has no initializer and its job sets no ``default_initializer_conf``."""


class ArgumentError(FlowsnapError, ValueError):
    """A flowsnap function was given arguments it cannot take: an op, a layer, ``get_variable``,
    an optimizer, a schedule or a regularizer (a shape that is not a list, a rate outside [0, 1),
    mismatched channels, an unknown data format, a negative learning rate...)."""


class TraceError(FlowsnapError, RuntimeError):
    """A job-only call (``get_variable``, ``minimize``, ...) was made outside a job body, or a job
    body did something a job cannot (``minimize`` twice, ``minimize`` in a predict job)."""


class SessionError(FlowsnapError, RuntimeError):
    """The session cannot do this now (a job of a cleared session, a seed set too late)."""


class UnsupportedFeatureError(FlowsnapError, NotImplementedError):
    """A legacy OneFlow op or option flowsnap does not implement (named in the message)."""


class UnknownOptionError(FlowsnapError, AttributeError):
    """A ``flow.FunctionConfig`` or ``flow.config`` option that does not exist."""


class MissingOpError(FlowsnapError, AttributeError):
    """A legacy OneFlow name (``flow.<op>``) that flowsnap does not provide."""


class LoadMismatchError(FlowsnapError, ValueError):
    """Values given to ``load_variables`` do not fit the model's variables (shape or dtype); the
    message lists every one, and no variable was changed."""


class DatasetError(FlowsnapError, ValueError):
    """A dataset file is missing, damaged or of the wrong kind, or a batch size does not fit it."""


class ConversionError(FlowsnapError, ValueError):
    """A conversion cannot be done as asked (unknown format or cast, two names renamed to one)."""


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 variable``, ``2 variables``: a count in a message, spelled for its number."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def missing_name(namespace: str, name: str) -> AttributeError:
    """The error for ``<namespace>.<name>`` when a legacy script uses a name flowsnap lacks
    (module ``__getattr__`` hooks raise it; private names get a plain AttributeError)."""
    if name.startswith("_"):
        return AttributeError(f"module {namespace!r} has no attribute {name!r}")
    return MissingOpError(
        f"{namespace}.{name} is not provided by flowsnap: this legacy OneFlow name is not "
        "implemented (docs/RUNTIME.md lists what is). Nothing was computed."
    )
