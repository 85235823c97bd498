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

import contextlib
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
from simhw.designs.training.focus import Focus
from simhw.designs.training.objectives import TrainingError
from simhw.designs.training.trainer import TrainOptions, train
from simhw.physics.model import SIMModel
from simhw.values.bench_config import BenchConfig
from simhw.values.phase_config import PhaseConfig

__all__ = [
    "CAP_DB",
    "HILReport",
    "floor_db",
    "hil_check",
    "hil_replay",
    "check_model_fits",
    "uncertainty_cap_db",
    "fresh_prediction_error",
    "measured_objective_db",
]

CAP_DB = 40.0


def check_model_fits(n_layers: int, n_atoms: int, info) -> None:
    """Refuse a model whose geometry is not the board's (``info``: a BoardInfo)."""
    if (n_layers, n_atoms) != (info.layers, info.rows * info.cols):
        raise TrainingError(
            f"the model has {n_layers} layers x {n_atoms} atoms, the board drives {info.layers} "
            f"layers x {info.rows * info.cols} atoms ({info.rows}x{info.cols}): train on a model of "
            "this bench"
        )


@dataclass
class HILReport:
    port: int
    suppress: tuple = ()
    rows: list = field(default_factory=list)  # per model: name, predicted_db, measured_db, hash
    calibration: dict = field(default_factory=dict)
    seconds: float = 0.0
    truth_unavailable: str = ""  # why there is no truth row (the bench's truth is not a cascade model)
    cap_db: float = 40.0  # the contrast cap training used (from the calibrated model's uncertainty)
    fresh: dict = field(default_factory=dict)  # the model's prediction error on fresh configurations
    floor_db: list = field(default_factory=list)  # per receive port: the configuration-independent power (dB)
    interval_db: list = field(default_factory=list)  # the reported NMSE's 90 % interval over its test configurations

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
        what = (
            f"contrast port {self.port} vs {list(self.suppress)} (capped at {self.cap_db:.1f} dB for the calibrated model)"
            if self.suppress
            else f"gain at port {self.port}"
        )
        lines = [
            f"focus on receive port {self.port}: {what} in dB, power-averaged over the sweep",
            f"{'trained on':<12} {'predicted':>10} {'measured':>10} {'gain pred':>10} {'gain meas':>10} "
            f"{'contrast':>9} {'S err dB':>9}",
        ]
        nan = float("nan")
        for r in self.rows:
            pred, meas = r.get("predicted", {}), r.get("measured", {})
            lines.append(
                f"{r['model']:<12} {r['predicted_db']:>10.2f} {r['measured_db']:>10.2f} "
                f"{pred.get('gain_db', nan):>10.2f} {meas.get('gain_db', nan):>10.2f} "
                f"{meas.get('contrast_db', nan):>9.2f} {r.get('response_nmse_db', nan):>9.2f}"
            )
        line = f"calibration: held-out NMSE {self.calibration.get('heldout_nmse_db', float('nan')):.2f} dB"
        if self.interval_db:
            line += f" (90 % interval {self.interval_db[0]:.2f} to {self.interval_db[1]:.2f} dB)"
        if self.fresh:
            line += (
                f"; on {self.fresh['configs']} fresh configurations {self.fresh['nmse_db']:.2f} dB "
                f"(median {self.fresh['median_db']:.2f}, spread {self.fresh['spread_db']:.2f} dB)"
            )
        lines.append(line)
        gap = (
            f"truth unavailable: {self.truth_unavailable}"
            if self.truth_unavailable
            else f"truth - calibrated = {self.gap_to_truth_db:.2f} dB"
        )
        beats = f"calibrated beats ideal by {self.measured('calibrated') - self.measured('ideal'):.2f} dB"
        if self.suppress:
            raw = [
                next(r.get("measured", {}).get("contrast_db") for r in self.rows if r["model"] == n)
                for n in ("calibrated", "ideal")
            ]
            if None not in raw:
                beats += f" ({raw[0] - raw[1]:.2f} dB of raw contrast)"
        lines.append(f"{beats}; {gap}")
        floor = self.suppressed_floor_db
        if floor is not None:
            gain = next(r.get("measured", {}).get("gain_db") for r in self.rows if r["model"] == "calibrated")
            lines.append(
                f"configuration-independent floor at the suppressed port(s) {floor:.2f} dB (paths around the SIM, "
                f"as calibrated): the calibrated-trained gain {gain:.2f} dB stands {gain - floor:.2f} dB above it, "
                "about the contrast any configuration can reach across the sweep"
            )
        return "\n".join(lines)

    @property
    def suppressed_floor_db(self) -> float | None:
        """The highest configuration-independent power at a suppressed port (dB), or None."""
        if not (self.floor_db and self.suppress):
            return None
        return max(self.floor_db[p] for p in self.suppress)

    def to_dict(self) -> dict:
        return {
            "port": self.port,
            "suppress": list(self.suppress),
            "rows": self.rows,
            "calibration": self.calibration,
            "seconds": self.seconds,
            "calibrated_beats_ideal": self.calibrated_beats_ideal,
            "gap_to_truth_db": self.gap_to_truth_db,
            "truth_unavailable": self.truth_unavailable,
            "cap_db": self.cap_db,
            "fresh": self.fresh,
            "floor_db": self.floor_db,
            "interval_db": self.interval_db,
        }


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


