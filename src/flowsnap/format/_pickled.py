"""OneFlow 0.6 - 0.9 ``flow.save`` directories: ``pickled_data`` read by a restricted unpickler
(SPEC.md section 11).

OneFlow pickled ``{"protocol_version": 1, "data": obj}``; each tensor in ``obj`` became its class's
global, ``NEWOBJ`` and the state ``{"path": "tensor_<n>"}`` naming the directory that holds its
``meta`` and ``out``. :func:`read_pickled_index` unpickles that with :class:`RestrictedUnpickler`,
which resolves only plain containers and the four OneFlow tensor classes (to :class:`TensorRecord`)
and refuses everything else before anything is imported or called, then flattens ``obj`` into
``{state_dict name: tensor directory}``. The directories are opened by the snapshot reader.
"""

from __future__ import annotations

import io
import pickle
import reprlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from flowsnap.errors import InvalidNameError, PickledDataError
from flowsnap.format._names import validate_name

PICKLE_FILENAME = "pickled_data"
PICKLE_LIMIT = 256 * 2**20
PROTOCOL_VERSION = 1
_MAX_DEPTH = 64


class TensorRecord:
    """A OneFlow tensor in ``pickled_data``: only the name of the directory holding its data.

    The unpickler creates it bare (``NEWOBJ``) and gives it its state (``BUILD``), which must be
    exactly ``{"path": str}``.
    """

    __slots__ = ("path",)
    kind = "Tensor"

    def __setstate__(self, state: object) -> None:
        if (
            type(state) is not dict
            or set(state) != {"path"}
            or type(state["path"]) is not str
            or hasattr(self, "path")
        ):
            raise PickledDataError(
                f"a OneFlow {self.kind} record holds {_short(state)}; OneFlow's flow.save "
                "pickled a tensor as exactly {'path': '<directory name>'}"
            )
        self.path = state["path"]

    def __repr__(self) -> str:
        return f"{self.kind}Record({getattr(self, 'path', None)!r})"


class ParameterRecord(TensorRecord):
    """A OneFlow ``nn.Parameter`` in ``pickled_data`` (a module's ``state_dict`` holds them)."""

    __slots__ = ()
    kind = "Parameter"


# (module, qualified name) as pickle records them -> what they become. OneFlow 0.6/0.7 bound the
# classes with pybind11 (module oneflow._oneflow_internal[.nn]); 0.8/0.9 made them C types whose
# __module__ is oneflow / oneflow.nn.
ALLOWED_GLOBALS: dict[tuple[str, str], type] = {
    ("oneflow._oneflow_internal", "Tensor"): TensorRecord,
    ("oneflow._oneflow_internal.nn", "Parameter"): ParameterRecord,
    ("oneflow", "Tensor"): TensorRecord,
    ("oneflow.nn", "Parameter"): ParameterRecord,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds plain containers, numbers, strings and tensor records, and refuses
    every other global and every persistent id, before importing or calling anything."""

    def __init__(self, data: bytes, *, where: str) -> None:
        super().__init__(io.BytesIO(data))
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        allowed = ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise PickledDataError(
                f"{self.where}: refuses the global {module}.{name}: this reader only builds plain "
                "containers (dict, OrderedDict, list, tuple, set), numbers, strings and OneFlow "
                "tensors, and never imports or calls anything else (a pickle can run any "
                "function). If you trust the file, load it with OneFlow itself and save the "
                "state_dict again."
            )
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        raise PickledDataError(
            f"{self.where}: holds a persistent id ({_short(pid)}), which OneFlow's flow.save never "
            "wrote; refused"
        )


def read_pickled_index(data: bytes, *, where: str) -> dict[str, str]:
    """Unpickle OneFlow's ``pickled_data`` restrictedly: ``{variable name: tensor directory}``.

    Raises:
        PickledDataError: a global other than the allowed ones, a persistent id, a malformed
            pickle or tensor record, another protocol version, two objects with one name.
    """
    try:
        doc = RestrictedUnpickler(data, where=where).load()
    except PickledDataError as exc:
        if exc.args and not str(exc.args[0]).startswith(where):
            raise PickledDataError(f"{where}: {exc}") from None
        raise
    except RecursionError:
        raise PickledDataError(f"{where}: nested too deeply to be a OneFlow save") from None
    except Exception as exc:  # the unpickler raises many types on damaged input
        raise PickledDataError(
            f"{where}: not a readable pickle ({type(exc).__name__}: {exc}); the file is damaged "
            "or was not written by OneFlow's flow.save"
        ) from None
    if type(doc) is not dict or "data" not in doc:
        raise PickledDataError(
            f"{where}: holds {_short(doc)}, not OneFlow's {{'protocol_version': 1, 'data': ...}}"
        )
    version = doc.get("protocol_version")
    if version != PROTOCOL_VERSION or type(version) is not int:
        raise PickledDataError(
            f"{where}: protocol_version is {version!r}; this reader knows OneFlow's version "
            f"{PROTOCOL_VERSION} (OneFlow 0.6 - 0.9)"
        )
    obj = doc["data"]
    index: dict[str, str] = {}
    records: dict[str, TensorRecord] = {}
    if isinstance(obj, TensorRecord):
        flat: Iterator[tuple[str, TensorRecord]] = iter([(_path_of(obj, where), obj)])
    else:
        flat = _flatten(obj, "", where, set(), 0)
    for name, record in flat:
        if not name:
            raise PickledDataError(f"{where}: a tensor has an empty name (an empty dict key)")
        if name in records and records[name] is not record:
            raise PickledDataError(
                f"{where}: two different tensors flatten to the name {name!r} (keys are joined "
                "with '.'); rename one before saving"
            )
        records[name] = record
        index[name] = _path_of(record, where)
    return index


def _flatten(
    obj: object, prefix: str, where: str, active: set[int], depth: int
) -> Iterator[tuple[str, TensorRecord]]:
    """Yield ``(dotted name, record)`` for every tensor record under ``obj``."""
    if isinstance(obj, TensorRecord):
        yield prefix, obj
        return
    if isinstance(obj, dict):
        items: Any = obj.items()
    elif isinstance(obj, list | tuple):
        items = enumerate(obj)
    else:
        return  # a number, a string, a set...: not a variable
    if id(obj) in active or depth > _MAX_DEPTH:
        raise PickledDataError(
            f"{where}: the object under {prefix or 'the top level'!r} contains itself or is nested "
            f"more than {_MAX_DEPTH} levels deep; OneFlow's state_dicts are neither"
        )
    active.add(id(obj))
    for key, value in list(items):
        if type(key) is not str and type(key) is not int:
            if isinstance(value, TensorRecord | dict | list | tuple):
                raise PickledDataError(
                    f"{where}: a key of type {type(key).__name__} ({_short(key)}) under "
                    f"{prefix or 'the top level'!r} cannot name a variable"
                )
            continue
        name = f"{prefix}.{key}" if prefix else str(key)
        yield from _flatten(value, name, where, active, depth + 1)
    active.discard(id(obj))


def _path_of(record: TensorRecord, where: str) -> str:
    path = getattr(record, "path", None)
    if path is None:
        raise PickledDataError(
            f"{where}: a OneFlow {record.kind} record has no state (no 'path' naming its directory)"
        )
    try:
        validate_name(path)
    except InvalidNameError as exc:
        raise PickledDataError(
            f"{where}: a tensor's directory {path!r} is not a plain directory name of the "
            f"checkpoint ({exc}); refused"
        ) from None
    return str(path)


def _short(value: object) -> str:
    """A bounded repr (the value comes from an untrusted file and may be huge)."""
    return reprlib.repr(value)
