"""``flow.summary.text`` and ``hparams`` (which build ``Summary`` messages for ``summary.pb``) and
the hyperparameter descriptions ``HParam``, ``Metric``, ``IntegerRange``, ``RealRange``,
``ValueSet``, with OneFlow's checks and messages' layout (TensorBoard's ``text`` and ``hparams``
plugins read them)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from flowsnap.summary._proto import message_class

__all__ = ["HParam", "IntegerRange", "Metric", "RealRange", "ValueSet", "hparams", "text"]

_DT_FLOAT, _DT_STRING = 1, 7


def text(text: Sequence[str], tag: str | None = None) -> Any:
    """A ``Summary`` holding the strings ``text`` as a string tensor (TensorBoard's ``text``
    plugin), tagged ``tag`` (default ``"text"``); None when ``text`` is not a non-empty list or
    tuple, as in OneFlow."""
    if not isinstance(text, tuple | list) or not text:
        return None
    if not isinstance(tag, str):
        tag = "text"
    tensor = message_class("tensorboard.TensorProto")(dtype=_DT_STRING)
    tensor.tensor_shape.dim.add(size=len(text))
    tensor.string_val.extend(str(t).encode("utf-8") for t in text)
    summary = message_class("tensorboard.Summary")()
    value = summary.value.add(tag=tag)
    value.metadata.plugin_data.plugin_name = "text"
    value.tensor.CopyFrom(tensor)
    return summary


class _Range:
    """A hyperparameter's range ``[min_value, max_value]`` of one numeric type."""

    def _bound(self, min_value: float, max_value: float, kind: type[float], word: str) -> None:
        if not isinstance(max_value, kind):
            raise TypeError(f"max_value is not {word} value: {max_value!r}")
        if not isinstance(min_value, kind):
            raise TypeError(f"min_value is not {word} value: {min_value!r}")
        if min_value > max_value:
            raise ValueError(f"max_value must bigger than min_value: {min_value!r} > {max_value!r}")
        self._min_value = min_value
        self._max_value = max_value

    @property
    def min_value(self) -> Any:
        """The smallest value."""
        return self._min_value

    @property
    def max_value(self) -> Any:
        """The largest value."""
        return self._max_value


class IntegerRange(_Range):
    """An integer hyperparameter's range ``[min_value, max_value]``."""

    def __init__(self, min_value: int, max_value: int) -> None:
        self._bound(min_value, max_value, int, "an integer")


class RealRange(_Range):
    """A real hyperparameter's range ``[min_value, max_value]`` (floats)."""

    def __init__(self, min_value: float, max_value: float) -> None:
        self._bound(min_value, max_value, float, "an float")


class ValueSet:
    """A hyperparameter's allowed values, all of one type (int, float, bool or str), sorted."""

    def __init__(self, values: Iterable[Any], dtype: type | None = None) -> None:
        items = list(values)
        if dtype is None and items:
            dtype = type(items[0])
        if dtype not in (int, float, bool, str):
            raise ValueError(
                f"Value type must in (int, float, bool, str), {dtype!r} is not supported!"
            )
        for value in items:
            if not isinstance(value, dtype):
                raise TypeError(
                    f"The type of value is not supported! value: {value!r} type: {dtype.__name__}"
                )
        self._dtype = dtype
        self._values = sorted(items)

    @property
    def dtype(self) -> Any:
        """The values' type."""
        return self._dtype

    @property
    def values(self) -> list[Any]:
        """The values, sorted (a copy)."""
        return list(self._values)


class HParam:
    """A hyperparameter: its name and, optionally, its domain."""

    def __init__(self, name: str, dtype: IntegerRange | RealRange | ValueSet | None = None) -> None:
        if not isinstance(dtype, IntegerRange | RealRange | ValueSet | type(None)):
            raise ValueError(
                f"Hparam dtype must be: (IntegerRange, RealRange, ValueSet) : {dtype!r}"
            )
        self._name = name
        self._dtype = dtype

    @property
    def name(self) -> Any:
        """The hyperparameter's name."""
        return self._name

    @property
    def dtype(self) -> Any:
        """Its domain (or None)."""
        return self._dtype


class Metric:
    """A metric reported with the hyperparameters: its name and type (int or float)."""

    def __init__(self, name: str, dtype: type | None = None) -> None:
        if dtype is None:
            dtype = float
        if dtype not in (int, float):
            raise ValueError(f"Value type must in (int, float), {dtype!r} is not supported!")
        self._name = name
        self._dtype = dtype

    @property
    def name(self) -> Any:
        """The metric's name."""
        return self._name

    @property
    def dtype(self) -> Any:
        """Its type (int or float)."""
        return self._dtype


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _split(params: Mapping[Any, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    hparams: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(key, Metric):
            target, name = metrics, key.name
        else:
            target, name = hparams, key.name if isinstance(key, HParam) else key
        if name in hparams or name in metrics:
            raise ValueError(f"the key is already exist {name!r}")
        target[name] = _plain(value)
    return hparams, metrics


def hparams(hparams: Mapping[Any, Any]) -> Any:
    """A ``Summary`` of one hyperparameter session (TensorBoard's ``hparams`` plugin,
    ``_hparams_/session_start_info``): keys are :class:`HParam`, :class:`Metric` or names;
    values are str, bool, int or float (metrics: int or float). The session's group name is the
    SHA-256 of the hyperparameters' sorted JSON, as OneFlow's.

    Raises:
        TypeError: a value of another type.
        ValueError: two keys with one name.
    """
    values, metrics = _split(hparams)
    encoded = json.dumps(values, sort_keys=True, separators=(",", ":"))
    info = message_class("tensorboard.SessionStartInfo")(
        group_name=hashlib.sha256(encoded.encode("utf-8")).hexdigest(),
        start_time_secs=time.time(),
    )
    for key in sorted(values):
        value = values[key]
        if isinstance(value, bool):
            info.hparams[key].bool_value = value
        elif isinstance(value, str):
            info.hparams[key].string_value = value
        elif isinstance(value, int | float):
            info.hparams[key].number_value = value
        else:
            raise TypeError(f"the type of value: {value!r} is not supported!")
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"the type of value: {value!r} is not supported!")
        info.metrics[key].number_value = value
    plugin = message_class("tensorboard.HParamsPluginData")(version=0)
    plugin.session_start_info.CopyFrom(info)
    summary = message_class("tensorboard.Summary")()
    value = summary.value.add(tag="_hparams_/session_start_info")
    value.metadata.plugin_data.plugin_name = "hparams"
    value.metadata.plugin_data.content = plugin.SerializeToString()
    value.tensor.dtype = _DT_FLOAT
    value.tensor.tensor_shape.dim.add(size=0)
    return summary
