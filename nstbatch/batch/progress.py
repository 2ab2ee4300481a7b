"""What a user sees while a batch runs: a bar over files, a bar over the current file's iterations.

The runner talks to a ``Reporter``; ``RichReporter`` draws bars on stderr, ``QuietReporter`` prints only
failures and the summary, so tests and ``--quiet`` runs stay readable.
"""

from __future__ import annotations

import logging
import sys


class _ToReporter(logging.Handler):
    """nstbatch's log as lines above the bars: warnings as notes (a colour profile that cannot be used, a
    picture painted in blocks to fit in memory), errors as errors (the gallery cannot be written)."""

    def __init__(self, reporter: QuietReporter, level: int):
        super().__init__(level)
        self.reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        self.reporter.message(f"{'error' if record.levelno >= logging.ERROR else 'note'}: {record.getMessage()}")


class QuietReporter:
    log_level = logging.ERROR  # of nstbatch's log, what is shown: here only what went wrong

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr  # plain lines: rich's console costs 20 ms to import, for nothing here
        self.notes = None

    def __enter__(self):
        self.notes = _ToReporter(self, self.log_level)
        logging.getLogger("nstbatch").addHandler(self.notes)
        return self

    def __exit__(self, *exc):
        logging.getLogger("nstbatch").removeHandler(self.notes)
        return False

    def start_batch(self, total: int, unit: str = "files") -> None:
        pass

    def start_item(self, name: str, iterations: int) -> None:
        pass

    def iteration(self, done: int, loss: float, note: str = "") -> None:
        pass

    def end_item(self, files: int = 1) -> None:
        pass

    def message(self, text: str) -> None:
        """One line that must be seen even in quiet mode: a failure, the summary."""
        print(text, file=self.stream, flush=True)


class RichReporter(QuietReporter):
    log_level = logging.WARNING

    def __init__(self, stream=None):
        super().__init__(stream)
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)  # its spinners alone take 15 ms to import: not for --quiet

        self.console = Console(file=self.stream, highlight=False, soft_wrap=True)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.files = None
        self.current = None

    def __enter__(self):
        self.progress.start()
        return super().__enter__()

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self.progress.stop()
        return False

    def start_batch(self, total: int, unit: str = "files") -> None:
        self.files = self.progress.add_task(unit, total=total, detail="")

    def start_item(self, name: str, iterations: int) -> None:
        self.current = self.progress.add_task(f"  {name}", total=iterations, detail="")

    def iteration(self, done: int, loss: float, note: str = "") -> None:
        self.progress.update(self.current, completed=done, detail=f"{note + ', ' if note else ''}loss {loss:.4g}")

    def end_item(self, files: int = 1) -> None:
        if self.current is not None:
            self.progress.remove_task(self.current)
            self.current = None
        if self.files is not None:
            self.progress.advance(self.files, files)

    def message(self, text: str) -> None:
        self.progress.console.print(text, markup=False)
