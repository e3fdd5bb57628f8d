"""Progress of long loops: a tqdm bar on a terminal, plain log lines in a job log.

A Kaldi job log (``exp/*/log/*.log``) is text that a person reads and greps; tqdm's
carriage-return frames would fill it with one "line" of hundreds of kilobytes. This module
is the one place that chooses: when stderr is a terminal, :func:`progress_bar` draws a tqdm
bar; otherwise (stderr is a file or a pipe) it logs one line every ``every`` items and one at
the end, e.g. ``decode (greedy): batch 40/400 3.2 batch/s`` or, from the trainer,
``train base: step 250/2500 loss 1.234 lr 0.0012 2.1 step/s``.

Example:
    >>> for utt in progress_bar(["a", "b"], desc="check", unit="utt"):
    ...     pass
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm import tqdm

logger = logging.getLogger(__name__)

#: Lines a loop of known length logs (besides its last one) when ``every`` is not given.
LINES_A_LOOP = 10
#: Items between lines when the length of the loop is unknown and ``every`` is not given.
EVERY_WITHOUT_TOTAL = 1000


def bars_on() -> bool:
    """Whether progress is drawn as bars: stderr is a terminal (not a job log or a pipe)."""
    return sys.stderr.isatty()


class ProgressLines:
    """tqdm's interface (iteration, ``update``, ``set_postfix``, ``close``, ``with``), that logs
    ``DESC: UNIT N/TOTAL [NAME VALUE]... RATE UNIT/s`` when the count reaches a multiple of
    ``every``, and once more at the end if the last count was not logged."""

    def __init__(
        self,
        iterable: Iterable[Any] | None,
        total: int | None,
        desc: str,
        unit: str,
        initial: int,
        every: int,
    ) -> None:
        self.iterable = iterable
        self.total = total
        self.desc, self.unit, self.every = desc, unit, every
        self.n = self.initial = self.logged = initial
        self.postfix: dict[str, str] = {}
        self.started = time.monotonic()
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update()
        self.close()

    def __enter__(self) -> ProgressLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items; log a line if a multiple of ``every`` was reached."""
        self.n += n
        if self.n // self.every > self.logged // self.every:
            self._log()

    def set_postfix(self, **values: Any) -> None:
        """Numbers to show after the count (``loss=1.23`` logs ``loss 1.23``)."""
        self.postfix = {name: str(value) for name, value in values.items()}

    def close(self) -> None:
        """Log the last count, unless it was logged already (once only)."""
        if not self.closed and self.n != self.logged:
            self._log()
        self.closed = True

    def _log(self) -> None:
        self.logged = self.n
        count = f"{self.n}" if self.total is None else f"{self.n}/{self.total}"
        rate = (self.n - self.initial) / max(1e-9, time.monotonic() - self.started)
        values = "".join(f" {name} {value}" for name, value in self.postfix.items())
        logger.info("%s: %s %s%s %.3g %s/s", self.desc, self.unit, count, values, rate, self.unit)


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    desc: str,
    unit: str = "it",
    total: int | None = None,
    initial: int = 0,
    every: int | None = None,
    disable: bool = False,
    leave: bool = True,
) -> tqdm | ProgressLines:
    """The progress of a loop over ``iterable`` (or of ``update`` calls): a tqdm bar when
    stderr is a terminal (:func:`bars_on`), else :class:`ProgressLines` on this module's logger.

    Args:
        iterable: the items to count; None to count with ``update(n)``.
        desc: what is done, first on each line (``decode (greedy)``).
        unit: what one item is (``utt``, ``batch``, ``step``).
        total: the count at the end; default ``len(iterable)`` where it has one.
        initial: the count at the start (a resumed run's step).
        every: items between log lines; default a tenth of ``total``, or
            :data:`EVERY_WITHOUT_TOTAL` without one. Bars ignore it.
        disable: show nothing (and count nothing).
        leave: whether the bar stays on the terminal when done (tqdm's ``leave``).
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if disable or bars_on():
        options = {"desc": desc, "unit": unit, "initial": initial, "leave": leave}
        return tqdm(iterable, total=total, disable=disable, **options)
    if every is None:
        every = math.ceil(total / LINES_A_LOOP) if total else EVERY_WITHOUT_TOTAL
    return ProgressLines(iterable, total, desc, unit, initial, max(1, every))