def floor_db(model: CalibratedModel) -> list:
    """Per receive port, the power (dB, averaged over the sweep) of what reaches it whatever the
    configuration: multipath and leakage around the SIM, as the calibration estimated them. A null
    cannot go much below it where the SIM's own response cannot follow that path's phase across the
    sweep (a path delayed by 3 ns turns 19 rad over 1 GHz, a SIM's paths a fraction of that)."""
    if model.leakage is None:
        return []
    return [
        float(10 * np.log10(max(np.mean(np.abs(model.leakage[:, p]) ** 2), 1e-300)))
        for p in range(model.leakage.shape[1])
    ]


def uncertainty_cap_db(model: CalibratedModel) -> float:
    """The contrast cap a model can stand behind: its held-out NMSE says how deep a null it can predict
    (an error of -20 dB fills any deeper null), so training does not chase depths it cannot see."""
    nmse = model.metrics.get("heldout_nmse_db")
    if nmse is None or not np.isfinite(nmse):
        return CAP_DB
    return float(np.clip(-nmse, 10.0, CAP_DB))


def hil_check(
    config: BenchConfig | None = None,
    port: int = 0,
    null_others: bool = True,
    stages: int | None = None,
    slots: int | None = None,
    episodes: int = 200,
    starts: int = 3,
    seed: int = 0,
    error_scale: float | None = None,
    workdir: str | None = None,
    progress=None,
    record: str | Path | None = None,
    fresh: int = 30,
) -> HILReport:
    """Run the check on the bench ``config`` describes (see the module doc). A simulated bench is started
    embedded with its own daemon (``error_scale`` overrides its fabrication errors; the default bench
    gets 10x the paper's); a real one is reached through its daemon at ``daemon.bind``. ``record``
    writes everything the comparison needs (:func:`hil_replay` recomputes the report from it). ``fresh``
    random configurations, never seen by the calibration, are measured after it: their prediction error
    is what the reported held-out NMSE claims."""
    t0 = time.perf_counter()
    say = progress or (lambda msg: None)
    cfg = copy.deepcopy(config or BenchConfig(name="hil"))
    if config is None and error_scale is None:
        error_scale = 10.0
    if not 0 <= port < cfg.geometry.receive_ports:
        raise TrainingError(f"port {port} does not exist: the bench has {cfg.geometry.receive_ports} receive port(s)")
    suppress = tuple(p for p in range(cfg.geometry.receive_ports) if p != port) if null_others else ()
    stages = cfg.calibration.stages if stages is None else stages
    slots = cfg.calibration.slots if slots is None else slots
    report = HILReport(port, suppress)
    opts = TrainOptions(
        episodes=episodes,
        eta0=0.5,
        beta=0.99,
        update="joint",
        starts=starts,
        seed=seed,
        bits=cfg.geometry.bits,
        polish=True,
    )
    with contextlib.ExitStack() as stack:
        if cfg.simulated:
            if error_scale is not None:
                cfg.simulation.error_scale = error_scale
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="simhw-hil-"))
            work = Path(workdir or tmp)
            work.mkdir(parents=True, exist_ok=True)
            cfg.daemon.bind = [f"ipc://{work}/hil.ipc"]
            cfg.daemon.publish = f"ipc://{work}/hil-pub.ipc"
            cfg.daemon.store = str(work / "store.sqlite")
            bench, daemon = stack.enter_context(embedded_daemon(cfg))
            info, truth = daemon.bench.board.info, bench.truth
        else:
            info, truth = None, None
        c = stack.enter_context(DaemonClient(cfg.daemon.bind[0], timeout=60))
        if info is None:
            info = BoardInfoView(c.status()["board"])
        say(f"calibrating through the daemon ({stages} x {slots} slots)")
        done = c.wait_calibration(c.calibrate(stages=stages, slots=slots), timeout=1800)
        if done["status"] != "done":
            raise TrainingError(f"calibration {done['status']}: {done.get('metrics')}")
        cal = CalibratedModel.from_bytes(c.calibration(done["id"])[1])
        report.calibration = {k: float(v) for k, v in done["metrics"].items() if isinstance(v, (int, float))}
        report.calibration["kept"] = cal.parameterization
        report.cap_db = uncertainty_cap_db(cal)
        report.floor_db = floor_db(cal)
        report.interval_db = list(done["metrics"].get("test_interval_db") or [])
        fresh_codes = np.random.default_rng([seed, 5]).integers(
            0, 1 << cfg.geometry.bits, (fresh, cfg.geometry.layers, cfg.geometry.rows, cfg.geometry.cols)
        )
        if fresh:
            say(f"measuring {fresh} fresh configurations")
        fresh_s = np.array(
            [
                c.push_measure(PhaseConfig(k, cfg.geometry.bits, name=f"hil-fresh-{i}")).s
                for i, k in enumerate(fresh_codes)
            ]
        )
        report.fresh = fresh_prediction_error(cal, fresh_codes, fresh_s, cfg.geometry.bits)
        models = _models(cfg, cal)
        report.truth_unavailable = truth_unavailable(truth) if truth is not None else "not a simulated bench"
        if not report.truth_unavailable:
            models["truth"] = (truth.model(cfg.frequencies()), None, None)
        recorded = []
        for name, (model, levels, offset) in models.items():
            check_model_fits(model.n_layers, model.n_atoms, info)
            say(f"training on the {name} model")
            cap = report.cap_db if name == "calibrated" else CAP_DB  # the cap each model's uncertainty supports
            obj = Focus(model, output=port, suppress=suppress, atom_response=levels, offset=offset, cap_db=cap)
            r = train(obj, opts)
            config_ = r.config((cfg.geometry.rows, cfg.geometry.cols), name=f"focus-port{port}-{name}")
            m = c.push_measure(config_)
            f, s = m.frequencies, m.s
            row = _row(name, obj, config_.codes.reshape(model.n_layers, -1), cfg.geometry.bits, s, port, suppress, cap)
            row.update(hash=config_.hash, measurement=m.id)
            report.rows.append(row)
            recorded.append((name, config_.codes, np.asarray(f), np.asarray(s)))
            say(f"{name:<10} predicted {row['predicted_db']:7.2f} dB, measured {row['measured_db']:7.2f} dB")
    report.seconds = time.perf_counter() - t0
    if record:
        _write_recording(record, cfg, cal, report, recorded, fresh_codes, fresh_s)
    return report


