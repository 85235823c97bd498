"""The mutation check: each promised behaviour, broken on purpose in a copy of the tree, fails its tests.

Every :class:`Mutation` names one behaviour the docs promise, the file that implements it, an exact text
in that file and its replacement (the breakage), and the pytest node ids of the fast tests of that area.
``python -m tests.mutations`` copies the tracked files (``git ls-files``) to a temporary folder, applies
one breakage at a time, runs the named tests there (``-x -q -n 0``, ``PYTHONPATH`` set to the copy so
the copy's code is imported, also by the processes the tests start), restores the file, and prints a
table: name, caught or survived, seconds. It exits 1 when a breakage survives (its tests still pass),
when a text no longer occurs exactly once in its file, or when the whole run exceeds ``--budget``
seconds. ``tests/test_mutations.py`` checks in the suite that every text still matches the source.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 300.0  # the whole run, on the 2-core CI machine
TEST_TIMEOUT_S = 120  # one breakage's tests (pytest-timeout, per test)


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # relative to the repository root
    old: str  # occurs exactly once in the file
    new: str
    tests: tuple[str, ...]  # pytest node ids that must fail with the breakage applied


T = "tests/"
GATEWARE_BAD_FRAMES = (
    T + "test_gateware.py::test_bad_frames_on_the_uart_get_frame_errors_or_naks_and_never_change_the_latched_pattern"
)
MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "vna limits asked of the instrument",
        "drivers/vna_session.py",
        "self.limits = self._ask_limits()",
        "self.limits = self.spec.limits",
        (T + "test_vna_drivers.py::test_the_driver_asks_the_instrument_for_its_limits",),
    ),
    Mutation(
        "measurement labelled with what the board shows",
        "simhw/control/board_state.py",
        "if self.hash is not None and now == self.latched:",
        "if self.hash is not None:",
        (T + "test_board_state.py::test_open_ris_boards_are_checked_by_readback",),
    ),
    Mutation(
        "measurement after a reset labelled with the board's readback",
        "simhw/control/board_state.py",
        "return shown.hash, UNEXPECTED if",
        "return expected[0] or shown.hash, UNEXPECTED if",
        (T + "test_board_state.py::test_a_reset_between_push_and_measure_is_never_labelled_with_the_push",),
    ),
    Mutation(
        "push re-applied after a reset nobody measured",
        "simhw/control/board_state.py",
        "        if now != self.latched:\n            self._record(seen, self.latched, now)\n            return False",
        "        if False:\n            return False",
        (T + "test_board_state.py::test_a_reset_between_two_pushes_of_the_same_configuration_re_applies_it",),
    ),
    Mutation(
        "bench effects off at zero",
        "sim_backend/bench.py",
        "BenchEffects(\n        sim.multipath,\n",
        "BenchEffects(\n        sim.multipath or 0.05,\n",
        (T + "test_bench_effects.py::test_every_effect_is_off_at_zero",),
    ),
    Mutation(
        "residual stage kept only if it helps",
        "calibration/residual.py",
        "    if not after < before:\n",
        "    if False:\n",
        (
            T + "test_calibration_realistic.py::"
            "test_the_residual_stage_never_worsens_held_out_prediction_on_the_ideal_bench",
        ),
    ),
    Mutation(
        "each candidate ridge solved to its optimum",
        "calibration/network_fit.py",
        "RIDGE_STEPS = 4 ",
        "RIDGE_STEPS = 1 ",
        (
            T + "test_calibration_multiport.py::"
            "test_each_ridge_the_validation_set_weighs_is_solved_to_its_optimum_not_one_step_towards_it",
        ),
    ),
    Mutation(
        "dashboard token MAC checked",
        "simhw/app/dashboard/tokens.py",
        "return role if hmac.compare_digest(expected, mac) else None",
        "return role",
        (T + "test_dashboard_curve.py::test_a_bad_token_is_refused_on_loopback_too_and_off_loopback_needs_one",),
    ),
    Mutation(
        "host checks the frame CRC",
        "drivers/smp.py",
        "if zlib.crc32(raw[: -CRC.size]) != crc:",
        "if False:",
        (T + "test_smp_fuzz.py::test_the_host_refuses_a_frame_with_any_bit_flipped",),
    ),
    Mutation(
        "firmware checks the commit CRC",
        "sim_backend/smp_firmware.py",
        "        crc = smp.pattern_crc(self.shadow, self.bits)\n        if crc != expected:\n"
        "            raise Refused(NakCode.CRC_MISMATCH)\n        self._latch",
        "        crc = smp.pattern_crc(self.shadow, self.bits)\n        self._latch",
        (T + "test_smp_board.py::test_bad_requests_are_refused_clearly",),
    ),
    Mutation(
        "gateware UART receiver checks the frame CRC",
        "sim_backend/gateware/rx.py",
        "with m.Elif(crc != RESIDUE):",
        "with m.Elif(crc != crc):",
        (GATEWARE_BAD_FRAMES,),
    ),
    Mutation(
        "gateware UART transmitter sends the stop bit",
        "sim_backend/gateware/uart.py",
        "shift.eq((self.data << 1) | (1 << 9))",
        "shift.eq((self.data << 1))",
        (T + "test_gateware.py::test_the_driver_pushes_through_the_uart_pins",),
    ),
    Mutation(
        "gateware checks the commit CRC",
        "sim_backend/gateware/requests.py",
        "with m.If(pcrc != arg[:32]):",
        "with m.If(pcrc != pcrc):",
        (GATEWARE_BAD_FRAMES,),
    ),
    Mutation(
        "phase-config hash is the documented digest",
        "simhw/values/phase_config.py",
        'h.update(np.array([self.bits, *self.shape], dtype="<u4").tobytes())',
        'h.update(np.array([self.bits, *self.shape], dtype="<u8").tobytes())',
        (T + "test_phase_config.py::test_the_hash_is_a_fixed_digest",),
    ),
    Mutation(
        "replication moves the lab cursor with its batch",
        "simhw/control/lab/replicator.py",
        "        self.cursor = last\n        self.shipped",
        "        self.shipped",
        (T + "test_lab_details.py::test_each_batch_moves_the_lab_cursor_so_a_new_replicator_resumes_after_it",),
    ),
    Mutation(
        "space-time session reports missed slots",
        "drivers/st_session.py",
        "    if st.seq_missed or st.seq_steps != slots:",
        "    if False:",
        (T + "test_spacetime_session.py::test_a_schedule_faster_than_the_bench_misses_slots_and_says_so",),
    ),
    Mutation(
        "push verified by readback",
        "drivers/smp_patterns.py",
        "if active is None or not np.array_equal(active, cfg.codes):",
        "if active is None:",
        (T + "test_transcripts.py::test_smp_readback_that_differs_is_a_verify_error",),
    ),
    Mutation(
        "VNA averaging switched on",
        "drivers/vna.py",
        '        self.averaging = True\n        self.write(self._fmt("average_sweeps"))',
        '        self.write(self._fmt("average_sweeps"))',
        (T + "test_vna_drivers.py::test_averaging_divides_the_noise_power[keysight-N5227B]",),
    ),
    Mutation(
        "dashboard draws the calibration curve while it runs",
        "simhw/app/dashboard/static/dashboard.js",
        "d.heldout_nmse_db);\n    drawCalibration();\n  }",
        "d.heldout_nmse_db);\n  }",
        (T + "test_dashboard.py::test_the_page_follows_pushes_measurements_and_calibration_live",),
    ),
    Mutation(
        "model phase noise off by default",
        "simhw/physics/impairments.py",
        "    phase_noise: float | None = None",
        "    phase_noise: float | None = 0.05",
        (T + "test_model.py::test_phase_noise_is_seeded_von_mises_and_off_by_default",),
    ),
    Mutation(
        "a configuration found by any name it was pushed under",
        "simhw/control/store.py",
        "        tag = NAME_TAG + config.name\n",
        "        return\n",
        (T + "test_integrations_qcodes.py::test_a_name_finds_the_newest_configuration_stored_under_it_by_any_name",),
    ),
    Mutation(
        "a store migrated from 0001 has the described columns",
        "simhw/values/records.py",
        'Column("temperature_k", "real"',
        'Column("temperature_k", "int"',
        (T + "test_records.py::test_a_fresh_store_has_exactly_the_described_tables_columns_and_indexes",),
    ),
    Mutation(
        "MATLAB metadata with unknown keys refused",
        "simhw/integrations/matlab.py",
        "    unknown = sorted(set(meta) - set(METADATA_KEYS))",
        "    unknown = []",
        (T + "test_cli_config.py::test_config_show_of_a_mat_file_with_foreign_metadata_is_a_clear_error",),
    ),
)


def check_texts(mutations=MUTATIONS, root: Path = ROOT) -> list[str]:
    """Problems with the list: a text that does not occur exactly once, a no-op, a test file missing."""
    problems = []
    names = [m.name for m in mutations]
    for m in mutations:
        src = (root / m.path).read_text() if (root / m.path).is_file() else None
        if src is None:
            problems.append(f"{m.name}: {m.path} does not exist")
            continue
        n = src.count(m.old)
        if n != 1:
            problems.append(f"{m.name}: its text occurs {n} times in {m.path}, not once")
        if m.old == m.new:
            problems.append(f"{m.name}: the replacement equals the text")
        if not m.tests:
            problems.append(f"{m.name}: no tests")
        for t in m.tests:
            if not (root / t.split("::")[0]).is_file():
                problems.append(f"{m.name}: test file {t.split('::')[0]} does not exist")
        if names.count(m.name) != 1:
            problems.append(f"{m.name}: the name is used twice")
    return problems


def copy_tree(dest: Path) -> None:
    """The tracked files of the working tree (as they are on disk) into ``dest``."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def run_tests(tests, tree: Path, timeout_s: float) -> tuple[int, float, str]:
    """Run ``tests`` in ``tree``: (pytest's exit code, or -1 when it did not end in time; seconds; the last
    output line with the first error line)."""
    # without CI set a skip stays a skip (exit 0: reported as survived), never a failure counted as a catch
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    t0 = time.monotonic()
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-x",
                "-q",
                "-n",
                "0",
                "-p",
                "no:cacheprovider",
                f"--timeout={TEST_TIMEOUT_S}",
                "--durations=0",
                "-o",
                "addopts=",
                *tests,
            ],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        code, out = run.returncode, (run.stdout + run.stderr).strip()
    except subprocess.TimeoutExpired:
        code, out = -1, "timed out"
    lines = out.splitlines()
    first_error = next((ln for ln in lines if ln.startswith("E ")), "")
    return code, time.monotonic() - t0, " | ".join(filter(None, [lines[-1] if lines else "", first_error.strip()]))


