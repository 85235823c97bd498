"""``simhw calibrate``: calibrate the SIM of a bench description (or a recording) and store the model.

With "sim" resources in the bench file the embedded simulated bench is started and the
calibration runs through the real drivers against it; with real addresses it runs on the
hardware; with ``--data`` it replays a recording made by ``--save-data``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from calibration.calibrated import ModelRegistry
from calibration.calibrator import Calibrator
from calibration.data import CalibrationData
from calibration.parameterization import PARAMETERIZATIONS, bench_parameterization
from calibration.plots import plot_magnitude_maps, plot_stages
from calibration.progress import ConsoleProgress
from calibration.receivers import RECEIVERS
from calibration.sources import BenchSource, RecordedSource
from drivers.bench import open_devices
from sim_backend.bench import SimBench  # only the simulated bench needs the backend
from simhw.app.calibrate_remote import FIELDS, calibrate_remote
from simhw.control.calibration_job import check_identifiable
from simhw.integrations.matlab import check_output, write_model
from simhw.physics.propagation import cascade_matrices
from simhw.values.bench_config import BenchConfig

__all__ = ["add_arguments", "run_from_args", "calibrate_bench"]


def add_arguments(p) -> None:
    p.add_argument(
        "--bench",
        help="bench description (TOML); default: the embedded simulated 4-layer 6x6 bench. "
        "Its [calibration] section gives every default below",
    )
    p.add_argument(
        "--endpoint",
        help="calibrate through the bench daemon at this request endpoint (its bench "
        "file gives the defaults); progress from --publish",
    )
    p.add_argument("--publish", help="--endpoint: the daemon's telemetry endpoint, for progress")
    p.add_argument("--server-key", help="--endpoint: the daemon's public key file (CURVE)")
    p.add_argument("--client-key", help="--endpoint: this client's secret key file (CURVE)")
    p.add_argument("--data", help="calibrate from a recording (.npz written by --save-data) instead of measuring")
    p.add_argument(
        "--parameterization",
        choices=PARAMETERIZATIONS,
        help="the model family; auto: fit hybrid and multiport, keep what the validation set prefers",
    )
    p.add_argument("--atom-gains", action="store_true", default=None, help="hybrid: also fit a complex gain per atom")
    p.add_argument(
        "--receivers",
        choices=RECEIVERS,
        help="receive terms fitted per frequency: gain, port (gain and leakage per port) or free "
        "(every port's weight on every last-layer atom, and leakage)",
    )
    p.add_argument("--no-residual", action="store_true", help="skip the residual stage")
    p.add_argument("--estimator", choices=("gradient", "codebook", "learned"))
    p.add_argument("--design", default="random", choices=("random", "balanced", "d_optimal"))
    p.add_argument("--stages", type=int)
    p.add_argument("--slots", type=int, help="pilot configurations per stage")
    p.add_argument("--heldout", type=int, help="held-out reference configurations")
    p.add_argument("--models", default="simhw-models", help="directory of versioned calibrated models")
    p.add_argument("--plots", help="directory for the NMSE-per-stage plot and the magnitude maps")
    p.add_argument("--save-data", help="write every measured pilot and reference (.npz)")
    p.add_argument("--mat", help="also write the calibrated model as a MATLAB file (.mat)")
    p.add_argument("--seed", type=int, default=0)


def given(args) -> dict:
    """The calibration settings the command line sets."""
    g = {
        "parameterization": args.parameterization,
        "estimator": args.estimator,
        "stages": args.stages,
        "slots": args.slots,
        "heldout": args.heldout,
        "atom_gains": args.atom_gains,
        "receivers": args.receivers,
        "residual": False if args.no_residual else None,
    }
    return {k: v for k, v in g.items() if v is not None}


def settings(config: BenchConfig, args) -> dict:
    """The calibration's settings: the command line's where given, else the bench file's [calibration]."""
    return {**{k: getattr(config.calibration, k) for k in FIELDS}, **given(args)}


