"""The preset state of every simulated VNA, per family and model, each value with the manual it comes from.

One declaration (the rows in :mod:`sim_backend.vna.preset_rows`, their type in
:mod:`sim_backend.vna.preset_row`; this module applies and shows them), read three ways:

- the simulated instruments apply it: ``*RST`` and ``SYSTem:PRESet`` build the family's default
  channel, trace and window (:data:`DEFAULT_TRACE`) and then *send themselves* each row's setting
  command with the row's value, through their own command tree (:func:`apply`); a channel created
  later gets the channel rows the same way. A value an instrument refused would be a bug, so it
  raises;
- ``tests/test_vna_presets.py`` queries every simulated model after ``*RST`` and after
  ``SYSTem:PRESet`` and compares each reply with the row;
- ``docs/guide.md`` shows :func:`markdown` (a test checks the guide's copy is the current one).

A value is the reply the manual gives, as the family writes it (``"SWAP"``, ``"ASC,+0"``), or a
number (compared numerically, so ``+201`` and ``201`` agree), or :class:`FromModel` (a figure of
the model table, ``simhw.values.vna_models``). :data:`KEEP` means the reset leaves the setting as it
was. ``pres`` lists only where ``SYSTem:PRESet`` differs from ``*RST``. Values are keyed by family
(``keysight``, ``ena``, ``rs``) or, where one model differs from its family, by model name.

Each source names the manual and the command description (or chapter) the value is read from.
A source marked :data:`UNCHECKED` is what the simulated instrument has been doing, from memory
of the manual, not checked against the manual's text while writing this table: the next person
with the manual at hand should confirm or correct it.
"""

from __future__ import annotations

from sim_backend.scpi import ScpiError
from sim_backend.vna.preset_row import KEEP, UNCHECKED, FromModel, Row
from sim_backend.vna.preset_rows import DEFAULT_TRACE, ROWS
from simhw.values.vna_models import FAMILIES, MODELS

__all__ = [
    "Row",
    "ROWS",
    "DEFAULT_TRACE",
    "KEEP",
    "FromModel",
    "UNCHECKED",
    "apply",
    "value",
    "rows_for",
    "markdown",
    "FAMILY_TITLES",
]

FAMILY_TITLES = {
    "keysight": "Keysight PNA / PNA-X (N5222B, N5227B)",
    "ena": "Keysight ENA (E5080B, E5071C) and Copper Mountain (M5180, C4220)",
    "rs": "Rohde & Schwarz ZNB / ZNA / ZVA (ZNB20, ZNB40, ZNA43, ZNA67, ZVA40)",
}


def rows_for(family: str, scopes: tuple[str, ...] | None = None) -> list[Row]:
    return [r for r in ROWS if family in r.query and (scopes is None or r.scope_of(family) in scopes)]


def value(row: Row | str, model, kind: str = "rst"):
    """The value of ``row`` (or the row named so) for ``model`` after ``kind``, model figures resolved."""
    if isinstance(row, str):
        row = next(r for r in ROWS if r.name == row)
    v = row.raw(model, kind)
    return v.resolve(model) if isinstance(v, FromModel) else v


def _send(instrument, command: str) -> None:
    def refuse(e: ScpiError) -> None:
        raise RuntimeError(f"{instrument.model.name} refuses its own preset value: {command!r}: {e.code},{e.text}")

    instrument.tree.run(command, refuse)


def apply(instrument, kind: str = "rst", scopes: tuple[str, ...] | None = None, channel: int = 1) -> None:
    """Set ``instrument`` to the table's values after ``kind``: every row of ``scopes`` (all when None);
    channel rows go to ``channel``, trace rows to channel 1's selected trace."""
    model = instrument.model
    for row in rows_for(model.family, scopes):
        cmd = row.set_command(model.family, channel)
        v = value(row, model, kind)
        if cmd is None or v == KEEP:
            continue
        _send(instrument, f"{cmd} {v!r}" if isinstance(v, float) else f"{cmd} {v}")


def _cell(row: Row, family: str, kind: str) -> str:
    """The family's value, and the models whose value differs."""
    text = _text(row.pres.get(family, row.rst[family]) if kind == "pres" else row.rst[family])
    others = [
        f"{m.name}: {_text(row.raw(m, kind))}"
        for m in MODELS.values()
        if m.family == family and _text(row.raw(m, kind)) != text
    ]
    return text + (f" ({'; '.join(others)})" if others else "")


def _text(v) -> str:
    if isinstance(v, FromModel):
        return {
            "limits.f_min": "the model's lowest frequency",
            "limits.f_max": "the model's highest frequency",
            "preset_ifbw": "the model's preset IF bandwidth",
            "preset_power": "the model's preset power",
        }[v]
    if isinstance(v, (int, float)):
        return f"{v:g}"
    return f"`{v}`" if v != KEEP else v


def markdown() -> str:
    """The tables docs/guide.md shows: one per family, a row per setting."""
    out = []
    for family in FAMILIES:
        out += [
            f"**{FAMILY_TITLES[family]}**",
            "",
            "| setting | query | after `*RST` | after `SYST:PRES` | source |",
            "|---|---|---|---|---|",
        ]
        for row in rows_for(family):
            rst, pres = _cell(row, family, "rst"), _cell(row, family, "pres")
            out.append(
                f"| {row.name} | `{row.query[family]}` | {rst} | {pres if pres != rst else 'same'} | "
                f"{row.source[family]} |"
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"
