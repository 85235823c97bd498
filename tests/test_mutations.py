"""The mutation list (tests/mutations.py) matches the source: every breakage's text occurs exactly once
in its file and each names existing tests, so a refactor that moves the code shows up here instead of
turning a breakage into a no-op."""

from mutations import MUTATIONS, ROOT, check_texts, main


def test_every_mutation_text_matches_the_source():
    assert check_texts() == []
    assert len(MUTATIONS) >= 15


def test_the_check_refuses_a_text_that_no_longer_matches(tmp_path, capsys):
    moved = MUTATIONS[0].__class__("moved", MUTATIONS[0].path, "a text no file holds", "x", MUTATIONS[0].tests)
    twice = MUTATIONS[0].__class__("twice", "tests/mutations.py", "Mutation(", "x", MUTATIONS[0].tests)
    assert check_texts([moved, twice], ROOT) == [
        f"moved: its text occurs 0 times in {moved.path}, not once",
        f"twice: its text occurs {(ROOT / 'tests/mutations.py').read_text().count('Mutation(')} times in "
        "tests/mutations.py, not once",
    ]
    assert main(["--list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(MUTATIONS)
