"""The session: the variables (declarations and current values) and the registered jobs.

A session starts on first need (a job call, ``get_all_variables``...). Starting builds every
registered job (an abstract trace that declares its variables), then initializes all variables at
once (a few cached kernels, ``_init_batch.py``). Jobs registered after the start are built on
registration.

The default session is process-wide (callbacks run on other threads and must see it); a
``ContextVar`` lets code run against another session (:func:`use_session`) without touching it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import jax

from flowsnap._store._init_batch import initialize
from flowsnap._store._init_parts import release_scratch
from flowsnap._store._layout import Where, variable_layout
from flowsnap._store._spec import VariableSpec
from flowsnap._store._variable import Variable
from flowsnap.errors import SessionError, VariableConflictError

_log = logging.getLogger("flowsnap")


class Job(Protocol):
    """What the session needs from a job function."""

    @property
    def name(self) -> str:
        """The job's name (its Python function name)."""

    def build(self) -> tuple[list[VariableSpec], Where]:
        """Trace the job abstractly; return the variables it uses (in order) and where it runs:
        one device, or a mesh for a placement over several devices."""

    def close(self) -> None:
        """Release what the job holds beyond the session (its data ops' producer thread)."""


@dataclass
class SessionSettings:
    """The ``flow.config`` settings of a session.

    Attributes:
        legacy_model_io: checkpoints use OneFlow's pre-0.3.2 layout (``out`` files only), and
            ``flow.train.CheckPoint`` re-initializes what a load does not cover.
        recorded: settings accepted for compatibility that change nothing here (device counts,
            fusion, debug mode), by their ``flow.config`` name.
    """

    legacy_model_io: bool = False
    recorded: dict[str, Any] = field(default_factory=dict)


class Session:
    """Variables by name, their current values, and the jobs that use them."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.settings = SessionSettings()
        self.specs: dict[str, VariableSpec] = {}
        self.values: dict[str, jax.Array] = {}
        self.jobs: dict[str, Job] = {}
        self.layout_notes: dict[str, str] = {}
        self.started = False
        self.closed = False
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []

    # -- jobs ------------------------------------------------------------------------------

    def add_job(self, job: Job) -> None:
        """Register ``job``; if the session has started, build it and initialize its variables."""
        self.check_open()
        if job.name in self.jobs:
            raise SessionError(
                f"a job function named {job.name!r} is already registered in this session; job "
                "names must be unique (they name the train-step variable). Rename the function, "
                "or call flow.clear_default_session() before defining the jobs again."
            )
        if self.started:
            self._build(job)
        self.jobs[job.name] = job

    def start(self) -> None:
        """Build every registered job and initialize every variable (once)."""
        self.check_open()
        if self.started:
            return
        for job in self.jobs.values():
            self._build(job)
        self.started = True

    def _build(self, job: Job) -> None:
        specs, where = job.build()
        self.declare(job.name, specs)
        self.initialize_missing(where)

    # -- variables -------------------------------------------------------------------------

    def declare(self, job_name: str, specs: Sequence[VariableSpec]) -> None:
        """Record ``specs`` (all or none): a name already declared by another job must agree
        in shape and dtype, since one name is one variable shared by every job."""
        for spec in specs:
            old = self.specs.get(spec.name)
            if old is not None and (old.shape, old.dtype) != (spec.shape, spec.dtype):
                raise VariableConflictError(
                    f"variable {spec.name!r} is declared with shape {old.shape} and dtype "
                    f"{old.dtype} in job {old.job!r} but with shape {spec.shape} and dtype "
                    f"{spec.dtype} in job {job_name!r}. One name is one variable shared by all "
                    "jobs: make the declarations agree, or give the variables different names "
                    "(flow.scope.namespace)."
                )
        for spec in specs:
            self.specs.setdefault(spec.name, spec)

    def initialize_missing(self, where: Where | None = None) -> None:
        """Give every declared variable without a value its initial value.

        The values are ``spec.initializer(variable_key(seed, spec), shape, device_dtype)``,
        computed by a few cached kernels that draw many variables at once and one program that
        assembles them (:mod:`flowsnap._store._init_batch`), bit for bit what one compiled call
        of every initializer gives.

        ``where`` is the device or mesh of the job being built (default: JAX's first device). On
        a mesh each variable gets its layout (:func:`~flowsnap._store.variable_sharding`); the
        initializer computes the whole logical value, so a split variable holds exactly the
        value it would have on one device.
        """
        todo = [spec for name, spec in self.specs.items() if name not in self.values]
        if not todo:
            return
        where = where if where is not None else jax.devices()[0]
        shardings: dict[str, jax.sharding.Sharding] = {}
        for spec in todo:
            if isinstance(where, jax.sharding.Mesh):
                layout = variable_layout(spec, where)
                shardings[spec.name] = jax.sharding.NamedSharding(where, layout.partition)
                if layout.note is not None and spec.name not in self.layout_notes:
                    self.layout_notes[spec.name] = layout.note
                    _log.warning("%s", layout.note)
            else:
                shardings[spec.name] = jax.sharding.SingleDeviceSharding(where)
        new = initialize(todo, self.seed, shardings)
        self.values.update(new)
        release_scratch(list(new.values()))

    def reinitialize(self, names: Sequence[str]) -> None:
        """Draw fresh initial values for ``names`` (as at session start), each where its old
        value was (its device, or its layout on a mesh)."""
        old_shardings: dict[str, jax.sharding.Sharding] = {}
        for name in names:
            old = self.values.pop(name, None)
            if old is not None:
                old_shardings[name] = old.sharding
        where: Where | None = None
        for sharding in old_shardings.values():
            if isinstance(sharding, jax.sharding.NamedSharding):
                where = sharding.mesh
                break
            where = where or next(iter(sharding.device_set))
        self.initialize_missing(where)

    def variables(self) -> dict[str, Variable]:
        """Every variable by name (starting the session if needed), as live views."""
        self.start()
        return {name: Variable(self, name) for name in self.specs}

    # -- background work (callbacks) -------------------------------------------------------

    def submit(self, fn: Callable[[], None]) -> Future[None]:
        """Run ``fn`` on the session's callback thread, in submission order."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    1, thread_name_prefix="flowsnap-callback", initializer=_mark_callback_thread
                )
            self._pending = [f for f in self._pending if not f.done() or f.exception()]
            future = self._executor.submit(fn)
            self._pending.append(future)
        return future

    def run_callback(self, fn: Callable[[], None], what: str) -> None:
        """Run ``fn`` (the callback of a job's result) promptly and in order: on the callback
        thread, after every callback submitted before it, returning once it has run. So a
        program that reads what its callbacks accumulated right after its last job call sees
        every one of them, as in OneFlow, which ran each callback as soon as its job finished.
        Called on the callback thread itself (a callback that calls a job), ``fn`` runs at once:
        waiting there would wait for itself. A failure is logged at once, naming ``what``, and
        raised again by :meth:`sync` (``flow.sync_default_session()``, session close)."""
        if getattr(_thread, "is_callback_thread", False):
            future: Future[None] = Future()
            try:
                fn()
                future.set_result(None)
            except Exception as exc:  # reported below, raised again by sync()
                future.set_exception(exc)
                with self._lock:
                    self._pending.append(future)
        else:
            future = self.submit(fn)
        error = future.exception()  # waits for it
        if error is not None:
            logging.getLogger("flowsnap").error(
                "%s raised %s: %s (flow.sync_default_session() raises it again)",
                what,
                type(error).__name__,
                error,
                exc_info=error,
            )

    def sync(self) -> None:
        """Wait for every scheduled callback; re-raise the first one that failed.

        Raises:
            SessionError: called by a callback (on the callback thread), where it would wait
                for itself.
        """
        if getattr(_thread, "is_callback_thread", False):
            raise SessionError(
                "flow.sync_default_session() (or clear_default_session()) was called inside a "
                "job's callback, where it would wait for itself; call it after the job calls, "
                "outside the callbacks"
            )
        with self._lock:
            pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        """Wait for callbacks, stop the callback thread and the jobs' data producers, and
        refuse further use."""
        try:
            self.sync()
        finally:
            self.closed = True
            if self._executor is not None:
                self._executor.shutdown(wait=True)
            for job in self.jobs.values():
                job.close()

    def check_open(self) -> None:
        """Raise if this session was cleared."""
        if self.closed:
            raise SessionError(
                "this job function or variable belongs to a session that "
                "flow.clear_default_session() closed; define the job functions again after "
                "clearing the session"
            )


