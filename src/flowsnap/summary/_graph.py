"""``flow.summary.Graph`` and ``Projector``: the files OneFlow's own board read beside events.

``Graph(logdir).write_structure_graph()`` writes ``<logdir>/graph/structure_graph.json``. OneFlow
serialized its C++ job graph there; flowsnap's jobs are traced Python functions, so the file
describes what the session knows instead: each job (name, type, parameters) and the variables it
declares (shape, dtype, trainable). ``Projector(logdir)`` writes OneFlow's ``SummaryProjector``
messages (its ``projector.proto`` field numbers) to ``<logdir>/projector/projector.<secs>.log``
(embeddings) and ``projector.gradit.<secs>.log`` (exceptions), replacing the file on each call as
OneFlow did.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

from flowsnap._store import current_session
from flowsnap.errors import ArgumentError
from flowsnap.summary._proto import message_class

__all__ = ["Graph", "Projector"]


def _subdirectory(logdir: str | None, name: str, what: str) -> str:
    if logdir is None:
        raise ArgumentError(f"flow.summary.{what}: logdir should not be None")
    path = os.path.join(os.fspath(logdir), name)
    os.makedirs(path, exist_ok=True)
    return path


def _refuse_second(filename: str | None, what: str) -> None:
    """OneFlow's rule: one file of a kind per object; ``OSError`` if ``filename`` exists."""
    if filename is not None and os.path.exists(filename):
        raise OSError(f"You must create only one {what}!")


class Graph:
    """Writes the structure of the session's jobs under ``<logdir>/graph``."""

    def __init__(self, logdir: str | None = None) -> None:
        self._logdir = _subdirectory(logdir, "graph", "Graph")
        self._structure_graph_filename: str | None = None

    @property
    def logdir(self) -> Any:
        """``<logdir>/graph``."""
        return self._logdir

    @property
    def structure_graph_filename(self) -> Any:
        """The file written (None before)."""
        return self._structure_graph_filename

    def write_structure_graph(self) -> None:
        """Write ``structure_graph.json`` (once per ``Graph``, as OneFlow).

        Raises:
            OSError: it was written already.
        """
        _refuse_second(self._structure_graph_filename, "structure graph log file")
        path = self._structure_graph_filename = os.path.join(self.logdir, "structure_graph.json")
        session = current_session()
        if session.jobs:
            session.start()
        jobs = []
        for name, job in session.jobs.items():
            jobs.append(
                {
                    "name": name,
                    "type": "train" if getattr(job, "is_train", False) else "predict",
                    "parameters": list(getattr(job, "params", {})),
                    "variables": [s.name for s in session.specs.values() if s.job == name],
                }
            )
        variables = {
            s.name: {
                "shape": list(s.shape),
                "dtype": np.dtype(s.dtype).name,
                "trainable": bool(s.trainable),
            }
            for s in session.specs.values()
        }
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"jobs": jobs, "variables": variables}, f, indent=1)


class Projector:
    """Writes embedding and exception projections under ``<logdir>/projector``."""

    def __init__(self, logdir: str | None = None) -> None:
        self._logdir = _subdirectory(logdir, "projector", "Projector")
        self._embedding_filename: str | None = None
        self._exception_filename: str | None = None

    @property
    def logdir(self) -> Any:
        """``<logdir>/projector``."""
        return self._logdir

    @property
    def embedding_filename(self) -> Any:
        """The embedding file (None before it is chosen)."""
        return self._embedding_filename

    @property
    def exception_filename(self) -> Any:
        """The exception file (None before it is chosen)."""
        return self._exception_filename

    def create_embedding_projector(self) -> None:
        """Choose the embedding file (``projector.<secs>.log``)."""
        _refuse_second(self._embedding_filename, "embedding projector")
        self._embedding_filename = os.path.join(self.logdir, f"projector.{int(time.time())}.log")

    def create_exception_projector(self) -> None:
        """Choose the exception file (``projector.gradit.<secs>.log``)."""
        _refuse_second(self._exception_filename, "exception projector")
        self._exception_filename = os.path.join(
            self.logdir, f"projector.gradit.{int(time.time())}.log"
        )

    def write_projector(self, filename: str | None = None, projector: Any = None) -> None:
        """Write the ``SummaryProjector`` message ``projector`` to ``filename``."""
        if filename is None:
            raise ArgumentError(
                "flow.summary.Projector: no file chosen; call create_embedding_projector() or "
                "create_exception_projector() first"
            )
        with open(filename, "wb") as f:
            f.write(projector.SerializeToString())

    @staticmethod
    def set_tensor(tensor: Any, value: Any) -> None:
        """Fill a projector ``Tensor`` message with the array ``value``."""
        array = np.asarray(value)
        for d in array.shape:
            tensor.shape.dim.add(size=d)
        tensor.dtype = str(array.dtype)
        tensor.content = array.tobytes()

    def set_projector(
        self, pro: Any, tag: str, step: int | None, value: Any, label: Any = None
    ) -> None:
        """Fill a ``Projector`` message."""
        pro.tag = str(tag)
        if step is not None:
            pro.step = int(step)
        pro.WALL_TIME = time.time()
        self.set_tensor(pro.value, value)
        if label is not None:
            self.set_tensor(pro.label, label)

    def set_sample(self, sample: Any, name: str | None, x: Any, sample_type: str) -> None:
        """Fill a ``Sample`` message (``sample_type``: image, audio or text)."""
        if name is not None:
            sample.name = name
        kinds = {"image": 0, "audio": 1, "text": 2}
        if str(sample_type).lower() not in kinds:
            raise NotImplementedError(f"sample_type {sample_type!r}: use image, audio or text")
        sample.type = kinds[str(sample_type).lower()]
        if x is not None:
            self.set_tensor(sample.X, x)

    def _project(
        self,
        kind: int,
        filename: str | None,
        value: Any,
        label: Any,
        tag: str,
        step: int | None,
        sample: tuple[str | None, str | None, Any],
    ) -> None:
        message = message_class("oneflow.summary.SummaryProjector")()
        message.metadata.type = kind
        self.set_projector(message.projector.add(), tag, step, value, label)
        name, sample_type, x = sample
        if name is not None and sample_type is not None:
            self.set_sample(message.sample, name, x, sample_type)
        self.write_projector(filename, message)

    def embedding_projector(
        self,
        value: Any = None,
        label: Any = None,
        tag: str | None = None,
        step: int | None = None,
        sample_name: str | None = None,
        sample_type: str | None = None,
        x: Any = None,
    ) -> None:
        """Write an embedding projection (``value``, optional ``label``)."""
        self._project(
            0,
            self.embedding_filename,
            value,
            label,
            tag or "embedding_projector",
            step,
            (sample_name, sample_type, x),
        )

    def exception_projector(
        self,
        value: Any = None,
        tag: str | None = None,
        step: int | None = None,
        sample_name: str | None = None,
        sample_type: str | None = None,
        x: Any = None,
    ) -> None:
        """Write an exception projection."""
        self._project(
            1,
            self.exception_filename,
            value,
            None,
            tag or "exception_projector",
            step,
            (sample_name, sample_type, x),
        )
