"""Training phase configurations on a SIM model (docs/physics.md, sec. 4; [1] Learnable SIM and [5] ISAC with SIM)."""

from simhw.designs.training.focus import Focus
from simhw.designs.training.objectives import (
    ISACBeamforming,
    MultiUserSeparation,
    Objective,
    TrainingError,
)
from simhw.designs.training.trainer import (
    TrainOptions,
    TrainResult,
    quantize_codes,
    train,
)

__all__ = [
    "Objective",
    "MultiUserSeparation",
    "ISACBeamforming",
    "Focus",
    "TrainingError",
    "TrainOptions",
    "TrainResult",
    "train",
    "quantize_codes",
]
