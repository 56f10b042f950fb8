"""``flow.distributed``: where this process stands among the processes of a run.

flowsnap runs a job in one process (multi-process runs over ``jax.distributed`` are the Scale
issue's); the answers come from JAX, so they stay right once that lands: the rank is
``jax.process_index()``, the world size ``jax.process_count()``.
"""

from __future__ import annotations

import os

__all__ = ["get_local_rank", "get_rank", "get_world_size", "is_multi_client"]


def get_rank() -> int:
    """This process's rank (0 in a single-process run)."""
    import jax

    return int(jax.process_index())


def get_world_size() -> int:
    """The number of processes of the run (1 in a single-process run)."""
    import jax

    return int(jax.process_count())


def get_local_rank() -> int:
    """This process's rank among the processes of its machine (``LOCAL_RANK`` when a launcher
    set it, else 0 for a single process per machine)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_multi_client() -> bool:
    """False: OneFlow 0.5's ``single_client`` API, which flowsnap provides, is not the
    multi-client (one process per device) mode."""
    return False
