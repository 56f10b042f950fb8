"""A job that reads its own data, on 4 CPU devices: the batch of its data ops is split over the
devices (consistent view) and training equals one device (``_host_data_worker.py``)."""

from __future__ import annotations

from tests.distributed._run import run_worker


def test_host_data_is_split_over_the_devices_and_trains_as_on_one() -> None:
    report = run_worker("_host_data_worker.py", devices=4)
    assert "error" not in report, report.get("error")
    assert report["close"]
    assert report["split"] == "P('p0',)"
    assert report["devices"] == 4
    assert report["accumulated"] == "P()"  # micro-batches joined on axis 0
