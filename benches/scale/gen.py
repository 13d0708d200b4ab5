#!/usr/bin/env python3
"""Synthesise N quarter pages for the scale benchmark.

    gen.py FIXTURES_DIR OUT_DIR N [FIRST_START_YEAR]

Takes the four real FY2020-21 quarter pages of tests/fixtures/pages
(Wikimedia_Technology%2FGoals%2F2020-21_Qn.wikitext) and writes
ceil(N/4) fiscal years x 4 quarters (the last year cut short when N is not a
multiple of 4), each a copy of the fixture page of the same quarter with every
fiscal year and calendar year shifted to the new year: "2020-21", "2020–21",
"FY20/21", "FY21-22", "2019-20", "2021-22", "2020", "2021" (status table ids
like data-goalsbot-objective="2020-21/…" included).

OUT_DIR gets one file per page named "FY Qn.wikitext" (the title without the
prefix, as MediaWiki's importTextFiles.php --prefix wants it) and a file
"fiscal_years" with one fiscal year a line. Nothing else is read or written.
"""
import math
import os
import re
import sys

FIXTURE = "Wikimedia_Technology%2FGoals%2F2020-21_Q{q}.wikitext"

# One pass, so that no replaced text is replaced again.
PATTERN = re.compile(
    r"(?P<fy4>(?<!\d)(?P<a4>\d{4})(?P<d4>[-–/])(?P<b4>\d{2})(?!\d))"
    r"|(?P<fy2>FY ?(?P<a2>\d{2})(?P<d2>[-–/])(?P<b2>\d{2})(?!\d))"
    r"|(?P<cal>(?<!\d)(?:2019|2020|2021|2022)(?!\d))"
)


def fiscal_year(start):
    return f"{start}-{(start + 1) % 100:02d}"


def shift_text(text, shift):
    def sub(m):
        if m.group("fy4"):
            a = int(m.group("a4"))
            if not 2015 <= a <= 2025:
                return m.group(0)
            a += shift
            return f"{a}{m.group('d4')}{(a + 1) % 100:02d}"
        if m.group("fy2"):
            a = 2000 + int(m.group("a2")) + shift
            head = m.group(0)[: m.group(0).index(m.group("a2"))]
            return f"{head}{a % 100:02d}{m.group('d2')}{(a + 1) % 100:02d}"
        return str(int(m.group("cal")) + shift)

    return PATTERN.sub(sub, text)


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    fixtures, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    first = int(sys.argv[4]) if len(sys.argv) == 5 else 2000
    if n < 1:
        sys.exit("gen.py: N must be at least 1")
    sources = {}
    for q in range(1, 5):
        with open(os.path.join(fixtures, FIXTURE.format(q=q)), encoding="utf-8") as f:
            sources[q] = f.read()
    os.makedirs(out, exist_ok=True)
    years = []
    written = 0
    for y in range(math.ceil(n / 4)):
        start = first + y
        years.append(fiscal_year(start))
        for q in range(1, 5):
            if written == n:
                break
            path = os.path.join(out, f"{fiscal_year(start)} Q{q}.wikitext")
            with open(path, "w", encoding="utf-8") as f:
                f.write(shift_text(sources[q], start - 2020))
            written += 1
    with open(os.path.join(out, "fiscal_years"), "w", encoding="utf-8") as f:
        f.write("\n".join(years) + "\n")
    print(f"gen.py: {written} pages, {len(years)} fiscal years ({years[0]} … {years[-1]})")


if __name__ == "__main__":
    main()
