"""The hardware-in-the-loop check: does training on the calibrated model pay off on the bench?

One run on the embedded simulated bench (fabrication errors ``error_scale`` x the paper's bounds):

1. start the bench and a bench daemon; calibrate through the daemon (its store keeps the model);
2. train a focusing configuration (power to one receive port and, with two or more ports, a null
   toward the others; quantized to the board's codes) on (i) the ideal model, (ii) the calibrated
   model and (iii) the simulated truth (the reference only a simulator can give, and only when
   the bench's truth is a cascade model: with the multiport truth or bench effects the truth row
   is marked unavailable rather than trained on a model that is not the truth);
3. push each through the daemon, measure it on the bench, and compare the measured objective (the
   contrast target/suppressed in dB, or the gain with one port) with what each model predicted.

``band="carrier"`` (the default) trains every model at the sweep point nearest the carrier
(``geometry.frequency``) only and measures that point's column: a focusing configuration is a
one-frequency design, and there a configuration-independent path (multipath, leakage) is one complex
number per port that a model which knows it can cancel at the null. ``band="sweep"`` trains and
measures the power averaged over the sweep; a path around the SIM that turns many radians over the
sweep is followed by no configuration, so on a bench with one it caps the contrast whatever the model.

The three measured numbers are the result: calibrated should beat ideal and come within about
1 dB of truth.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from calibration.calibrated import CalibratedModel
from simhw.app.embedded import embedded_daemon
from simhw.app.hil_report import (
    BANDS,
    CAP_DB,
    DEFAULT_BAND,
    HILReport,
    floor_db,
    fresh_prediction_error,
    measured_objective_db,
    uncertainty_cap_db,
    write_report,
)
from simhw.control.client import DaemonClient
from simhw.designs.training.focus import Focus
from simhw.designs.training.objectives import TrainingError
from simhw.designs.training.trainer import TrainOptions, train
from simhw.physics.model import SIMModel
from simhw.physics.propagation import Cascade
from simhw.values.bench_config import BenchConfig
from simhw.values.phase_config import PhaseConfig

__all__ = [
    "BANDS",
    "DEFAULT_BAND",
    "CAP_DB",
    "HILReport",
    "at_frequencies",
    "band_slice",
    "floor_db",
    "hil_check",
    "hil_replay",
    "check_model_fits",
    "uncertainty_cap_db",
    "fresh_prediction_error",
    "measured_objective_db",
    "write_report",
]


def check_model_fits(n_layers: int, n_atoms: int, info) -> None:
    """Refuse a model whose geometry is not the board's (``info``: a BoardInfo)."""
    if (n_layers, n_atoms) != (info.layers, info.rows * info.cols):
        raise TrainingError(
            f"the model has {n_layers} layers x {n_atoms} atoms, the board drives {info.layers} "
            f"layers x {info.rows * info.cols} atoms ({info.rows}x{info.cols}): train on a model of "
            "this bench"
        )


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
    band: str = DEFAULT_BAND,
) -> HILReport:
    """Run the check on the bench ``config`` describes (see the module doc). A simulated bench is started
    embedded with its own daemon (``error_scale`` overrides its fabrication errors; the default bench
    gets 10x the paper's); a real one is reached through its daemon at ``daemon.bind``. ``record``
    writes everything the comparison needs (:func:`hil_replay` recomputes the report from it). ``fresh``
    random configurations, never seen by the calibration, are measured after it: their prediction error
    is what the reported held-out NMSE claims. ``band``: "sweep" or "carrier" (see the module doc)."""
    check_band(band)
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
    report = HILReport(port, suppress, band=band)
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
            bench, service = stack.enter_context(embedded_daemon(cfg))
            info, truth = service.board.info, bench.truth
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
        sel = band_slice(band, cfg.frequencies(), cfg.geometry.frequency)
        report.frequencies_hz = [float(f) for f in cfg.frequencies()[sel]]
        report.floor_db = floor_db(at_frequencies(cal, sel))
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
        models = _models(cfg, cal, sel=sel)
        report.truth_unavailable = truth_unavailable(truth) if truth is not None else "not a simulated bench"
        if not report.truth_unavailable:
            models["truth"] = (truth.model(cfg.frequencies()[sel]), None, None)
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
            codes = config_.codes.reshape(model.n_layers, -1)
            row = _row(name, obj, codes, cfg.geometry.bits, np.asarray(s)[sel], port, suppress, cap)
            row.update(hash=config_.hash, measurement=m.id)
            report.rows.append(row)
            recorded.append((name, config_.codes, np.asarray(f), np.asarray(s)))
            say(f"{name:<10} predicted {row['predicted_db']:7.2f} dB, measured {row['measured_db']:7.2f} dB")
    report.seconds = time.perf_counter() - t0
    if record:
        _write_recording(record, cfg, cal, report, recorded, fresh_codes, fresh_s)
    return report


class BoardInfoView:
    """The board geometry a daemon's status reports, as :func:`check_model_fits` reads it."""

    def __init__(self, board: dict):
        self.layers, self.rows, self.cols = int(board["layers"]), int(board["rows"]), int(board["cols"])


def check_band(band: str) -> None:
    if band not in BANDS:
        raise TrainingError(f"unknown band {band!r}: choose one of {', '.join(BANDS)}")


def band_slice(band: str, frequencies, carrier: float) -> slice:
    """The sweep points the objective uses: all of them, or the one nearest ``carrier`` (Hz)."""
    check_band(band)
    if band == "sweep":
        return slice(None)
    k = int(np.argmin(np.abs(np.asarray(frequencies, float) - carrier)))
    return slice(k, k + 1)


def at_frequencies(cal: CalibratedModel, sel: slice) -> CalibratedModel:
    """``cal`` restricted to the sweep points ``sel``: every per-frequency term (the cascade's matrices,
    the leakage, per-frequency faces) sliced alike."""
    c = cal.cascade
    faces = cal.faces
    if faces is not None and faces.ndim == 4:  # (L, F, N, N)
        faces = faces[:, sel]
    return dataclasses.replace(
        cal,
        cascade=Cascade(c.w_in[sel], c.w_layers[:, sel], c.w_out[sel], c.frequencies[sel]),
        leakage=None if cal.leakage is None else cal.leakage[sel],
        faces=faces,
    )


def _models(cfg: BenchConfig, cal: CalibratedModel, frequencies=None, sel: slice = slice(None)) -> dict:
    """name -> (SIMModel, atom response, offset) for the ideal geometry and the calibrated model, at the
    sweep points ``sel`` of ``frequencies`` (default: the bench's sweep)."""
    freqs = np.asarray(cfg.frequencies() if frequencies is None else frequencies)[sel]
    cal = at_frequencies(cal, sel)
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
        band=old.get("band", "sweep"),
    )
    report.fresh = fresh_prediction_error(cal, fresh_codes, fresh_s, cfg.geometry.bits)
    freqs = rows[0][2] if rows else cal.frequencies
    sel = band_slice(report.band, freqs, cfg.geometry.frequency)
    report.frequencies_hz = [float(f) for f in np.asarray(freqs)[sel]]
    report.floor_db = floor_db(at_frequencies(cal, sel))
    models = _models(cfg, cal, freqs, sel)
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
            _row(
                name,
                obj,
                codes.reshape(codes.shape[0], -1),
                cfg.geometry.bits,
                s[sel],
                report.port,
                report.suppress,
                cap,
            )
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
