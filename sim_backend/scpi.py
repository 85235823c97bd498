"""Small sans-I/O SCPI helpers: mnemonic patterns, message splitting, number and block formats.

A pattern is written like the manuals write commands: upper case is the required short form,
lower case the optional rest, ``<n>`` an optional numeric suffix, ``[...]`` an optional node:
``"SENSe<n>:FREQuency:STARt"`` matches ``SENS:FREQ:STAR``, ``sense2:frequency:start`` and so on.
"""

from __future__ import annotations

import re

__all__ = ["pattern", "split_message", "split_args", "fmt_real", "fmt_int", "block", "unquote"]


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


def fmt_real(v: float) -> str:
    return f"{v:+.11E}"


def fmt_int(v: int) -> str:
    return f"{int(v):+d}"


def block(data: bytes) -> bytes:
    """IEEE 488.2 definite-length arbitrary block: #<n><len><data> (the caller adds the newline)."""
    n = str(len(data))
    return b"#" + str(len(n)).encode() + n.encode() + data