def fresh_prediction_error(cal: CalibratedModel, codes: np.ndarray, s: np.ndarray, bits: int) -> dict:
    """The calibrated model's prediction error on fresh configurations, beside what it reported."""
    if not len(codes):
        return {}
    pred = cal.predict(codes, bits)
    per = 10 * np.log10(np.sum(np.abs(pred - s) ** 2, axis=(1, 2)) / np.sum(np.abs(s) ** 2, axis=(1, 2)))
    return {
        "configs": int(len(codes)),
        "nmse_db": float(10 * np.log10(np.sum(np.abs(pred - s) ** 2) / np.sum(np.abs(s) ** 2))),
        "median_db": float(np.median(per)),
        "spread_db": float(np.std(per)),
        "reported_db": float(cal.metrics.get("heldout_nmse_db", float("nan"))),
    }


class BoardInfoView:
    """The board geometry a daemon's status reports, as :func:`check_model_fits` reads it."""

    def __init__(self, board: dict):
        self.layers, self.rows, self.cols = int(board["layers"]), int(board["rows"]), int(board["cols"])


def _models(cfg: BenchConfig, cal: CalibratedModel, frequencies=None) -> dict:
    """name -> (SIMModel, atom response, offset) for the ideal geometry and the calibrated model."""
    freqs = cfg.frequencies() if frequencies is None else frequencies
    return {
        "ideal": (SIMModel.from_geometry(cfg.geometry.build(freqs)), None, None),
        "calibrated": (cal.model(), cal.atom_response, cal.offset),
    }


