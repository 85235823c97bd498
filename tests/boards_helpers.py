"""Start simulated boards on real serial endpoints for tests."""

import contextlib
import time

from drivers.open_ris import OpenRISBoard
from drivers.smp_board import SMPBoard
from sim_backend.inproc_endpoint import InprocEndpoint
from sim_backend.ris_firmware import OpenRISFirmware
from sim_backend.serial_endpoint import Faults, SerialEndpoint
from sim_backend.smp_firmware import SMPFirmware


def endpoint(fw, kind, baudrate=None, faults=None):
    """``kind``: "pty", "tcp" (SerialEndpoint, a real OS link) or "inproc" (a simhw:// port in this process)."""
    if kind == "inproc":
        return InprocEndpoint(fw, faults=faults)
    return SerialEndpoint(fw, kind, baudrate=baudrate, faults=faults)


@contextlib.contextmanager
def smp_board(kind="pty", layers=3, rows=4, cols=4, bits=2, faults=None, baudrate=None, timeout=0.1, **fw_kw):
    fw_kw.setdefault("boot_delay", 0.02)
    fw = SMPFirmware(layers, rows, cols, bits, seed=7, **fw_kw)
    with endpoint(fw, kind, baudrate, faults) as ep:
        board = SMPBoard(ep.url, baudrate=baudrate or 921600, timeout=timeout)
        board.open()
        try:
            yield fw, ep, board
        finally:
            board.close()


@contextlib.contextmanager
def ris_board(kind="pty", serial="0", faults=None, **fw_kw):
    fw_kw.setdefault("boot_delay", 0.02)
    fw = OpenRISFirmware(serial=serial, **fw_kw)
    with endpoint(fw, kind, faults=faults) as ep:
        board = OpenRISBoard(ep.url, timeout=0.2)
        board.open()
        try:
            yield fw, ep, board
        finally:
            board.close()


def reboot(fw):
    """A brown-out: the firmware reboots to its boot pattern; wait past its boot delay."""
    fw.reset()
    time.sleep(fw.boot_delay + 0.05)


__all__ = ["smp_board", "ris_board", "reboot", "Faults"]
