"""OneFlow's optimizer classes: ``SGD``, ``SGDW``, ``Adam``, ``AdamW``, ``LazyAdam``,
``RMSProp``, ``LAMB``, ``LARS`` (reference 6.1). Each is a record of its constructor arguments
(OneFlow v0.5.0's names, order and defaults) that picks each variable's update rule; the shared
machinery (loss scale, ``variables=``, regularization, clipping, the engine protocol) is
:class:`~flowsnap.optimizers._optimizer.Optimizer`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowsnap.optimizers._clipping import ClipByGlobalNorm
from flowsnap.optimizers._loss_scale import LossScalePolicy
from flowsnap.optimizers._optimizer import Optimizer, VariableList, _WeightDecayMixin
from flowsnap.optimizers._rules import (
    AdamRule,
    LAMBRule,
    LARSRule,
    LazyAdamRule,
    RMSPropRule,
    SGDRule,
    UpdateRule,
)


class SGD(Optimizer):
    """SGD with OneFlow's default ``momentum=0.9`` (``momentum=0``: plain SGD, no slot)."""

    def __init__(
        self,
        lr_scheduler: Any,
        loss_scale_factor: float | None = None,
        momentum: float = 0.9,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: LossScalePolicy | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            loss_scale_factor,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self.momentum = float(momentum)

    def rule_for(self, name: str) -> UpdateRule:
        """Momentum SGD (slot ``<var>-momentum``) or plain SGD."""
        del name
        return SGDRule(self.momentum)


class SGDW(SGD, _WeightDecayMixin):
    """SGD with decoupled weight decay."""

    def __init__(
        self,
        lr_scheduler: Any,
        loss_scale_factor: float | None = None,
        momentum: float = 0.9,
        weight_decay: float | None = None,
        weight_decay_includes: str | Sequence[str] | None = None,
        weight_decay_excludes: str | Sequence[str] | None = None,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: LossScalePolicy | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            loss_scale_factor,
            momentum,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self._init_decay(weight_decay, weight_decay_includes, weight_decay_excludes)

    def rule_for(self, name: str) -> UpdateRule:
        """SGD with this variable's weight decay."""
        return SGDRule(self.momentum, self.decay_for(name))


class Adam(Optimizer):
    """OneFlow v0.3.4 Adam: slots ``<var>-m``, ``<var>-v``; bias correction off by default."""

    def __init__(
        self,
        lr_scheduler: Any,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        do_bias_correction: bool = False,
        loss_scale_factor: float | None = None,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: LossScalePolicy | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            loss_scale_factor,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.do_bias_correction = bool(do_bias_correction)

    def rule_for(self, name: str) -> UpdateRule:
        """Adam."""
        del name
        return AdamRule(self.beta1, self.beta2, self.epsilon, self.do_bias_correction)


class AdamW(Adam, _WeightDecayMixin):
    """Adam with decoupled weight decay."""

    def __init__(
        self,
        lr_scheduler: Any,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        do_bias_correction: bool = False,
        loss_scale_factor: float | None = None,
        weight_decay: float | None = None,
        weight_decay_includes: str | Sequence[str] | None = None,
        weight_decay_excludes: str | Sequence[str] | None = None,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: LossScalePolicy | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            beta1,
            beta2,
            epsilon,
            do_bias_correction,
            loss_scale_factor,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self._init_decay(weight_decay, weight_decay_includes, weight_decay_excludes)

    def rule_for(self, name: str) -> UpdateRule:
        """Adam with this variable's weight decay."""
        return AdamRule(
            self.beta1, self.beta2, self.epsilon, self.do_bias_correction, self.decay_for(name)
        )


class LazyAdam(Optimizer):
    """OneFlow's LazyAdam: Adam that updates only the elements with a nonzero gradient (the rows
    a gather touched); slots ``<var>-m``, ``<var>-v``, ``<var>-beta1_t``, ``<var>-beta2_t``
    (:class:`~flowsnap.optimizers.LazyAdamRule`)."""

    def __init__(
        self,
        lr_scheduler: Any,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        loss_scale_factor: float | None = None,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: LossScalePolicy | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            loss_scale_factor,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)

    def rule_for(self, name: str) -> UpdateRule:
        """LazyAdam."""
        del name
        return LazyAdamRule(self.beta1, self.beta2, self.epsilon)


class RMSProp(Optimizer):
    """RMSProp: slot ``<var>-mean_square`` (and ``<var>-mean_gradient`` if centered)."""

    def __init__(
        self,
        lr_scheduler: Any,
        decay_rate: float = 0.99,
        epsilon: float = 1e-8,
        centered: bool = False,
        loss_scale_factor: float | None = None,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: LossScalePolicy | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            loss_scale_factor,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self.decay_rate, self.epsilon = float(decay_rate), float(epsilon)
        self.centered = bool(centered)

    def rule_for(self, name: str) -> UpdateRule:
        """RMSProp."""
        del name
        return RMSPropRule(self.decay_rate, self.epsilon, self.centered)


class LAMB(Optimizer, _WeightDecayMixin):
    """LAMB: slots ``<var>-m``, ``<var>-v``, ``<var>-beta1_t``, ``<var>-beta2_t``.

    Parameters in OneFlow v0.5.0's order (``weight_decay*`` after ``loss_scale_factor``); 0.3.4
    had no weight decay here.
    """

    def __init__(
        self,
        lr_scheduler: Any,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-6,
        loss_scale_factor: float | None = None,
        weight_decay: float | None = None,
        weight_decay_includes: str | Sequence[str] | None = None,
        weight_decay_excludes: str | Sequence[str] | None = None,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: LossScalePolicy | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            loss_scale_factor,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self._init_decay(weight_decay, weight_decay_includes, weight_decay_excludes)

    def rule_for(self, name: str) -> UpdateRule:
        """LAMB with this variable's weight decay."""
        return LAMBRule(self.beta1, self.beta2, self.epsilon, self.decay_for(name))


class LARS(Optimizer, _WeightDecayMixin):
    """OneFlow's LARS: momentum SGD with a per-variable trust ratio, slot ``<var>-momentum``
    (:class:`~flowsnap.optimizers.LARSRule`). The weight decay is part of the gradient (and of the
    trust ratio), not decoupled; ``weight_decay_includes``/``excludes`` select the variables it
    applies to (OneFlow 0.4+; 0.3.4 had no weight decay here)."""

    def __init__(
        self,
        lr_scheduler: Any,
        momentum_beta: float = 0.9,
        epsilon: float = 1e-9,
        lars_coefficient: float = 0.0001,
        loss_scale_factor: float | None = None,
        weight_decay: float | None = None,
        weight_decay_includes: str | Sequence[str] | None = None,
        weight_decay_excludes: str | Sequence[str] | None = None,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: LossScalePolicy | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            loss_scale_factor,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self.momentum_beta, self.epsilon = float(momentum_beta), float(epsilon)
        self.lars_coefficient = float(lars_coefficient)
        self._init_decay(weight_decay, weight_decay_includes, weight_decay_excludes)

    def rule_for(self, name: str) -> UpdateRule:
        """LARS with this variable's weight decay."""
        return LARSRule(
            self.momentum_beta, self.epsilon, self.lars_coefficient, self.decay_for(name)
        )
