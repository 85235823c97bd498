"""Training phase configurations on a SIM model (PHYSICS.md section 4; seeds 000 and 004)."""

from simhw.designs.training.objectives import (
           Focus,
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

__all__ = ["Objective", "MultiUserSeparation", "ISACBeamforming", "Focus", "TrainingError", "TrainOptions",
           "TrainResult", "train", "quantize_codes"]
