"""Simulated vector network analyzers, one class per family, answering each family's SCPI dialect.

``make_instrument(model, dut)`` builds the instrument of a model from ``simhw.values.vna_models``;
:mod:`sim_backend.vna_tcp`, :mod:`sim_backend.hislip_server` and :mod:`sim_backend.vxi11_server`
serve it the ways real instruments are reached (raw socket, HiSLIP, VXI-11).
"""

from __future__ import annotations

from sim_backend.vna.ena import SimENA
from sim_backend.vna.instrument import Session, SimVNA, TriggeredDUT
from sim_backend.vna.pna import SimPNA
from sim_backend.vna.rs import SimRS
from simhw.values.vna_models import DEFAULT_MODEL, model_named

__all__ = ["SimVNA", "SimPNA", "SimENA", "SimRS", "Session", "TriggeredDUT", "FAMILY_CLASSES", "make_instrument"]

FAMILY_CLASSES = {"keysight": SimPNA, "ena": SimENA, "rs": SimRS}


def make_instrument(model: str | None, dut, family: str | None = None, **kw) -> SimVNA:
    """The simulated instrument of ``model`` (or of ``family``'s default model) measuring ``dut``."""
    try:
        m = model_named(model or DEFAULT_MODEL[family or "keysight"])
    except KeyError as exc:
        raise ValueError(str(exc).strip("'\"")) from None
    if family is not None and m.family != family:
        raise ValueError(f"{m.name} is a {m.family} instrument, not {family}")
    return FAMILY_CLASSES[m.family](dut, m, **kw)
