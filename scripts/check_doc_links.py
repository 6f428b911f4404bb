#!/usr/bin/env python3
"""check_doc_links.py: every relative link in README.md and docs/*.md must resolve.

A link [text](target) or ![alt](target) whose target is not a URL must name a file or
folder that exists (relative to the page), and a #fragment must be one of the target
page's headings, turned into an anchor as GitHub does (lower case, punctuation other
than '-' and '_' dropped, spaces to '-'). Links inside code blocks and code spans are
not links. Prints one line per broken link; exits 1 if there is any.

Usage: python3 scripts/check_doc_links.py [FILE.md ...]   (default: README.md docs/*.md)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def page_lines(text):
    """The page's lines outside fenced code blocks, as (number, line)."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            yield number, line


def anchors(page):
    """GitHub's anchors for the headings of a markdown page."""
    return {heading_anchor(line.lstrip("#").strip()) for _, line in page_lines(page.read_text())
            if re.match(r"#+ ", line)}


def heading_anchor(title):
    title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title).lower()
    title = re.sub(r"[^\w\- ]", "", title)
    return title.replace(" ", "-")


def check(page):
    broken = []
    for number, line in page_lines(page.read_text()):
        for target in LINK.findall(re.sub(r"`[^`]*`", "``", line)):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:, file:
            path_part, _, fragment = target.partition("#")
            where = (page.parent / path_part).resolve() if path_part else page
            if not where.exists():
                broken.append(f"{page.relative_to(ROOT)}:{number}: {target}: no such file")
            elif fragment and where.suffix == ".md" and fragment not in anchors(where):
                broken.append(f"{page.relative_to(ROOT)}:{number}: {target}: no heading #{fragment}")
    return broken


def main(argv):
    pages = [pathlib.Path(p).resolve() for p in argv] or [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = [line for page in pages for line in check(page)]
    for line in broken:
        print(line)
    print(f"{len(pages)} pages, {len(broken)} broken links")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
