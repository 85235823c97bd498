"""The VNA models simhw knows: identity, family, ranges, ports and options, declared once.

The drivers (:mod:`drivers.vna`) check what an instrument reports (``*IDN?``, ``*OPT?``, the
MIN/MAX queries) against this table, and the simulated instruments (:mod:`sim_backend.vna`)
answer from it, so a model's range is written in one place. Figures are the data-sheet ranges
of each model (the 4-port variant where one exists).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simhw.values.vna_limits import VNALimits

__all__ = ["VNAModel", "MODELS", "FAMILIES", "DEFAULT_MODEL", "model_named", "family_of", "has_trigger_outputs"]

#: the dialects: Keysight PNA/PNA-X, Keysight ENA / E5080 with Copper Mountain, R&S ZNB/ZNA/ZVA
FAMILIES = ("keysight", "ena", "rs")


def has_trigger_outputs(family: str, options) -> bool:
    """Whether an instrument of ``family`` with ``options`` pulses a trigger output per measured point (a
    PNA or an ENA always, an R&S with the ZNA-B91 option)."""
    return family in ("keysight", "ena") or "ZNA-B91" in options


@dataclass(frozen=True)
class VNAModel:
    name: str
    family: str
    vendor: str
    limits: VNALimits
    options: tuple[str, ...] = ()
    firmware: str = "1.0"
    preset_ifbw: float = 100e3
    preset_power: float = 0.0
    idn_separator: str = ","
    idn_model: str = field(default="")  # what *IDN? names it, when that differs from the table key

    def idn(self, serial: str) -> str:
        return self.idn_separator.join((self.vendor, self.idn_model or self.name, serial, self.firmware))

    @property
    def trigger_outputs(self) -> bool:
        """Whether the instrument can pulse a trigger output per measured point (list sweeps)."""
        return has_trigger_outputs(self.family, self.options)


def _lim(f_min, f_max, ports, points=100001, ifbw=(1.0, 15e6), power=(-90.0, 13.0)) -> VNALimits:
    return VNALimits(f_min, f_max, points, ifbw[0], ifbw[1], power[0], power[1], ports)


_KS, _RS, _CMT = "Keysight Technologies", "Rohde-Schwarz", "CMT"
MODELS: dict[str, VNAModel] = {
    m.name: m
    for m in (
        VNAModel("N5222B", "keysight", _KS, _lim(10e6, 26.5e9, 4), ("400", "010", "080", "419"), "A.15.20.07"),
        VNAModel("N5227B", "keysight", _KS, _lim(10e6, 67e9, 4), ("400", "010", "080", "419"), "A.15.20.07"),
        VNAModel("E5080B", "ena", _KS, _lim(9e3, 53e9, 4, ifbw=(1.0, 15e6), power=(-90.0, 10.0)), (), "A.15.20.07"),
        VNAModel(
            "E5071C",
            "ena",
            _KS,
            _lim(9e3, 8.5e9, 4, 20001, (10.0, 1.5e6), (-85.0, 10.0)),
            ("480", "TDR"),
            "B.14.10",
            preset_ifbw=70e3,
        ),
        VNAModel(
            "M5180",
            "ena",
            _CMT,
            _lim(300e3, 18e9, 2, 100001, (1.0, 30e3), (-50.0, 5.0)),
            (),
            "22.3.2/1",
            preset_ifbw=10e3,
            idn_separator=", ",
        ),
        VNAModel(
            "C4220",
            "ena",
            _CMT,
            _lim(100e3, 20e9, 2, 100001, (1.0, 30e3), (-50.0, 10.0)),
            (),
            "22.3.2/1",
            preset_ifbw=10e3,
            idn_separator=", ",
        ),
        VNAModel(
            "ZNB20",
            "rs",
            _RS,
            _lim(100e3, 20e9, 4, 100001, (1.0, 1e6), (-40.0, 13.0)),
            ("ZNB-K2", "ZNB-K4"),
            "3.45",
            10e3,
            -10.0,
            idn_model="ZNB20-4Port",
        ),
        VNAModel(
            "ZNB40",
            "rs",
            _RS,
            _lim(10e6, 40e9, 4, 100001, (1.0, 1e6), (-40.0, 10.0)),
            ("ZNB-K2", "ZNB-K4"),
            "3.45",
            10e3,
            -10.0,
            idn_model="ZNB40-4Port",
        ),
        VNAModel(
            "ZNA43",
            "rs",
            _RS,
            _lim(10e6, 43.5e9, 4, 100001, (1.0, 10e6), (-60.0, 10.0)),
            ("ZNA-B91", "ZNA-K2", "ZNA-K4"),
            "2.70",
            10e3,
            -10.0,
            idn_model="ZNA43-4Port",
        ),
        VNAModel(
            "ZNA67",
            "rs",
            _RS,
            _lim(10e6, 67e9, 4, 100001, (1.0, 10e6), (-60.0, 10.0)),
            ("ZNA-B91", "ZNA-K2", "ZNA-K4"),
            "2.70",
            10e3,
            -10.0,
            idn_model="ZNA67-4Port",
        ),
        VNAModel(
            "ZVA40",
            "rs",
            "Rohde&Schwarz",
            _lim(10e6, 40e9, 4, 60001, (1.0, 5e6), (-40.0, 10.0)),
            ("ZVA-K4",),
            "3.70",
            10e3,
            -10.0,
            idn_model="ZVA40-4Port",
        ),
    )
}

DEFAULT_MODEL = {"keysight": "N5227B", "ena": "E5080B", "rs": "ZNA43"}


def model_named(name: str) -> VNAModel:
    """The model whose table name or ``*IDN?`` model field is ``name`` (case-insensitive)."""
    key = name.strip().upper()
    for m in MODELS.values():
        if key in (m.name.upper(), (m.idn_model or m.name).upper()):
            return m
    raise KeyError(f"unknown VNA model {name!r}; known: {', '.join(MODELS)}")


def family_of(model: str) -> str:
    return model_named(model).family
