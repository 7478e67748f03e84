"""The progress display of a run: one bar over every training (trials and final runs)."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm


class Progress:
    """A tqdm bar whose label shows dataset, loss, stage and the best validation score so far.

    Without a terminal (a log file, CI) there is no bar: every finished training prints one
    line instead, ``[12/180 0:41] digits-exp20 | focal | trial 3/8 | best val F1 0.912``.
    """

    def __init__(self, total: int, done: int = 0, enabled: bool = True) -> None:
        # A bar redrawn with carriage returns only helps on a terminal; logs get the notes.
        show_bar = enabled and sys.stderr.isatty()
        self.enabled, self.label = enabled, ""
        self.done, self.total, self.start = done, total, time.monotonic()
        self.bar = tqdm(total=total, initial=done, unit="fit", dynamic_ncols=True,
                        disable=not show_bar, file=sys.stderr, smoothing=0.1)

    def show(self, dataset: str, loss: str, stage: str, best: float | None = None) -> None:
        """Set the label: ``digits-exp20 | focal | trial 3/8 | best 0.912``."""
        parts = [dataset, loss, stage]
        if best is not None:
            parts.append(f"best val F1 {best:.3f}")
        self.label = " | ".join(parts)
        self.bar.set_description(self.label, refresh=True)

    def advance(self, count: int = 1) -> None:
        self.bar.update(count)
        self.done += count
        if count > 0 and self.bar.disable and self.enabled and self.label:
            seconds = int(time.monotonic() - self.start)
            clock = f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}".removeprefix("0:")
            print(f"[{self.done}/{self.total} {clock}] {self.label}", file=sys.stderr, flush=True)

    def note(self, message: str) -> None:
        """A line above the bar (on stderr without a terminal; nothing when disabled)."""
        if self.bar.disable:
            if self.enabled:
                print(message, file=sys.stderr, flush=True)
        else:
            self.bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()
