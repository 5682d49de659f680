"""Offsets <-> LSP positions in UTF-16, UTF-8 and UTF-32, with astral characters and every line break."""

from __future__ import annotations

import random

import pytest
from lsprotocol import types

from kimi_lsp.lsp.positions import (
    ENCODINGS,
    LineIndex,
    code_units,
    offset_to_position,
    position_to_offset,
)

SAMPLES = [
    "",
    "plain ascii\nsecond line\n",
    "x = '𝒳'\ny = '😀😀'\n",
    "crlf\r\nlines\r\nhere",
    "lone\rcarriage\rreturns\r",
    "mixed\r\nbreaks\nand\rall\r\n\r\n",
    "é😀\r\n𝒳\n\u2028not a break\x0cnor this\n",
    "\r\n\r\n",
    "\n\r",
]


def _units(char: str, encoding: str) -> int:
    return {"utf-8": len(char.encode("utf-8")), "utf-16": len(char.encode("utf-16-le")) // 2, "utf-32": 1}[encoding]


def _reference_positions(text: str, encoding: str) -> list[tuple[int, int]]:
    """Position of every offset 0..len(text), by walking the text one character at a time."""
    positions = []
    line = column = 0
    index = 0
    while index < len(text):
        char = text[index]
        positions.append((line, column))
        if char == "\r" and text[index + 1 : index + 2] == "\n":
            positions.append((line, column))  # between \r and \n: still the end of the line
            index += 2
            line, column = line + 1, 0
        elif char in "\r\n":
            index += 1
            line, column = line + 1, 0
        else:
            index += 1
            column += _units(char, encoding)
    positions.append((line, column))
    return positions


def _pos(line: int, character: int) -> types.Position:
    return types.Position(line=line, character=character)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("text", SAMPLES)
def test_every_offset_maps_to_the_position_a_character_walk_gives(text: str, encoding: str) -> None:
    expected = _reference_positions(text, encoding)
    actual = [offset_to_position(text, offset, encoding) for offset in range(len(text) + 1)]
    assert [(p.line, p.character) for p in actual] == expected


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("text", SAMPLES)
def test_offsets_round_trip_through_positions_except_inside_crlf(text: str, encoding: str) -> None:
    index = LineIndex(text)
    for offset in range(len(text) + 1):
        inside_crlf = 0 < offset < len(text) and text[offset - 1 : offset + 1] == "\r\n"
        back = index.offset(index.position(offset, encoding), encoding)
        assert back == (offset - 1 if inside_crlf else offset), (offset, encoding)


def test_astral_characters_count_two_utf16_units_four_utf8_bytes_one_utf32_unit() -> None:
    text = "a𝒳b😀c\n"
    assert offset_to_position(text, 2, "utf-16") == _pos(0, 3)
    assert offset_to_position(text, 2, "utf-8") == _pos(0, 5)
    assert offset_to_position(text, 2, "utf-32") == _pos(0, 2)
    assert offset_to_position(text, 4, "utf-16") == _pos(0, 6)
    assert position_to_offset(text, _pos(0, 6), "utf-16") == 4
    assert position_to_offset(text, _pos(0, 10), "utf-8") == 4
    assert code_units(text, "utf-16") == 8
    assert code_units(text, "utf-8") == 12
    assert code_units(text, "utf-32") == 6


def test_position_inside_a_surrogate_pair_or_utf8_sequence_rounds_down_to_the_character() -> None:
    text = "a😀b"
    assert position_to_offset(text, _pos(0, 2), "utf-16") == 1
    for byte in (2, 3, 4):
        assert position_to_offset(text, _pos(0, byte), "utf-8") == 1
    assert position_to_offset(text, _pos(0, 5), "utf-8") == 2


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_valid_position_round_trips_on_random_astral_text(encoding: str) -> None:
    rng = random.Random(1234)
    alphabet = ["a", "Z", " ", "é", "中", "𝒳", "😀", "\n", "\r\n", "\r"]
    for _ in range(60):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        index = LineIndex(text)
        for line in range(index.line_count):
            content = text[index.starts[line] : index.ends[line]]
            column = 0
            for char in [*content, ""]:
                position = _pos(line, column)
                assert index.position(index.offset(position, encoding), encoding) == position
                column += _units(char, encoding) if char else 0


def test_crlf_is_one_line_break_and_lone_cr_is_one_too() -> None:
    text = "ab\r\ncd\ref\n"
    assert LineIndex(text).line_count == 4
    assert offset_to_position(text, 3) == _pos(0, 2)  # between \r and \n
    assert offset_to_position(text, 4) == _pos(1, 0)
    assert offset_to_position(text, 7) == _pos(2, 0)
    assert position_to_offset(text, _pos(2, 1)) == 8


def test_unicode_line_separators_other_than_cr_and_lf_are_not_breaks() -> None:
    text = "a\u2028b\x0cc\x85d\ne"
    assert offset_to_position(text, 7) == _pos(0, 7)
    assert offset_to_position(text, 8) == _pos(1, 0)


def test_character_past_line_end_clamps_to_line_end_not_into_the_break() -> None:
    text = "short\r\nline two\n"
    assert position_to_offset(text, _pos(0, 99)) == 5
    assert position_to_offset(text, _pos(1, 99)) == 15


def test_line_past_document_end_clamps_to_document_end() -> None:
    text = "one\ntwo"
    assert position_to_offset(text, _pos(5, 0)) == len(text)
    assert position_to_offset(text, _pos(1, 99)) == len(text)
    assert offset_to_position(text, 999) == _pos(1, 3)
    assert offset_to_position(text, -3) == _pos(0, 0)


def test_text_ending_in_a_break_has_an_empty_last_line() -> None:
    assert offset_to_position("a\n", 2) == _pos(1, 0)
    assert position_to_offset("a\n", _pos(1, 0)) == 2
    assert offset_to_position("a\r\n", 3) == _pos(1, 0)


def test_encoding_kind_enum_is_accepted_and_unknown_encodings_are_refused() -> None:
    text = "😀x"
    assert offset_to_position(text, 1, types.PositionEncodingKind.Utf8) == _pos(0, 4)
    with pytest.raises(ValueError, match="unknown position encoding 'utf-7'"):
        offset_to_position(text, 1, "utf-7")
    with pytest.raises(ValueError, match="unknown position encoding"):
        position_to_offset(text, _pos(0, 0), "UTF16")


def test_lone_surrogates_from_undecodable_bytes_do_not_crash() -> None:
    text = b"a\xffb\n".decode("utf-8", "surrogateescape")
    assert offset_to_position(text, 2, "utf-8") == _pos(0, 4)
    assert position_to_offset(text, _pos(0, 4), "utf-8") == 2
    assert offset_to_position(text, 2, "utf-16") == _pos(0, 2)
