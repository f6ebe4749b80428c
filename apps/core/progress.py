"""A terminal progress bar for long management commands (no dependency).

On a terminal it redraws one line; in a log (not a TTY) it prints a line every 10% instead, so CI
and cron logs stay readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")


class Progress:
    def __init__(self, total: int, *, label: str = "", stream: TextIO | None = None, width: int = 30):
        self.total = max(int(total), 0)
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.done = 0
        self.started = time.monotonic()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_decile = -1
        self._printed_done = -1

    def advance(self, step: int = 1) -> None:
        self.done = min(self.done + step, self.total) if self.total else self.done + step
        self._draw()

    def _draw(self, final: bool = False) -> None:
        fraction = (self.done / self.total) if self.total else 1.0
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        filled = int(self.width * fraction)
        bar = "█" * filled + "░" * (self.width - filled)
        line = f"{self.label} {bar} {self.done}/{self.total} {fraction:4.0%} {rate:,.0f}/s"
        if self._tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
            self.stream.flush()
            return
        decile = int(fraction * 10)
        if decile != self._last_decile or (final and self._printed_done != self.done):
            self._last_decile = decile
            self._printed_done = self.done
            self.stream.write(line + "\n")

    def close(self) -> None:
        self._draw(final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(items: Iterable[T], *, total: int | None = None, label: str = "", stream=None) -> Iterator[T]:
    if total is None:
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, label=label, stream=stream) as bar:
        for item in items:
            yield item
            bar.advance()
