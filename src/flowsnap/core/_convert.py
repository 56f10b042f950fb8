"""Between OneFlow's conf messages and their dict form (the form ``FunctionConfig`` options and
``Initializer.to_conf()`` use: proto field names, enum values by name, only the fields set)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowsnap.errors import ConversionError


def message_to_dict(message: Any) -> dict[str, Any]:
    """The fields set in ``message``, by proto name: sub-messages as dicts, enums by name,
    repeated fields as lists, maps as dicts (``{"constant_conf": {"value": 1.0}}``).

    Unlike ``json_format.MessageToDict``, int64 values stay ints and names are not camel-cased.
    """
    result: dict[str, Any] = {}
    for field, value in message.ListFields():
        result[field.name] = _value_to_python(field, value)
    return result


def _value_to_python(field: Any, value: Any) -> Any:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        return {k: _single(value_field, v) for k, v in value.items()}
    if _is_repeated(field):
        return [_single(field, v) for v in value]
    return _single(field, value)


def _is_repeated(field: Any) -> bool:
    flag = getattr(field, "is_repeated", None)  # protobuf >= 5.29 (``label`` is gone in 7)
    if flag is not None:
        return bool(flag)
    return bool(field.label == field.LABEL_REPEATED)


def _single(field: Any, value: Any) -> Any:
    if field.message_type is not None:
        return message_to_dict(value)
    if field.enum_type is not None:
        found = field.enum_type.values_by_number.get(value)
        return found.name if found is not None else value
    return value


def message_from_dict(cls: Any, fields: Mapping[str, Any], *, what: str) -> Any:
    """A ``cls`` message with ``fields`` (dict form, as :func:`message_to_dict` gives: proto field
    names, enums by name or number, bytes as bytes) set.

    Raises:
        ConversionError: not a dict, an unknown field, a wrong type, or an unknown enum name.
    """
    message = cls()
    try:
        fill_message(message, fields, what)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConversionError):
            raise
        raise ConversionError(f"{what}: {fields!r} is not a valid {cls.__name__}: {exc}") from None
    return message


def fill_message(message: Any, fields: Any, what: str) -> None:
    if not isinstance(fields, Mapping):
        raise ConversionError(
            f"{what}: expected a dict in proto form (e.g. {{'constant_conf': {{'value': 0.0}}}}) "
            f"for {message.DESCRIPTOR.name}, got {type(fields).__name__} {fields!r}"
        )
    message.SetInParent()
    for name, value in fields.items():
        field = message.DESCRIPTOR.fields_by_name.get(name)
        if field is None:
            known = ", ".join(sorted(message.DESCRIPTOR.fields_by_name))
            raise ConversionError(
                f"{what}: {message.DESCRIPTOR.name} has no field {name!r}; its fields: {known}"
            )
        target = getattr(message, name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key, item in dict(value).items():
                if value_field.message_type is not None:
                    fill_message(target[key], item, what)
                else:
                    target[key] = _scalar(value_field, item)
        elif _is_repeated(field):
            for item in value:
                if field.message_type is not None:
                    fill_message(target.add(), item, what)
                else:
                    target.append(_scalar(field, item))
        elif field.message_type is not None:
            fill_message(target, value, what)
        else:
            setattr(message, name, _scalar(field, value))


def _scalar(field: Any, value: Any) -> Any:
    if field.enum_type is not None and isinstance(value, str):
        found = field.enum_type.values_by_name.get(value)
        if found is None:
            names = ", ".join(v.name for v in field.enum_type.values)
            raise ValueError(f"{field.name}: {value!r} is not one of {names}")
        return found.number
    return value


def initializer_conf(conf: Mapping[str, Any] | Any) -> Any:
    """OneFlow's ``InitializerConf`` message for ``conf``, what ``flow.<x>_initializer(...)``
    returned in OneFlow.

    Args:
        conf: an ``InitializerConf`` dict (``{"truncated_normal_conf": {"std": 0.1}}``), an object
            with ``to_conf()`` returning one (flowsnap's initializer records), or a message
            (returned as is).

    Raises:
        ConversionError: ``conf`` is not an InitializerConf in any of these forms.
    """
    from flowsnap.core.job import initializer_conf_pb2

    cls = initializer_conf_pb2.InitializerConf
    if isinstance(conf, cls):
        return conf
    to_conf = getattr(conf, "to_conf", None)
    if callable(to_conf):
        conf = to_conf()
    message = message_from_dict(cls, conf, what="InitializerConf")
    if message.WhichOneof("type") is None or len(conf) != 1:
        raise ConversionError(
            f"InitializerConf: {conf!r} must name exactly one initializer "
            f"(one of {sorted(cls.DESCRIPTOR.fields_by_name)})"
        )
    return message


def initializer_conf_dict(message: Any) -> dict[str, dict[str, Any]]:
    """The dict form of an ``InitializerConf`` message, which ``FunctionConfig``'s
    ``default_initializer_conf`` takes: ``{"random_normal_conf": {"mean": 0.0, "std": 1.0}}``.

    The conf's fields take their proto defaults when unset (``flow.truncated_normal(0.1)``'s
    unset ``mean`` is ``0.0``), so the dict says every value.

    Raises:
        ConversionError: ``message`` is not an InitializerConf, or sets no initializer.
    """
    from flowsnap.core.job import initializer_conf_pb2

    if not isinstance(message, initializer_conf_pb2.InitializerConf):
        raise ConversionError(f"expected an InitializerConf message, got {type(message).__name__}")
    kind = message.WhichOneof("type")
    if kind is None:
        raise ConversionError("InitializerConf sets no initializer (its 'type' oneof is empty)")
    conf = getattr(message, kind)
    fields = {f.name: _single(f, getattr(conf, f.name)) for f in conf.DESCRIPTOR.fields}
    return {kind: fields}
