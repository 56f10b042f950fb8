"""OneFlow's older checkpoint classes: ``flow.train.CheckPoint`` and
``flow.train.SimpleCheckPointManager`` (reference 7.1 and 7.5).

With the default (new) model IO, ``CheckPoint`` is a thin shell over ``flow.checkpoint``:
``init()`` does nothing (variables are initialized when the session starts), ``save(path)`` is
``flow.checkpoint.save(path)``, ``load(path)`` is
``flow.load_variables(flow.checkpoint.get(path))``.
With ``flow.config.enable_legacy_model_io(True)``, saves use the pre-0.3.2 layout (``out`` files
only), ``init()`` re-draws every variable's initial value, and ``load(path)`` gives variables
missing from the checkpoint fresh initial values, as OneFlow's legacy loader did ("It will be
initialized"), and says so in the report.
"""

from __future__ import annotations

import datetime
import logging
import os

from flowsnap._store import current_session
from flowsnap.checkpoint._load import load_into
from flowsnap.checkpoint._report import LoadReport, SavedCheckpoint
from flowsnap.checkpoint._save import get, save
from flowsnap.format import SNAPSHOT_DONE, StoredVariable

_log = logging.getLogger("flowsnap")


class CheckPoint:
    """``flow.train.CheckPoint()``: ``init()``, ``load(path)``, ``save(path)``."""

    def __init__(self) -> None:
        if not _legacy():
            _log.info(
                "flow.train.CheckPoint is OneFlow's old interface: save(path) is "
                "flow.checkpoint.save(path), load(path) is "
                "flow.load_variables(flow.checkpoint.get(path)), and init() is not needed"
            )

    def init(self) -> None:
        """Legacy model IO: give every variable a fresh initial value. Otherwise: nothing to do."""
        session = current_session()
        session.start()
        if _legacy():
            session.reinitialize(list(session.specs))

    def save(self, path: str | os.PathLike[str]) -> SavedCheckpoint:
        """Save every variable to ``path`` (see ``flow.checkpoint.save``)."""
        return save(path)

    def load(self, path: str | os.PathLike[str], *, allow_incomplete: bool = False) -> LoadReport:
        """Load ``path`` into the variables; names not in the model are ignored. With legacy
        model IO, variables missing from ``path`` get fresh initial values. ``allow_incomplete``
        reads a directory without ``snapshot_done`` (as ``flow.checkpoint.get`` does)."""
        session = current_session()
        session.start()
        session.sync()
        values = get(path, allow_incomplete=allow_incomplete)
        if isinstance(values, StoredVariable):
            raise TypeError(f"{os.fspath(path)} is one variable's directory, not a checkpoint")
        report = load_into(session, values, True, None, None, None, legacy=_legacy())
        _log.info("%s", report)
        return report


class SimpleCheckPointManager:
    """Checkpoints in ``root_path/<prefix><timestamp>`` (``flow.train.SimpleCheckPointManager``)."""

    def __init__(self, root_path: str | os.PathLike[str], prefix: str = "snapshot_") -> None:
        self.root_path = os.fspath(root_path)
        self.prefix = prefix
        os.makedirs(self.root_path, exist_ok=True)

    def list_checkpoints(self) -> list[str]:
        """Names (sorted) of the complete checkpoints under the root with the prefix."""
        return sorted(
            name
            for name in os.listdir(self.root_path)
            if name.startswith(self.prefix)
            and os.path.isfile(os.path.join(self.root_path, name, SNAPSHOT_DONE))
        )

    def latest_checkpoint(self) -> str | None:
        """The newest complete checkpoint's name, or None."""
        names = self.list_checkpoints()
        return names[-1] if names else None

    def initialize_or_restore(self) -> LoadReport | None:
        """Load the latest checkpoint, or save the initial state if there is none."""
        latest = self.latest_checkpoint()
        if latest is None:
            self.save()
            return None
        return CheckPoint().load(os.path.join(self.root_path, latest))

    def save(self) -> str:
        """Save every variable to a new ``<prefix>YYYYmmdd_HHMMSS_ffffff`` directory; return its
        path."""
        stamp = datetime.datetime.now().strftime("%Y%m%d_%H%M%S_%f")
        path = os.path.join(self.root_path, self.prefix + stamp)
        save(path)
        return path


def _legacy() -> bool:
    return current_session().settings.legacy_model_io
