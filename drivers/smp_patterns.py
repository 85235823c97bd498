"""The SMP driver's pattern transfer (WRITE, COMMIT, READ): a part of :class:`~drivers.smp_board.SMPBoard`.

A pattern is bit-packed once and cut into the spans :meth:`~drivers.smp_board.SMPBoard.identify` set;
a push is WRITEs, a COMMIT carrying the CRC the board must compute over its shadow, and (verified)
READs of the active bank, pipelined through the driver's ``transact`` (the host engine's window,
retries and reset detection).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np

from drivers import smp
from drivers.board import BoardInfo, BoardRefused, BoardVerifyError, Latched, PushBatch, check_config_fits
from drivers.smp import MsgType, NakCode, SMPMessage
from drivers.smp_host import HostEngine
from drivers.smp_messages import BodyT, Commit, Latch, Nak, Read, Write
from simhw.values.phase_config import PhaseConfig

__all__ = ["PatternTransfer"]


class PatternTransfer:
    """Write, commit, push (verified by readback, pipelined) and read back the shadow and active patterns
    of an SMP board; the driver supplies ``info``, ``engine``, ``open``, ``request``, ``transact``,
    ``_reply``, ``_raise_if_reset`` and the spans ``identify`` sets."""

    _shadow_crc: int | None  # CRC of the last pattern written, what COMMIT expects
    _spans: list[tuple[int, int, int]]  # (layer, offset, count) of each frame, set by identify()
    last_latched: Latched | None  # what the COMMIT of the last verified push reported

    if TYPE_CHECKING:  # what the driver supplies, declared for the type checker
        info: BoardInfo
        engine: HostEngine

        def open(self) -> BoardInfo: ...

        def request(self, mtype: int, body: bytes = b"", reply_size: int = 64) -> bytes: ...

        def transact(
            self, requests: list[tuple[int, bytes]], reply_size: int = 64, raise_nak: bool = True
        ) -> list[SMPMessage]: ...

        def _reply(self, cls: type[BodyT], body: bytes) -> BodyT: ...

        def _raise_if_reset(self) -> None: ...

    def _writes(self, codes: np.ndarray) -> tuple[list[tuple[int, bytes]], int]:
        """The WRITE requests that fill the shadow with ``codes``, and the pattern CRC COMMIT expects.

        The pattern is bit-packed once; a span that starts and ends on a byte boundary (or ends
        the pattern) is a slice of it, any other span is packed on its own."""
        flat, bits = codes.reshape(-1), self.info.bits
        packed = smp.pack_codes(flat, bits)
        reqs: list[tuple[int, bytes]] = []
        start = 0
        for layer, off, cnt in self._spans:
            lo, hi = start * bits, (start + cnt) * bits
            if lo % 8 == 0 and (hi % 8 == 0 or start + cnt == flat.size):
                data = packed[lo // 8 : (hi + 7) // 8]
            else:
                data = smp.pack_codes(flat[start : start + cnt], bits)
            reqs.append((MsgType.WRITE, Write(layer, off, cnt, data).pack()))
            start += cnt
        return reqs, zlib.crc32(packed)

    def write(self, config: PhaseConfig) -> None:
        check_config_fits(config, self.info)
        self._raise_if_reset()
        writes, crc = self._writes(config.codes)
        self.transact(writes, reply_size=16)
        self._raise_if_reset()
        self._shadow_crc = crc

    def commit(self, expected_crc: int | None = None) -> int:
        crc = self._shadow_crc if expected_crc is None else expected_crc
        if crc is None:
            raise BoardRefused("nothing written since the driver connected: write() before commit()")
        body = self.request(MsgType.COMMIT, Commit(crc).pack())
        return self._reply(Latch, body).active_crc

    def push(self, config: PhaseConfig, verify: bool = True, attempts: int = 3) -> str:
        """Write, commit with the expected CRC, and verify the active pattern by readback.

        With ``verify`` the three steps go out as one pipelined batch (see :meth:`push_many`). A
        COMMIT refused for a CRC mismatch (a WRITE got lost or garbled) rewrites the whole shadow.
        """
        check_config_fits(config, self.info)
        if verify:
            batch = self.push_many([config], attempts=attempts)
            if batch.error is not None:
                raise batch.error
            return config.hash
        for attempt in range(attempts):
            self.write(config)
            try:
                self.commit()
                break
            except BoardRefused as exc:
                if exc.code != NakCode.CRC_MISMATCH or attempt == attempts - 1:
                    raise
        return config.hash

    def _read_requests(self, bank: int) -> tuple[list, list]:
        self.open()  # a no-op once open: identifying the board sets the spans
        spans = self._spans
        return [(MsgType.READ, Read(bank, *span).pack()) for span in spans], spans

    def _decode_read(self, spans: list, replies: list[SMPMessage]) -> np.ndarray:
        parts = [smp.unpack_codes(rep.body, cnt, self.info.bits) for (_, _, cnt), rep in zip(spans, replies)]
        return np.concatenate(parts).astype(np.uint16).reshape(self.info.shape)

    def push_many(self, configs: list[PhaseConfig], attempts: int = 3) -> PushBatch:
        """Push ``configs`` in order with the bytes of consecutive pushes pipelined on the link.

        Each push is WRITEs + COMMIT(expected CRC) + READs of the active bank, all in one window;
        the board executes frames in order, so each push's readback shows what its COMMIT latched.
        A push counts only if its COMMIT was acknowledged and its readback equals its codes. At the
        first push that fails, everything after it is discarded; that push is retried alone, then the
        rest is pipelined again. A resent frame can land out of order: the COMMIT's CRC catches a
        mixed shadow, the readback a wrong latch, and the latch counts (which must rise from push to
        push) a whole push that latched late; so the board ends on the last verified push.
        Returns how many were verified and the error that stopped it.
        """
        for cfg in configs:
            check_config_fits(cfg, self.info)
        reads, spans = self._read_requests(1)
        done, failures = 0, 0
        while done < len(configs):
            todo = configs[done : done + 1] if failures else configs[done:]  # after a failure, that push alone
            reqs: list[tuple[int, bytes]] = []
            layout: list[tuple[int, int]] = []
            crcs: list[int] = []
            for cfg in todo:
                writes, crc = self._writes(cfg.codes)
                crcs.append(crc)
                layout.append((len(reqs) + len(writes), len(reqs) + len(writes) + 1))
                reqs += writes + [(MsgType.COMMIT, Commit(crc).pack())] + reads
            try:
                self._raise_if_reset()
                replies = self.transact(reqs, reply_size=self.info.max_frame, raise_nak=False)
                self._raise_if_reset()
            except Exception as e:  # noqa: BLE001 - the caller gets the count and the reason
                return PushBatch(done, e)
            last_latch = -1  # latch counts of accepted pushes must rise: a late resent push would show
            for cfg, crc, (commit_at, read_at) in zip(todo, crcs, layout):
                commit = replies[commit_at]
                error: BoardRefused | BoardVerifyError | None = None
                if commit.type == MsgType.NAK:
                    code = Nak.code_of(commit.body)
                    error = BoardRefused(str(smp.NakError(MsgType.COMMIT, code)), code)
                else:
                    back = replies[read_at : read_at + len(reads)]
                    try:  # a reply that passed the CRC can still have a body of the wrong layout
                        latched = self._reply(Latch, commit.body)
                        active = self._decode_read(spans, back) if all(r.type == MsgType.ACK for r in back) else None
                    except (BoardRefused, ValueError) as e:
                        return PushBatch(done, BoardRefused(f"malformed reply to push {cfg.hash[:12]}: {e}"))
                    latch = latched.latch_count
                    if active is None or not np.array_equal(active, cfg.codes):
                        bad = "unreadable" if active is None else f"{np.count_nonzero(active != cfg.codes)} atoms"
                        error = BoardVerifyError(f"readback after push differs ({bad}, config {cfg.hash[:12]})")
                    elif latch <= last_latch:  # an earlier push's frames arrived late and latched after this one
                        error = BoardVerifyError(f"push {cfg.hash[:12]} was latched out of order")
                    last_latch = max(last_latch, latch)
                if error is None:
                    self._shadow_crc = crc
                    assert self.engine.boot_id is not None  # noted from HELLO when the board was opened
                    self.last_latched = Latched(latched.active_crc, self.engine.boot_id, latch)
                    done += 1
                    failures = 0
                    continue
                failures += 1
                recoverable = isinstance(error, BoardVerifyError) or error.code == NakCode.CRC_MISMATCH
                if failures >= attempts or not recoverable:
                    return PushBatch(done, error)
                break
        return PushBatch(done, None)

    def _read(self, bank: int) -> np.ndarray:
        reqs, spans = self._read_requests(bank)
        self._raise_if_reset()
        replies = self.transact(reqs, reply_size=self.info.max_frame)
        self._raise_if_reset()
        return self._decode_read(spans, replies)

    def read_shadow(self) -> np.ndarray:
        return self._read(0)

    def read_active(self) -> np.ndarray:
        return self._read(1)
