"""``flowsnap.CheckpointManager``: when to save, what to keep, what to restore, in a training loop.

Checkpoints live in ``root/<prefix><step, 12 digits>`` (default prefix ``snapshot_``, so
``flow.train.SimpleCheckPointManager(root)`` lists them too, newest last). Only complete
checkpoints (with ``snapshot_done``) count; temporary directories left by crashed saves are
swept when the manager opens and before each save. Retention never deletes the only complete
checkpoint, nor one still being written, and deletes by first renaming the directory to a
temporary name (made durable before any file goes, whatever ``durable`` says), so a deletion cut
short, by a kill or a power loss, never leaves a damaged checkpoint that looks complete.

In a multi-process run every process makes the same calls; saves are sharded (each process
writes its shards, process 0 publishes, all agree on the outcome), and only process 0 sweeps
and deletes old steps.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from typing import Any

import jax

from flowsnap.checkpoint._async import SaveHandle
from flowsnap.checkpoint._load import load_variables
from flowsnap.checkpoint._report import LoadReport
from flowsnap.checkpoint._save import get, save
from flowsnap.checkpoint._sync import barrier
from flowsnap.errors import SnapshotNotFoundError
from flowsnap.format import SNAPSHOT_DONE, Snapshot, sweep_temporaries
from flowsnap.format.internals import delete_snapshot


class CheckpointManager:
    """Periodic, retained, restorable checkpoints under one root directory.

    Args:
        root: the directory holding the step checkpoints (created if missing).
        save_interval_steps: :meth:`save` saves when ``step % save_interval_steps == 0``.
        max_to_keep: keep at most this many recent checkpoints (None: all).
        keep_every_n_steps: also keep every checkpoint whose step is a multiple of this.
        best_metric: a metric name given to :meth:`save`; with ``keep_best``, the best
            checkpoints by it are kept too.
        best_mode: ``"max"`` or ``"min"``: which is better.
        keep_best: how many best checkpoints to keep.
        async_save: save in the background (see ``flow.checkpoint.save(blocking=False)``).
        durable: fsync saves (default).
        prefix: directory-name prefix.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        save_interval_steps: int = 1,
        max_to_keep: int | None = None,
        keep_every_n_steps: int | None = None,
        best_metric: str | None = None,
        best_mode: str = "max",
        keep_best: int | None = None,
        async_save: bool = False,
        durable: bool = True,
        prefix: str = "snapshot_",
    ) -> None:
        for name, value in (
            ("save_interval_steps", save_interval_steps),
            ("max_to_keep", max_to_keep),
            ("keep_every_n_steps", keep_every_n_steps),
            ("keep_best", keep_best),
        ):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"CheckpointManager: {name} must be an int >= 1, got {value!r}")
        if best_mode not in ("max", "min"):
            raise ValueError(
                f"CheckpointManager: best_mode must be 'max' or 'min', not {best_mode!r}"
            )
        if keep_best is not None and best_metric is None:
            raise ValueError("CheckpointManager: keep_best needs best_metric")
        self.root = os.path.abspath(os.fspath(root))
        self.save_interval_steps = save_interval_steps
        self.max_to_keep = max_to_keep
        self.keep_every_n_steps = keep_every_n_steps
        self.best_metric, self.best_mode, self.keep_best = best_metric, best_mode, keep_best
        self.async_save, self.durable, self.prefix = async_save, durable, prefix
        self._pattern = re.compile("^" + re.escape(prefix) + r"(\d+)$")
        self._pending: dict[int, SaveHandle] = {}
        os.makedirs(self.root, exist_ok=True)
        # In a multi-process run only process 0 sweeps and deletes: the pids in temporary names
        # are those of process 0's host, and one process must decide what is retained.
        self._leader = jax.process_index() == 0
        self.swept = sweep_temporaries(self.root) if self._leader else []

    # -- reading the directory -------------------------------------------------------------

    def path(self, step: int) -> str:
        """The directory of ``step``'s checkpoint."""
        return os.path.join(self.root, f"{self.prefix}{step:012d}")

    def all_steps(self) -> list[int]:
        """Steps with a complete checkpoint, ascending (saves in flight are not included)."""
        steps = []
        for name in os.listdir(self.root):
            match = self._pattern.match(name)
            if match and os.path.isfile(os.path.join(self.root, name, SNAPSHOT_DONE)):
                steps.append(int(match[1]))
        return sorted(steps)

    def latest_step(self) -> int | None:
        """The newest complete checkpoint's step, or None."""
        steps = self.all_steps()
        return steps[-1] if steps else None

    def metrics(self, step: int) -> dict[str, float]:
        """The metrics saved with ``step``'s checkpoint."""
        snap = get(self.path(step))
        assert isinstance(snap, Snapshot)  # a step directory is always a snapshot
        return dict(snap.metadata.get("metrics", {}))

    # -- saving ----------------------------------------------------------------------------

    def should_save(self, step: int) -> bool:
        """Whether :meth:`save` would save at ``step``."""
        return step % self.save_interval_steps == 0 and not os.path.exists(self.path(step))

    def save(
        self,
        step: int,
        var_dict: Mapping[str, Any] | None = None,
        *,
        metrics: Mapping[str, float] | None = None,
        force: bool = False,
        overwrite: bool = False,
    ) -> bool:
        """Save at ``step`` if it is due (or ``force``), then apply retention; return whether a
        save was started. ``metrics`` are stored in the manifest (and rank best checkpoints).
        ``overwrite`` (with ``force``) replaces an existing checkpoint of ``step`` atomically
        (``flow.checkpoint.save(overwrite=True)``); without it, saving a step that already has
        a checkpoint raises ``TargetExistsError``."""
        if not isinstance(step, int) or step < 0:
            raise ValueError(f"CheckpointManager.save: step must be an int >= 0, got {step!r}")
        if not (force or self.should_save(step)):
            return False
        if self.best_metric is not None and (metrics is None or self.best_metric not in metrics):
            raise ValueError(
                f"CheckpointManager.save(step={step}): metrics must include "
                f"{self.best_metric!r} (the best_metric)"
            )
        if self._leader:
            sweep_temporaries(self.root)
        self._collect()
        metadata = {"step": step, "metrics": {k: float(v) for k, v in (metrics or {}).items()}}
        if self.async_save:
            self._pending[step] = save(
                self.path(step),
                var_dict,
                durable=self.durable,
                metadata=metadata,
                blocking=False,
                overwrite=overwrite,
            )
        else:
            save(
                self.path(step),
                var_dict,
                durable=self.durable,
                metadata=metadata,
                overwrite=overwrite,
            )
        self._retain()
        barrier("CheckpointManager.save")
        return True

    def wait(self) -> None:
        """Wait for background saves; raise the first error."""
        pending, self._pending = self._pending, {}
        for handle in pending.values():
            handle.wait()
        self._retain()
        barrier("CheckpointManager.wait")

    def _collect(self) -> None:
        for step, handle in list(self._pending.items()):
            if handle.done():
                del self._pending[step]
                handle.wait()  # raises a background failure here

    # -- retention -------------------------------------------------------------------------

    def _retain(self) -> None:
        if not self._leader:
            return
        steps = self.all_steps()
        if len(steps) <= 1:
            return  # never delete the only complete checkpoint
        keep = set(steps if self.max_to_keep is None else steps[-self.max_to_keep :])
        keep.add(steps[-1])
        if self.keep_every_n_steps:
            keep.update(s for s in steps if s % self.keep_every_n_steps == 0)
        if self.keep_best and self.best_metric:
            scored = [(self._score(s), s) for s in steps]
            ranked = sorted((x for x in scored if not math.isnan(x[0])), reverse=True)
            keep.update(s for _, s in ranked[: self.keep_best])
        for step in steps:
            if step not in keep and step not in self._pending:
                self._delete(step)

    def _score(self, step: int) -> float:
        try:
            value = self.metrics(step).get(self.best_metric or "", math.nan)
        except (SnapshotNotFoundError, ValueError, json.JSONDecodeError):
            return math.nan
        return value if self.best_mode == "max" else -value

    def _delete(self, step: int) -> None:
        # Renamed away first (atomic), and that rename is fsynced before any file goes (always:
        # one directory fsync per deletion), so no crash, power loss included, leaves a half-
        # deleted step directory; a deletion cut short leaves a temporary directory that the next
        # sweep removes.
        delete_snapshot(self.path(step))

    # -- restoring -------------------------------------------------------------------------

    def restore(self, step: int, **kwargs: Any) -> LoadReport:
        """Load ``step``'s checkpoint into the variables (``load_variables`` keyword arguments
        pass through)."""
        return load_variables(get(self.path(step)), **kwargs)

    def restore_latest(self, **kwargs: Any) -> LoadReport | None:
        """Load the newest complete checkpoint; None if there is none."""
        step = self.latest_step()
        return None if step is None else self.restore(step, **kwargs)
