"""docs/protocol.md must match the codec: its tables are parsed and compared with drivers/smp.py."""

import pathlib
import re

from drivers import smp
from drivers.smp_messages import HelloInfo

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


def table(after_heading: str):
    text = DOC.read_text()
    section = text.split(after_heading, 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("|")][2:]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in rows]


def test_message_table_matches_codec():
    rows = table("## Message table")
    doc = [(int(code, 16), name, direction, req, ack) for code, name, direction, req, ack in rows]
    code = [(int(t), t.name, d, req, ack) for t, d, req, ack in smp.MESSAGES]
    assert doc == code
    assert {r[0] for r in doc} == {int(t) for t in smp.MsgType}


def test_nak_and_event_tables_match_codec():
    assert [(int(c), n) for c, n, _ in table("## NAK codes")] == [(int(c), c.name) for c in smp.NakCode]
    assert [(int(c), n) for c, n, _ in table("## Events")] == [(int(c), c.name) for c in smp.EventKind]


def test_documented_struct_sizes():
    assert re.search(r"\*\*HelloInfo\*\* \((\d+) bytes\)", DOC.read_text()).group(1) == str(
        HelloInfo.S.size + HelloInfo.FEATURES.size
    )
    assert smp.HEADER.size == 8
