"""The preset table's row type: one setting's query, values after a reset and sources, per family.

:data:`KEEP` and :class:`FromModel` are the values that are not a reply text or a number;
:data:`UNCHECKED` marks a source not checked against the manual's text (:mod:`sim_backend.vna.presets`
says how the table is read).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simhw.values.vna_models import FAMILIES

__all__ = ["Row", "KEEP", "FromModel", "UNCHECKED"]

KEEP = "(unchanged)"
UNCHECKED = " (not checked against the manual's text)"


class FromModel(str):
    """A value from the model table: ``FromModel("preset_ifbw")`` or ``FromModel("limits.f_min")``."""

    def resolve(self, model):
        obj = model
        for part in self.split("."):
            obj = getattr(obj, part)
        return obj


@dataclass(frozen=True)
class Row:
    """One setting: its query per family, its value after ``*RST`` (and after ``SYSTem:PRESet`` where
    that differs), and where each family's manual says so.

    ``scope``: ``instrument``, ``channel`` (applied to every new channel, ``{ch}`` in the commands)
    or ``trace`` (applied to the default trace, through its channel's selected trace); a dict where
    the families differ.
    ``command``: the setting command where it is not the query without ``?`` (``None``: the value
    is not set by a command: the family's preset builds it, or it is the status enables, which a
    reset leaves alone)."""

    name: str
    query: dict[str, str]
    rst: dict[str, object]
    source: dict[str, str]
    pres: dict[str, object] = field(default_factory=dict)
    scope: str | dict[str, str] = "instrument"
    command: dict[str, str | None] = field(default_factory=dict)

    def scope_of(self, family: str) -> str:
        return self.scope if isinstance(self.scope, str) else self.scope[family]

    def families(self) -> list[str]:
        return [f for f in FAMILIES if f in self.query]

    def set_command(self, family: str, ch: int = 1) -> str | None:
        cmd = self.command[family] if family in self.command else self.query[family].removesuffix("?")
        return None if cmd is None else cmd.format(ch=ch)

    def raw(self, model, kind: str = "rst"):
        """The value for ``model`` after ``kind`` (``rst`` or ``pres``), before model figures are resolved."""
        for table in (self.pres, self.rst) if kind == "pres" else (self.rst,):
            for key in (model.name, model.family):
                if key in table:
                    return table[key]
        raise KeyError(f"{self.name}: no value for {model.name}")
