#!/usr/bin/env python3
"""The Pywikibot peer of `goalsbot pull`, for the scale benchmark.

    peer.py API_URL TITLES_FILE

What a user would write instead of goalsbot: a Pywikibot script that, on
every run, reads the wikitext of every quarter page (TITLES_FILE: one title
a line) in batches of 50 (PreloadingGenerator, groupsize=50: one
action=query&prop=revisions request per 50 titles) and parses each page with
mwparserfromhell: its headings, its tables, and the KR lines and quarter
blocks under them. It reads anonymously and writes nothing. It prints the
number of pages read and what it found.

Pywikibot needs a user-config.py in $PYWIKIBOT_DIR (run.sh writes one in
the benchmark's temp dir: family_files['bench'] = API_URL, so no family file
is generated; minthrottle = 0 as for any bot reading a wiki it owns).
"""
import re
import sys
import time

KR_LINE = re.compile(r"^\W*KR ?\d+", re.M)
QUARTER_BLOCK = re.compile(r"^\W*Q[1-4] (?:Objective|Goals):", re.M)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    api_url, titles_file = sys.argv[1], sys.argv[2]
    with open(titles_file, encoding="utf-8") as f:
        titles = [line.strip() for line in f if line.strip()]

    t0 = time.monotonic()
    import mwparserfromhell
    import pywikibot
    from pywikibot import pagegenerators

    site = pywikibot.Site("bench", "bench")
    assert site.family.name == "bench", site
    pages = (pywikibot.Page(site, t) for t in titles)

    read = missing = headings = tables = krs = blocks = 0
    text_s = parse_s = 0.0
    for page in pagegenerators.PreloadingGenerator(pages, groupsize=50):
        if not page.exists():
            missing += 1
            continue
        p0 = time.monotonic()
        text = page.text  # preloaded: no request, but Pywikibot's own work
        p1 = time.monotonic()
        text_s += p1 - p0
        p0 = p1
        code = mwparserfromhell.parse(text)
        read += 1
        headings += len(code.filter_headings(recursive=False))
        tables += len(code.filter_tags(matches=lambda n: n.tag == "table"))
        for section in code.get_sections(levels=[2]):
            plain = str(section)
            krs += len(KR_LINE.findall(plain))
            blocks += len(QUARTER_BLOCK.findall(plain))
        parse_s += time.monotonic() - p0
    elapsed = time.monotonic() - t0
    print(
        f"peer: read {read} pages ({missing} missing) from {api_url}: "
        f"{headings} headings, {tables} tables, {krs} KR lines, "
        f"{blocks} quarter blocks; {elapsed:.2f} s from import to end, "
        f"of which {text_s:.2f} s in page.text and {parse_s:.2f} s parsing "
        f"(mwparserfromhell C tokenizer: {mwparserfromhell.parser.use_c})"
    )
    return 0 if read == len(titles) else 1


if __name__ == "__main__":
    sys.exit(main())
