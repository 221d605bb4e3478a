"""The links between the README and docs/ that name a section (``file.md#anchor``) land on a heading there."""
import functools
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation other than - and _ dropped, spaces as -."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@functools.cache  # each page is read once, not once per link to it
def anchors(page: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    out = set()
    in_code = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"#{1,6} (.+)", line)
        if m:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
    return frozenset(out)


def links(page: Path):
    for target, anchor in re.findall(r"\]\(([^)\s#]*)#([^)\s]+)\)", page.read_text()):
        yield (page.parent / target).resolve() if target else page, anchor


def test_the_slug_is_githubs():
    assert slug("Adaptive augmentation over three seeds: 500 and 2,000 images") == \
        "adaptive-augmentation-over-three-seeds-500-and-2000-images"
    assert slug("An hour on both sets: fast64 against `fast64-long` (with DiffAugment)") == \
        "an-hour-on-both-sets-fast64-against-fast64-long-with-diffaugment"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_section_link_lands_on_a_heading(page):
    broken = [f"{target.name}#{anchor}" for target, anchor in links(page)
              if target.suffix == ".md" and target.exists() and anchor not in anchors(target)]
    assert not broken, f"{page.name} links to sections that are not there: {broken}"
