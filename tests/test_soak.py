"""The soak, bounded for CI: faults in every layer for 45 s, then the audit finds nothing lost or wrong.

Marked ``soak``: ``SIMHW_SOAK_SECONDS=1800 python -m pytest -m soak -s`` runs it for 30 minutes
(``simhw soak --minutes 30`` is the same run from the command line).
"""

import os

import pytest

from simhw.app.soak import run_soak


@pytest.mark.soak
def test_bounded_soak_loses_nothing(tmp_path):
    seconds = float(os.environ.get("SIMHW_SOAK_SECONDS", 45))
    rep = run_soak(seconds, tmp_path, seed=1, intense=seconds < 300, say=print)
    assert rep.integrity == "ok" and not rep.lost and not rep.wrong, (rep.lost[:5], rep.wrong[:5])
    assert rep.healthy_end and rep.clean_exit
    # the faults really happened, in every layer
    assert rep.kills >= 3 and rep.store_full_phases == 1 and rep.errors.get("store_full", 0) >= 1
    for kind in ("vna_stall", "vna_drop", "clock_jump", "board_reset"):
        assert rep.chaos.get(kind, 0) >= 1, rep.chaos
    # and work went on around them: acknowledged before and after the store was full
    assert rep.after_store_full > 50 and rep.acked_pushes > rep.after_store_full + 50
    assert rep.acked_measurements > 10 and rep.finished_calibrations >= 1
    # the content audit: every labelled measurement is what the truth predicts for its label, within the
    # noise; every acknowledged push was latched; resets between push and measure were flagged, not hidden
    content = rep.content
    assert not content.mislabelled and not content.unlatched, (content.mislabelled[:5], content.unlatched[:5])
    assert content.checked > 10 and content.worst_match_db < -40
    assert rep.requested_resets >= 1 and rep.chaos.get("requested_reset", 0) >= 1 and content.flagged >= 1
