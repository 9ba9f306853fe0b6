"""Marked sections of a Markdown page that several benchmarks share.

docs/bench-lookup.md is written by two benchmarks: bench_lookup.py owns the page (its head) and
bench_fused_dsub.py owns one section in it. A benchmark's section lies between `<!-- NAME: begin -->` and
`<!-- NAME: end -->`, so each writer can replace its own part and keep the others'.
"""

from __future__ import annotations

import re
from pathlib import Path

# any benchmark's section; the backreference pairs a begin marker only with the end marker of the same NAME
SECTION = re.compile(r"<!-- (\S+): begin -->.*?<!-- \1: end -->", re.S)


def markers(name: str) -> tuple[str, str]:
    """The begin and end marker lines of benchmark `name`'s section."""
    if not re.fullmatch(r"\S+", name):
        raise ValueError(f"a section name has no whitespace, got {name!r}")
    return f"<!-- {name}: begin -->", f"<!-- {name}: end -->"


def replace_section(path: Path, name: str, section: str) -> None:
    """Put `section` (which starts and ends with `name`'s markers) in place of `name`'s section in `path`, or
    append it where the page has none; the rest of the page is kept byte for byte."""
    begin, end = markers(name)
    if not (section.startswith(begin) and section.rstrip("\n").endswith(end)):
        raise ValueError(f"section must start with {begin!r} and end with {end!r}")
    text = path.read_text() if path.exists() else ""
    a = text.find(begin)
    b = text.find(end, a) if a >= 0 else -1
    if b >= 0:
        text = text[:a] + section.rstrip("\n") + text[b + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section if text else section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def write_page(path: Path, text: str) -> None:
    """Write the page's own `text` to `path`, keeping the marked sections other benchmarks own in the old
    file, appended after `text` in their old order."""
    old = path.read_text() if path.exists() else ""
    kept = [m.group(0) for m in SECTION.finditer(old)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "".join("\n\n" + k for k in kept) + "\n")
