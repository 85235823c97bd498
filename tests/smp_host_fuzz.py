"""Host-side fuzzing of SMP: the real driver and host engine against a board whose replies go bad.

A real :class:`~sim_backend.smp_firmware.SMPFirmware` executes every request; on the way back
each reply is, at random: delivered as it is; given a body one to several bytes short or long
(CRC recomputed, so the frame is valid and only the body is wrong); given a random body of the
right length (fields out of range); sent with a stale sequence number; duplicated; replaced by a
NAK with a random code or a truncated NAK body, by a malformed EVENT, or by random bytes; held
back and delivered after the replies that follow it (out of order); or dropped. Time is a fake
clock the link advances, so timeouts and retries cost no wall time.

The invariants, checked after every operation:
  - the driver returns, or raises a :class:`~drivers.board.BoardError`; nothing else escapes;
  - a push the driver reports as verified is what the firmware shows;
  - the board's identity (``info``) changes only when a HELLO is answered correctly.

Run ``python tests/smp_host_fuzz.py --cases 100000`` for the long run; the suite runs a bounded one.
"""

from __future__ import annotations

import argparse
import sys
import threading
from dataclasses import dataclass, field

import numpy as np

from drivers.board import BoardError
from drivers.smp import EventKind, FrameDecoder, FrameError, MsgType, SMPMessage, encode_frame
from drivers.smp_board import SMPBoard
from sim_backend.smp_firmware import SMPFirmware
from simhw.values.phase_config import PhaseConfig

MUTATIONS = (
    "short",
    "long",
    "random_body",
    "stale_seq",
    "duplicate",
    "nak",
    "short_nak",
    "bad_event",
    "garbage",
    "late",
    "drop",
)


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FuzzLink:
    """The board's side of the link: a real firmware, and a mutator between it and the host."""

    url = "fuzz://board"
    byte_time = 0.0

    def __init__(self, firmware: SMPFirmware, clock: FakeClock, rng: np.random.Generator, rate: float):
        self.fw, self.clock, self.rng, self.rate = firmware, clock, rng, rate
        self.lock = threading.RLock()
        self.is_open = False
        self.bytes_out = 0
        self.inbox = bytearray()
        self.held: list[bytes] = []
        self.decoder = FrameDecoder(65535)
        self.mutations = dict.fromkeys(MUTATIONS, 0)

    def open(self):
        self.is_open = True

    def close(self):
        self.is_open = False

    def discard_input(self):
        self.inbox.clear()

    def write(self, data: bytes) -> None:
        self.bytes_out += len(data)
        for reply in self.decoder.feed(self.fw.receive(data, now=self.clock())):
            if isinstance(reply, FrameError):
                continue
            self._deliver(reply)

    def _deliver(self, reply: SMPMessage) -> None:
        rng = self.rng
        if rng.random() >= self.rate:
            self.inbox += encode_frame(reply)
            return
        kind = MUTATIONS[rng.integers(len(MUTATIONS))]
        self.mutations[kind] += 1
        body = reply.body
        if kind == "short" and body:
            out = [reply._replace(body=body[: -int(rng.integers(1, len(body) + 1))])]
        elif kind == "long":
            out = [reply._replace(body=body + rng.bytes(int(rng.integers(1, 9))))]
        elif kind == "random_body":
            out = [reply._replace(body=rng.bytes(len(body)))]
        elif kind == "stale_seq":
            out = [reply._replace(seq=(reply.seq + int(rng.integers(1, 65535))) & 0xFFFF)]
        elif kind == "duplicate":
            out = [reply, reply]
        elif kind == "nak":
            out = [SMPMessage(MsgType.NAK, reply.seq, bytes([int(rng.integers(0, 256))]) + rng.bytes(2))]
        elif kind == "short_nak":
            out = [SMPMessage(MsgType.NAK, reply.seq, rng.bytes(int(rng.integers(0, 3))))]
        elif kind == "bad_event":
            out = [SMPMessage(MsgType.EVENT, 0, bytes([EventKind.BOOT]) + rng.bytes(int(rng.integers(0, 8)))), reply]
        elif kind == "garbage":
            self.inbox += rng.bytes(int(rng.integers(1, 64)))
            out = [reply] if rng.random() < 0.5 else []
        elif kind == "late":
            self.held.append(encode_frame(reply))
            return
        else:  # drop
            return
        for m in out:
            self.inbox += encode_frame(m)

    def read_some(self) -> bytes:
        self.clock.t += 0.004  # a read waits a little; timeouts run on this clock
        if self.held and self.rng.random() < 0.5:
            self.inbox += self.held.pop(0)
        data, self.inbox = bytes(self.inbox), bytearray()
        return data


@dataclass
class Tally:
    cases: int = 0
    ok: int = 0
    board_errors: dict = field(default_factory=dict)
    crashes: list = field(default_factory=list)
    false_verifications: int = 0
    identity_changes: int = 0


def run(cases: int, seed: int = 0, rate: float = 0.3) -> tuple[Tally, dict]:
    rng = np.random.default_rng(seed)
    clock = FakeClock()
    fw = SMPFirmware(2, 3, 3, 2, slots=8, boot_delay=0.0, seed=seed, clock=clock)
    link = FuzzLink(fw, clock, rng, rate)
    board = SMPBoard(link, timeout=0.05, retries=3, backoff=0.005, clock=clock, first_seq=0)
    board.open()  # identified on a clean link
    info = board.info
    link.rate = rate
    tally = Tally()
    for case in range(cases):
        tally.cases += 1
        cfg = PhaseConfig(rng.integers(0, 4, (2, 3, 3)).astype(np.uint16), 2)
        op = case % 5
        try:
            if op in (0, 1):
                board.push(cfg)
                if not np.array_equal(fw.active_codes(clock()), cfg.codes):
                    tally.false_verifications += 1
            elif op == 2:
                pair = [cfg, PhaseConfig((cfg.codes + 1) % 4, 2)]
                batch = board.push_many(pair)
                shown = fw.active_codes(clock())
                # all verified: the board shows the last; one verified and the next failed: it shows one of them
                allowed = pair[batch.done - 1 :] if batch.done else []
                if batch.done and not any(np.array_equal(shown, c.codes) for c in allowed):
                    tally.false_verifications += 1
            elif op == 3:
                board.status()
            else:
                again = board.identify()
                if again != info:
                    tally.identity_changes += again.boot_id == info.boot_id  # a new boot id is a real reset
                    info = again
            tally.ok += 1
        except BoardError as e:
            tally.board_errors[type(e).__name__] = tally.board_errors.get(type(e).__name__, 0) + 1
        except Exception as e:  # noqa: BLE001 - what the fuzzer is looking for
            tally.crashes.append(f"case {case}: {type(e).__name__}: {e}")
        if board.info != info and board.info.boot_id == info.boot_id:
            tally.identity_changes += 1
    return tally, dict(link.mutations, **{f"engine_{k}": v for k, v in board.stats.items()})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rate", type=float, default=0.3, help="share of replies that go bad")
    a = ap.parse_args(argv)
    tally, counts = run(a.cases, a.seed, a.rate)
    print(
        f"cases {tally.cases}: {tally.ok} completed, board errors {tally.board_errors}, "
        f"crashes {len(tally.crashes)}, false verifications {tally.false_verifications}, "
        f"identity changes {tally.identity_changes}"
    )
    print("mutations and engine counts:", counts)
    for c in tally.crashes[:10]:
        print("  ", c)
    return 1 if tally.crashes or tally.false_verifications or tally.identity_changes else 0


if __name__ == "__main__":
    sys.exit(main())
