"""Host-side fuzzing, bounded: the driver and engine against replies that go bad (tests/smp_host_fuzz.py)."""

import pytest
from smp_host_fuzz import MUTATIONS, run


@pytest.mark.parametrize("seed", [0, 1])
def test_bad_replies_never_crash_the_driver_nor_change_what_it_believes(seed):
    tally, counts = run(2000, seed=seed, rate=0.3)
    assert tally.crashes == []
    assert tally.false_verifications == 0 and tally.identity_changes == 0
    assert all(counts[m] > 50 for m in MUTATIONS)  # every kind of bad reply was tried
    assert tally.ok > 1000 and sum(tally.board_errors.values()) > 100  # it kept working, and said when it could not
    assert counts["engine_stale"] > 0 and counts["engine_bad_events"] > 0 and counts["engine_retries"] > 0
