"""A sans-I/O SCPI parser (SCPI-1999 vol. 1 ch. 6-7, IEEE 488.2 ch. 7-8): text in, calls and replies out.

Commands are written the way the manuals write them: upper case is the required short form,
lower case the optional rest, ``<n>`` an optional numeric suffix, ``[...]`` an optional node:
``"SENSe<n>:FREQuency:STARt"`` matches ``SENS:FREQ:STAR``, ``sense2:frequency:start`` and so on.

A program message is split into units at ``;`` outside quotes. A unit whose header starts with
``:`` is resolved from the root; the first unit of a message too; any later one relative to the
path of the unit before it (the header's nodes but the last), so ``SENS:FREQ:STAR?;STOP?`` asks
for the start and the stop. Common commands (``*XXX``) leave the path alone. Replies to the
queries of one message are joined with ``;`` into one response message.

Parameters are parsed per the standard's rules: decimal numbers with an optional unit suffix
and multiplier (``1.5 GHZ``, ``10KHZ``, ``100 ms``), ``MINimum``/``MAXimum``/``DEFault``,
booleans ``ON``/``OFF``/``1``/``0``, character data in short or long form and quoted strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "pattern",
    "split_message",
    "split_args",
    "fmt_real",
    "fmt_int",
    "block",
    "unquote",
    "ScpiError",
    "Tree",
    "Number",
    "Boolean",
    "Choice",
    "text",
    "E",
]


class ScpiError(Exception):
    """A standard SCPI error: ``code`` and text go to the error queue."""

    def __init__(self, err: tuple[int, str], detail: str = ""):
        super().__init__(err[1])
        self.code, self.text = err[0], err[1] + (f"; {detail}" if detail else "")


class E:
    """The standard error codes (SCPI-1999 vol. 2 ch. 21) the instruments use."""

    COMMAND = (-100, "Command error")
    INVALID_CHAR = (-101, "Invalid character")
    SYNTAX = (-102, "Syntax error")
    DATA_TYPE = (-104, "Data type error")
    PARAM_NOT_ALLOWED = (-108, "Parameter not allowed")
    MISSING_PARAMETER = (-109, "Missing parameter")
    UNDEFINED_HEADER = (-113, "Undefined header")
    HEADER_SUFFIX = (-114, "Header suffix out of range")
    NUMERIC_DATA = (-120, "Numeric data error")
    INVALID_SUFFIX = (-131, "Invalid suffix")
    CHARACTER_DATA = (-140, "Character data error")
    STRING_DATA = (-150, "String data error")
    EXECUTION = (-200, "Execution error")
    SETTINGS_CONFLICT = (-221, "Settings conflict")
    OUT_OF_RANGE = (-222, "Data out of range")
    ILLEGAL_VALUE = (-224, "Illegal parameter value")
    HARDWARE_MISSING = (-241, "Hardware missing")
    DEVICE = (-300, "Device-specific error")
    QUEUE_OVERFLOW = (-350, "Queue overflow")
    QUERY = (-400, "Query error")
    INTERRUPTED = (-410, "Query INTERRUPTED")
    UNTERMINATED = (-420, "Query UNTERMINATED")


def _node(node: str) -> str:
    m = re.fullmatch(r"(\*?[A-Z0-9]+)([a-z]*)(<n>)?", node)
    if not m:
        raise ValueError(f"bad SCPI node {node!r}")
    short, rest, num = m.groups()
    out = re.escape(short)
    if rest:
        out += "(?:" + re.escape(rest.upper()) + ")?"
    if num:
        out += r"(\d*)"
    return out


def pattern(spec: str, query: bool = False) -> re.Pattern:
    """Compile a manual-style command spec into a case-insensitive regex over the header."""
    rx = ":?"
    first = True  # no separator before the first required node
    for token in re.findall(r"\[[^\]]+\]|[^:\[\]]+", spec):
        optional = token.startswith("[")
        body = ":".join(_node(n) for n in token.strip("[]").strip(":").split(":"))
        if optional and first:
            rx += f"(?:{body}:)?"
        elif optional:
            rx += f"(?::{body})?"
        else:
            rx += body if first else f":{body}"
            first = False
    return re.compile(rx + (r"\?" if query else "") + "$", re.IGNORECASE)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, cur, quote = [], [], None
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch == sep:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def split_message(line: str) -> list[str]:
    """Split a program message on ';' outside quotes into program units."""
    return [u for u in _split_outside_quotes(line, ";") if u]


def split_args(text: str) -> list[str]:
    """Comma-separated arguments, quotes respected and kept."""
    return _split_outside_quotes(text, ",") if text.strip() else []


def unquote(arg: str) -> str:
    arg = arg.strip()
    if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "'\"":
        return arg[1:-1]
    return arg


def text(arg: str) -> str:
    """A string parameter: quoted (``'...'`` or ``"..."``), or character data taken as is."""
    arg = arg.strip()
    if arg[:1] in "'\"" and (len(arg) < 2 or arg[-1] != arg[0]):
        raise ScpiError(E.STRING_DATA, arg)
    return unquote(arg)


def fmt_real(v: float, exponent_digits: int = 2) -> str:
    """NR3 with 12 significant digits and a sign: ``+1.00000000000E+09`` (``exponent_digits`` at least)."""
    mantissa, _, exponent = f"{v:+.11E}".partition("E")
    return f"{mantissa}E{exponent[0]}{exponent[1:].zfill(exponent_digits)}"


def fmt_int(v: int) -> str:
    return f"{int(v):+d}"


def block(data: bytes) -> bytes:
    """IEEE 488.2 definite-length arbitrary block: #<n><len><data> (the caller adds the newline)."""
    n = str(len(data))
    return b"#" + str(len(n)).encode() + n.encode() + data


