"""A randomised space-time session on the simulated bench, through the daemon: 10,000 slots at
>= 1 kHz, no missed slot, every slot's measured response matching the true SIM's prediction."""

import numpy as np
import pytest
from daemon_helpers import ipc_bench

from simhw.app.embedded import embedded_daemon
from simhw.control.client import DaemonClient, DaemonError
from simhw.values.phase_config import PhaseConfig


def test_ten_thousand_slots_at_a_kilohertz_through_the_daemon(tmp_path):
    cfg = ipc_bench(tmp_path, "st-session")
    cfg.simulation.error_scale = 10.0
    base = PhaseConfig.random(4, 6, 6, 2, seed=5, name="s-only block")
    with embedded_daemon(cfg) as (bench, daemon):
        board = daemon.board
        with DaemonClient(cfg.daemon.bind[0], timeout=120) as c:
            y, meta = c.st_session(base, layer=0, seed=123456789, slots=10_000, rate_hz=1000.0, frequency=28e9)
            with pytest.raises(DaemonError, match="st_session needs 'slots'"):
                c.st_session(base, layer=0, seed=1, slots=0, rate_hz=1000.0)
            with pytest.raises(DaemonError, match="st_session needs 'layer'"):
                c.st_session(base, layer=4, seed=1, slots=10, rate_hz=1000.0)
            stored = c.measurement(meta["measurement"])
        assert meta["missed"] == 0 and meta["steps"] == 10_000 and y.shape == (10_000,)
        assert meta["slot_rate_hz"] >= 1000.0  # slots per second of wall time, the VNA's I/O included
        # the host knows every slot's pattern from the shared generator; the model predicts each response
        codes = board.random_sequence_codes(base.codes, 0, 123456789, np.arange(10_000))
        predicted = bench.truth.response(codes, 2, [28e9])[:, 0, 0]
        nmse_db = 10 * np.log10(np.sum(np.abs(y - predicted) ** 2) / np.sum(np.abs(predicted) ** 2))
        print(f"\n10,000 slots, IFBW {meta['ifbw']:g} Hz, wall {meta['seconds']:.2f} s, measured vs model NMSE "
              f"{nmse_db:.1f} dB")
        assert nmse_db < -25
        # slots really differ: the randomised layer moves the response around
        assert np.std(np.abs(y)) > 0.1 * np.mean(np.abs(y))
        np.testing.assert_array_equal(stored[1][:, 0], y)

