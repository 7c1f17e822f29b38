"""Progress displays of `fit`: strategy objects told the stage (compiling, adam, lbfgs, evaluation) and each step."""

from __future__ import annotations

import abc
import sys

from tqdm.auto import tqdm


class AbstractProgress(abc.ABC):
    """What `fit` reports while it trains; subclass it to send progress elsewhere (a log, a notebook widget)."""

    @abc.abstractmethod
    def start(self, total: int, initial: int) -> None:
        """Training of `total` steps begins (or resumes) at step `initial`."""

    @abc.abstractmethod
    def stage(self, name: str) -> None:
        """The work now under way: ``"compiling"``, ``"adam"``, ``"lbfgs"`` or ``"evaluation"``."""

    @abc.abstractmethod
    def advance(self, steps: int, loss: float) -> None:
        """`steps` more steps are done; the last loss was `loss`."""

    @abc.abstractmethod
    def close(self) -> None:
        """Training ended (finished, stopped or failed)."""

    def message(self, text: str) -> None:
        """A line for the person watching (e.g. "resumed from step N"); on stderr unless a subclass says otherwise."""
        print(text, file=sys.stderr)


class NoProgress(AbstractProgress):
    """Shows no progress (messages still go to stderr)."""

    def start(self, total: int, initial: int) -> None:
        pass

    def stage(self, name: str) -> None:
        pass

    def advance(self, steps: int, loss: float) -> None:
        pass

    def close(self) -> None:
        pass


class ProgressBar(AbstractProgress):
    """A tqdm bar on stderr whose label names the stage (``compiling...`` before the first step of each program)."""

    def __init__(self):
        self._bar = None

    def start(self, total: int, initial: int) -> None:
        self._bar = tqdm(total=total, initial=initial, desc="fit", dynamic_ncols=True, file=sys.stderr)

    def stage(self, name: str) -> None:
        self._bar.set_description_str("compiling..." if name == "compiling" else name)
        self._bar.refresh()

    def advance(self, steps: int, loss: float) -> None:
        self._bar.update(steps)
        self._bar.set_postfix(loss=f"{loss:.3e}")

    def message(self, text: str) -> None:
        tqdm.write(text, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def progress_display(progress: AbstractProgress | bool | None) -> AbstractProgress:
    """`progress` itself, or `ProgressBar` for True (None: when stderr is a terminal), `NoProgress` for False."""
    if isinstance(progress, AbstractProgress):
        return progress
    show = sys.stderr.isatty() if progress is None else bool(progress)
    return ProgressBar() if show else NoProgress()
