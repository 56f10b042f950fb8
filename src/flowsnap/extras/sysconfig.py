"""``flow.sysconfig``: what this build of flowsnap has.

flowsnap is pure Python on JAX: there is no C++ library to compile custom ops against, so
``get_include``/``get_lib``/``get_compile_flags``/``get_link_flags`` are not provided. The
capability queries answer for flowsnap: CUDA is there when JAX has a GPU backend, XLA always
(every job is compiled by XLA), and the only "RPC backend" is the local one (one process; several
processes are the Scale issue's, over ``jax.distributed``).
"""

from __future__ import annotations

from flowsnap.errors import UnsupportedFeatureError

__all__ = [
    "get_cuda_version",
    "has_rpc_backend_grpc",
    "has_rpc_backend_local",
    "with_cuda",
    "with_xla",
]


def with_cuda() -> bool:
    """Whether JAX can run on a CUDA GPU here."""
    import jax

    try:
        return bool(jax.devices("cuda"))
    except RuntimeError:
        return False


def with_xla() -> bool:
    """True: flowsnap compiles every job with XLA."""
    return True


def has_rpc_backend_grpc() -> bool:
    """False: flowsnap has no gRPC control plane of its own."""
    return False


def has_rpc_backend_local() -> bool:
    """True: jobs run in this process."""
    return True


def get_cuda_version() -> int:
    """The CUDA runtime version JAX uses, as OneFlow reported it (``major * 1000 + minor * 10``,
    e.g. 12030 for 12.3).

    Raises:
        UnsupportedFeatureError: JAX has no CUDA backend here.
    """
    import jax

    if not with_cuda():
        raise UnsupportedFeatureError(
            "flow.sysconfig.get_cuda_version: JAX has no CUDA backend here (install jax[cuda12] "
            "on a machine with an NVIDIA GPU)"
        )
    version = jax.devices("cuda")[0].client.platform_version  # e.g. "cuda 12030"
    digits = "".join(c for c in version if c.isdigit())
    if not digits:
        raise UnsupportedFeatureError(f"cannot read a CUDA version from {version!r}")
    return int(digits)
