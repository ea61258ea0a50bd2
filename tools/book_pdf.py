"""Print the book to PDF with the system's Chromium, offline, and check what goes into it.

Usage (from the repository root, after the HTML build)::

    jupyter-book build . --builder singlehtml        # the whole book as one page (uses the cache)
    python tools/book_pdf.py _build/singlehtml _build/pdf/book.pdf

This is what ``jupyter-book build . --builder pdfhtml`` does -- the single-page build printed by a
headless browser -- with one difference that makes it work here: jupyter-book 1.0.4 drives the
browser through the ``playwright`` package, which needs a Chromium downloaded from playwright's own
servers (not a package registry, so not reachable offline). We drive Debian's ``chromium`` over the
DevTools protocol instead (``browser_check.Browser``). The LaTeX route (``--builder pdflatex``) needs
a TeX installation this project does not assume.

Before printing, the page is checked as ``browser_check`` checks a page (no error output or
traceback, every image loaded, MathJax rendered); a problem stops the print (exit 1). Figures are
printed with their backgrounds, and the page's own print stylesheet (the theme hides navigation)
plus :data:`PRINT_CSS` (wide tables wrap instead of being cut at the margin).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from pathlib import Path

import browser_check as bc  # the sibling tool (on sys.path when run as a script; pytest adds tools/)

A4 = (8.27, 11.69)   # inches
MARGIN = 0.5         # inches, every side
# Added to the page before printing. On screen a wide table scrolls sideways; on paper it would be
# cut at the margin, so tables get a smaller font and wrap: words whole (hyphenated where the
# language allows), only code and links -- spec keys, commands, paths -- broken anywhere. Code
# cells are not split over pages (as jupyter-book's own pdfhtml does).
PRINT_CSS = """
table { font-size: 7pt !important; }
th, td { padding: 2px 4px !important; overflow-wrap: break-word; hyphens: auto; }
th code, td code, th a, td a { overflow-wrap: anywhere; }
.pst-scrollable-table-container, .table-wrapper, div.cell_output, div.output { overflow: visible !important; }
div.cell_input { break-inside: avoid; }
"""
ADD_CSS_JS = "(() => { const s = document.createElement('style'); s.textContent = %s; document.head.appendChild(s); })()"


class PdfError(RuntimeError):
    """The page could not be printed, or is not fit to print (errors, broken images, raw math)."""


def _read_stream(browser: bc.Browser, handle: str, session: str) -> bytes:
    out = bytearray()
    while True:
        chunk = browser.send("IO.read", {"handle": handle, "size": 1 << 20}, session=session, timeout=120)
        out += base64.b64decode(chunk["data"]) if chunk.get("base64Encoded") else chunk["data"].encode()
        if chunk.get("eof"):
            break
    browser.send("IO.close", {"handle": handle}, session=session)
    return bytes(out)


def print_pdf(html_dir: Path | str, pdf: Path | str, page: str = "index.html", executable: str | None = None,
              timeout: float = 120.0) -> dict:
    """Print ``html_dir/page`` (followed if it only redirects) to ``pdf``; returns
    ``{"pages", "bytes", "report"}``.

    Raises :class:`PdfError` when the page has problems a reader would see (see module doc)."""
    root = Path(html_dir).resolve()
    if not (root / page).is_file():
        raise FileNotFoundError(f"html_dir={str(html_dir)!r} has no {page} (build it with "
                                "`jupyter-book build . --builder singlehtml`)")
    target = bc.redirect_target(root / page)  # singlehtml's index.html only redirects to the root page
    if target is not None:
        page = target
    pdf = Path(pdf)
    with bc.serve(root) as base, bc.Browser(executable, timeout=timeout) as browser:
        report = bc.check_page(browser, root, base, page, shot=None)
        # the theme asks for the search index, which a single-page build does not have (no search
        # box in print either)
        absent = [p for p in report.problems if p.startswith("missing resource: HTTP 404 searchindex.js")]
        report.problems = [p for p in report.problems if p not in absent]
        report.notes += ["no search index in a single-page build"] if absent else []
        if report.problems:
            raise PdfError(f"{page} is not fit to print: " + "; ".join(report.problems[:5]))
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        try:
            browser.send("Page.enable", session=session)
            browser.send("Page.navigate", {"url": base + page}, session=session)
            browser.wait_event("Page.loadEventFired", session)
            settle_ms = int(timeout * 1000 * 0.6)
            browser.send("Runtime.evaluate", {"expression": bc.SETTLE_JS % settle_ms, "awaitPromise": True,
                                              "returnByValue": True}, session=session, timeout=timeout)
            browser.send("Runtime.evaluate", {"expression": ADD_CSS_JS % json.dumps(PRINT_CSS)}, session=session)
            result = browser.send("Page.printToPDF", {
                "printBackground": True, "paperWidth": A4[0], "paperHeight": A4[1],
                "marginTop": MARGIN, "marginBottom": MARGIN, "marginLeft": MARGIN, "marginRight": MARGIN,
                "displayHeaderFooter": True, "headerTemplate": "<span></span>",
                "footerTemplate": '<div style="font-size:8px;width:100%;text-align:center">'
                                  '<span class="pageNumber"></span> / <span class="totalPages"></span></div>',
                "transferMode": "ReturnAsStream"}, session=session, timeout=timeout * 3)
            data = _read_stream(browser, result["stream"], session)
        finally:
            browser.send("Target.closeTarget", {"targetId": target})
    if not data.startswith(b"%PDF-"):
        raise PdfError("Chromium returned something that is not a PDF")
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.write_bytes(data)
    return {"pages": count_pages(data), "bytes": len(data), "report": report}


def count_pages(data: bytes) -> int:
    """Pages of a PDF: its ``/Type /Page`` objects (not ``/Pages``, the tree's inner nodes)."""
    return len(re.findall(rb"/Type\s*/Page(?![A-Za-z])", data))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html", type=Path, help="the single-page build, e.g. _build/singlehtml")
    ap.add_argument("pdf", type=Path, help="where to write the PDF, e.g. _build/pdf/book.pdf")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per browser step")
    args = ap.parse_args(argv)
    try:
        got = print_pdf(args.html, args.pdf, timeout=args.timeout)
    except (bc.BrowserError, FileNotFoundError) as err:
        print(err, file=sys.stderr)
        return 2
    except PdfError as err:
        print(err, file=sys.stderr)
        return 1
    notes = "; ".join(got["report"].notes)
    print(f"{args.pdf}: {got['pages']} pages, {got['bytes'] / 1e6:.1f} MB" + (f" ({notes})" if notes else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
