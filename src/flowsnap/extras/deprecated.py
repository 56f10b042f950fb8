"""``flow.deprecated``: OneFlow's retired helpers.

The worker helpers started and stopped OneFlow's worker processes on the *other* machines of the
environment over ssh; with one machine (the only environment flowsnap accepts until the Scale
issue lands: ``flow.env.machine`` refuses more) OneFlow returned at once, and so does flowsnap.
``variable_scope`` is the old name of ``flow.scope.namespace``; ``nn.Module`` the old lazy-mode
module base (a named callable that counts its calls).
"""

from __future__ import annotations

import logging
import types
from typing import Any

from flowsnap.extras.util import unique_str

__all__ = [
    "delete_worker",
    "delete_worker_by_bootstrap",
    "delete_worker_of_multi_process",
    "init_worker",
    "nn",
    "variable_scope",
]

_log = logging.getLogger("flowsnap")


def init_worker(scp_binary: bool = True, use_uuid: bool = True, ssh_port: int = 22) -> None:
    """Nothing to start: the environment has one machine (OneFlow returned here too)."""
    del scp_binary, use_uuid, ssh_port


def delete_worker(ssh_port: int = 22) -> None:
    """Nothing to stop: the environment has one machine."""
    del ssh_port


def delete_worker_by_bootstrap(ssh_port: int = 22) -> None:
    """Nothing to stop: the environment has one machine."""
    del ssh_port


def delete_worker_of_multi_process(run_dir: str) -> None:
    """Nothing to stop: jobs run in this one process."""
    del run_dir


def variable_scope(*args: Any, **kwargs: Any) -> Any:
    """Deprecated alias of ``flow.scope.namespace`` (logs a warning, as OneFlow did)."""
    from flowsnap._engine import namespace

    _log.warning("flow.deprecated.variable_scope is deprecated; use flow.scope.namespace")
    return namespace(*args, **kwargs)


class Module:
    """OneFlow's deprecated lazy-mode module: ``module(*args)`` runs ``forward(*args)`` and
    counts the call."""

    def __init__(self, name: str | None = None) -> None:
        self.module_name = name if name is not None else unique_str("Module_")
        self.call_seq_no = 0

    def forward(self, *args: Any) -> Any:
        """The computation; subclasses define it (do not call it directly)."""
        del args
        raise NotImplementedError(f"{type(self).__name__}.forward is not defined")

    def __call__(self, *args: Any) -> Any:
        result = self.forward(*args)
        self.call_seq_no += 1
        return result


nn = types.SimpleNamespace(Module=Module)
