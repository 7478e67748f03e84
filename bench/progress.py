"""The progress display of a run: one bar over every training (trials and final runs)."""

from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    """A tqdm bar whose label shows dataset, loss, stage and the best validation score so far."""

    def __init__(self, total: int, done: int = 0, enabled: bool = True) -> None:
        # A bar redrawn with carriage returns only helps on a terminal; logs get the notes.
        show_bar = enabled and sys.stderr.isatty()
        self.enabled = enabled
        self.bar = tqdm(total=total, initial=done, unit="fit", dynamic_ncols=True,
                        disable=not show_bar, file=sys.stderr, smoothing=0.1)

    def show(self, dataset: str, loss: str, stage: str, best: float | None = None) -> None:
        """Set the label: ``digits-exp20 | focal | trial 3/8 | best 0.912``."""
        parts = [dataset, loss, stage]
        if best is not None:
            parts.append(f"best val F1 {best:.3f}")
        self.bar.set_description(" | ".join(parts), refresh=True)

    def advance(self, count: int = 1) -> None:
        self.bar.update(count)

    def note(self, message: str) -> None:
        """A line above the bar (on stderr without a terminal; nothing when disabled)."""
        if self.bar.disable:
            if self.enabled:
                print(message, file=sys.stderr, flush=True)
        else:
            self.bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()
