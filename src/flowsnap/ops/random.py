"""``flow.random``: ``CoinFlip`` (drawn on the host, fed to the step) and the device-side
``bernoulli``, ``shuffle``, ``generate_random_batch_permutation_indices`` and ``gen_seed``, with
OneFlow 0.5's parameter names, order and defaults; see ``flowsnap/ops/_random.py``."""

from flowsnap.errors import missing_name
from flowsnap.ops._random import (
    CoinFlip,
    bernoulli,
    gen_seed,
    generate_random_batch_permutation_indices,
    shuffle,
)
from flowsnap.ops._random import CoinFlip as coin_flip  # noqa: N813 - OneFlow's alias

__all__ = [
    "CoinFlip",
    "bernoulli",
    "coin_flip",
    "gen_seed",
    "generate_random_batch_permutation_indices",
    "shuffle",
]


def __getattr__(name: str) -> object:
    raise missing_name("flow.random", name)
