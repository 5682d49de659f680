"""Conversion between Python string offsets and LSP positions.

An LSP position is (line, character) where `character` counts code units of the negotiated position
encoding: UTF-16 (the default every client supports), UTF-8 or UTF-32. Python strings index code points,
so a character outside the Basic Multilingual Plane ("𝒳", most emoji) is one Python index but two UTF-16
units or four UTF-8 units. Line breaks are `\\r\\n`, `\\n` and a lone `\\r`, as the LSP specification says;
other characters Python's `str.splitlines` treats as breaks (form feed, U+2028, ...) are ordinary text.

Positions are forgiving in the way the specification asks: a character past the end of its line means the
end of that line, a line past the end of the document means the end of the document. Offsets are exact
the other way round: an offset inside a `\\r\\n` pair maps to the end of its line, never between the two.
"""

from __future__ import annotations

import bisect
import re
from typing import Final

from lsprotocol import types

UTF8: Final = "utf-8"
UTF16: Final = "utf-16"
UTF32: Final = "utf-32"
ENCODINGS: Final = (UTF8, UTF16, UTF32)

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def check_encoding(encoding: str) -> str:
    """Return `encoding` as one of the three LSP position encodings, or raise ValueError.

    Accepts `types.PositionEncodingKind` members as well as their string values.
    """
    value = encoding.value if isinstance(encoding, types.PositionEncodingKind) else encoding
    if value not in ENCODINGS:
        raise ValueError(f"unknown position encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")
    return value


def _char_units(char: str, encoding: str) -> int:
    code = ord(char)
    if encoding == UTF16:
        return 2 if code > 0xFFFF else 1
    if encoding == UTF8:
        # Lone surrogates (from surrogateescape-decoded files) count as the three bytes "surrogatepass" gives.
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    return 1


def code_units(text: str, encoding: str = UTF16) -> int:
    """Length of `text` in code units of `encoding`."""
    encoding = check_encoding(encoding)
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF16:
        return len(text.encode("utf-16-le", "surrogatepass")) // 2
    return len(text.encode("utf-8", "surrogatepass"))


def _offset_in_line(line: str, units: int, encoding: str) -> int:
    """Index into `line` that is `units` code units in, clamped to the line's length.

    A unit count that falls inside a character (half of a surrogate pair, the middle of a UTF-8 sequence)
    rounds down to that character's start, so an edit never splits a character.
    """
    if encoding == UTF32 or line.isascii():
        return min(units, len(line))
    seen = 0
    for index, char in enumerate(line):
        seen += _char_units(char, encoding)
        if seen > units:
            return index
    return len(line)


class LineIndex:
    """Line table of one text, for converting many offsets and positions without rescanning it."""

    def __init__(self, text: str) -> None:
        self.text = text
        # starts[i] is where line i begins; ends[i] is where its content ends (before its line break).
        self.starts: list[int] = [0]
        self.ends: list[int] = []
        for match in _LINE_BREAK.finditer(text):
            self.ends.append(match.start())
            self.starts.append(match.end())
        self.ends.append(len(text))

    @property
    def line_count(self) -> int:
        """Number of lines; a text ending in a line break has an empty last line."""
        return len(self.starts)

    def line_of(self, offset: int) -> int:
        """Zero-based line containing `offset` (clamped into the text)."""
        offset = min(max(offset, 0), len(self.text))
        return bisect.bisect_right(self.starts, offset) - 1

    def position(self, offset: int, encoding: str = UTF16) -> types.Position:
        """LSP position of `offset`; offsets out of range clamp, offsets inside a line break mean line end."""
        encoding = check_encoding(encoding)
        offset = min(max(offset, 0), len(self.text))
        line = self.line_of(offset)
        start = self.starts[line]
        offset = min(offset, self.ends[line])
        return types.Position(line=line, character=code_units(self.text[start:offset], encoding))

    def offset(self, position: types.Position, encoding: str = UTF16) -> int:
        """String offset of `position`; past line end clamps to line end, past the last line to text end."""
        encoding = check_encoding(encoding)
        if position.line >= self.line_count:
            return len(self.text)
        start, end = self.starts[position.line], self.ends[position.line]
        return start + _offset_in_line(self.text[start:end], position.character, encoding)


def offset_to_position(text: str, offset: int, encoding: str = UTF16) -> types.Position:
    """LSP position of the string offset `offset` in `text`."""
    return LineIndex(text).position(offset, encoding)


def position_to_offset(text: str, position: types.Position, encoding: str = UTF16) -> int:
    """String offset in `text` of the LSP position `position`."""
    return LineIndex(text).offset(position, encoding)
