"""``oneflow/core/job/job_conf.proto`` as in OneFlow v0.5.0: ``JobConfigProto``, what
``flow.FunctionConfig`` and ``@flow.global_function(type=...)`` fill, with its train conf.

Differences by version, from OneFlow's files at each tag:

- v0.4.0: ``AdamModelUpdateConf.do_bias_correction`` defaults to false (true in v0.5.0); no
  ``amsgrad``, ``LazyAdamModelUpdateConf.do_bias_correction``, ``AdagradModelUpdateConf``.
- v0.3.4: ``TrainConf`` numbers its fields differently (``model_update_conf = 3``,
  ``loss_lbn = 6``, ``train_step_lbn = 8``, ``primary_lr_lbn = 9``, ``secondary_lr_lbn = 10``,
  ``loss_scale_factor = 11``, ``dynamic_loss_scale_policy = 12``, ``primary_lr = 101``,
  ``secondary_lr = 102``; no ``optimizer_conf``): the names are the same, the bytes are not. It
  also has ``total_batch_num = 7``, ``exp_run_conf = 100``,
  ``use_memory_allocation_algorithm_v2 = 101``, ``enable_float_compute_for_half_gemm = 601``,
  ``enable_keep_header_only = 700``, kept here since no later field reuses their numbers, and
  lacks ``num_gradient_accumulation_steps = 210`` and ``prune_amp_white_identity_ops = 511``.

Left out (they need OneFlow's placement, blob and op-attribute files): ``ParallelBlobConf``,
``IndexedSlicesOptimizerConf`` (field 104), ``flag_name2flag_value`` (2000) and ``signature``
(4000). Parsing a message that has them keeps them as unknown fields.
"""

from __future__ import annotations

from typing import Any

from flowsnap.core import _job_conf_schema
from flowsnap.core._schema import publish

DESCRIPTOR = publish(_job_conf_schema.FILE, globals())


def __getattr__(name: str) -> Any:
    """Only for type checkers: the module's names are made at import, by ``publish``."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
