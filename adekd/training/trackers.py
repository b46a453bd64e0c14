"""Training logs as an Accelerate tracker: JSON lines and CSV in the output folder, always.

Every run writes ``training_log.jsonl`` (one object per logged step) and ``training_log.csv``
(long format: ``step,name,value``, so columns never depend on which values a step logged); both
survive without TensorBoard or any service. TensorBoard is added when it is installed.
"""

from __future__ import annotations

import csv
import json
import os
import time
from typing import Any

from accelerate.tracking import GeneralTracker, on_main_process

LOG_JSONL = "training_log.jsonl"
LOG_CSV = "training_log.csv"
TRACKER_RUN_NAME = "runs"
"""TensorBoard writes under ``OUTPUT/runs/``."""


class FileTracker(GeneralTracker):
    """Appends logged values to ``training_log.jsonl`` and ``training_log.csv`` (main process only).

    Appending (not truncating) keeps the log of the interrupted part of a resumed run.
    """

    name = "adekd_files"
    requires_logging_directory = True

    def __init__(self, run_name: str, logging_dir: str | os.PathLike):
        super().__init__()
        self.run_name = run_name
        self.logging_dir = os.fspath(logging_dir)

    @on_main_process
    def start(self) -> None:
        os.makedirs(self.logging_dir, exist_ok=True)
        self.jsonl_path = os.path.join(self.logging_dir, LOG_JSONL)
        self.csv_path = os.path.join(self.logging_dir, LOG_CSV)
        new_csv = not os.path.exists(self.csv_path)
        self._jsonl = open(self.jsonl_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in finish)
        self._csv_file = open(self.csv_path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        self._csv = csv.writer(self._csv_file)
        if new_csv:
            self._csv.writerow(["time", "step", "name", "value"])

    @property
    def tracker(self) -> FileTracker:
        return self

    @on_main_process
    def store_init_configuration(self, values: dict) -> None:
        self._write({"event": "config", "config": values}, step=None)

    @on_main_process
    def log(self, values: dict, step: int | None = None, **kwargs: Any) -> None:
        self._write(values, step)
        now = round(time.time(), 3)
        for name, value in values.items():
            if isinstance(value, int | float | str | bool):
                self._csv.writerow([now, step, name, value])
        self._csv_file.flush()

    def _write(self, values: dict, step: int | None) -> None:
        self._jsonl.write(json.dumps({"time": round(time.time(), 3), "step": step, **values}) + "\n")
        self._jsonl.flush()

    @on_main_process
    def finish(self) -> None:
        self._jsonl.close()
        self._csv_file.close()


def tensorboard_available() -> bool:
    """Whether TensorBoard logging can be switched on (``tensorboard`` installed)."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def make_trackers(logging_dir: str) -> list[GeneralTracker | str]:
    """The trackers of a run: the file logs always, TensorBoard when installed."""
    trackers: list[GeneralTracker | str] = [FileTracker("adekd", logging_dir)]
    if tensorboard_available():
        trackers.append("tensorboard")
    return trackers
