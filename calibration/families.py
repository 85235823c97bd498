"""One model family inside a calibration: its estimator, its evaluation on measured data, its residual
stage and its Cramer-Rao bound.

A calibration may fit several families on the same pilots and let the validation set choose
(:mod:`calibration.protocols`, ``parameterization = "auto"``); each is a :class:`Family`. The cascade
families (``physical``, ``hybrid``, ``free``) are evaluated by :class:`calibration.data.Objective`, the
``multiport`` family by :class:`calibration.network_fit.NetworkObjective`; both give a
:class:`Prediction`: the blocks a :class:`calibration.calibrated.CalibratedModel` keeps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.data import CalibrationData, Objective, applied_phases, level_indices
from calibration.fisher import fisher_information
from calibration.metrics import prediction_nmse_db
from calibration.network import NetworkParameterization
from calibration.network_fit import (
    RIDGE_STRONGER,
    RIDGE_WEAKER,
    NetworkEstimator,
    NetworkObjective,
    network_bound,
    ridge_path,
    state_cascade,
)
from calibration.parameterization import Parameterization
from calibration.residual import fit_residual
from simhw.physics.propagation import Cascade

__all__ = ["Prediction", "Family", "RIDGE_TIE_DB"]

RIDGE_TIE_DB = 0.1  # how much better (dB of validation NMSE) a ridge candidate must be to replace the one in hand


@dataclass
class Prediction:
    """A fitted model's blocks: cascade (feed as ``w_in``, receive side as ``w_out``), the atoms' code
    response, the leakage and, for the multiport family, the faces."""

    cascade: Cascade
    atom_response: np.ndarray | None
    leakage: np.ndarray | None
    faces: np.ndarray | None = None

    def nmse_db(self, data: CalibrationData) -> float:
        return prediction_nmse_db(self.cascade, data, self.atom_response, self.leakage, self.faces)

    @classmethod
    def of_state(cls, state) -> Prediction:
        """A multiport fit's :class:`calibration.network_fit.NetworkState` as blocks."""
        return cls(state_cascade(state), state.blocks.response, state.fit.leakage, state.blocks.model.faces)

    @classmethod
    def of_fit(cls, fit) -> Prediction:
        return cls(fit.cascade, fit.atom_response, fit.leakage, getattr(fit, "faces", None))


class Family:
    """A parameterization with its estimator, as one candidate of a calibration."""

    def __init__(self, par: Parameterization, estimator):
        self.par, self.estimator = par, estimator

    @property
    def name(self) -> str:
        return self.par.name

    @property
    def network(self) -> bool:
        return isinstance(self.par, NetworkParameterization)

    def check(self, data: CalibrationData) -> None:
        """Raise ValueError when ``data`` cannot calibrate this family (geometry, codes, too few slots)."""
        data.check_against(self.par)
        if self.network and (data.codes is None or data.bits is None or (1 << data.bits) != self.par.levels):
            raise ValueError(
                f"the multiport family fits the atoms' response to each of {self.par.levels} codes: "
                "calibrate from board codes of that bit depth"
            )

    def evaluate(self, x, data: CalibrationData) -> Prediction:
        """The model at x, with receive terms fitted to ``data`` (no parameter fit)."""
        if self.network:
            state, _ = NetworkObjective(self.par, data).state(x)
            return Prediction.of_state(state)
        ev = Objective(self.par, data).evaluate(x, gradient=False)
        return Prediction(ev.cascade, ev.atom_response, ev.leakage)

    def residual(
        self, pred: Prediction, data: CalibrationData, validation: CalibrationData, x=None
    ) -> tuple[Prediction, dict, np.ndarray | None]:
        """The last stage that validation decides: for the cascade families the residual stage (kept only
        where it lowers the validation NMSE); for the multiport family, which fits every atom's code
        response itself, the strength of the per-atom ridge (:func:`calibration.network_fit.ridge_path`).
        Returns the prediction, what was decided, and the new parameters (None where they did not move)."""
        if self.network:
            return self._ridge(pred, data, validation, x)
        res = fit_residual(pred.cascade, pred.atom_response, pred.leakage, data, validation, self.par.receivers)
        return Prediction(res.cascade, res.atom_response, res.leakage), res.to_dict(), None

    def _ridge(self, pred: Prediction, data: CalibrationData, validation: CalibrationData, x):
        """The multiport family's last stage: walk the per-atom ridge away from the fitted one, weaker
        first (:data:`~calibration.network_fit.RIDGE_WEAKER`), while each step lowers the validation
        NMSE by more than :data:`RIDGE_TIE_DB`; stronger (:data:`~calibration.network_fit.RIDGE_STRONGER`) only
        if no weaker one helped. A tie goes to the fit already in hand: on a bench whose atoms have no code
        spread a thousandfold weaker ridge validated 0.004 dB better and tested 2 dB worse, where the
        stronger ridge it then never tried validated and tested best."""
        before = pred.nmse_db(validation)
        best, best_db, best_x, best_factor, table = None, before, None, None, {1.0: before}
        for ladder in (RIDGE_WEAKER, RIDGE_STRONGER):
            for factor, xr, state in ridge_path(self.par, x, data, ladder):
                cand = Prediction.of_state(state)
                table[factor] = cand.nmse_db(validation)
                if table[factor] >= best_db - RIDGE_TIE_DB:
                    break
                best, best_db, best_x, best_factor = cand, table[factor], xr, factor
            if best is not None:
                break
        info = {
            "kept": best is not None,
            "ridge": best_factor,
            "heldout_before_db": before,
            "heldout_after_db": best_db,
            "cv_db": {f"{k:g}": v for k, v in table.items()},
        }
        if best is None:
            return pred, {**info, "reason": "the fitted per-atom ridge is the validation set's choice"}, None
        return best, {**info, "reason": f"validation prefers {best_factor:g} x the per-atom ridge"}, best_x

    def bound(self, x, data: CalibrationData, response) -> dict | None:
        """The Cramer-Rao bound of the physical parameters at x (noise from the fit's residual)."""
        par = self.par
        if self.network:
            return network_bound(par, x, data)
        if not hasattr(par, "cascade_and_jvp") or par.channel == "free":
            return None
        levels = None if response is None else level_indices(data, len(response))
        theta, amp = applied_phases(data.theta, levels, response)
        fi = fisher_information(par, x, theta, None, amp, par.receivers, data.y)
        return {
            "names": fi.names,
            "estimate": np.asarray(x[: par.n_physical], float).tolist(),
            "crb_std": fi.std.tolist(),
            "sigma2": fi.sigma2,
            "noise": "the fit's residual (model error included)",
        }


def network_estimator(par: NetworkParameterization, estimator: str, options: dict) -> NetworkEstimator:
    if estimator not in ("gradient", "levenberg-marquardt"):
        raise ValueError(
            f"the multiport family is fitted by its gradient estimator (Levenberg-Marquardt), not {estimator!r}"
        )
    return NetworkEstimator(par, **options)
