"""The whole simulated bench in one call: true SIM, board firmware(s) on ptys/TCP, a SCPI VNA.

    with SimBench(BenchConfig.load("bench.toml")) as bench:
        print(bench.resources())        # the board URLs and the VNA resource string
        cfg = bench.resolved_config()   # the same bench file with "sim" replaced by real addresses

The VNA's device under test (:class:`BenchDUT`) reads the boards' active codes directly from the
firmware objects (not through any driver) and asks the true SIM for the response at that moment.

The trigger cables, both ways: the VNA's per-point trigger output steps an SMP board's trigger-mode
sequence (:meth:`BenchDUT.s_params_list`), and the SMP board's trigger output, a pulse at every
latch, goes to the VNA's external trigger input (:attr:`SimBench.trigger_line`), carrying the codes
latched with it, so a VNA triggered per point by the board measures each point in the
configuration the board latched for it (:meth:`BenchDUT.s_params_states`).
"""

from __future__ import annotations

import copy
import json
import sys

import numpy as np

from drivers.smp import pattern_crc
from sim_backend.bench_effects import BenchEffects
from sim_backend.chaos import Chaos
from sim_backend.hislip_server import HiSLIPServer
from sim_backend.inproc_endpoint import InprocEndpoint
from sim_backend.ris_firmware import OpenRISFirmware
from sim_backend.serial_endpoint import Faults, SerialEndpoint
from sim_backend.smp_firmware import SMPFirmware
from sim_backend.true_sim import Drift, SimClock, TrueSIM
from sim_backend.vna import SimVNA, make_instrument
from sim_backend.vna.trigger import TriggerLine
from sim_backend.vna_tcp import VNAServer
from sim_backend.vxi11_server import VXI11Server
from simhw.physics.geometry import FabricationErrors
from simhw.physics.impairments import Impairments, PhaseDependentAmplitude
from simhw.values.bench_config import BenchConfig

__all__ = ["BenchDUT", "SimBench", "make_truth"]


def make_truth(cfg: BenchConfig, clock: SimClock | None = None) -> TrueSIM:
    """The simulated SIM a bench file describes (its seed, errors, impairments, drift and truth model)."""
    g, sim = cfg.geometry, cfg.simulation
    ideal = g.build(cfg.frequencies())
    errors = FabricationErrors.paper(ideal.wavelengths[0] if ideal.frequencies.size else 0.0107, scale=sim.error_scale)
    imp = Impairments(
        coupling=sim.coupling or None,
        phase_noise=sim.phase_noise or None,
        amplitude=PhaseDependentAmplitude() if sim.phase_dependent_amplitude else None,
    )
    multiport = (
        {"reflection": sim.reflection, "coupling": sim.port_coupling} if sim.truth_model == "multiport" else None
    )
    effects = BenchEffects(
        sim.multipath,
        sim.multipath_delay_ns,
        sim.cable_ppm_per_k,
        sim.cable_delay_ns,
        sim.leakage,
        sim.leakage_delay_ns,
        sim.code_spread,
        sim.horn_q,
        seed=sim.seed,
    )
    return TrueSIM(
        ideal,
        errors,
        seed=sim.seed,
        impairments=imp,
        drift=Drift(rate_k_per_hour=sim.drift_k_per_hour),
        clock=clock,
        multiport=multiport,
        effects=effects,
    )


REFLECTION = 0.1  # |S11| of the test antenna and the receive antennas


