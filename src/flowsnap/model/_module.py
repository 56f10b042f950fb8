"""The base of ``flow.model.Model`` and the data modules: OneFlow's deprecated ``nn.Module`` of
the lazy API, a plain Python object whose call runs ``forward``.

Its PyTorch-like methods (``parameters``, ``state_dict``, ``train``...) work on what the lazy API
has: the session's variables (created by ``flow.get_variable`` in job bodies) and the sub-modules
assigned as attributes. Registering tensors as parameters or buffers is refused: lazy variables are
declared with ``flow.get_variable``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from flowsnap._store import current_session
from flowsnap.checkpoint import load_variables
from flowsnap.errors import UnsupportedFeatureError

Array = np.ndarray[Any, Any]


class Module:
    """A named callable with sub-modules; ``module(*args)`` runs ``forward(*args)``."""

    _modules: dict[str, Module | None]
    _pre_hooks: list[Callable[[Module, tuple[Any, ...]], Any]]

    def __init__(self, name: str | None = None) -> None:
        self.__dict__["_modules"] = {}
        self.__dict__["_pre_hooks"] = []
        self.name = name
        self.training = True

    def __setattr__(self, key: str, value: Any) -> None:
        if isinstance(value, Module):
            self._modules[key] = value
        object.__setattr__(self, key, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the pre-forward hooks, then ``forward``."""
        for hook in self._pre_hooks:
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses define it."""
        del args, kwargs
        raise NotImplementedError(f"{type(self).__name__}.forward is not defined")

    def consistent_forward(self, *args: Any, **kwargs: Any) -> Any:
        """``forward`` in the consistent view (the same on one device)."""
        return self.forward(*args, **kwargs)

    def force_mirrored_forward(self, *args: Any, **kwargs: Any) -> Any:
        """``forward`` in the mirrored view (the same on one device)."""
        return self.forward(*args, **kwargs)

    @property
    def consistent(self) -> bool:
        """Whether the module runs in the consistent view: always, on one device."""
        return True

    # -- sub-modules ------------------------------------------------------------------------

    def add_module(self, name: str, module: Module | None) -> None:
        """Make ``module`` the sub-module ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {module!r} is not a flow.model Module")
        self._modules[name] = module
        object.__setattr__(self, name, module)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct sub-modules with their names."""
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct sub-modules."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every sub-module below it, with dotted names."""
        yield prefix, self
        for name, module in self.named_children():
            yield from module.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        """This module and every sub-module below it."""
        for _, module in self.named_modules():
            yield module

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every sub-module, then on this one; return this module."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def train(self, mode: bool = True) -> Module:
        """Set ``training`` on this module and its sub-modules."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """``train(False)``."""
        return self.train(False)

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Placement is chosen by ``flow.scope.placement`` in the job bodies: returns this
        module unchanged."""
        del args, kwargs
        return self

    def register_forward_pre_hook(self, hook: Callable[[Module, tuple[Any, ...]], Any]) -> None:
        """Call ``hook(module, args)`` before each ``forward`` (a non-None result replaces the
        arguments)."""
        self._pre_hooks.append(hook)

    # -- the session's variables ------------------------------------------------------------

    def named_parameters(self) -> Iterator[tuple[str, Array]]:
        """The session's trainable variables (names and current values)."""
        yield from _variables(trainable=True)

    def parameters(self) -> Iterator[Array]:
        """The values of the session's trainable variables."""
        for _, value in self.named_parameters():
            yield value

    def named_buffers(self) -> Iterator[tuple[str, Array]]:
        """The session's other variables (moving statistics, optimizer slots, train steps)."""
        yield from _variables(trainable=False)

    def buffers(self) -> Iterator[Array]:
        """The values of the session's non-trainable variables."""
        for _, value in self.named_buffers():
            yield value

    def state_dict(self) -> dict[str, Array]:
        """Every variable of the session by name (``flow.get_all_variables()`` as NumPy)."""
        return {**dict(_variables(trainable=True)), **dict(_variables(trainable=False))}

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        """Load ``state_dict`` into the session's variables (``flow.load_variables``)."""
        load_variables(state_dict, strict=strict)

    def register_parameter(self, name: str, param: Any) -> None:
        """Refused: lazy variables are declared with ``flow.get_variable`` in a job body."""
        del param
        raise UnsupportedFeatureError(
            f"register_parameter({name!r}): declare lazy variables with flow.get_variable in a "
            "job body"
        )

    def register_buffer(self, name: str, tensor: Any) -> None:
        """Refused: lazy variables are declared with ``flow.get_variable`` in a job body."""
        del tensor
        raise UnsupportedFeatureError(
            f"register_buffer({name!r}): declare lazy variables with flow.get_variable "
            "(trainable=False) in a job body"
        )


def _variables(*, trainable: bool) -> Iterator[tuple[str, Array]]:
    session = current_session()
    session.start()
    session.sync()
    for name, spec in session.specs.items():
        if spec.trainable == trainable:
            yield name, np.asarray(session.values[name])
