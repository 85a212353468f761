"""Splitting long messages to a platform's limit (channels/base.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from octipus.channels.base import split_message, utf16_len
from octipus.channels.slack import escape_text


def test_short_message_is_one_part():
    assert split_message("hello", 4096) == ["hello"]


def test_long_message_splits_at_line_breaks_and_joins_back_whole():
    lines = [f"line {i:04d} " + "x" * 60 for i in range(200)]
    text = "\n".join(lines)
    parts = split_message(text, 4096)
    assert len(parts) > 1
    assert "".join(parts) == text
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert all(p.endswith("\n") for p in parts[:-1])


def test_text_without_breaks_is_cut_at_the_limit():
    text = "a" * 10_000
    assert split_message(text, 4096) == ["a" * 4096, "a" * 4096, "a" * 1808]


def test_words_are_not_cut_when_a_space_is_near_the_end():
    text = ("word " * 2000).strip()
    parts = split_message(text, 100)
    assert all(p.endswith(" ") for p in parts[:-1])
    assert "".join(parts) == text


def test_astral_characters_count_twice_and_are_never_halved():
    text = "😀" * 3000  # 6000 UTF-16 units
    parts = split_message(text, 4096)
    assert parts == ["😀" * 2048, "😀" * 952]


def test_whitespace_only_parts_are_dropped():
    text = "a" * 10 + " " * 30 + "b" * 10
    parts = split_message(text, 10)
    assert all(p.strip() for p in parts)
    assert "".join(parts).replace(" ", "") == "a" * 10 + "b" * 10


def test_empty_text_has_no_parts():
    assert split_message("   \n", 4096) == []


def test_slack_escaping_covers_its_three_control_characters():
    assert escape_text("<!channel> & <http://x|y>") == "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"


@given(
    st.text(alphabet=st.sampled_from(["a", "b", " ", "\n", "é", "😀", "\u200b"]), max_size=600),
    st.integers(min_value=2, max_value=50),
)
def test_parts_fit_the_limit_and_keep_every_visible_character_in_order(text: str, limit: int):
    parts = split_message(text, limit)
    assert all(utf16_len(p) <= limit and p.strip() for p in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())
