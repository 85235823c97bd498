"""``simhw demo``: the whole loop on the embedded simulated bench, in one command.

Starts the simulated bench and a bench daemon: by default the ``realistic`` preset (a 4-layer 6x6
2-bit SIM at 28 GHz, 5 frequencies, whose truth is the multiport network with internal
reflections and coupling, plus multipath, leakage, cable drift, per-atom code spread, horn patterns
and VNA calibration residuals; ``--bench ideal`` for the SIM-model-only bench with fabrication
errors 10x the paper's bounds), SMP board on a pty, SCPI VNA on TCP. Then, as a client over ZeroMQ:

1. measures the SIM under one configuration;
2. calibrates it (multi-stage, free receive terms on the realistic bench, the residual stage)
   through the daemon, and measures fresh configurations to check the held-out NMSE it reports;
3. trains a configuration on the calibrated model (power to receive port 0, a null on port 1,
   2-bit codes, the contrast capped where the model's uncertainty says it can no longer see) and,
   for contrast, one on the ideal model; pushes both and measures them;
4. lets the daemon's scheduler watch the indicators while the bench warms up (temperature drift
   injected into the simulated SIM, bench time advanced check by check), until a state-driven
   recalibration fires;
5. re-trains on the new model, pushes and measures again;

and writes ``report.html`` (with plots: calibration NMSE per stage, interlayer magnitude maps,
per-port powers of every pushed configuration, the indicator timeline) and ``report.json``.
``--quick`` uses fewer slots and episodes (for CI).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from calibration.calibrated import CalibratedModel
from sim_backend.true_sim import Drift
from simhw.app.demo_checks import (
    FRESH,
    RESTORED_WITHIN_DB,
    margin_rows,
    margins,
    margins_text,
    passed_checks,
)
from simhw.app.demo_report import interval_text, report_html, selection_text, write_plots
from simhw.app.embedded import embedded_daemon
from simhw.app.hil import CAP_DB, fresh_prediction_error, measured_objective_db, uncertainty_cap_db
from simhw.control.client import DaemonClient
from simhw.control.scheduler import Scheduler
from simhw.control.topics import Topic
from simhw.designs.training import Focus, TrainOptions, train
from simhw.physics.model import SIMModel
from simhw.values.bench_config import BenchConfig
from simhw.values.phase_config import PhaseConfig

__all__ = ["run_demo", "main"]


class _Steps:
    """Numbered steps with their duration, and a bar for loops, on stderr (or silent)."""

    def __init__(self, total: int, quiet: bool = False):
        self.total, self.quiet, self.n = total, quiet, 0
        self.t0 = time.perf_counter()
        self.live = sys.stderr.isatty()

    def step(self, text: str) -> None:
        self.n += 1
        self._t = time.perf_counter()
        if not self.quiet:
            print(f"[{self.n}/{self.total}] {text}", file=sys.stderr, flush=True)

    def done(self, text: str) -> None:
        if not self.quiet:
            print(f"      {text} ({time.perf_counter() - self._t:.1f} s)", file=sys.stderr, flush=True)

    def bar(self, done: int, total: int, text: str) -> None:
        if self.quiet or not self.live:
            return
        fill = int(30 * done / max(total, 1))
        end = "\n" if done >= total else ""
        print(f"\r      [{'#' * fill}{'.' * (30 - fill)}] {text}".ljust(79), end=end, file=sys.stderr, flush=True)


def _contrast(s: np.ndarray) -> dict:
    p = np.mean(np.abs(s) ** 2, axis=0)
    return {"port_power_db": [float(10 * np.log10(v)) for v in p], "contrast_db": float(10 * np.log10(p[0] / p[1]))}


def _train(model, levels, bits, shape, episodes, starts, seed, name, offset=None, cap_db=40.0):
    obj = Focus(model, output=0, suppress=(1,), atom_response=levels, offset=offset, cap_db=cap_db)
    r = train(
        obj,
        TrainOptions(
            episodes=episodes, eta0=0.5, beta=0.99, update="joint", starts=starts, seed=seed, bits=bits, polish=True
        ),
    )
    return r, r.config(shape, name=name)


def run_demo(out: str | Path = "out/demo", quick: bool = False, quiet: bool = False, bench: str = "realistic") -> dict:
    """Run the demo on the ``bench`` preset; returns the report (also written to ``out``/report.json and
    report.html)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    steps = _Steps(6, quiet)
    cfg = BenchConfig.named(bench, name="demo")
    stages, slots = (2 if quick else 3), cfg.calibration.slots
    episodes, starts = 200, 16  # training is cheap next to measuring; 8 starts leave about 1 dB of contrast
    work = Path(tempfile.mkdtemp(prefix="simhw-demo-"))
    if bench == "ideal":
        cfg.sweep.points = 3 if quick else 5
        cfg.simulation.error_scale = 10.0
    cfg.simulation.clock_speed = 0.0  # bench time moves when the demo advances it
    c = cfg.calibration
    c.parameterization, c.atom_gains = "auto", True  # every family; the validation set keeps one
    c.stages, c.heldout = stages, 40
    c.check_every_s, c.residual_db, c.power_db = 1800.0, 0.0, 0.0  # thresholds from the model's uncertainty
    cfg.daemon.bind = [f"ipc://{work}/demo.ipc"]
    cfg.daemon.publish = f"ipc://{work}/demo-pub.ipc"
    (out / "store.sqlite").unlink(missing_ok=True)
    cfg.daemon.store = str(out / "store.sqlite")
    g = cfg.geometry
    shape = (g.rows, g.cols)
    report: dict = {
        "quick": quick,
        "bench": bench,
        "error_scale": cfg.simulation.error_scale,
        "points": cfg.sweep.points,
    }
    t_start = time.perf_counter()
    steps.step("starting the simulated bench and the bench daemon")
    with embedded_daemon(cfg) as (bench, service):
        store, board, vna = service.store, service.board, service.vna
        steps.done(f"board {board.info.serial} {board.info.shape} {board.info.bits}-bit, VNA {vna.identify()[:40]}")
        with DaemonClient(cfg.daemon.bind[0], timeout=600) as client:
            freqs = cfg.frequencies()
            steps.step("measuring the SIM under a random configuration")
            m = client.push_measure(PhaseConfig.random(g.layers, g.rows, g.cols, g.bits, seed=7))
            first = report["first_measurement"] = {"id": m.id, **_contrast(m.s)}
            steps.done(f"S21, S31 at {m.frequencies.size} frequencies: {first['port_power_db']} dB")

            steps.step(
                f"calibrating through the daemon ({stages} stages x {slots} slots, {c.parameterization} model "
                f"family, {c.receivers} receivers), then {FRESH} fresh configurations"
            )
            done = client.wait_calibration(client.calibrate(stages=stages, slots=slots), timeout=1800)
            if done.get("status") != "done":
                raise RuntimeError(
                    f"the demo's calibration ended {done.get('status')}: "
                    f"{(done.get('metrics') or {}).get('error', 'no reason recorded')}"
                )
            _, blob = client.calibration(done["id"])
            cal = CalibratedModel.from_bytes(blob)
            codes = np.random.default_rng(11).integers(0, 1 << g.bits, (FRESH, g.layers, g.rows, g.cols))
            fresh_s = np.array(
                [client.push_measure(PhaseConfig(k, g.bits, name=f"demo-fresh-{i}")).s for i, k in enumerate(codes)]
            )
            report["calibration"] = {
                "id": done["id"],
                "metrics": done["metrics"],
                "stages": [st["heldout_nmse_db"] for st in done["stages"]],
                "fresh": fresh_prediction_error(cal, codes, fresh_s, g.bits),
            }
            m, fresh = done["metrics"], report["calibration"]["fresh"]
            report["calibration"]["kept"] = cal.parameterization
            steps.done(
                f"{cal.parameterization} model kept by validation "
                f"({selection_text(m)}); test-set prediction NMSE {m['initial_heldout_nmse_db']:.1f} dB (ideal "
                f"model) -> {m['heldout_nmse_db']:.1f} dB{interval_text(m)}; on {FRESH} fresh configurations "
                f"{fresh['nmse_db']:.1f} dB"
            )

            cap = uncertainty_cap_db(cal)
            steps.step(
                f"training on the calibrated model (port 0 on, null on port 1, contrast capped at {cap:.1f} "
                "dB), pushing, verifying"
            )
            rows = []
            ideal_model = SIMModel.from_geometry(g.build(freqs))
            # each model is trained with the cap its own uncertainty supports: the ideal model records none
            for name, model, levels, offset, cap_ in (
                ("ideal", ideal_model, None, None, CAP_DB),
                ("calibrated", cal.model(), cal.atom_response, cal.offset, cap),
            ):
                r, config = _train(model, levels, g.bits, shape, episodes, starts, 0, f"demo-{name}", offset, cap_)
                s = (m := client.push_measure(config)).s
                measured = measured_objective_db(s, 0, (1,), cap_)
                rows.append(
                    {
                        "trained_on": name,
                        "hash": config.hash,
                        "predicted_contrast_db": -r.final_metrics["loss"],
                        "predicted_gain_db": r.final_metrics["gain_db"],
                        "measured_objective_db": measured["objective_db"],
                        "measured_gain_db": measured["gain_db"],
                        **_contrast(s),
                        "measurement": m.id,
                    }
                )
            report["trained"], report["cap_db"] = rows, cap
            ideal_row, calibrated_row = rows
            steps.done(
                f"measured contrast: ideal-trained {ideal_row['contrast_db']:.1f} dB, calibrated-trained "
                f"{calibrated_row['contrast_db']:.1f} dB (predicted {calibrated_row['predicted_contrast_db']:.1f}"
                f" capped, measured {calibrated_row['measured_objective_db']:.1f} capped)"
            )
            trained_config = PhaseConfig.from_bytes(
                client.request("config", hash=calibrated_row["hash"]).header["config"].encode()
            )

            steps.step("warming the bench up (drift) while the daemon's scheduler watches the indicators")
            service.scheduler = Scheduler(service)
            sched = service.scheduler
            _settle(sched, bench)
            t0 = bench.clock.now()
            rate = 10.0  # K per hour
            bench.truth.set_drift(Drift(rate_k_per_hour=rate, offset_k=-rate * t0 / 3600.0))
            checks = 16
            fired_at = None
            for i in range(checks):
                bench.clock.advance(c.check_every_s)
                _settle(sched, bench)
                steps.bar(
                    i + 1,
                    checks,
                    f"bench time +{(bench.clock.now() - t0) / 60:.0f} min, "
                    f"{bench.truth.delta_t():.1f} K warmer, "
                    f"{sched.runs.get('state-driven', 0)} recalibration(s)",
                )
                if sched.runs.get("state-driven", 0):
                    fired_at = bench.clock.now() - t0
                    break
            # the bench has warmed up: the temperature stays where it is, the model should hold again
            bench.truth.set_drift(Drift(rate_k_per_hour=0.0, offset_k=bench.truth.delta_t()))
            for _ in range(2):
                bench.clock.advance(c.check_every_s)
                _settle(sched, bench)
            steps.bar(checks, checks, "warmed up; watching two more checks")
            cals = store.list_calibrations(50)
            drift_runs = [store.get_calibration(x["id"]) for x in reversed(cals) if x["protocol"] == "state-driven"]
            timeline = [
                {
                    "clock": next(iter(e["data"].values()))["clock"] - t0,
                    **{k: v["value"] - v["baseline"] for k, v in e["data"].items()},
                    **{k + "_threshold": v["threshold"] for k, v in e["data"].items()},
                    "crossed": any(v["crossed"] for v in e["data"].values()),
                }
                for e in reversed(store.events(Topic.INDICATORS, 500))
            ]
            report["drift"] = {
                "rate_k_per_hour": rate,
                "fired_after_s": fired_at,
                "recalibrations": len(drift_runs),
                "reasons": [r["reason"] for r in drift_runs],
                "heldout_nmse_db_after": [r["metrics"].get("heldout_nmse_db") for r in drift_runs],
                "temperature_rise_k": bench.truth.delta_t(),
                "timeline": timeline,
            }
            s = client.push_measure(trained_config).s
            report["drifted"] = {"hash": trained_config.hash, **_contrast(s)}
            steps.done(
                f"recalibration fired after {0 if fired_at is None else fired_at / 60:.0f} min of drift "
                f"({report['drift']['reasons'][:1]}); the old configuration now measures "
                f"{report['drifted']['contrast_db']:.1f} dB"
            )

            steps.step("re-training on the recalibrated model, pushing, verifying")
            latest = CalibratedModel.from_bytes(store.latest_model())
            r, config = _train(
                latest.model(),
                latest.atom_response,
                g.bits,
                shape,
                episodes,
                starts,
                1,
                "demo-after-drift",
                latest.offset,
                uncertainty_cap_db(latest),
            )
            s = client.push_measure(config).s
            report["restored"] = {
                "hash": config.hash,
                "predicted_contrast_db": -r.final_metrics["loss"],
                **_contrast(s),
            }
            report["restored"] = {
                **report["restored"],
                "measured_objective_db": measured_objective_db(s, 0, (1,), uncertainty_cap_db(latest))["objective_db"],
            }
            report["restored"]["within_db"] = RESTORED_WITHIN_DB
            steps.done(
                f"measured contrast {report['restored']['contrast_db']:.1f} dB (predicted "
                f"{report['restored']['predicted_contrast_db']:.1f} capped, measured "
                f"{report['restored']['measured_objective_db']:.1f} capped)"
            )
            truth_cascade = bench.truth.model(freqs).cascade
            ideal_cascade = ideal_model.cascade
    report["seconds"] = time.perf_counter() - t_start
    report["margin_rows"] = margin_rows(report)
    report["margins"] = margins(report["margin_rows"])
    report["checks"] = passed_checks(report)
    for k, passed in report["checks"].items():
        if k == "restored":
            report["restored"]["met"] = passed
        else:
            report[k] = passed
    if not quiet:
        print(margins_text(report["margin_rows"]), file=sys.stderr)
    write_plots(out, report, ideal_cascade, cal.cascade, truth_cascade)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=float))
    (out / "report.html").write_text(report_html(report))
    if not quiet:
        print(f"report: {out / 'report.html'} ({report['seconds']:.0f} s)", file=sys.stderr)
    return report


def _settle(sched, bench, timeout: float = 600.0) -> None:
    """Wait until the scheduler has handled the current bench time."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not sched.busy and sched.last_check is not None and sched.last_check >= bench.clock.now():
            return
        time.sleep(0.02)
    raise TimeoutError("the scheduler did not catch up with the bench clock")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="simhw demo", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/demo", help="directory for report.html, report.json and the plots")
    ap.add_argument("--quick", action="store_true", help="fewer slots and episodes (about a minute)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument(
        "--bench",
        default="realistic",
        choices=("realistic", "ideal"),
        help="the simulated bench preset (default: realistic)",
    )
    a = ap.parse_args(argv)
    r = run_demo(a.out, a.quick, a.quiet, a.bench)
    print(json.dumps(r["checks"]))
    return 0 if all(r["checks"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
