"""The built book, opened in a real (headless) Chromium: every page loads and shows what it should.

First the checker itself, on a tiny hand-written site where each page has one known defect (each
must be reported, the clean pages must pass); then the whole book, built at the smoke profile.
"""

import base64
import io
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from book_pdf import PdfError, count_pages, print_pdf
from browser_check import Browser, check_page, check_site, find_chromium, format_table, serve

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"  # browser_check, book_pdf: the book's tools, importable through pytest's pythonpath
JB = Path(sys.executable).with_name("jupyter-book")
FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="no Chromium to open the book in (apt-get install chromium, or set SUPERCONV_CHROMIUM)")


def _png(width: int, height: int) -> bytes:
    """A valid grey PNG, written by hand so the site needs no image library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + b"\x80" * width for _ in range(height))  # filter byte + grey pixels
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


# Stands in for MathJax on the tiny site: loaded, and already done typesetting.
FAKE_MATHJAX = "<script>window.MathJax = {version: 'fake', startup: {promise: Promise.resolve()}};</script>"


def _page(body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head><title>t</title>{head}</head><body>{body}</body></html>"


SITE = {
    "clean.html": _page(
        '<h1 id="top-title">Clean</h1><img src="_images/plot.png" alt="plot">'
        '<p>Rendered <span class="math"><mjx-container>x</mjx-container></span>; costs $5.</p>'
        '<a href="chapters/good.html#results">a section</a> <a href="#top-title">up</a> '
        '<a href="#">top</a> <a href="https://example.org/x">external, offline</a> '
        '<a href="mailto:a@b.c">mail</a><pre>code may show $$ and \\( freely</pre>', FAKE_MATHJAX),
    "chapters/good.html": _page(
        '<h1 id="results">Results</h1><div class="cell_output"><img src="../_images/plot.png" '
        'data-width-in="1.25" data-text-pt="10" style="width: 120px"></div>'),
    # an 11-inch figure with 7.5 pt text squeezed into 600 px: 7.5 * 600 / (96 * 11) = 4.3 pt
    "chapters/tiny_text.html": _page(
        '<div class="cell_output"><img src="../_images/plot.png" data-width-in="11" data-text-pt="7.5" '
        'style="width: 600px"></div>'),
    "chapters/untagged_figure.html": _page('<div class="cell_output"><img src="../_images/plot.png"></div>'),
    "broken_image.html": _page('<img src="_images/missing.png">'),
    "broken_link.html": _page('<a href="nowhere.html">gone</a> <a href="clean.html#no-such-id">x</a>'),
    "traceback.html": _page('<div class="cell_output"><div class="output traceback"><pre>'
                            'Traceback (most recent call last):\nValueError: boom</pre></div></div>'),
    "raw_math.html": _page('<p>Unrendered <span class="math notranslate nohighlight">\\(x^2\\)</span></p>',
                           '<script>window.MathJax = {options: {}};</script>'),  # config, no library
    "raw_dollars.html": _page("<p>A table cell with $\\eta$ left raw, and $$y$$.</p>", FAKE_MATHJAX),
    "math_error.html": _page('<span class="math"><mjx-container><mjx-merror data-mjx-error='
                             '"Undefined control sequence \\foo">\\foo</mjx-merror></mjx-container></span>',
                             FAKE_MATHJAX),
    "chapters/no_figure.html": _page("<h1>A chapter</h1><p>Words only.</p>"),
    "js_error.html": _page("<script>throw new Error('boom in a script');</script>"),
    "missing_resource.html": _page("<p>hi</p>", '<link rel="stylesheet" href="_static/nope.css">'),
    "index.html": '<meta http-equiv="Refresh" content="0; url=clean.html" />',
    "old/index.html": '<meta http-equiv="Refresh" content="0; url=gone.html" />',
    "search.html": _page("<p>search boilerplate, skipped</p>"),
    "raw_markdown.html": _page("<p>A glued sentence with `recompute_bn_stats` and **bold** left raw; "
                               "<code>`code` is fine</code>, and so is ε* or m*.</p>"),
    "build_path.html": _page("<p>results store /work/main/results on the build machine; "
                             "<code>SUPERCONV_RESULTS=/tmp/mine</code> in code is fine.</p>"),
    "wide_table.html": _page('<article class="bd-article" style="width: 600px"><table><tr><th>claim</th>'
                             '<td style="min-width: 900px">a cell that pushes the verdict out of view</td>'
                             '</tr></table><table><tr><td>fits</td></tr></table></article>'),
}

EXPECTED = {  # page -> a problem it must be reported with
    "broken_image.html": "broken image: _images/missing.png",
    "broken_link.html": "broken link: nowhere.html (no such file)",
    "traceback.html": "error output: ValueError: boom",
    "raw_math.html": "math not rendered: MathJax did not load",
    "raw_dollars.html": "raw TeX visible",
    "math_error.html": "math error: Undefined control sequence",
    "chapters/no_figure.html": "chapter has no figure",
    "js_error.html": "JavaScript error: Error: boom in a script",
    "missing_resource.html": "missing resource: HTTP 404 _static/nope.css",
    "old/index.html": "broken link: old/gone.html",
    "raw_markdown.html": "raw Markdown visible: ",
    "build_path.html": "a build-machine path is visible: '/work/main/results'",
    "wide_table.html": "a table is wider than the content column at 1280 px",
    "chapters/tiny_text.html": "figure text renders at 4.3 pt, below 9 pt",
    "chapters/untagged_figure.html": "a figure without its text size",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site") / "html"
    for name, text in SITE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "_images").mkdir()
    (root / "_images" / "plot.png").write_bytes(_png(120, 80))
    (root / "_static").mkdir()
    return root


@pytest.fixture(scope="module")
def reports(site):
    return {r.page: r for r in check_site(site, timeout=20)}


def test_clean_pages_pass_and_get_a_real_screenshot(reports, site):
    for page in ("clean.html", "chapters/good.html", "index.html"):
        assert reports[page].problems == [], format_table([reports[page]])
    shot = site.parent / "screenshots" / "clean.png"
    assert reports["clean.html"].screenshot == shot
    head = shot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24])[0] == 1280  # IHDR width: the viewport
    assert "1 figures" in reports["chapters/good.html"].notes
    assert "1 external links not checked (offline)" in reports["clean.html"].notes


@pytest.mark.parametrize("page", sorted(EXPECTED))
def test_each_defect_is_reported(reports, page):
    assert any(EXPECTED[page] in p for p in reports[page].problems), format_table([reports[page]])


def test_what_readers_see_as_glitches_and_nothing_else(reports):
    # code may show backticks and paths; a star after a symbol (ε*) is not emphasis; a table that fits passes
    md = [p for p in reports["raw_markdown.html"].problems if "raw Markdown" in p]
    assert len(md) == 1 and "`recompute_bn_stats`" in md[0], md
    assert [p for p in reports["build_path.html"].problems if "path" in p] == [
        "a build-machine path is visible: '/work/main/results'"]
    assert len([p for p in reports["wide_table.html"].problems if "wider" in p]) == 1


def test_broken_anchor_and_skips(reports):
    assert any("no id 'no-such-id' in clean.html" in p for p in reports["broken_link.html"].problems)
    assert reports["search.html"].skipped and not reports["search.html"].problems
    assert "FAIL" in format_table(list(reports.values()))


def test_a_page_that_does_not_load(site):
    with serve(site) as base, Browser(timeout=20) as browser:
        report = check_page(browser, site, base, "ghost.html", None)
    assert report.problems == ["does not load: HTTP 404 ghost.html"]


def test_script_exits_1_on_problems_and_0_when_clean(site, tmp_path):
    script = TOOLS / "browser_check.py"
    clean = tmp_path / "html"
    (clean / "_images").mkdir(parents=True)
    shutil.copy(site / "_images" / "plot.png", clean / "_images")
    (clean / "clean.html").write_text(SITE["clean.html"].replace("chapters/good.html#results", "#top-title"))
    good = subprocess.run([sys.executable, str(script), str(clean)], capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "1 pages checked, 0 with problems" in good.stdout
    assert (tmp_path / "screenshots" / "clean.png").is_file()  # next to html/, as _build/screenshots
    (clean / "broken_image.html").write_text(SITE["broken_image.html"])
    bad = subprocess.run([sys.executable, str(script), str(clean), "--no-screenshots"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "FAIL    broken_image.html  broken image" in bad.stdout, bad.stdout + bad.stderr


def test_a_clean_page_prints_to_pdf_and_a_broken_one_does_not(site, tmp_path):
    got = print_pdf(site, tmp_path / "clean.pdf", page="clean.html", timeout=30)
    data = (tmp_path / "clean.pdf").read_bytes()
    assert data.startswith(b"%PDF-") and got["pages"] == count_pages(data) >= 1 and got["bytes"] == len(data)
    with pytest.raises(PdfError, match="traceback.html is not fit to print: error output"):
        print_pdf(site, tmp_path / "bad.pdf", page="traceback.html", timeout=30)
    assert not (tmp_path / "bad.pdf").exists()
    with pytest.raises(FileNotFoundError, match="singlehtml"):
        print_pdf(tmp_path, tmp_path / "none.pdf")


def test_count_pages_skips_the_page_tree():
    assert count_pages(b"<< /Type /Pages /Kids [1 0 R 2 0 R] >> << /Type /Page >> <</Type/Page/Parent 3 0 R>>") == 2


# --- the real book ---------------------------------------------------------------------------

def test_the_smoke_book_reads_well_in_a_browser(smoke_book):
    assert (smoke_book.html / "intro.html").exists(), smoke_book.output
    reports = check_site(smoke_book.html)
    table = format_table(reports)
    print(table)  # shown with -s, and on failure: every page, its problems and its screenshot
    pages = {r.page for r in reports}  # that every chapter was built at all is test_book's check
    assert "intro.html" in pages and any(p.startswith("chapters/") for p in pages), sorted(pages)
    assert not any(r.problems for r in reports), "\n" + table


def test_the_smoke_book_in_dark_mode_and_its_figures_on_any_background(smoke_book):
    """A reader whose system is dark gets the dark theme; our figures (plots.py theme) carry an
    opaque white background, so they stay readable on it and print as they look."""
    import matplotlib.image as mpimg
    html = smoke_book.html
    chapter = sorted(p for p in (html / "chapters").glob("*.html"))[2]  # the 1cycle chapter: many figures
    page = chapter.relative_to(html).as_posix()
    with serve(html) as base, Browser(timeout=30) as browser:
        report = check_page(browser, html, base, page, html.parent / "screenshots" / "dark" / chapter.with_suffix(".png").name,
                            color_scheme="dark")
    assert not report.problems and "dark theme" in report.notes, format_table([report])
    # the figures are inline PNGs (superconv.plots.figure_html), the rest sit in _images
    inline = [(f"{p.name}, inline figure {i}", io.BytesIO(base64.b64decode(b64)))
              for p in sorted((html / "chapters").glob("*.html"))
              for i, b64 in enumerate(re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', p.read_text()))]
    figures = inline + [(png.name, png) for png in sorted((html / "_images").glob("*.png"))]
    assert len(inline) >= 10
    for name, png in figures:
        img = mpimg.imread(png, format="png")
        if img.ndim == 3 and img.shape[2] == 4:
            assert img[..., 3].min() == 1.0, f"{name} has transparent pixels: unreadable on a dark page"


def test_the_smoke_book_prints_to_pdf(smoke_book, smoke_store):
    """The single-page build of the same book (executions come from its cache) printed to PDF."""
    book = smoke_book.html.parent.parent
    if not (book / "_toc.yml").exists():
        pytest.skip("SUPERCONV_BOOK_HTML points at a build without its book sources")
    env = dict(os.environ, SUPERCONV_PROFILE="smoke", SUPERCONV_RESULTS=str(smoke_store))
    done = subprocess.run([str(Path(sys.executable).with_name("jupyter-book")), "build", str(book), "--builder",
                           "singlehtml"], capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Executing notebook" not in done.stdout  # from the HTML build's cache, not run again
    pdf = book / "_build" / "pdf" / "book.pdf"
    script = TOOLS / "book_pdf.py"
    out = subprocess.run([sys.executable, str(script), str(book / "_build" / "singlehtml"), str(pdf)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and count_pages(data) >= 40, out.stdout
