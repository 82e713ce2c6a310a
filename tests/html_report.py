#!/usr/bin/env python3
"""Loads a Tandem HTML report in Debian's chromium, headless, and checks what it drew.

html_report.py --html FILE --json FILE [--chromium PATH]

The page must load with no script error (#errors empty, no "Uncaught" or CSP "Refused to" line
on chromium's log), draw one point per measurement in the JSON (results that ran, plus peers),
each carrying the JSON's exact median for its workload, case, series and size, and give every
chart an SVG with points. Exits 77 (ctest's skip) when chromium is not installed.
Standard library only.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser

SKIP = 77


class Dom(HTMLParser):
    """The parts of the dumped DOM the checks need."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.points = []        # attrs of every time-chart point
        self.charts = []        # per chart: {"kind", "svgs", "points"}
        self.body = None
        self.errors = None      # text of #errors
        self._in_errors = False
        self._stack = []        # open elements, to know when a chart ends

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "body":
            self.body = a
        if tag == "pre" and a.get("id") == "errors":
            self._in_errors, self.errors = True, ""
        if tag == "div" and "chart" in classes:
            self.charts.append({"kind": a.get("data-chart"), "svgs": 0, "points": 0, "depth": len(self._stack)})
        chart = self._open_chart()
        if tag == "svg" and chart:
            chart["svgs"] += 1
        if "point" in classes or "tpoint" in classes:
            if chart:
                chart["points"] += 1
            if "point" in classes:
                self.points.append(a)
        if tag not in ("circle", "rect", "line", "path", "meta", "br", "input", "img", "hr"):
            self._stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if self._stack and self._stack[-1] == tag and tag not in ("circle", "rect", "line", "path"):
            self._stack.pop()

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_errors = False
        if tag in ("circle", "rect", "line", "path"):
            return
        while self._stack:
            if self._stack.pop() == tag:
                break
        chart = self.charts[-1] if self.charts else None
        if chart and "closed" not in chart and len(self._stack) <= chart["depth"]:
            chart["closed"] = True

    def handle_data(self, data):
        if self._in_errors:
            self.errors += data

    def _open_chart(self):
        chart = self.charts[-1] if self.charts else None
        return chart if chart and "closed" not in chart else None


def number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def expected_points(doc):
    """(workload, case, series, size) -> medians, for results that ran and for peers."""
    want = {}

    def add(rec, series):
        t = rec.get("time_s")
        if not isinstance(t, dict) or not number(t.get("median")) or t["median"] <= 0:
            return
        size = rec.get("size")
        key = (str(rec.get("workload") or ""), str(rec.get("case") or ""), series,
               float(size) if number(size) else None)
        want.setdefault(key, []).append(float(t["median"]))

    for r in doc.get("results") or []:
        if isinstance(r, dict) and not r.get("skipped"):
            add(r, str(r.get("backend") or ""))
    for p in doc.get("peers") or []:
        if isinstance(p, dict):
            add(p, "peer: %s / %s" % (p.get("peer") or "", p.get("variant") or ""))
    return want


def find_chromium(given):
    if given:
        return given if os.path.exists(given) else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--html", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--chromium")
    ap.add_argument("--timeout", type=float, default=90)
    args = ap.parse_args()

    chromium = find_chromium(args.chromium)
    if not chromium:
        print("html_report: skipped: chromium not installed (Debian package chromium)")
        return SKIP
    with open(args.json, encoding="utf-8") as f:
        doc = json.load(f)
    page = os.path.abspath(args.html)
    if not os.path.isfile(page):
        print("html_report: FAIL: no page at %s" % page)
        return 1

    failures = []
    with open(page, encoding="utf-8", errors="replace") as f:
        source = f.read()
    for external in ("http://", "https://", "src=", "href=", "url(", "@import"):
        if external in source:
            failures.append("the page refers outside itself: %r at offset %d" % (external, source.find(external)))

    profile = tempfile.mkdtemp(prefix="tandem-chromium-")
    try:
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-extensions", "--virtual-time-budget=5000", "--user-data-dir=" + profile,
               "--enable-logging=stderr", "--v=0", "--dump-dom", "file://" + page]
        try:
            run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print("html_report: FAIL: chromium did not finish within %g s" % args.timeout)
            return 1
    finally:
        shutil.rmtree(profile, ignore_errors=True)

    log = run.stderr.decode("utf-8", "replace")
    for line in log.splitlines():
        # Older chromium says "Refused to load ..."; newer "... violates the following Content
        # Security Policy directive".
        if "Uncaught" in line or "Refused to" in line or "Content Security Policy" in line:
            failures.append("chromium log: " + line.strip())
    dom_text = run.stdout.decode("utf-8", "replace")
    if run.returncode != 0 or "<body" not in dom_text:
        failures.append("chromium exited %d without a DOM; its log ends:\n%s" % (run.returncode, log[-2000:]))

    dom = Dom()
    dom.feed(dom_text)
    if dom.errors is None:
        failures.append("no <pre id=\"errors\"> in the page")
    elif dom.errors.strip():
        failures.append("the page reported errors:\n" + dom.errors.strip())

    want = expected_points(doc)
    n_want = sum(len(v) for v in want.values())
    rendered = (dom.body or {}).get("data-rendered")
    if rendered != str(n_want):
        failures.append("body data-rendered is %r, the JSON holds %d points" % (rendered, n_want))
    if len(dom.points) != n_want:
        failures.append("%d points drawn, the JSON holds %d" % (len(dom.points), n_want))

    seen = {}
    for a in dom.points:
        size = a.get("data-size")
        try:
            key = (a.get("data-workload"), a.get("data-case"), a.get("data-series"),
                   float(size) if size not in (None, "") else None)
            median = float(a.get("data-median"))
        except (TypeError, ValueError):
            failures.append("a point with unreadable attributes: %r" % a)
            continue
        medians = want.get(key)
        if medians is None:
            failures.append("a point not in the JSON: %r" % (key,))
        elif median not in medians:
            failures.append("point %r has median %r; the JSON says %r" % (key, median, medians))
        seen[key] = seen.get(key, 0) + 1
    for key, medians in want.items():
        if seen.get(key, 0) != len(medians):
            failures.append("%r: drawn %d times, the JSON holds it %d times" % (key, seen.get(key, 0), len(medians)))

    if n_want and not dom.charts:
        failures.append("no charts")
    for i, chart in enumerate(dom.charts):
        if chart["svgs"] < 1 or chart["points"] < 1:
            failures.append("chart %d (%s) has %d svg and %d points" % (i, chart["kind"], chart["svgs"], chart["points"]))

    if failures:
        for f in failures[:40]:
            print("html_report: FAIL: " + f)
        sys.stdout.flush()
        return 1
    print("html_report: %d points in %d charts match %s" % (len(dom.points), len(dom.charts), os.path.basename(args.json)))
    print("html_report: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
