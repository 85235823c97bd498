"""The values a bench file's string keys may take, declared once in the lowest layer that checks them.

``BenchConfig.validate`` checks a bench file against :data:`CHOICES`; the layers above take their
tables from here (``calibration`` its parameterization, estimator and receiver names, the drivers
and the simulated instruments the VNA families of :mod:`simhw.values.vna_models`).
"""

from __future__ import annotations

from simhw.values.vna_models import FAMILIES

__all__ = ["CALIBRATION_FAMILIES", "ESTIMATORS", "RECEIVERS", "BOARD_PROTOCOLS", "CHOICES", "check_choices"]

#: The model families a bench calibration can fit (calibration.parameterization); "auto" fits several and
#: lets the validation set choose.
CALIBRATION_FAMILIES = ("physical", "hybrid", "free", "multiport", "auto")
#: How a calibration fits its model (calibration.estimators).
ESTIMATORS = ("gradient", "codebook", "learned")
#: The receive terms a calibration fits per frequency (calibration.receivers).
RECEIVERS = ("gain", "port", "free")
#: The board protocols drivers.bench opens.
BOARD_PROTOCOLS = ("smp", "open-ris")

CHOICES = {
    "vna.family": FAMILIES,
    "board.protocol": BOARD_PROTOCOLS,
    "simulation.vna_interface": ("socket", "hislip", "vxi11"),
    "simulation.truth_model": ("cascade", "multiport"),
    "simulation.transport": ("pty", "tcp", "inproc"),
    "calibration.parameterization": CALIBRATION_FAMILIES,
    "calibration.estimator": ESTIMATORS,
    "calibration.receivers": RECEIVERS,
    "daemon.durability": ("process", "power"),
}


def _listed(choices: tuple) -> str:
    quoted = [f"'{c}'" for c in choices]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}"


def check_choices(cfg, error) -> None:
    """Raise ``error`` naming the first key of :data:`CHOICES` whose value is not one of its choices."""
    for key, choices in CHOICES.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if value not in choices:
            raise error(f"{key} = {value!r}: must be {_listed(choices)}")
