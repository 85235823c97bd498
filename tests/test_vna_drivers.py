"""simhw's VNA drivers on the simulated instruments of every family: ENA, R&S triggered list sweeps and
space-time sessions, list sweeps that restore what they change, frequencies read back, the state
policy (an operator's traces survive a session; preset on request), correction and averaging."""

import dataclasses

import numpy as np
import pytest
import pyvisa
from daemon_helpers import ipc_bench
from vna_helpers import DelayLine, vna_bench

from drivers.board import BoardCapabilityError
from drivers.capabilities import ListSweep, capable
from drivers.list_measurement import triggered_list_measurement
from drivers.smp_board import SMPBoard
from drivers.st_session import run_st_session
from drivers.vna import KeysightENA, VNAError, open_vna
from sim_backend.bench import SimBench
from sim_backend.vna import FAMILY_CLASSES
from sim_backend.vna_tcp import VNAServer
from simhw.app.embedded import embedded_daemon
from simhw.control.client import DaemonClient
from simhw.values.phase_config import PhaseConfig
from simhw.values.vna_models import model_named

pytestmark = pytest.mark.timeout(120)

MODELS = [("keysight", "N5227B"), ("ena", "E5080B"), ("rs", "ZNA43")]


def raw(bench):
    rm = pyvisa.ResourceManager("@py")
    return rm.open_resource(bench.vna_resource, read_termination="\n", write_termination="\n", timeout=5000)


@pytest.mark.parametrize(
    "model, params, f0",
    [("E5080B", ("S21", "S31"), 28e9), ("M5180", ("S21",), 17.5e9), ("E5071C", ("S21", "S41"), 8e9)],
)
def test_ena_driver_measures_the_simulated_truth(model, params, f0):
    with (
        SimBench(vna_bench("ena", model)) as bench,
        SMPBoard(bench.board_urls[0]) as board,
        open_vna("ena", bench.vna_resource) as vna,
    ):
        assert isinstance(vna, KeysightENA) and vna.model == model
        for seed in (1, 2):
            cfg = PhaseConfig.random(4, 6, 6, 2, seed=seed)
            board.push(cfg)
            vna.configure(f0 - 0.5e9, f0 + 0.5e9, 11, ifbw=1e3, power=-10, params=params)
            data = vna.measure()
            truth = bench.dut.s_params(vna.frequencies())
            for p in params:
                np.testing.assert_allclose(data[p], truth[:, int(p[1]) - 1, int(p[2]) - 1], rtol=1e-12)
        assert vna.errors() == []
        with pytest.raises(ValueError, match="outside the .* range"):
            vna.configure(f0, bench.vna.model.limits.f_max * 1.01, 11)


@pytest.mark.parametrize("family, model", MODELS)
def test_the_driver_asks_the_instrument_for_its_limits(family, model):
    """An instrument with a smaller frequency option, fewer points and less power than its model table
    lists: the driver's limits are the instrument's answers (with a warning naming the difference), and
    a sweep within the table but beyond the instrument is refused before anything is sent."""
    table = model_named(model).limits
    own = dataclasses.replace(
        table,
        f_max=table.f_max / 2,
        max_points=table.max_points // 4,
        power_max=table.power_max - 5,
        ifbw_max=table.ifbw_max / 2,
    )
    inst = FAMILY_CLASSES[family](DelayLine(), dataclasses.replace(model_named(model), limits=own), noise=False)
    server = VNAServer(inst).start()
    try:
        with (
            pytest.warns(UserWarning, match="reports ranges its model table does not list: f_max"),
            open_vna(family, server.resource) as vna,
        ):
            assert vna.limits == own != table
            with pytest.raises(ValueError, match="outside the .* range"):
                vna.configure(own.f_max * 0.9, (own.f_max + table.f_max) / 2, 11)
            with pytest.raises(ValueError, match="outside the .* range"):
                vna.configure(own.f_max * 0.8, own.f_max * 0.9, own.max_points + 1)
            assert vna.errors() == []  # refused by the driver, not by the instrument
    finally:
        server.stop()


@pytest.mark.parametrize("family, model", MODELS)
def test_frequencies_are_read_back_from_the_instrument(family, model):
    with SimBench(vna_bench(family, model)) as bench, open_vna(family, bench.vna_resource) as vna:
        vna.configure(27.9e9 + 0.4, 28.1e9 + 0.3, 3, params=("S21",))  # the instruments resolve 1 Hz
        np.testing.assert_array_equal(vna.frequencies(), [27.9e9, 28.0e9, 28.1e9])
        assert not np.array_equal(vna.frequencies(), np.linspace(27.9e9 + 0.4, 28.1e9 + 0.3, 3))