# ---------------------------------------------------------------------- parameters
_MULT = {
    "": 1.0,
    "EX": 1e18,
    "PE": 1e15,
    "T": 1e12,
    "G": 1e9,
    "MA": 1e6,
    "K": 1e3,
    "M": 1e-3,
    "U": 1e-6,
    "N": 1e-9,
    "P": 1e-12,
    "F": 1e-15,
}
_NUMBER = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*$")


def _mnemonic_matches(word: str, spec: str) -> bool:
    short = "".join(c for c in spec if not c.islower())
    w = word.upper()
    return w == short.upper() or w == spec.upper()


@dataclass(frozen=True)
class Number:
    """A numeric parameter: ``unit`` is its SCPI suffix (HZ, S, DBM, or none), the bounds are callables
    so they follow the model; MIN, MAX and DEF resolve to them; a value outside is -222."""

    lo: Callable[[], float]
    hi: Callable[[], float]
    default: Callable[[], float] | None = None
    unit: str = ""
    integer: bool = False
    step: float = 0.0  # the instrument's resolution: values are rounded to it (frequencies: 1 Hz)

    def special(self, arg: str) -> float | None:
        for spec, fn in (("MINimum", self.lo), ("MAXimum", self.hi), ("DEFault", self.default)):
            if _mnemonic_matches(arg.strip(), spec):
                if fn is None:
                    raise ScpiError(E.ILLEGAL_VALUE, arg)
                return fn()
        return None

    def parse(self, arg: str) -> float:
        v = self.special(arg)
        if v is None:
            v = self._decimal(arg)
        if self.integer:
            v = int(round(v))
        elif self.step:
            v = round(v / self.step) * self.step
        if v < self.lo() or v > self.hi():
            raise ScpiError(E.OUT_OF_RANGE, arg.strip())
        return v

    def _decimal(self, arg: str) -> float:
        m = _NUMBER.match(arg)
        if not m:
            raise ScpiError(E.NUMERIC_DATA if arg[:1].isdigit() else E.DATA_TYPE, arg.strip())
        value, suffix = float(m.group(1)), m.group(2).upper()
        if not suffix:
            return value
        unit = self.unit.upper()
        if unit == "HZ" and suffix == "MHZ":
            return value * 1e6  # SCPI: MHZ is megahertz, the one exception to M = milli
        if unit and suffix.endswith(unit) and suffix[: -len(unit)] in _MULT:
            return value * _MULT[suffix[: -len(unit)]]
        raise ScpiError(E.INVALID_SUFFIX, suffix)

    def query(self, args: list[str]) -> float | None:
        """A query's optional MIN/MAX/DEF argument: the value it names, or None for the setting itself."""
        if not args:
            return None
        v = self.special(args[0])
        if v is None:
            raise ScpiError(E.ILLEGAL_VALUE, f"{args[0]} (a query takes MIN, MAX or DEF)")
        return v


