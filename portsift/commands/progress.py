"""The progress bar of a command (its own module: generate uses it without the models)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from tqdm import tqdm


class Progress(AbstractContextManager["Progress"]):
    """One progress bar over the stages of a command (silent with ``--quiet``)."""

    def __init__(self, stages: Sequence[str], quiet: bool) -> None:
        self.stages = list(stages)
        self.quiet = quiet
        self._bar: Any = None
        self._started = False

    def __enter__(self) -> Progress:
        if not self.quiet:
            self._bar = tqdm(
                total=len(self.stages),
                file=sys.stderr,
                unit="stage",
                leave=False,
                disable=None,
                bar_format="{desc:<28} {bar} {n_fmt}/{total_fmt} [{elapsed}]",
            )
        return self

    def stage(self, name: str) -> None:
        """Mark the start of a stage."""
        if self._bar is not None:
            if self._started:
                self._bar.update(1)
            self._bar.set_description_str(name)
        self._started = True

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.update(self._bar.total - self._bar.n)
            self._bar.close()
