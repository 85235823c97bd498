"""The hardware-in-the-loop check: does training on the calibrated model pay off on the bench?

One run on the embedded simulated bench (fabrication errors ``error_scale`` x the paper's bounds):

1. start the bench and a bench daemon; calibrate through the daemon (its store keeps the model);
2. train a focusing configuration (power to one receive port and, with two or more ports, a null
   toward the others; quantized to the board's codes) on (i) the ideal model, (ii) the calibrated
   model and (iii) the simulated truth (the reference only a simulator can give, and only when
   the bench's truth is a cascade model: with the multiport truth or bench effects the truth row
   is marked unavailable rather than trained on a model that is not the truth);
3. push each through the daemon, measure it on the bench, and compare the measured objective (the
   contrast target/suppressed in dB, or the gain with one port; power averaged over the sweep)
   with what each model predicted.

The three measured numbers are the result: calibrated should beat ideal and come within about
1 dB of truth.
"""

from __future__ import annotations

import copy
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from calibration.calibrated import CalibratedModel
from simhw.app.embedded import embedded_daemon
from simhw.control.client import DaemonClient
from simhw.designs.training.objectives import Focus, TrainingError
from simhw.designs.training.trainer import TrainOptions, train
from simhw.physics.model import SIMModel
from simhw.values.bench_config import BenchConfig

__all__ = ["HILReport", "hil_check", "check_model_fits"]


def check_model_fits(n_layers: int, n_atoms: int, info) -> None:
    """Refuse a model whose geometry is not the board's (``info``: a BoardInfo)."""
    if (n_layers, n_atoms) != (info.layers, info.rows * info.cols):
        raise TrainingError(f"the model has {n_layers} layers x {n_atoms} atoms, the board drives {info.layers} "
                            f"layers x {info.rows * info.cols} atoms ({info.rows}x{info.cols}): train on a model of "
                            "this bench")


@dataclass
class HILReport:
    port: int
    suppress: tuple = ()
    rows: list = field(default_factory=list)  # per model: name, predicted_db, measured_db, hash
    calibration: dict = field(default_factory=dict)
    seconds: float = 0.0
    truth_unavailable: str = ""  # why there is no truth row (the bench's truth is not a cascade model)

    def measured(self, name: str) -> float:
        return next(r["measured_db"] for r in self.rows if r["model"] == name)

    @property
    def calibrated_beats_ideal(self) -> bool:
        return self.measured("calibrated") > self.measured("ideal")

    @property
    def gap_to_truth_db(self) -> float | None:
        if self.truth_unavailable:
            return None
        return self.measured("truth") - self.measured("calibrated")

    def table(self) -> str:
        what = (f"contrast port {self.port} vs {list(self.suppress)} (capped at 40 dB)" if self.suppress
                else f"gain at port {self.port}")
        lines = [f"focus on receive port {self.port}: {what} in dB, power-averaged over the sweep",
                 f"{'trained on':<12} {'predicted':>10} {'measured':>10}"]
        for r in self.rows:
            lines.append(f"{r['model']:<12} {r['predicted_db']:>10.2f} {r['measured_db']:>10.2f}")
        lines.append(f"calibration: held-out NMSE {self.calibration.get('heldout_nmse_db', float('nan')):.2f} dB")
        gap = (f"truth unavailable: {self.truth_unavailable}" if self.truth_unavailable
               else f"truth - calibrated = {self.gap_to_truth_db:.2f} dB")
        lines.append(f"calibrated beats ideal by {self.measured('calibrated') - self.measured('ideal'):.2f} dB; {gap}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"port": self.port, "suppress": list(self.suppress), "rows": self.rows, "calibration": self.calibration,
                "seconds": self.seconds, "calibrated_beats_ideal": self.calibrated_beats_ideal,
                "gap_to_truth_db": self.gap_to_truth_db, "truth_unavailable": self.truth_unavailable}


def measured_objective_db(s: np.ndarray, port: int, suppress=(), cap_db: float = 40.0) -> dict:
    """The focusing objective (:class:`Focus`) on measured S-parameters (F, P): gain, and with
    ``suppress`` the contrast, raw and capped at ``cap_db``."""
    s = np.asarray(s)
    target = np.mean(np.abs(s[:, port]) ** 2)
    out = {"gain_db": float(10 * np.log10(target))}
    out["objective_db"] = out["gain_db"]
    if suppress:
        other = np.mean(np.abs(s[:, list(suppress)]) ** 2)
        out["contrast_db"] = float(10 * np.log10(target / other))
        out["objective_db"] = float(10 * np.log10(target / (other + 10 ** (-cap_db / 10) * target)))
    return out