def calibrate_bench(
    config: BenchConfig,
    parameterization: str = "hybrid",
    estimator: str = "gradient",
    stages: int = 3,
    slots: int = 60,
    heldout: int = 30,
    design: str = "random",
    models: str | os.PathLike | None = "simhw-models",
    data: str | None = None,
    atom_gains: bool = False,
    seed: int = 0,
    progress=None,
    receivers: str | None = None,
    residual: bool | None = None,
):
    """Run one calibration; returns (CalibrationRun, truth cascade or None, ideal cascade, calibrator)."""
    g = config.geometry
    ideal = g.build(config.frequencies())
    registry = ModelRegistry(models) if models else None
    with contextlib.ExitStack() as stack:
        truth = None
        if data:
            recording = CalibrationData.load(data)
            ideal = g.build(recording.frequencies)
            source = RecordedSource(recording, (g.layers, g.rows, g.cols), heldout)
        else:
            cfg = config
            if "sim" in config.board.urls or config.vna.resource == "sim":
                bench = stack.enter_context(SimBench(config))
                cfg = bench.resolved_config()
                truth = lambda: bench.truth.model(cfg.frequencies()).cascade  # noqa: E731 (simulation only)
            board, vna = stack.enter_context(open_devices(cfg))
            source = BenchSource(
                board, vna, cfg.frequencies(), g.receive_ports, cfg.sweep.ifbw, cfg.sweep.power, params=cfg.vna_params()
            )
        par = bench_parameterization(
            parameterization, ideal, g.bits, atom_gains, receivers or config.calibration.receivers
        )
        if not data:  # refused before anything is measured
            check_identifiable(par, slots, config.frequencies().size, len(config.vna_params()))
        cal = Calibrator(
            par,
            source,
            estimator,
            design=design,
            heldout_slots=heldout,
            seed=seed,
            registry=registry,
            residual=config.calibration.residual if residual is None else residual,
        )
        run = cal.calibrate(
            stages, slots, protocol="periodic-multi-stage" if stages > 1 else "periodic-single-stage", progress=progress
        )
        true_cascade = truth() if truth else None
    return run, true_cascade, cascade_matrices(ideal), cal


def run_from_args(args) -> int:
    if args.mat:
        check_output(args.mat)  # before calibrating, not after
    if args.endpoint:
        curve = (args.server_key, args.client_key) if args.server_key else None
        return calibrate_remote(args.endpoint, args.publish, given(args), curve, mat=args.mat)
    config = BenchConfig.load(args.bench) if args.bench else BenchConfig(name="simulated")
    s = settings(config, args)
    run, truth, ideal, cal = calibrate_bench(
        config,
        s["parameterization"],
        s["estimator"],
        s["stages"],
        s["slots"],
        s["heldout"],
        args.design,
        args.models,
        args.data,
        s["atom_gains"],
        args.seed,
        progress=ConsoleProgress(),
        receivers=s["receivers"],
        residual=s["residual"],
    )
    print(run.table())
    print(
        f"held-out end-to-end NMSE: {run.initial_heldout_nmse_db:.2f} dB (starting model) -> "
        f"{run.final_heldout_nmse_db:.2f} dB (improvement {run.improvement_db:.2f} dB)"
    )
    bound = run.model.metrics.get("physical_bound")
    if bound:
        print("physical parameters (estimate +/- Cramer-Rao bound at the fit's residual level):")
        for name, est, std in zip(bound["names"], bound["estimate"], bound["crb_std"]):
            unit, k = ("mrad", 1e3) if name.startswith("rotation") else ("um", 1e6)
            bound_text = "not identifiable from these data" if std is None else f"+/- {std * k:.3f} {unit}"
            print(f"  {name:<10} {est * k:>10.3f} {unit} {bound_text}")
    if cal.registry is not None:
        print(f"calibrated model v{run.model.version}: {cal.registry.path(run.model.version)}")
    if args.mat:
        print(f"MATLAB model: {write_model(args.mat, run.model)}")
    if args.save_data:
        recording = cal.last_data.concat(cal.last_heldout)
        n_test = 0 if cal.last_test is None else cal.last_test.slots
        if n_test:
            recording = recording.concat(cal.last_test)
        recording.meta = {**recording.meta, "test": n_test}
        recording.save(args.save_data)
        print(
            f"measurements: {args.save_data} ({cal.last_data.slots} pilots + {cal.last_heldout.slots} held-out + "
            f"{n_test} test; replay with --data {args.save_data} --heldout {cal.last_heldout.slots})"
        )
    if args.plots:
        out = Path(args.plots)
        out.mkdir(parents=True, exist_ok=True)
        print(f"plot: {plot_stages(run, out / 'calibration_stages.png')}")
        print(f"plot: {plot_magnitude_maps(ideal, run.model.cascade, out / 'magnitude_maps.png', truth=truth)}")
    return 0
