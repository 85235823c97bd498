"""board_status: the board's live STATUS through the daemon, read from the board, not from a cache."""

import time

from daemon_helpers import ipc_bench

from drivers.smp import pattern_crc
from simhw.app.embedded import embedded_daemon
from simhw.control.client import DaemonClient, DaemonError
from simhw.values.phase_config import PhaseConfig


def test_board_status_reads_the_board_now(tmp_path):
    cfg = ipc_bench(tmp_path, "board-status")
    cfg.sweep.points = 3
    with embedded_daemon(cfg) as (bench, service), DaemonClient(cfg.daemon.bind[0], timeout=10) as c:
        fw = bench.firmwares[0]
        g = cfg.geometry
        a = PhaseConfig.random(g.layers, g.rows, g.cols, bits=g.bits, seed=4)
        c.push(a)
        st = c.board_status()
        assert st["active_crc"] == pattern_crc(a.codes, a.bits) == pattern_crc(fw.active_codes(), a.bits)
        assert st["boot_id"] == fw.boot_id and st["latch_count"] == fw.latch_count
        assert st["seq_state"] == "idle" and len(st["slot_crcs"]) == fw.n_slots
        # the board reboots behind the daemon's back: what it shows now is what board_status says
        fw.reset()
        time.sleep(0.2)  # past the boot delay
        with_reset = None
        for _ in range(3):  # the first read after a reboot reports the reset (BoardResetError) once
            try:
                with_reset = c.board_status()
                break
            except DaemonError as e:
                assert "rebooted" in str(e)
        assert with_reset is not None and with_reset["boot_id"] == fw.boot_id != st["boot_id"]
        assert with_reset["active_crc"] == pattern_crc(fw.active_codes(), a.bits) != st["active_crc"]
