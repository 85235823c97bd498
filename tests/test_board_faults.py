"""Wire faults: every push ends verified by readback or with a clear exception, never silently wrong."""

import numpy as np
import pytest
from boards_helpers import Faults, smp_board

from drivers.board import BoardError
from simhw.values.phase_config import PhaseConfig

N_PUSHES = 2000
LINKS = [  # each link with its own faults: bytes lost, bits flipped with replies split, both in process
    ("pty", dict(drop=1e-3)),
    ("tcp", dict(flip=1e-3, split=True)),
    ("inproc", dict(drop=5e-4, flip=5e-4)),
]


@pytest.mark.parametrize("kind,faults", LINKS)
def test_pushes_under_byte_faults_are_verified_or_raise(kind, faults):
    with smp_board(kind, layers=2, rows=4, cols=4, bits=2, faults=Faults(seed=11, **faults), timeout=0.01) as (
        fw,
        ep,
        board,
    ):
        rng = np.random.default_rng(3)
        ok = failed = 0
        for i in range(N_PUSHES):
            c = PhaseConfig(rng.integers(0, 4, (2, 4, 4)), 2)
            try:
                board.push(c)
            except BoardError:
                failed += 1
                continue
            ok += 1
            # acknowledged and verified: the board really shows it
            assert np.array_equal(fw.active_codes(), c.codes), f"push {i} verified but board shows another pattern"
        corrupted = fw.crc_errors + fw.framing_errors + board.stats["bad_frames"]
        print(
            f"{kind} {faults}: {ok} verified, {failed} raised, {board.stats['retries']} retries, "
            f"{corrupted} corrupted frames seen"
        )
        assert ok + failed == N_PUSHES
        assert corrupted > 20  # the faults really happened
        assert ok > 0.95 * N_PUSHES  # retries make nearly every push succeed


@pytest.mark.parametrize("kind,faults", LINKS)
def test_pipelined_pushes_under_byte_faults_end_on_the_last_verified(kind, faults):
    with smp_board(kind, layers=2, rows=4, cols=4, bits=2, faults=Faults(seed=12, **faults), timeout=0.01) as (
        fw,
        ep,
        board,
    ):
        rng = np.random.default_rng(4)
        verified = 0
        for _ in range(40):
            batch = [PhaseConfig(rng.integers(0, 4, (2, 4, 4)), 2) for _ in range(25)]
            result = board.push_many(batch)
            verified += result.done
            if result.error is None:
                assert result.done == len(batch)
                assert np.array_equal(fw.active_codes(), batch[-1].codes)
            else:
                assert isinstance(result.error, BoardError)
        print(f"{kind} {faults}: {verified} of 1000 pipelined pushes verified, {board.stats['retries']} retries")
        assert board.stats["retries"] + board.stats["bad_frames"] > 0  # the faults really happened
        assert verified > 0.95 * 1000