OPERATOR = {  # an operator's own traces, made with the instrument's commands, and how to list them
    "keysight": (
        ["CALC1:PAR:EXT 'op_S11',S11", "DISP:WIND1:TRAC2:FEED 'op_S11'"],
        ["CALC1:PAR:CAT:EXT?", "DISP:WIND1:CAT?", "SYST:MEAS:CAT? 1"],
    ),
    "ena": (["CALC1:PAR:COUN 2", "CALC1:PAR2:DEF S22"], ["CALC1:PAR:COUN?", "CALC1:PAR1:DEF?", "CALC1:PAR2:DEF?"]),
    "rs": (["CALC1:PAR:SDEF 'op','S12'", "DISP:WIND1:TRAC2:FEED 'op'"], ["CALC1:PAR:CAT?", "DISP:WIND1:TRAC:CAT?"]),
}


@pytest.mark.parametrize("family, model", MODELS)
def test_an_operators_traces_survive_a_simhw_session(family, model):
    setup, listing = OPERATOR[family]
    with SimBench(vna_bench(family, model)) as bench:
        op = raw(bench)
        for cmd in setup:
            op.write(cmd)
        before = [op.query(q).strip() for q in listing]
        with open_vna(family, bench.vna_resource) as vna:
            vna.configure(27.5e9, 28.5e9, 11, params=("S21", "S31"))
            vna.measure()
            during = [op.query(q).strip() for q in listing]
            assert during != before  # simhw's traces were there
            vna.configure(27.5e9, 28.5e9, 5, params=("S21",))  # a reconfiguration replaces only simhw's
            vna.measure()
        after = [op.query(q).strip() for q in listing]
        assert after == before
        assert "simhw" not in " ".join(after)
        assert op.query("SYST:ERR?").strip().lstrip("+").startswith("0")
        op.close()


@pytest.mark.parametrize("family, model", MODELS)
def test_preset_on_request_resets_the_instrument(family, model):
    with SimBench(vna_bench(family, model)) as bench:
        op = raw(bench)
        op.write("SENS1:SWE:POIN 77")
        op.query("*OPC?")  # the write is done before another session presets: sessions are not ordered
        with open_vna(family, bench.vna_resource, preset=True) as vna:
            assert vna.ask("points") == 201
        with open_vna(family, bench.vna_resource) as vna:
            vna.points = 55
            assert vna.ask("points") == 55  # answered after the write: it is done before this session closes
        with open_vna(family, bench.vna_resource) as vna:
            assert vna.ask("points") == 55  # no preset unless asked
        op.close()


@pytest.mark.parametrize("family, model", MODELS)
def test_correction_is_recorded_and_selected_by_cal_set(family, model):
    with SimBench(vna_bench(family, model, vna_raw_error=0.05, vna_cal_sets=["simhw", "factory"])) as bench:
        with open_vna(family, bench.vna_resource) as vna:
            vna.configure(27.5e9, 28.5e9, 11, params=("S21",))
            raw_data = vna.measure()["S21"]
            assert vna.measurement_settings()["correction"] is False
        with open_vna(family, bench.vna_resource, cal_set="factory") as vna:
            vna.configure(27.5e9, 28.5e9, 11, params=("S21",))
            corrected = vna.measure()["S21"]
            settings = vna.measurement_settings()
        truth = bench.dut.s_params(np.linspace(27.5e9, 28.5e9, 11))[:, 1, 0]
        assert (settings["correction"], settings["cal_set"]) == (True, "factory")
        np.testing.assert_allclose(corrected, truth, rtol=1e-12)
        assert np.max(np.abs(raw_data / truth - 1)) > 0.02  # uncorrected, the instrument's own errors show
        with pytest.raises(VNAError, match="rejected"):
            with open_vna(family, bench.vna_resource, cal_set="nonexistent") as vna:
                vna.configure(27.5e9, 28.5e9, 11, params=("S21",))


@pytest.mark.parametrize("family, model", MODELS)
def test_averaging_divides_the_noise_power(family, model):
    with SimBench(vna_bench(family, model, noise=True)) as bench:
        f = np.linspace(28e9, 28e9 + 200e3, 201)
        truth = bench.dut.s_params(f)[:, 1, 0]
        std = {}
        for n in (0, 16):
            with open_vna(family, bench.vna_resource, averaging=n) as vna:
                vna.configure(float(f[0]), float(f[-1]), 201, ifbw=10e3, power=-40, params=("S21",))
                err = np.concatenate([vna.measure()["S21"] - truth for _ in range(3)])
                std[n] = np.sqrt(np.mean(np.abs(err) ** 2))
                assert vna.measurement_settings()["averaging"] == n
        assert std[0] / std[16] == pytest.approx(4.0, rel=0.2)


