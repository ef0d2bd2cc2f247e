"""Loggers of a run."""

from __future__ import annotations

import csv
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes a metrics.csv it finds; this one continues it (the header's
    columns are kept, new ones added), so that a resumed run's rows follow its earlier ones."""

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if path.is_file():
            with open(path, newline="") as handle:
                self.metrics_keys = next(csv.reader(handle), [])  # the file's own column order


class AppendingCSVLogger(CSVLogger):
    """CSVLogger that appends to the run folder's metrics.csv instead of replacing it."""

    @property
    def experiment(self) -> _AppendingWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