def run_one(m: Mutation, tree: Path) -> tuple[bool, float, str]:
    """Apply ``m`` in ``tree``, run its tests, restore. Returns (caught, seconds, last output line)."""
    target = tree / m.path
    original = target.read_text()
    target.write_text(original.replace(m.old, m.new, 1))
    try:
        code, seconds, last = run_tests(m.tests, tree, TEST_TIMEOUT_S * 2)
    finally:
        target.write_text(original)
    # 1: tests failed (caught). 0: passed (survived). A run that did not end, or anything else (no tests,
    # usage error), is not a catch: the same tests passed on the unbroken tree (the baseline) first.
    return code == 1, seconds, last


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.mutations", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", default=[], help="run the mutations whose name contains this")
    ap.add_argument("--budget", type=float, default=BUDGET_S, help="fail when the whole run takes longer (s)")
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--width", type=int, default=100, help="characters of the tests' output shown")
    ap.add_argument("--tests", nargs="+", help="run these node ids instead of each mutation's own")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or any(o in m.name for o in args.only)]
    if args.tests:
        chosen = [dataclasses.replace(m, tests=tuple(args.tests)) for m in chosen]
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.path}: {' '.join(m.tests)}")
        return 0
    problems = check_texts(chosen)
    if problems:
        print("\n".join(problems))
        return 1
    t0, survived = time.monotonic(), []
    with tempfile.TemporaryDirectory(prefix="simhw-mutations-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        width = max(len(m.name) for m in chosen)
        every = list(dict.fromkeys(t for m in chosen for t in m.tests))
        code, seconds, last = run_tests(every, tree, TEST_TIMEOUT_S * len(every))
        print(
            f"baseline: the {len(every)} tests on the unbroken tree, {seconds:.1f} s: {last[: args.width]}", flush=True
        )
        if code != 0:
            print("the tests fail without any breakage: a failure under a breakage would prove nothing")
            return 1
        print(f"{'mutation':<{width}}  caught  seconds  the tests' summary | first error line", flush=True)
        for m in chosen:
            caught, seconds, last = run_one(m, tree)
            print(
                f"{m.name:<{width}}  {'yes' if caught else 'NO':<6}  {seconds:7.1f}  {last[: args.width]}", flush=True
            )
            if not caught:
                survived.append(m.name)
    total = time.monotonic() - t0
    print(f"{len(chosen) - len(survived)}/{len(chosen)} caught in {total:.0f} s (budget {args.budget:.0f} s)")
    if survived:
        print("survived: " + "; ".join(survived))
    if total > args.budget:
        print(f"the mutation check took {total:.0f} s, over its budget of {args.budget:.0f} s")
    return 1 if survived or total > args.budget else 0


if __name__ == "__main__":
    sys.exit(main())