def _row(name: str, obj: Focus, codes: np.ndarray, bits: int, s: np.ndarray, port: int, suppress, cap_db) -> dict:
    """One model's figures: what it predicts for ``codes`` and what the bench measured (S (F, P))."""
    theta, amp = obj.applied(codes[None], bits)
    predicted = obj.metrics(theta[0], None if amp is None else amp[0])
    h = obj.response(theta, amp)[0, :, :, 0]
    measured = measured_objective_db(s, port, suppress, cap_db)
    return {
        "model": name,
        "predicted_db": -predicted["loss"],
        "measured_db": measured["objective_db"],
        "measured": measured,
        "predicted": predicted,
        "response_nmse_db": float(10 * np.log10(np.sum(np.abs(h - s) ** 2) / np.sum(np.abs(s) ** 2))),
    }


def _write_recording(
    path, cfg: BenchConfig, cal: CalibratedModel, report: HILReport, recorded, fresh_codes, fresh_s
) -> None:
    arrays = {
        "model": np.frombuffer(cal.to_bytes(), np.uint8),
        "bench": np.array(cfg.to_toml()),
        "report": np.array(json.dumps(report.to_dict(), default=str)),
        "fresh_codes": fresh_codes,
        "fresh_S": fresh_s,
    }
    for i, (name, codes, f, s) in enumerate(recorded):
        arrays.update({f"name{i}": np.array(name), f"codes{i}": codes, f"frequencies{i}": f, f"S{i}": s})
    np.savez_compressed(path, **arrays)


def hil_replay(recording: str | Path, config: BenchConfig | None = None) -> HILReport:
    """The HIL check from recorded data: the models' predictions for the recorded configurations against
    their recorded measurements, on ``config`` (any bench description of the same geometry; default:
    the recorded one). No bench, daemon or truth is needed."""
    t0 = time.perf_counter()
    with np.load(recording, allow_pickle=False) as z:
        cal = CalibratedModel.from_bytes(z["model"].tobytes())
        cfg = config or BenchConfig.from_toml(str(z["bench"]))
        old = json.loads(str(z["report"]))
        rows = [
            (str(z[f"name{i}"]), z[f"codes{i}"], z[f"frequencies{i}"], z[f"S{i}"])
            for i in range(len([k for k in z.files if k.startswith("name")]))
        ]
        fresh_codes, fresh_s = z["fresh_codes"], z["fresh_S"]
    report = HILReport(
        old["port"],
        tuple(old["suppress"]),
        calibration=old["calibration"],
        truth_unavailable="replayed from recorded data",
        cap_db=old.get("cap_db", CAP_DB),
        interval_db=old.get("interval_db", []),
    )
    report.fresh = fresh_prediction_error(cal, fresh_codes, fresh_s, cfg.geometry.bits)
    report.floor_db = floor_db(cal)
    models = _models(cfg, cal, rows[0][2] if rows else None)
    for name, codes, _f, s in rows:
        if name not in models:
            continue
        model, levels, offset = models[name]
        check_model_fits(
            model.n_layers,
            model.n_atoms,
            BoardInfoView({"layers": codes.shape[0], "rows": codes.shape[1], "cols": codes.shape[2]}),
        )
        cap = report.cap_db if name == "calibrated" else CAP_DB
        obj = Focus(
            model, output=report.port, suppress=report.suppress, atom_response=levels, offset=offset, cap_db=cap
        )
        report.rows.append(
            _row(name, obj, codes.reshape(codes.shape[0], -1), cfg.geometry.bits, s, report.port, report.suppress, cap)
        )
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