_thread = threading.local()


def _mark_callback_thread() -> None:
    _thread.is_callback_thread = True


_default = Session()
_override: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "flowsnap_session", default=None
)


def current_session() -> Session:
    """The session in use: the one set by :func:`use_session`, else the default session."""
    return _override.get() or _default


def clear_default_session() -> None:
    """Close the default session (waiting for its callbacks) and open a fresh one.

    Every variable value, job function and setting (``flow.config``, the random seed) is
    dropped; job functions must be defined again.
    """
    global _default  # noqa: PLW0603 - the process-wide default session, by design
    old = _default
    _default = Session()
    old.close()


def get_all_variables() -> dict[str, Variable]:
    """Every variable of the current session by name (starting the session if needed): live
    views with ``.numpy()``, ``.shape`` and ``.dtype``, optimizer slots and train steps included."""
    return current_session().variables()


def sync_default_session() -> None:
    """Wait until every scheduled callback of the default session has run."""
    current_session().sync()


def set_random_seed(seed: int) -> None:
    """Seed the initial values of the current session's variables (default seed: 0).

    Must be called before the session starts (before the first job call); variables with their
    own ``random_seed`` keep it.
    """
    session = current_session()
    if session.started:
        raise SessionError(
            "set_random_seed() must be called before the session starts (the first job call or "
            "get_all_variables()); call flow.clear_default_session() first to start over"
        )
    if not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"set_random_seed: seed must be an int in [0, 2**63), got {seed!r}")
    session.seed = seed


@contextlib.contextmanager
def use_session(session: Session) -> Iterator[Session]:
    """Make ``session`` the current one inside the ``with`` block (this context only)."""
    token = _override.set(session)
    try:
        yield session
    finally:
        _override.reset(token)
