"""Soak test: the daemon and the simulated bench under faults in every layer, then a full audit.

    simhw soak --minutes 30 --out out/soak          # the long run
    simhw soak --seconds 45 --intense               # the bounded run CI does

A ``simhw daemon`` process serves the embedded simulated bench with faults switched on: bytes
dropped or flipped on the board link, spontaneous board resets, VNA stalls (an *OPC? silent past
the driver's timeout) and dropped VNA connections, simulated-clock jumps (the scheduler runs
periodic and state-driven calibrations meanwhile). The soak client pushes (pipelined and single),
measures and calibrates over ZeroMQ and keeps a ledger of everything acknowledged; it also
SIGKILLs the daemon at random moments and restarts it, and once fills the store (a size cap the
daemon hits like a full disk) before lifting it. At the end the daemon is restarted without faults,
must answer, push and measure correctly and stop cleanly on SIGTERM; then the store is audited:
SQLite integrity, every acknowledged push present with its hash, every acknowledged measurement
present with identical data, every finished calibration present with a loadable model, no run left
'running', every stored blob decodable. The report counts what was done, what was injected, and
the lost and wrong records (both must be zero).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from calibration.calibrated import CalibratedModel
from simhw.app.soak_audit import ContentAudit, audit_content
from simhw.control import schema
from simhw.control.client import DaemonClient, DaemonError, DaemonTimeout
from simhw.control.store import Store
from simhw.values.bench_config import BenchConfig
from simhw.values.phase_config import PhaseConfig

__all__ = ["run_soak", "SoakReport", "main"]


@dataclass
class SoakReport:
    seconds: float = 0.0
    acked_pushes: int = 0
    acked_measurements: int = 0
    finished_calibrations: int = 0
    errors: dict = field(default_factory=dict)  # error code -> count (not acknowledged, as expected)
    timeouts: int = 0
    kills: int = 0
    restarts: int = 0
    store_full_phases: int = 0
    after_store_full: int = 0  # acknowledged pushes when the store-full phase ended
    chaos: dict = field(default_factory=dict)  # injected by the bench: kind -> count
    requested_resets: int = 0  # board resets between a push and a measurement
    lost: list = field(default_factory=list)
    wrong: list = field(default_factory=list)
    content: ContentAudit = field(default_factory=ContentAudit)
    integrity: str = ""
    healthy_end: bool = False
    clean_exit: bool = False

    @property
    def ok(self) -> bool:
        return (
            not self.lost
            and not self.wrong
            and not self.content.mislabelled
            and not self.content.unlatched
            and self.integrity == "ok"
            and self.healthy_end
            and self.clean_exit
        )

    def summary(self) -> str:
        return (
            f"{self.seconds:.0f} s: {self.acked_pushes} pushes, {self.acked_measurements} measurements, "
            f"{self.finished_calibrations} calibrations acknowledged; {self.kills} SIGKILLs, {self.restarts} "
            f"restarts, {self.store_full_phases} store-full phase(s); injected {self.chaos}; error replies "
            f"{self.errors}, timeouts {self.timeouts}; audit: integrity {self.integrity}, lost {len(self.lost)}, "
            f"wrong {len(self.wrong)}, mislabelled {len(self.content.mislabelled)} of {self.content.checked} "
            f"labelled measurements (worst match {self.content.worst_match_db:.1f} dB, median "
            f"{self.content.median_match_db:.1f} dB; {self.content.flagged} flagged, {self.content.unknown} "
            f"unknown), unlatched pushes {len(self.content.unlatched)}, resets between push and measure "
            f"{self.requested_resets}, healthy end {self.healthy_end}, clean exit {self.clean_exit}"
        )


def _bench(work: Path, faults: bool, intense: bool, store_max_mb: float = 0.0, fault_seed: int = -1):
    cfg = BenchConfig(name="soak")
    cfg.sweep.points = 3
    s = cfg.simulation
    s.error_scale, s.clock_speed, s.seed, s.fault_seed = 5.0, 30.0, 11, fault_seed
    if faults:
        k = 12.0 if intense else 1.0
        s.byte_errors = 2e-4
        s.board_resets_per_hour = 60 * k
        s.vna_stalls_per_hour = 40 * k
        s.vna_drops_per_hour = 60 * k
        s.clock_jumps_per_hour = 60 * k
    c = cfg.calibration
    c.parameterization, c.stages, c.slots, c.heldout = "physical", 1, 20, 10
    c.period_s, c.check_every_s = 3600.0, 900.0
    s.latch_log = str(work / "latches.log")
    d = cfg.daemon
    d.bind = [f"ipc://{work}/soak.ipc"]
    d.publish = f"ipc://{work}/soak-pub.ipc"
    d.store = str(work / "store.sqlite")
    d.heartbeat_s = 0.5
    d.store_max_mb = store_max_mb
    path = work / ("bench-quiet.toml" if not faults else "bench-capped.toml" if store_max_mb else "bench.toml")
    path.write_text(cfg.to_toml())
    return path, cfg


class _Daemon:
    def __init__(self, work: Path):
        self.work, self.proc = work, None
        self.log = open(work / "daemon.log", "ab")

    def start(self, bench: Path, timeout: float = 60.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simhw", "daemon", "--bench", str(bench)],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("ready"):
                return
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited with {self.proc.returncode} while starting (see daemon.log)")
        raise RuntimeError("the daemon did not start in time")

    def reset_board(self) -> None:
        """Reboot the simulated board now (a brown-out between a push and a measurement)."""
        self.proc.send_signal(signal.SIGUSR1)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self._close()

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._close()
        return rc

    def _close(self):
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()


def _pipelined(client, configs, timeout: float):
    """Push ``configs`` pipelined; returns ([(push id, hash)], [error codes], timed out)."""
    pending = {client.send("push", config=c.to_bytes().decode()): c.hash for c in configs}
    acks, errors = [], []
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        if not client.sock.poll(int(max(deadline - time.monotonic(), 0) * 1000) + 1):
            break
        msg = schema.decode(client.sock.recv_multipart())
        h = pending.pop(msg.id, None)
        if h is None:
            continue
        if msg.ok:
            if msg.header["hash"] != h:
                raise AssertionError(
                    f"acknowledged push {msg.header['push']} carries hash {msg.header['hash']}, sent {h}"
                )
            acks.append((msg.header["push"], h))
        else:
            errors.append(msg.header.get("error", {}).get("code", "?"))
    timed_out = bool(pending)
    if timed_out:
        client.reset()  # late replies must not be taken for the next request's
    return acks, errors, timed_out


def _wait_idle(client: DaemonClient, seconds: float) -> None:
    """Until no calibration holds the bench (or ``seconds`` passed, or the daemon does not answer)."""
    deadline = time.monotonic() + seconds
    try:
        while client.status()["job"] is not None and time.monotonic() < deadline:
            time.sleep(0.2)
    except DaemonError:
        pass


def run_soak(
    seconds: float = 60.0, out: str | Path = "out/soak", seed: int = 0, intense: bool = False, say=print
) -> SoakReport:
    work = Path(out)
    work.mkdir(parents=True, exist_ok=True)
    for f in ("store.sqlite", "store.sqlite-wal", "store.sqlite-shm", "daemon.log", "latches.log"):
        (work / f).unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    starts = iter(range(1, 1_000_000))
    _, cfg = _bench(work, True, intense)

    def faulty(store_max_mb: float = 0.0) -> Path:
        """The bench file for the next start: the same faults, a different draw of them each time."""
        return _bench(work, True, intense, store_max_mb, fault_seed=seed * 1_000_000 + next(starts))[0]

    rep = SoakReport()
    errors = collections.Counter()
    pushes: dict[int, str] = {}
    measurements: dict[int, tuple] = {}
    calibrations: list[str] = []  # requested jobs; the audit checks every finished run in the store
    daemon = _Daemon(work)
    daemon.start(faulty())
    t0 = time.monotonic()
    next_kill = t0 + rng.uniform(5, 15)
    store_full_at = t0 + seconds * 0.5
    client = DaemonClient(cfg.daemon.bind[0], timeout=25)
    n_cfg = 0

    def fresh():
        nonlocal n_cfg
        n_cfg += 1
        return PhaseConfig.random(4, 6, 6, 2, seed=int(rng.integers(1 << 30)), name=f"soak-{n_cfg}")

    last_report = t0
    for _ in range(1_000_000):  # bounded; the deadline ends it
        now = time.monotonic()
        if now - t0 >= seconds:
            break
        if now >= next_kill:
            daemon.kill()
            rep.kills += 1
            daemon.start(faulty())
            rep.restarts += 1
            next_kill = time.monotonic() + rng.uniform(5, 20)
        if store_full_at is not None and now >= store_full_at:
            store_full_at = None
            daemon.kill()
            rep.kills += 1
            size = os.path.getsize(cfg.daemon.store) / 2**20
            daemon.start(faulty(store_max_mb=size + 0.02))
            rep.restarts += 1
            rep.store_full_phases += 1
            for _ in range(60):  # push until the cap bites (bounded)
                acks, errs, _ = _pipelined(client, [fresh() for _ in range(10)], 30)
                pushes.update(acks)
                errors.update(errs)
                if "store_full" in errs:
                    break
            rep.after_store_full = len(pushes)
            daemon.kill()
            rep.kills += 1
            daemon.start(faulty())  # the operator made room
            rep.restarts += 1
            next_kill = time.monotonic() + rng.uniform(5, 20)
            continue
        action = rng.choice(
            ["many", "one", "push_measure", "measure", "reset_measure", "calibrate", "status"],
            p=[0.35, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05],
        )
        try:
            if action == "many":
                acks, errs, late = _pipelined(client, [fresh() for _ in range(int(rng.integers(2, 20)))], 30)
                pushes.update(acks)
                errors.update(errs)
                rep.timeouts += late
                if "busy" in errs:
                    _wait_idle(client, 30)
            elif action == "one":
                c = fresh()
                ack = client.push(c)
                pushes[ack["push"]] = c.hash
            elif action == "push_measure":
                c = fresh()
                m = client.push_measure(c)
                pushes[m.push["push"]] = c.hash
                measurements[m.id] = (m.config_hash, m.s.copy())  # what the board showed, or None
            elif action == "measure":
                m = client.measure()
                measurements[m.id] = (m.config_hash, m.s.copy())
            elif action == "reset_measure":  # push, the board reboots, measure: the record must not claim the push
                c = fresh()
                pushes[client.push(c)["push"]] = c.hash
                daemon.reset_board()
                rep.requested_resets += 1
                time.sleep(0.1)  # past the simulated board's boot delay
                m = client.measure()
                measurements[m.id] = (m.config_hash, m.s.copy())
            elif action == "calibrate":
                calibrations.append(client.calibrate(stages=1, slots=20))
            else:
                client.status()
        except DaemonTimeout:
            rep.timeouts += 1
        except DaemonError as e:
            errors[e.code] += 1
            if e.code == "busy":  # a calibration holds the bench and refuses pushes: go on once it ended
                _wait_idle(client, 30)
        if time.monotonic() - last_report > 30:
            last_report = time.monotonic()
            say(
                f"soak +{last_report - t0:.0f} s: {len(pushes)} pushes, {len(measurements)} measurements acknowledged, "
                f"{rep.kills} kills, errors {dict(errors)}"
            )
    client.close()
    # the end: no more faults; the daemon must come up, work and stop cleanly
    daemon.kill()
    rep.kills += 1
    quiet, _ = _bench(work, False, intense)
    daemon.start(quiet)
    rep.restarts += 1
    with DaemonClient(cfg.daemon.bind[0], timeout=60) as c:
        try:
            st = c.status()
            final = fresh()
            ack = c.push(final)
            m = c.measure()
            rep.healthy_end = (
                st["board"]["shape"] == [4, 6, 6] and m.config_hash == final.hash and ack["hash"] == final.hash
            )
            pushes[ack["push"]] = final.hash
            measurements[m.id] = (m.config_hash, m.s.copy())
        except DaemonError as e:
            say(f"final health check failed: {e}")
    rep.clean_exit = daemon.terminate() == 0
    rep.seconds = time.monotonic() - t0
    rep.errors = dict(errors)
    # ------------------------------------------------------------------ audit
    store = Store(cfg.daemon.store)
    rep.integrity = store.db.execute("PRAGMA integrity_check").fetchone()[0]
    rows = dict(store.db.execute("SELECT id, hash FROM pushes").fetchall())
    for pid, h in pushes.items():
        if pid not in rows:
            rep.lost.append(("push", pid))
        elif rows[pid] != h:
            rep.wrong.append(("push", pid))
    for mid, (h, s) in measurements.items():
        try:
            m = store.get_measurement(mid)
        except KeyError:
            rep.lost.append(("measurement", mid))
            continue
        if m["hash"] != h or not np.array_equal(m["s"], s):
            rep.wrong.append(("measurement", mid))
    for (h,) in store.db.execute("SELECT DISTINCT hash FROM pushes").fetchall():
        cfg_ = store.get_config(h)
        if cfg_.hash != h:
            rep.wrong.append(("config", h))
    done = 0
    for row in store.list_calibrations(100_000):
        if row["status"] == "running":
            rep.wrong.append(("calibration left running", row["id"]))
        if row["status"] == "done":
            full = store.get_calibration(row["id"])
            CalibratedModel.from_bytes(full["model"])
            done += 1
    for (mid,) in store.db.execute("SELECT id FROM measurements").fetchall():
        m = store.get_measurement(mid)
        if not np.all(np.isfinite(m["s"])):
            rep.wrong.append(("measurement not finite", mid))
    rep.content = audit_content(store, cfg, pushes, work / "latches.log")
    store.close()
    rep.acked_pushes, rep.acked_measurements, rep.finished_calibrations = len(pushes), len(measurements), done
    log_text = (work / "daemon.log").read_text(errors="replace")  # several processes' stderr: lines may interleave
    chaos = collections.Counter(re.findall(r'"event": "chaos", "fault": "(\w+)"', log_text))
    chaos["board_reset"] = len(re.findall(r"rebooted \(boot id", log_text))
    rep.chaos = dict(chaos)
    say(rep.summary())
    return rep


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="simhw soak", description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--out", default="out/soak", help="working directory: store, bench files, daemon.log")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--intense", action="store_true", help="twelve times the fault rates (for short runs)")
    a = ap.parse_args(argv)
    seconds = a.minutes * 60 if a.minutes is not None else a.seconds
    rep = run_soak(seconds, a.out, a.seed, a.intense)
    (Path(a.out) / "report.json").write_text(json.dumps({**rep.__dict__, "ok": rep.ok}, indent=2, default=str))
    return 0 if rep.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