LIST_STATE = {
    "keysight": [
        "SENS1:SWE:TYPE LOG",
        "SENS1:FREQ:CW 27.25 GHZ",
        "SENS1:SWE:POIN 33",
        "SENS1:BWID 3 KHZ",
        "TRIG:CHAN1:AUX1 OFF",
        "TRIG:CHAN1:AUX1:INT SWE",
        "TRIG:CHAN1:AUX1:POS BEF",
    ],
    "ena": [
        "SENS1:SWE:TYPE LOG",
        "SENS1:FREQ:CW 27.25 GHZ",
        "SENS1:SWE:POIN 33",
        "SENS1:BWID 3 KHZ",
        "TRIG:OUTP OFF",
        "TRIG:POIN OFF",
        "TRIG:OUTP:POS BEF",
    ],
}
LIST_STATE["rs"] = [c.replace("BWID", "BAND") for c in LIST_STATE["keysight"]]


@pytest.mark.parametrize("family, model", MODELS)
def test_list_sweep_restores_exactly_what_it_changed(family, model):
    with SimBench(vna_bench(family, model)) as bench, open_vna(family, bench.vna_resource) as vna:
        vna.configure(27.5e9, 28.5e9, 11, params=("S21", "S31"))
        for cmd in LIST_STATE[family]:
            vna.write(cmd)
        before = {name: vna.ask(name) for name in vna.LIST_STATE}
        assert before["sweep_type"] == "LOG" and before["points"] == 33
        data = vna.list_sweep(28e9, 20, "S21", ifbw=10e3)
        assert data.shape == (20,)
        assert {name: vna.ask(name) for name in vna.LIST_STATE} == before
        vna.write("SENS1:SWE:TYPE LIN;:SENS1:SWE:POIN 11")
        traces = vna.measure()  # simhw's traces are as they were: S21 and S31, 11 points
        assert set(traces) == {"S21", "S31"} and traces["S31"].shape == (11,)
        assert vna.errors() == []


def test_rohde_schwarz_triggered_list_measurement_and_space_time_session():
    """The mechanism: every point measures its own configuration or slot. The slot rate and "0 missed"
    follow from the simulated times (tests/test_spacetime_session.py makes the bench's times decide)."""
    with (
        SimBench(vna_bench("rs", "ZNA43")) as bench,
        SMPBoard(bench.board_urls[0]) as board,
        open_vna("rs", bench.vna_resource) as vna,
    ):
        assert capable(vna, ListSweep) and "ZNA-B91" in vna.options
        configs = [PhaseConfig.random(4, 6, 6, 2, seed=i) for i in range(30)]
        got, resp = triggered_list_measurement(board, vna, configs, 28e9, ifbw=10e3)
        truth = bench.truth.response(np.stack([c.codes for c in configs]), 2, [28e9])[:, 0, 0]
        np.testing.assert_allclose(resp, truth, rtol=1e-12)
        base = PhaseConfig.random(4, 6, 6, 2, seed=7)
        s = run_st_session(board, vna, base, layer=0, seed=99, slots=500, rate_hz=1000.0, frequency=28e9)
        assert (s.steps, s.missed) == (500, 0)
        predicted = bench.truth.response(s.codes(base), 2, [28e9])[:, 0, 0]
        np.testing.assert_allclose(s.responses, predicted, rtol=1e-12)


def test_a_rohde_schwarz_model_without_trigger_outputs_has_no_list_sweep():
    with (
        SimBench(vna_bench("rs", "ZNB20")) as bench,
        SMPBoard(bench.board_urls[0]) as board,
        open_vna("rs", bench.vna_resource) as vna,
    ):
        assert not capable(vna, ListSweep)
        with pytest.raises(BoardCapabilityError, match="ZNB20-4Port has no per-point trigger output"):
            triggered_list_measurement(board, vna, [PhaseConfig.random(4, 6, 6, 2, seed=1)], 10e9)
        with pytest.raises(VNAError, match="no trigger output"):
            vna.list_sweep(10e9, 5)
        vna.write("TRIG:CHAN1:AUX1 ON")
        assert vna.errors() == ['-241,"Hardware missing; trigger outputs need the R&S ZNA-B91 trigger board"']


