"""``@flow.global_function``: the decorator that turns a job body into a registered job."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from flowsnap._engine._function_config import FunctionConfig
from flowsnap._engine._job import JobFunction
from flowsnap._store import current_session
from flowsnap.errors import JobDefinitionError

_log = logging.getLogger("flowsnap")


def global_function(
    type: str | FunctionConfig = "predict",
    function_config: FunctionConfig | None = None,
) -> Callable[[Callable[..., Any]], JobFunction]:
    """Decorate a job body: ``@flow.global_function(type="train", function_config=cfg)``.

    The job's name is the function's name. The job is registered with the current session; if
    the session already started, it is traced at once (OneFlow refused late jobs).

    Raises:
        JobDefinitionError: ``type`` is not ``"train"``/``"predict"``, or an annotation is wrong.
    """
    if isinstance(type, FunctionConfig):
        _log.warning(
            "flow.global_function(func_config) is deprecated; write "
            "flow.global_function(type=..., function_config=func_config)"
        )
        function_config, type = type, "predict"
    if type not in ("train", "predict"):
        raise JobDefinitionError(
            f"global_function: type must be 'train' or 'predict', got {type!r}"
        )
    config = function_config if function_config is not None else FunctionConfig()
    if not isinstance(config, FunctionConfig):
        raise JobDefinitionError(
            f"global_function: function_config must be a flow.FunctionConfig(), got {config!r}"
        )

    # OneFlow cloned the config when the job was defined: later option calls do not reach it
    config = config.copy()

    def decorate(func: Callable[..., Any]) -> JobFunction:
        # names visible where the job is defined, for string annotations (PEP 563)
        localns = dict(sys._getframe(1).f_locals)
        session = current_session()
        job = JobFunction(config.job_body(func), type, config, session, localns)
        session.add_job(job)
        return job

    return decorate
