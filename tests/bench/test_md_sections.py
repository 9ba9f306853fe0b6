"""bench/md_sections.py: the marked sections that several benchmarks write into one Markdown page."""

from __future__ import annotations

from pathlib import Path

import pytest

from md_sections import markers, replace_section, write_page


def section(name: str, body: str) -> str:
    begin, end = markers(name)
    return f"{begin}\n{body}\n{end}\n"


def test_replace_section_keeps_the_rest_of_the_page_byte_for_byte(tmp_path: Path) -> None:
    md = tmp_path / "page.md"
    head, tail = "# page\n\nhead text\n\n", "\n\n## after\ntail text  \n"
    other = section("other", "theirs")
    md.write_text(head + section("mine", "old").rstrip("\n") + tail + other)
    replace_section(md, "mine", section("mine", "new\nlines"))
    assert md.read_text() == head + section("mine", "new\nlines").rstrip("\n") + tail + other


def test_replace_section_appends_where_the_page_has_none(tmp_path: Path) -> None:
    md = tmp_path / "sub" / "page.md"
    replace_section(md, "mine", section("mine", "a"))  # no file, no folder yet
    assert md.read_text() == section("mine", "a")
    md.write_text("# page\n\n\n")
    replace_section(md, "mine", section("mine", "b"))
    replace_section(md, "mine", section("mine", "c"))  # the second write replaces, never appends again
    assert md.read_text() == "# page\n\n" + section("mine", "c")


def test_replace_section_refuses_a_section_without_its_markers(tmp_path: Path) -> None:
    md = tmp_path / "page.md"
    md.write_text("# page\n")
    with pytest.raises(ValueError, match="section must start with"):
        replace_section(md, "mine", section("other", "x"))
    assert md.read_text() == "# page\n"  # nothing written


def test_markers_refuse_a_name_with_whitespace() -> None:
    with pytest.raises(ValueError, match="no whitespace"):
        markers("two words")


def test_write_page_keeps_other_sections_in_order_and_drops_the_old_head(tmp_path: Path) -> None:
    md = tmp_path / "page.md"
    a, b = section("a", "A"), section("b", "B")
    # an end marker of another name does not close a section: the backreference pairs names
    md.write_text(f"# old head\n{a}loose text\n{b}")
    write_page(md, "# new head\n")
    assert md.read_text() == f"# new head\n\n{a}\n{b}"
    write_page(md, "# new head\n")
    assert md.read_text() == f"# new head\n\n{a}\n{b}"  # idempotent