def test_the_bench_files_model_is_checked_against_the_instrument():
    with SimBench(vna_bench("rs", "ZNA43")) as bench:
        with pytest.raises(VNAError, match="is a ZNA43-4Port, the bench file says ZNB40"):
            open_vna("rs", bench.vna_resource, model="ZNB40")
        with pytest.raises(VNAError, match="speaks the rs dialect"):
            open_vna("keysight", bench.vna_resource)


def test_the_daemon_records_the_correction_state_with_every_measurement(tmp_path):
    cfg = ipc_bench(tmp_path, "vna-state")
    cfg.vna.family, cfg.vna.model, cfg.vna.cal_set = "rs", "ZNA43", "factory"
    cfg.vna.receive_port_map = [4, 3]  # receive antenna 0 on VNA port 4, antenna 1 on port 3
    cfg.simulation.noise, cfg.simulation.vna_raw_error = False, 0.05
    cfg.simulation.vna_cal_sets = ["factory"]
    with embedded_daemon(cfg) as (bench, service):
        with DaemonClient(cfg.daemon.bind[0], timeout=30) as c:
            meta = c.measure()
            f, s = meta.frequencies, meta.s
            stored = c.measurement(meta.id)
    assert stored.params == ("S41", "S31")
    truth = bench.truth.response(bench.dut.active_codes(), 2, f)
    np.testing.assert_allclose(s, truth, rtol=1e-12)  # corrected, and each antenna on its mapped port
    settings = stored.settings
    assert (settings["correction"], settings["cal_set"], settings["vna_model"]) == (True, "factory", "ZNA43-4Port")
    assert settings["ifbw"] == cfg.sweep.ifbw and settings["power"] == cfg.sweep.power


def test_an_unknown_or_mismatched_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown VNA model 'N9999Z'; known: N5222B"):
        open_vna("keysight", "TCPIP0::127.0.0.1::1::SOCKET", model="N9999Z")
    cfg = vna_bench("keysight", "ZNA43")
    with pytest.raises(ValueError, match="ZNA43 is a rs instrument, not keysight"):
        SimBench(cfg).start()


LEFTOVERS = {  # what an operator may leave on the instrument that would change simhw's sweep or its data
    "keysight": ["TRIG:SOUR MAN", "SENS1:AVER ON", "SENS1:AVER:COUN 50", "FORM:BORD NORM", "FORM ASC,0"],
    "ena": [
        "TRIG:SOUR EXT",
        "TRIG:POIN ON",
        "TRIG:SCOP ACT",
        "DISP:WIND2:ACT",
        "SENS1:AVER ON",
        "SENS1:AVER:COUN 50",
        "TRIG:AVER ON",
        "FORM:BORD NORM",
    ],
    "rs": [
        "TRIG1:SOUR EXT",
        "TRIG1:LINK 'POIN'",
        "SENS1:SWE:COUN 7",
        "SENS1:AVER ON",
        "SENS1:CORR:EDEL2 1E-9",
        "SENS1:CORR:EDEL3 2E-9",
        "FORM:BORD NORM",
        "FORM ASC,0",
    ],
}
RELIED_ON = {
    "keysight": {"SENS1:AVER?": "0"},
    "ena": {"SENS1:AVER?": "0", "TRIG:SCOP?": "ALL", "TRIG:POIN?": "0"},
    "rs": {"SENS1:AVER?": "0", "SENS1:SWE:COUN?": "1", "TRIG1:SOUR?": "IMM", "SENS1:CORR:EDEL2?": "0"},
}


@pytest.mark.parametrize("family, model", MODELS)
def test_the_drivers_set_every_setting_they_rely_on(family, model):
    """With an operator's settings left on the instrument (an external trigger source, port offsets,
    averaging, the other byte order), simhw's driver still measures the device exactly."""
    with SimBench(vna_bench(family, model)) as bench:
        op = raw(bench)
        for cmd in LEFTOVERS[family]:
            op.write(cmd)
        assert op.query("SYST:ERR?").strip().lstrip("+").startswith("0")
        with open_vna(family, bench.vna_resource, timeout_s=3.0) as vna:
            vna.configure(27.5e9, 28.5e9, 11, params=("S21", "S31"))
            data = vna.measure()
            state = {q: vna.query(q).strip().strip("'") for q in RELIED_ON[family]}
        truth = bench.dut.s_params(np.linspace(27.5e9, 28.5e9, 11))
        np.testing.assert_allclose(data["S21"], truth[:, 1, 0], rtol=1e-12)
        np.testing.assert_allclose(data["S31"], truth[:, 2, 0], rtol=1e-12)
        assert state == RELIED_ON[family]
        op.close()