class BenchDUT:
    """The SIM between the VNA ports: ``source_port`` = test antenna, ``rx_ports`` = receive antennas
    (by default port 1 and ports 2, 3, ..)."""

    def __init__(
        self,
        truth: TrueSIM,
        firmwares: list,
        bits: int,
        ports: int = 4,
        source_port: int = 1,
        rx_ports: tuple[int, ...] | None = None,
    ):
        self.truth = truth
        self.firmwares = firmwares
        self.bits = bits
        self.ports = ports
        self.n_rx = truth.ideal.output_antennas.count
        self.source_port = source_port
        self.rx_ports = tuple(rx_ports) if rx_ports else tuple(range(2, 2 + self.n_rx))

    def active_codes(self, now: float | None = None) -> np.ndarray:
        return np.concatenate([fw.active_codes(now) for fw in self.firmwares])

    def _assemble(self, h: np.ndarray) -> np.ndarray:
        """(F or points, P) responses -> (F, ports, ports) reciprocal S-matrix."""
        s = np.zeros((h.shape[0], self.ports, self.ports), complex)
        idx = np.arange(self.ports)
        s[:, idx, idx] = REFLECTION
        src = self.source_port - 1
        for p, port in enumerate(self.rx_ports[: self.n_rx]):
            if port <= self.ports:
                s[:, port - 1, src] = s[:, src, port - 1] = h[:, p]
        return s

    def s_params(self, frequencies) -> np.ndarray:
        h = self.truth.response(self.active_codes(), self.bits, frequencies)
        return self._assemble(h)

    def s_params_list(self, frequency: float, points: int, t0: float, t_point: float, before: bool = False):
        """CW sweep with a trigger pulse to every board after (or before) each point."""
        codes = []
        for k in range(points):
            t = t0 + k * t_point
            if before:
                for fw in self.firmwares:
                    fw.trigger(t)
            codes.append(self.active_codes(t))
            if not before:
                for fw in self.firmwares:
                    fw.trigger(t + t_point)
        h = self.truth.response(np.stack(codes), self.bits, [frequency])[:, 0, :]  # (points, P)
        return self._assemble(h)

    def s_params_states(self, frequencies, states):
        """Point k at ``frequencies[k]`` with the codes ``states[k]`` shown (what the board latched with
        the trigger pulse that started point k)."""
        f = np.asarray(frequencies, float)
        codes = np.stack(states)
        if np.all(f == f[0]):
            h = self.truth.response(codes, self.bits, [f[0]])[:, 0, :]
        else:
            h = np.stack([self.truth.response(c, self.bits, [fk])[0] for c, fk in zip(codes, f)])
        return self._assemble(h)