class Boolean:
    """ON/OFF/1/0 (a number other than zero is ON)."""

    @staticmethod
    def parse(arg: str) -> bool:
        a = arg.strip().upper()
        if a in ("ON", "1"):
            return True
        if a in ("OFF", "0"):
            return False
        try:
            return round(float(a)) != 0
        except ValueError:
            raise ScpiError(E.ILLEGAL_VALUE, arg.strip()) from None


class Choice:
    """Character data: one of the mnemonics (short or long form); parsed to the short form, upper case."""

    def __init__(self, *specs: str):
        self.specs = specs

    def parse(self, arg: str) -> str:
        word = unquote(arg)
        for spec in self.specs:
            if _mnemonic_matches(word, spec):
                return "".join(c for c in spec if not c.islower()).upper()
        raise ScpiError(E.ILLEGAL_VALUE, arg.strip())


# ---------------------------------------------------------------------- dispatch
@dataclass(frozen=True)
class _Entry:
    rx: re.Pattern
    fn: Callable
    query: bool


class Tree:
    """A command tree: ``add(spec, fn, query)``; ``run(message)`` -> (replies, errors raised).

    A handler is called as ``fn(suffixes, args)`` with the header's numeric suffixes (``None`` where
    none was typed) and the unit's arguments; a query's handler returns its reply (str or bytes).
    """

    def __init__(self):
        self._entries: list[_Entry] = []
        self._by_head: dict[str, list[_Entry]] = {}

    def add(self, spec: str, fn: Callable, query: bool = False) -> None:
        self._entries.append(_Entry(pattern(spec, query), fn, query))

    def _match(self, header: str, query: bool):
        for e in self._entries:
            if e.query == query:
                m = e.rx.match(header)
                if m:
                    return e, [int(g) if g else None for g in m.groups()]
        return None, None

    def run(self, message: str, on_error: Callable[[ScpiError], None]) -> list[bytes]:
        """Execute one program message; replies in order (to be joined with ';')."""
        replies: list[bytes] = []
        path: list[str] = []
        for i, unit in enumerate(split_message(message)):
            header, _, rest = unit.partition(" ")
            header = header.strip()
            rest = rest.strip()
            if "\t" in header:
                header, _, more = header.partition("\t")
                rest = (more + " " + rest).strip()
            query = header.endswith("?")
            bare = header[:-1] if query else header
            if not bare or not re.fullmatch(r":?\*?[A-Za-z0-9_:]+", bare):
                on_error(ScpiError(E.SYNTAX if not bare else E.INVALID_CHAR, header))
                continue
            if bare.startswith("*"):
                full = bare
            elif bare.startswith(":") or i == 0 or not path:
                full = bare.lstrip(":")
            else:
                full = ":".join(path + [bare])
            entry, suffixes = self._match(full + ("?" if query else ""), query)
            if entry is None:
                on_error(ScpiError(E.UNDEFINED_HEADER, header))
                continue
            if not bare.startswith("*"):
                path = full.split(":")[:-1]
            try:
                out = entry.fn(suffixes, split_args(rest))
            except ScpiError as e:
                on_error(e)
                continue
            if query and out is not None:
                replies.append(out if isinstance(out, bytes) else str(out).encode())
        return replies
