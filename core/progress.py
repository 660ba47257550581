"""Progress events that long computations pass to a callback (a UI, a CLI bar, a job log)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

PHASES = ("prepare", "train", "evaluate", "score", "save", "done")


class ComputationCancelled(RuntimeError):
    """Raised when a long computation's ``should_stop`` callback returned true.

    The job worker records any subclass of it as a cancelled job.
    """


@dataclass
class Progress:
    """One progress update.

    Attributes:
        phase: One of :data:`PHASES`.
        step: Steps finished in this phase (optimizer steps while training, batches while scoring).
        total_steps: Steps this phase will take.
        epoch: 1-based epoch while training, else 0.
        samples: Samples processed so far in this phase.
        loss: Mean training loss over the last logging window.
        metrics: Latest validation metrics (accuracy, macro_f1, nll, ...).
        elapsed_seconds: Wall time since the phase started.
        eta_seconds: Estimated seconds until the whole computation ends.
        message: A short English log line.
    """

    phase: str
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    samples: int = 0
    loss: float | None = None
    metrics: dict = field(default_factory=dict)
    elapsed_seconds: float = 0.0
    eta_seconds: float | None = None
    message: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    def to_dict(self) -> dict:
        return asdict(self)