class SimBench:
    """Start and stop every simulated device of a bench description."""

    def __init__(self, config: BenchConfig | None = None, clock: SimClock | None = None):
        self.config = config or BenchConfig()
        self.clock = clock or SimClock(self.config.simulation.clock_speed)
        self.endpoints: list[SerialEndpoint] = []
        self.firmwares: list = []
        self.vna: SimVNA | None = None
        self.server: VNAServer | None = None
        self.hislip: HiSLIPServer | None = None
        self.vxi11: VXI11Server | None = None
        self.truth: TrueSIM | None = None
        self.dut: BenchDUT | None = None
        self.chaos: Chaos | None = None
        self._latch_log = None
        self.trigger_line = TriggerLine()  # the SMP board's trigger output -> the VNA's trigger input

    # ------------------------------------------------------------------ lifetime
    def start(self) -> SimBench:
        cfg, g, sim = self.config, self.config.geometry, self.config.simulation
        self.truth = make_truth(cfg, self.clock)
        if cfg.board.protocol == "smp":
            self.firmwares = [
                SMPFirmware(
                    g.layers,
                    g.rows,
                    g.cols,
                    g.bits,
                    seed=sim.seed,
                    serial=f"SIMB-{sim.seed:04d}",
                    boot_delay=0.02,
                    slots=256,
                )
            ]
        else:
            self.firmwares = [OpenRISFirmware(serial=f"{sim.seed}{i}", boot_delay=0.02) for i in range(g.layers)]
        for fw in self.firmwares:
            if isinstance(fw, SMPFirmware):
                fw.temperature_fn = lambda: self.truth.temperature_c() + 10.0
        if sim.latch_log:
            self._latch_log = open(sim.latch_log, "a", buffering=1)
        for fw in self.firmwares:
            if isinstance(fw, SMPFirmware):
                fw.on_latch = self._on_latch
                self.trigger_line.attach(fw.active_codes)  # its sequencer's timer runs when asked
        try:
            seeds = np.random.SeedSequence(None if sim.fault_seed < 0 else sim.fault_seed).spawn(
                len(self.firmwares) + 1
            )

            def faults(i: int) -> Faults:
                return Faults(
                    drop=sim.byte_errors / 2,
                    flip=sim.byte_errors / 2,
                    reset_rate=sim.board_resets_per_hour / 3600.0,
                    seed=int(seeds[i].generate_state(1)[0]),
                )

            self.endpoints = [
                (
                    InprocEndpoint(fw, faults(i))
                    if sim.transport == "inproc"
                    else SerialEndpoint(fw, sim.transport, faults=faults(i))
                ).start()
                for i, fw in enumerate(self.firmwares)
            ]
            self.dut = BenchDUT(
                self.truth, self.firmwares, g.bits, source_port=cfg.vna.source_port, rx_ports=cfg.receive_vna_ports()
            )
            self.vna = make_instrument(
                cfg.vna.model or None,
                self.dut,
                family=cfg.vna.family,
                noise=sim.noise,
                seed=sim.seed,
                cal_sets=tuple(sim.vna_cal_sets),
                raw_error=sim.vna_raw_error,
                residuals=(sim.vna_residual_directivity, sim.vna_residual_match, sim.vna_residual_tracking_db),
            )
            self.vna.trigger_in = self.trigger_line
            self.server = VNAServer(self.vna).start()
            self.hislip = HiSLIPServer(self.vna).start()
            if sim.vna_vxi11:
                self.vxi11 = VXI11Server(self.vna).start()
            self.chaos = Chaos(
                self, sim.vna_stalls_per_hour, sim.vna_drops_per_hour, sim.clock_jumps_per_hour, seed=seeds[-1]
            ).start()
        except Exception:
            self.stop()
            raise
        return self

    def _on_latch(self, fw, codes) -> None:
        """Every latch of an SMP board: a pulse on its trigger output, with the codes latched (when the
        board is the bench's only one: they are then the whole device's state); one line in the latch
        log (simulation.latch_log, audited by the soak): boot id, pattern CRC, latch count."""
        state = codes.reshape(fw.layers, fw.rows, fw.cols).copy() if len(self.firmwares) == 1 else None
        self.trigger_line.pulse(fw.last_latch, state)
        if self._latch_log is not None:
            self._latch_log.write(
                f"{fw.boot_id:08x} {pattern_crc(codes, self.config.geometry.bits):08x} {fw.latch_count}\n"
            )

    def reset_boards(self) -> None:
        """A brown-out of every simulated board, on request (``simhw daemon`` does it on SIGUSR1)."""
        for fw in self.firmwares:
            fw.reset()
        print(json.dumps({"event": "chaos", "fault": "requested_reset"}), file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self._latch_log is not None:
            self._latch_log.close()
            self._latch_log = None
        if self.chaos is not None:
            self.chaos.stop()
            self.chaos = None
        for name in ("server", "hislip", "vxi11"):
            srv = getattr(self, name)
            if srv is not None:
                srv.stop()
                setattr(self, name, None)
        for ep in self.endpoints:
            ep.stop()
        self.endpoints = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ addresses
    @property
    def board_urls(self) -> list[str]:
        return [ep.url for ep in self.endpoints]

    @property
    def vna_resource(self) -> str:
        """The VNA's resource string through the interface ``simulation.vna_interface`` names."""
        kind = self.config.simulation.vna_interface
        return self.vna_resources()[kind]

    def vna_resources(self) -> dict[str, str]:
        """Every way the simulated VNA is reached: raw SOCKET, HiSLIP and (when bound) VXI-11."""
        out = {"socket": self.server.resource, "hislip": self.hislip.resource}
        if self.vxi11 is not None:
            out["vxi11"] = self.vxi11.resource
        return out

    def resources(self) -> dict:
        return {"board": self.board_urls, "vna": self.vna_resource, "vna_resources": self.vna_resources()}

    def resolved_config(self) -> BenchConfig:
        """The bench description with every "sim" resource replaced by the simulated device's address."""
        cfg = copy.deepcopy(self.config)
        cfg.board.urls = list(self.board_urls)
        cfg.vna.resource = self.vna_resource
        return cfg
