"""The focusing objective: put the power on one output of an end-to-end model (a receive port of the bench
or a point in space), optionally with a null toward other outputs. Its loss and analytic gradient follow
:class:`~simhw.designs.training.objectives.Objective` (docs/physics.md, sec. 4)."""

from __future__ import annotations

import numpy as np

from simhw.designs.training.objectives import Objective, TrainingError
from simhw.physics.model import SIMModel

__all__ = ["Focus"]


class Focus(Objective):
    """Put the power on one output of an end-to-end model: a receive port, or a point in space.

    loss = -10 log10(P_out), P = |H_f[output, input]|^2 averaged over the model's frequencies: minus
    the gain in dB. With ``suppress`` (a null toward other outputs) the loss is minus the contrast

        C = 10 log10(P_out / (P_suppressed + c P_out)),  c = 10^(-cap_db/10),

    which saturates at ``cap_db`` (default 40 dB): nulls deeper than the cap earn nothing, so the
    optimiser does not chase depths that a measurement's noise floor and the phase quantization
    decide anyway. For a point, build the model with an output antenna at the point. ``offset``
    (F, P, M) is added to every response: what reaches the receivers around the SIM (a calibrated
    model's leakage, :attr:`calibration.calibrated.CalibratedModel.offset`).
    """

    name = "focus"

    def __init__(
        self,
        model: SIMModel,
        output: int = 0,
        input: int = 0,
        suppress=(),
        cap_db: float = 40.0,
        atom_response=None,
        offset=None,
    ):
        super().__init__(model, atom_response)
        self.offset = None if offset is None else np.asarray(offset, complex)
        if self.offset is not None and self.offset.shape != (model.n_freqs, model.n_outputs, model.n_inputs):
            raise TrainingError(
                f"offset must be (F, P, M) = {(model.n_freqs, model.n_outputs, model.n_inputs)}, "
                f"got {self.offset.shape}"
            )
        if not cap_db > 0:
            raise TrainingError("cap_db must be > 0")
        self.cap = 10 ** (-cap_db / 10)
        self.cap_db = float(cap_db)
        self._require("end-to-end", "focusing", single_frequency=False)
        for o in (output, *suppress):
            if not 0 <= o < model.n_outputs:
                raise TrainingError(f"output {o} does not exist: the model has {model.n_outputs} receive antenna(s)")
        if output in suppress:
            raise TrainingError("the target output cannot also be suppressed")
        if not 0 <= input < model.n_inputs:
            raise TrainingError(f"input {input} does not exist: the model has {model.n_inputs} feed antenna(s)")
        self.output, self.input, self.suppress = output, input, tuple(int(o) for o in suppress)

    def _powers(self, h):
        target = np.mean(np.abs(h[..., self.output, self.input]) ** 2, axis=-1)
        if not self.suppress:
            return target, None
        other = np.mean(np.abs(h[..., list(self.suppress), self.input]) ** 2, axis=(-2, -1))
        return target, other

    def response(self, theta, amplitude=None):
        """The model's responses with the offset added (what the objective sees)."""
        h = self.model.response(theta, amplitude)
        return h if self.offset is None else h + self.offset

    def loss_batch(self, theta, amplitude=None) -> np.ndarray:
        theta, amplitude = self._as_batch(theta, amplitude)
        target, other = self._powers(self.response(theta, amplitude))
        loss = -10 * np.log10(np.maximum(target, 1e-300))
        if other is not None:
            loss = loss + 10 * np.log10(np.maximum(other + self.cap * target, 1e-300))
        return loss

    def loss_and_grad(self, theta, samples=None) -> tuple[float, np.ndarray]:
        theta = np.asarray(theta, float)
        h = self.response(theta)  # (F, P, M)
        target, other = self._powers(h)
        c = 10 / np.log(10)
        g_h = np.zeros_like(h)
        t = max(float(target), 1e-300)
        g_h[:, self.output, self.input] = -c * 2 * h[:, self.output, self.input] / (h.shape[0] * t)
        loss = -10 * np.log10(t)
        if other is not None:
            o = max(float(other) + self.cap * t, 1e-300)
            sup = list(self.suppress)
            g_h[:, sup, self.input] = c * 2 * h[:, sup, self.input] / (h.shape[0] * len(sup) * o)
            g_h[:, self.output, self.input] += c * self.cap * 2 * h[:, self.output, self.input] / (h.shape[0] * o)
            loss += 10 * np.log10(o)
        grad, _ = self.model.vjp(theta, g_h)
        return loss, grad

    def metrics(self, theta, amplitude=None) -> dict:
        theta = np.asarray(theta, float)
        amp = None if amplitude is None else np.asarray(amplitude)[None]
        target, other = self._powers(self.response(theta[None], amp))
        out = {"loss": float(self.loss_batch(theta, amplitude)[0]), "gain_db": float(10 * np.log10(target[0]))}
        if other is not None:
            out["contrast_db"] = float(10 * np.log10(target[0] / other[0]))
            out["capped_contrast_db"] = -out["loss"]
        return out

    def describe(self) -> dict:
        return {
            "objective": self.name,
            "output": self.output,
            "input": self.input,
            "suppress": list(self.suppress),
            "cap_db": self.cap_db,
        }
