"""Console progress for calibration runs: one updating line per phase on stderr."""

from __future__ import annotations

import sys
import time


class ConsoleProgress:
    """A ``progress(event)`` callback for :class:`calibration.calibrator.Calibrator` and the protocols."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.t0 = time.monotonic()
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()  # redraw bars only on a terminal
        self._last_draw = 0.0

    def _line(self, text: str, end: str = "") -> None:
        self.stream.write(("\r" + text.ljust(78) if self.live else text) + end)
        self.stream.flush()

    def __call__(self, event: dict) -> None:
        kind = event["kind"]
        if kind == "measure":
            done, total = event["done"], event["total"]
            now = time.monotonic()
            if not self.live or (done < total and now - self._last_draw < 0.1):
                return
            self._last_draw = now
            fill = int(self.width * done / max(total, 1))
            self._line(
                f"{event['what']:<10} [{'#' * fill}{'.' * (self.width - fill)}] {done}/{total} "
                f"({time.monotonic() - self.t0:.1f} s)"
            )
        elif kind == "stage":
            r = event["report"]
            self._line(
                f"stage {r.stage}/{event['stages']}: {r.slots} slots, held-out NMSE {r.heldout_nmse_db:.2f} dB, "
                f"fit {r.fit_nmse_db:.2f} dB, {r.seconds:.1f} s",
                end="\n",
            )
        elif kind == "residual":
            r = event["residual"]
            self._line(
                f"residual stage {'kept' if r['kept'] else 'not kept'}: held-out NMSE {r['heldout_before_db']:.2f}"
                f" -> {r['heldout_after_db']:.2f} dB ({r['reason']})",
                end="\n",
            )
        elif kind == "check":
            self._line("check: " + "; ".join(str(r) for r in event["readings"]), end="\n")
        elif kind == "done":
            self._line(f"done in {time.monotonic() - self.t0:.1f} s", end="\n")