def hil_check(config: BenchConfig | None = None, port: int = 0, null_others: bool = True, stages: int = 3, slots: int = 60,
              episodes: int = 200, starts: int = 3, seed: int = 0, error_scale: float | None = 10.0,
              workdir: str | None = None, progress=None) -> HILReport:
    """Run the check on the embedded simulated bench described by ``config`` (see the module doc)."""

    t0 = time.perf_counter()
    say = progress or (lambda msg: None)
    cfg = copy.deepcopy(config or BenchConfig(name="hil"))
    if not cfg.simulated:
        raise TrainingError("the HIL check compares against the simulated truth: use a bench file with 'sim' "
                            "resources")
    if not 0 <= port < cfg.geometry.receive_ports:
        raise TrainingError(f"port {port} does not exist: the bench has {cfg.geometry.receive_ports} receive port(s)")
    if error_scale is not None:
        cfg.simulation.error_scale = error_scale
    tmp = tempfile.TemporaryDirectory(prefix="simhw-hil-")
    work = Path(workdir or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    cfg.daemon.bind = [f"ipc://{work}/hil.ipc"]
    cfg.daemon.publish = f"ipc://{work}/hil-pub.ipc"
    cfg.daemon.store = str(work / "store.sqlite")
    g = cfg.geometry
    freqs = cfg.frequencies()
    suppress = tuple(p for p in range(g.receive_ports) if p != port) if null_others else ()
    report = HILReport(port, suppress)
    try:
        with embedded_daemon(cfg) as (bench, daemon), DaemonClient(cfg.daemon.bind[0], timeout=60) as c:
            say(f"calibrating through the daemon ({stages} x {slots} slots)")
            done = c.wait_calibration(c.calibrate(stages=stages, slots=slots), timeout=1800)
            if done["status"] != "done":
                raise TrainingError(f"calibration {done['status']}: {done.get('metrics')}")
            cal = CalibratedModel.from_bytes(c.calibration(done["id"])[1])
            report.calibration = {k: float(v) for k, v in done["metrics"].items() if isinstance(v, (int, float))}
            models = {"ideal": (SIMModel.from_geometry(g.build(freqs)), None),
                      "calibrated": (cal.model(), cal.atom_response)}
            report.truth_unavailable = truth_unavailable(bench.truth)
            if not report.truth_unavailable:
                models["truth"] = (bench.truth.model(freqs), None)
            opts = TrainOptions(episodes=episodes, eta0=0.5, beta=0.99, update="joint", starts=starts, seed=seed,
                                bits=g.bits, polish=True)
            for name, (model, levels) in models.items():
                check_model_fits(model.n_layers, model.n_atoms, daemon.board.info)
                say(f"training on the {name} model")
                obj = Focus(model, output=port, suppress=suppress, atom_response=levels)
                r = train(obj, opts)
                config_ = r.config((g.rows, g.cols), name=f"focus-port{port}-{name}")
                f, s, meta = c.push_measure(config_)
                measured = measured_objective_db(s, port, suppress, obj.cap_db)
                row = {"model": name, "predicted_db": -r.final_metrics["loss"], "measured_db": measured["objective_db"],
                       "measured": measured, "predicted": r.final_metrics, "hash": config_.hash,
                       "measurement": meta["measurement"]}
                report.rows.append(row)
                say(f"{name:<10} predicted {row['predicted_db']:7.2f} dB, measured {row['measured_db']:7.2f} dB")
    finally:
        tmp.cleanup()
    report.seconds = time.perf_counter() - t0
    return report


def truth_unavailable(truth) -> str:
    """Why the simulated truth cannot be trained on as a cascade model ('' when it can): a "truth" row
    trained on a model that is not the bench's truth would be a wrong reference."""
    why = []
    if truth.multiport is not None:
        why.append("the truth is the multiport network model")
    if truth.effects.any:
        why.append("the bench adds effects outside the SIM model")
    return "; ".join(why)


def write_report(report: HILReport, out: str | Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "hil.json").write_text(json.dumps(report.to_dict(), indent=2))
    (out / "hil.txt").write_text(report.table() + "\n")
    return out / "hil.json"
