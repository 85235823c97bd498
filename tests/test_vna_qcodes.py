"""QCoDeS's Rohde & Schwarz ZNB and Keysight N52xx drivers, unmodified, against the simulated VNA over
HiSLIP (the INSTR session those drivers are written for: responses end with END, not a terminator)."""

import numpy as np
import pytest
from vna_helpers import DelayLine

from sim_backend.hislip_server import HiSLIPServer
from sim_backend.vna import make_instrument

qcodes = pytest.importorskip("qcodes")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def served(request):
    inst = make_instrument(request.param, DelayLine(0.37e-9), noise=False)
    srv = HiSLIPServer(inst).start()
    try:
        yield inst, srv.resource
    finally:
        srv.stop()
        qcodes.Instrument.close_all()


@pytest.mark.parametrize("served", ["ZNB20"], indirect=True)
def test_qcodes_znb_driver_reads_magnitude_and_phase(served):
    from qcodes.instrument_drivers.rohde_schwarz import RohdeSchwarzZNB20

    inst, resource = served
    vna = RohdeSchwarzZNB20("znb_sim", resource, visalib="@py", timeout=10)
    ch = vna.channels.S21
    ch.start(1e9)
    ch.stop(2e9)
    ch.npts(11)
    ch.bandwidth(1e3)
    ch.power(-20)
    mag, phase = ch.trace_mag_phase.get()
    f = np.linspace(1e9, 2e9, 11)
    truth = DelayLine(0.37e-9).s_params(f)[:, 1, 0]
    np.testing.assert_allclose(mag, np.abs(truth), rtol=1e-9)
    np.testing.assert_allclose(phase, np.angle(truth), atol=1e-9)
    assert inst.errors == []


@pytest.mark.parametrize("served", ["N5222B"], indirect=True)
def test_qcodes_pna_driver_reads_a_trace(served):
    from qcodes.instrument_drivers.Keysight import KeysightN5222B

    inst, resource = served
    vna = KeysightN5222B("pna_sim", resource, visalib="@py", timeout=10)
    vna.start(1e9)
    vna.stop(2e9)
    vna.points(11)
    vna.if_bandwidth(1e3)
    vna.power(-20)
    vna.traces[0].trace("S21")
    truth = DelayLine(0.37e-9).s_params(np.linspace(1e9, 2e9, 11))[:, 1, 0]
    np.testing.assert_allclose(vna.traces[0].polar(), truth, rtol=1e-6)  # REAL,32 transfers
    np.testing.assert_allclose(vna.traces[0].magnitude(), 20 * np.log10(np.abs(truth)), atol=1e-5)
    assert inst.errors == []
