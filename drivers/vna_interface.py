"""What simhw needs from a VNA (:class:`VNA`) and the errors every VNA driver raises."""

from __future__ import annotations

import abc

import numpy as np

__all__ = ["VNA", "VNAError", "VNATimeout"]


class VNAError(RuntimeError):
    """The instrument reported an error, or the request cannot be carried out."""


class VNATimeout(VNAError):
    """The instrument did not answer in time; the session was reset."""


class VNA(abc.ABC):
    """What simhw needs from a VNA."""

    @abc.abstractmethod
    def identify(self) -> str: ...

    @abc.abstractmethod
    def configure(
        self,
        start: float,
        stop: float,
        points: int,
        ifbw: float | None = None,
        power: float | None = None,
        params: tuple[str, ...] = ("S21",),
    ) -> None: ...

    @abc.abstractmethod
    def frequencies(self) -> np.ndarray: ...

    @abc.abstractmethod
    def sweep(self) -> None:
        """One single sweep of all configured parameters; returns once it is complete."""

    @abc.abstractmethod
    def read(self) -> dict[str, np.ndarray]:
        """The last sweep's complex traces, by S-parameter name."""

    @abc.abstractmethod
    def errors(self) -> list[str]: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def measure(self) -> dict[str, np.ndarray]:
        self.sweep()
        return self.read()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
