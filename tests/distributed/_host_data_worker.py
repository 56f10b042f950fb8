"""Worker (4 CPU devices): a train job that reads its own data (host data ops) runs data
parallel — its fed batch split over the devices — and trains as on one device."""

from __future__ import annotations

import json
import traceback
from typing import Any

import numpy as np

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap._engine import HostCall, host_op

DATA = np.random.default_rng(0).normal(size=(32, 6)).astype(np.float32)


def build(ids: str) -> Any:
    def rows(call: HostCall) -> np.ndarray:
        return DATA[[(call.batch * 8 + i) % len(DATA) for i in range(8)]]

    @flow.global_function(type="train")
    def train() -> tp.Numpy:
        with flow.scope.placement("cpu", ids):
            x = host_op("worker_rows", rows, fed=True)
            w = flow.get_variable("w", (6, 1), initializer=flow.constant_initializer(0.1))
            loss = flow.math.square(flow.matmul(x, w) - 1.0)
            flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.05])).minimize(loss)
        return loss

    return train


def main() -> None:
    report: dict[str, Any] = {}
    try:
        results = {}
        for ids in ("0:0", "0:0-3"):
            flow.clear_default_session()
            train = build(ids)
            for _ in range(5):
                train()
            results[ids] = flow.get_all_variables()["w"].numpy()
            if ids == "0:0-3":
                layout = train._layout
                placed = layout.host_batch((DATA[:8],))[0]
                report["split"] = str(placed.sharding.spec)
                report["devices"] = len(placed.sharding.device_set)
                report["accumulated"] = str(layout.host_batch((DATA[:8],), 2)[0].sharding.spec)
        report["close"] = bool(np.allclose(results["0:0"], results["0:0-3"], rtol=1e-5, atol=1e-6))
    except Exception:  # reported to the test, which fails with it
        report["error"] = traceback.format_exc()
    print("RESULT " + json.dumps(report))


if __name__ == "__main__":
    main()
