"""``flow.load_variables``: give model variables the values of a checkpoint (or any mapping).

Loading validates everything first (names, shapes, dtypes, every problem listed at once), then
reads each value straight into a host buffer and onto the variable's device, and swaps the new
values in only when all were read and verified: a bad checkpoint changes nothing. Every load
returns a :class:`~flowsnap.checkpoint.LoadReport` and logs it as one line, so a load that
silently did nothing cannot go unnoticed.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from flowsnap._store import Session, Variable, VariableSpec, current_session
from flowsnap.checkpoint._distributed import is_sharded
from flowsnap.checkpoint._report import LoadReport, list_names
from flowsnap.checkpoint._shardload import load_sharded
from flowsnap.checkpoint.rename import RenameRules, Rules, compile_patterns
from flowsnap.errors import (
    CorruptCheckpointError,
    LoadMismatchError,
    VariableNotFoundError,
    plural,
)
from flowsnap.foreign import ForeignTensor
from flowsnap.format import StoredVariable

_log = logging.getLogger("flowsnap")

Patterns = str | Sequence[str]


@dataclass
class _Plan:
    target: str
    spec: VariableSpec
    value: Any


def load_variables(
    value_dict: Mapping[str, Any] | StoredVariable,
    ignore_mismatch: bool = True,
    *,
    rename: Rules | None = None,
    include: Patterns | None = None,
    exclude: Patterns | None = None,
    strict: bool = False,
    shardings: Mapping[str, jax.sharding.Sharding] | None = None,
) -> LoadReport:
    """Give model variables the values in ``value_dict`` (OneFlow's ``flow.load_variables``).

    Args:
        value_dict: ``{name: value}``: values from :func:`get` (read from disk here, streamed:
            a snapshot, or safetensors, PyTorch and ``.npz`` tensors), live variables, NumPy or
            JAX arrays.
        ignore_mismatch: skip names that are not model variables (default); if False they are an
            error.
        rename: rules ``{regex: replacement}`` (or pairs, tried in order, the first match wins)
            mapping names in ``value_dict`` to model names, e.g. ``{"^(.*)$": r"backbone-\\1"}``.
        include: only names matching one of these regexes (searched) are loaded.
        exclude: names matching one of these regexes are not loaded.
        strict: require an exact match, as torch's ``load_state_dict(strict=True)``: every model
            variable receives a value and every name in ``value_dict`` is a model variable
            (after renaming), else nothing is loaded. Names the filters leave out are exempt on
            both sides: ``strict=True, exclude="^System-"`` loads everything but the train
            steps and insists on the rest.
        shardings: ``{model name: jax.sharding.Sharding}``: load those variables into these
            shardings. Default: each variable keeps the sharding its current value has.

    A variable sharded over several devices (or processes) is loaded without a gather: each
    process reads only the blocks its devices hold, with positioned reads, checking the chunk
    checksums of what it reads, whatever sharding and device count the checkpoint was saved
    with (or none: unsharded and OneFlow checkpoints load into sharded variables too).

    Variables absent from ``value_dict`` keep their values (OneFlow's behaviour; ``strict=True``
    makes that an error). Legacy values without ``meta`` take the variable's shape and dtype.
    Nothing changes unless every value fits and reads back verified.

    The report is also logged on the ``flowsnap`` logger, as one line: at level INFO when
    everything in ``value_dict`` was loaded, WARNING when nothing was loaded or names were
    ignored. Python shows WARNING and above by default; to see every report, call
    ``logging.basicConfig(level=logging.INFO)`` (or give ``logging.getLogger("flowsnap")`` a
    handler and level INFO); to silence them, ``logging.getLogger("flowsnap").setLevel(
    logging.ERROR)``.

    Returns:
        A :class:`LoadReport`.

    Raises:
        VariableNotFoundError: a name is not a model variable and ``ignore_mismatch`` is False.
        LoadMismatchError: shapes or dtypes differ (every mismatch listed); with ``strict``, a
            model variable would keep its value or a name matches no variable (all listed).
        CorruptCheckpointError: a value's file is damaged (checksum, size); nothing changed.
    """
    session = current_session()
    session.start()
    session.sync()
    report = load_into(
        session,
        value_dict,
        ignore_mismatch,
        rename,
        include,
        exclude,
        legacy=False,
        strict=strict,
        shardings=shardings,
    )
    level = logging.WARNING if not report.loaded or report.ignored else logging.INFO
    _log.log(level, "%s", report)
    return report


def load_into(
    session: Session,
    value_dict: Mapping[str, Any] | StoredVariable,
    ignore_mismatch: bool,
    rename: Rules | None,
    include: Patterns | None,
    exclude: Patterns | None,
    *,
    legacy: bool,
    strict: bool = False,
    shardings: Mapping[str, jax.sharding.Sharding] | None = None,
) -> LoadReport:
    if isinstance(value_dict, StoredVariable) or not isinstance(value_dict, Mapping):
        raise TypeError(
            "load_variables takes a dict {name: value} (e.g. flow.checkpoint.get(path) of a "
            f"snapshot directory), got {type(value_dict).__name__}"
        )
    rules = RenameRules(rename)
    keep_in = compile_patterns(include, "load_variables: include")
    keep_out = compile_patterns(exclude, "load_variables: exclude")
    plans: list[_Plan] = []
    ignored: list[str] = []
    skipped: list[str] = []
    renamed: dict[str, str] = {}
    targets: dict[str, str] = {}
    for name, value in value_dict.items():
        if (keep_in and not any(p.search(name) for p in keep_in)) or any(
            p.search(name) for p in keep_out
        ):
            skipped.append(name)
            continue
        target = rules(name)
        if target != name:
            renamed[name] = target
        spec = session.specs.get(target)
        if spec is None:
            ignored.append(target)
            continue
        if target in targets:
            raise LoadMismatchError(
                f"load_variables: {targets[target]!r} and {name!r} both map to variable "
                f"{target!r}; fix the rename rules"
            )
        targets[target] = name
        plans.append(_Plan(target, spec, value))
    if strict:
        _check_strict(session, plans, ignored, keep_in, keep_out)
    if ignored and not ignore_mismatch:
        raise VariableNotFoundError(
            f"load_variables: {list_names(ignored)} {'is' if len(ignored) == 1 else 'are'} not "
            f"variable name(s) of the model (it has {len(session.specs)}: "
            f"{list_names(list(session.specs))}); pass ignore_mismatch=True to skip them, or "
            "rename="
        )
    _check_plans(plans)
    new_values = _read_all(session, plans, shardings or {})
    replaced = [session.values[name] for name in new_values if name in session.values]
    session.values.update(new_values)
    _release(replaced)
    loaded = {p.target for p in plans}
    missing = tuple(n for n in session.specs if n not in loaded)
    if legacy and missing:
        session.reinitialize(missing)
    return LoadReport(
        loaded=tuple(p.target for p in plans),
        kept=() if legacy else missing,
        initialized=missing if legacy else (),
        ignored=tuple(ignored),
        skipped=tuple(skipped),
        renamed=renamed,
    )


# Replaced values of at least this many bytes in all are freed on a background thread.
RELEASE_LATER_BYTES = 64 * 2**20


def _release(replaced: list[jax.Array]) -> None:
    """Drop the values a load replaced. A large model's are dropped on a short-lived background
    thread: XLA returns its host buffers to the system page by page, which took 0.1 s of CPU and
    up to 0.3 s of waiting for 1.4 GB (GPT-2 medium) that the caller need not spend."""
    if sum(a.nbytes for a in replaced) < RELEASE_LATER_BYTES:
        replaced.clear()
        return
    # Not a daemon: the interpreter waits for it at exit (a daemon thread stopped inside XLA's
    # deallocation at shutdown aborts the process).
    threading.Thread(target=replaced.clear, name="flowsnap-release", daemon=False).start()


def _check_strict(
    session: Session,
    plans: list[_Plan],
    ignored: list[str],
    keep_in: list[re.Pattern[str]],
    keep_out: list[re.Pattern[str]],
) -> None:
    """``strict=True``: every model variable the filters admit gets a value, and every admitted
    name in the values is a model variable."""
    loaded = {p.target for p in plans}
    kept = [
        name
        for name in session.specs
        if name not in loaded
        and not (keep_in and not any(p.search(name) for p in keep_in))
        and not any(p.search(name) for p in keep_out)
    ]
    if not kept and not ignored:
        return
    parts = []
    if kept:
        parts.append(
            f"{plural(len(kept), 'model variable')} without a value in the checkpoint "
            f"would keep their values: {list_names(kept, limit=20)}"
        )
    if ignored:
        parts.append(
            f"{plural(len(ignored), 'name')} in the checkpoint matching no model variable: "
            f"{list_names(ignored, limit=20)}"
        )
    raise LoadMismatchError(
        "load_variables(strict=True): the checkpoint and the model do not match, nothing was "
        "loaded:\n  "
        + "\n  ".join(parts)
        + "\nFix the names with rename=, leave variables out with include=/exclude=, or pass "
        "strict=False to load what matches."
    )


def _check_plans(plans: list[_Plan]) -> None:
    """Resolve meta-less values and compare shapes and dtypes; list every mismatch at once."""
    problems: list[str] = []
    for plan in plans:
        spec, value = plan.spec, plan.value
        if isinstance(value, StoredVariable):
            if value.shape is None:  # a legacy value: take the variable's shape and dtype
                try:
                    value = plan.value = value.with_meta(spec.shape, spec.dtype)
                except CorruptCheckpointError as exc:
                    problems.append(f"{plan.target}: {exc}")
                    continue
            shape, dtype = value.shape, value.dtype
        elif isinstance(value, Variable):
            shape, dtype = value.shape, value.dtype
        elif hasattr(value, "shape") and hasattr(value, "dtype"):
            shape, dtype = tuple(value.shape), np.dtype(value.dtype)
        else:
            problems.append(
                f"{plan.target}: unknown value type {type(value).__name__} (give an array, a "
                "variable or a value from flow.checkpoint.get)"
            )
            continue
        if tuple(shape or ()) != spec.shape:
            problems.append(
                f"{plan.target}: the model has shape {spec.shape}, the value has "
                f"{tuple(shape or ())}"
            )
        elif dtype != spec.dtype:
            problems.append(
                f"{plan.target}: the model has dtype {spec.dtype}, the value has {dtype} "
                f"(convert it, e.g. .astype(np.{spec.dtype}))"
            )
    if problems:
        raise LoadMismatchError(
            f"load_variables: {plural(len(problems), 'value')} not fitting the model, nothing was "
            "loaded:"
            "\n  " + "\n  ".join(problems)
        )


def _read_all(
    session: Session, plans: list[_Plan], shardings: Mapping[str, jax.sharding.Sharding]
) -> dict[str, jax.Array]:
    """Read every value onto the device of the variable it replaces.

    Values from a flowsnap snapshot are read one after the other in the mapping's order, which is
    what the snapshot's reader is fastest at (``flowsnap.format``: a large file is split between
    this thread and helpers, and the next files are read ahead); they arrive in 64-byte-aligned
    buffers, which ``jax.device_put`` on the CPU takes without a copy. Other values (foreign files,
    live variables, arrays) are read on a thread pool, each straight into one host buffer.
    A variable sharded over several devices is read block by block into its sharding
    (:func:`~flowsnap.checkpoint._shardload.load_sharded`).
    """

    def sharding_of(plan: _Plan) -> jax.sharding.Sharding | None:
        explicit = shardings.get(plan.target)
        if explicit is not None:
            return explicit
        current = session.values.get(plan.target)
        return current.sharding if current is not None and is_sharded(current) else None

    def narrow(plan: _Plan) -> Any:
        dtype = plan.spec.device_dtype
        return lambda host: host if host.dtype == dtype else _narrow(plan.target, host, dtype)

    def to_device(plan: _Plan, host: np.ndarray[Any, Any]) -> jax.Array:
        spec = plan.spec
        if host.dtype != spec.device_dtype:
            host = _narrow(plan.target, host, spec.device_dtype)
        sharding = sharding_of(plan)
        if sharding is not None:
            return jax.make_array_from_callback(spec.shape, sharding, lambda i: host[i])
        current = session.values.get(plan.target)
        device = next(iter(current.devices())) if current is not None else jax.devices()[0]
        array: jax.Array = jax.device_put(host, device)
        return array

    def read_other(plan: _Plan) -> jax.Array:
        spec, value = plan.spec, plan.value
        if isinstance(value, ForeignTensor):  # straight from the file
            host = np.empty(spec.shape, spec.dtype)
            value.readinto(host)
        elif isinstance(value, Variable):
            host = value.numpy()
        else:
            host = np.asarray(value)
        return to_device(plan, host)

    others = [plan for plan in plans if not isinstance(plan.value, StoredVariable)]
    arrays: dict[str, jax.Array] = {}
    if others:
        workers = min(8, len(others), 2 * (os.cpu_count() or 1))
        with ThreadPoolExecutor(workers, thread_name_prefix="flowsnap-load") as pool:
            for plan, array in zip(others, pool.map(read_other, others), strict=True):
                arrays[plan.target] = array
    for plan in plans:
        if isinstance(plan.value, StoredVariable):
            sharding = sharding_of(plan)
            if sharding is not None:
                arrays[plan.target] = load_sharded(
                    plan.value, sharding, plan.spec.device_dtype, narrow(plan)
                )
            else:
                arrays[plan.target] = to_device(plan, plan.value.numpy())
    return {plan.target: arrays[plan.target] for plan in plans}


def _narrow(name: str, host: np.ndarray[Any, Any], dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """Convert to the device dtype; integers that do not fit (int64 beyond int32 when JAX runs in
    32 bits) are an error, never a silent wrap-around."""
    if host.dtype.kind in "iu" and dtype.kind in "iu" and host.size:
        info = np.iinfo(dtype)
        if host.min() < info.min or host.max() > info.max:
            raise LoadMismatchError(
                f"load_variables: {name} holds {host.dtype} values up to {host.max()}, which do "
                f"not fit the device's {dtype} (JAX computes in 32 bits by default); enable 64-bit "
                'mode with jax.config.update("jax_enable_x64", True) before creating the variables'
            )
    return host.astype(dtype)
