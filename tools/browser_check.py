"""Open every page of a built Jupyter Book in headless Chromium and list what a reader would see broken.

Usage: ``python tools/browser_check.py _build/html`` prints one row per page and exits 1 on any
problem (2 when no Chromium is installed). Full-page screenshots go to ``_build/screenshots/``.

A page fails on: not loading (navigation error, HTTP error), a broken image, a local link to a file
or ``#anchor`` that does not exist, a missing local resource (script, style, font), a JavaScript
exception, a traceback or error output, math that did not render, raw Markdown (backticks or
asterisks) in the rendered text, an absolute path of the build machine in the text, a table wider
than the content column at 1280 px, and, for a chapter page, no figure. The browser talks the DevTools protocol over a pipe (``--remote-debugging-pipe``), so no
websocket library is needed, and resolves no host names: the book is checked as a reader without
internet sees it, with the same result on any machine.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import functools
import html.parser
import http.server
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Sphinx boilerplate: search.html is an empty shell until a query is typed; genindex.html lists
# index entries, which this book has none of. Neither has content a reader could find broken.
SKIP = {"search.html": "search form, filled by JS only when a query is typed",
        "genindex.html": "generated index, the book declares no index entries"}
ASSET_DIRS = ("_static", "_sources", "_images")  # files the pages use, not pages
VIEWPORT = (1280, 900)  # wide enough that the theme shows its sidebar, as on a laptop
# A first launch on a fresh machine sets up its profile and font caches before it answers; on the
# 2-core CI machine that once took over 20 s. Later steps keep the caller's `timeout`.
STARTUP_TIMEOUT = 90.0  # s
MAX_SHOT_HEIGHT = 30000  # px; beyond this a screenshot is cropped (Chromium's own limits are near)
FIGURE_MIN_PX = 50  # an image smaller than this is an icon, not a figure
#: The smallest figure text a reader can read, in points at page scale (96 CSS px per inch):
#: a figure's smallest text of ``textPt`` points on a ``widthIn``-inch image shown ``shownW`` px
#: wide renders at ``textPt * shownW / (96 * widthIn)`` points. The book's theme aims at 10 pt.
LEGIBLE_PT = 9.0
# JavaScript errors of the toolchain that a reader cannot see; reported as notes, not problems.
KNOWN_JS_ERRORS = {
    # jupyter-book 1.0.4 with sphinx-thebe 0.3.1 (Sphinx 7.4) writes sphinx-thebe's inline config
    # script (`const THEBE_JS_URL = ...`) into every page twice; the second copy fails to declare
    # the constants again. The first copy works, and this book does not enable thebe anyway.
    "Identifier 'THEBE_JS_URL' has already been declared": "sphinx-thebe's config script is on the page twice",
}


class BrowserError(RuntimeError):
    """Chromium could not be started, or stopped answering."""


def find_chromium() -> str | None:
    """The Chromium executable: $SUPERCONV_CHROMIUM, else the first of CHROMIUM_NAMES on PATH."""
    env = os.environ.get("SUPERCONV_CHROMIUM")
    if env:
        return shutil.which(env)
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


# --- the DevTools protocol over a pipe -------------------------------------------------------

def _high_fd(fd: int) -> int:
    """The same pipe end moved to fd >= 10, so dup2 onto 3 and 4 in the child cannot clobber it."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """A headless Chromium spoken to with DevTools-protocol messages (JSON + NUL) on fds 3 and 4."""

    def __init__(self, executable: str | None = None, timeout: float = 30.0):
        exe = executable or find_chromium()
        if not exe:
            env = os.environ.get("SUPERCONV_CHROMIUM")
            looked = f"SUPERCONV_CHROMIUM={env!r}" if env else ", ".join(CHROMIUM_NAMES)
            raise BrowserError(f"no Chromium found (looked for {looked} on PATH; "
                               "install it with `apt-get install chromium` or set SUPERCONV_CHROMIUM)")
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="browser_check_")
        self._log_path = Path(self._profile) / "chromium.log"
        child_in, self._to = map(_high_fd, os.pipe())
        self._from, child_out = map(_high_fd, os.pipe())
        log = os.open(self._log_path, os.O_WRONLY | os.O_CREAT, 0o644)
        flags = ["--headless=new", "--remote-debugging-pipe", f"--user-data-dir={self._profile}",
                 "--no-first-run", "--no-default-browser-check", "--disable-gpu",
                 "--disable-dev-shm-usage", "--disable-extensions", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--mute-audio",
                 "--hide-scrollbars", "--force-device-scale-factor=1",
                 # Offline on purpose: every host name fails to resolve, only 127.0.0.1 is reached.
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
        if os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium's sandbox refuses to run as root (containers, CI)
        try:
            self.pid = os.posix_spawn(exe, [exe, *flags, "about:blank"], os.environ, file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2),
                (os.POSIX_SPAWN_DUP2, child_in, 3), (os.POSIX_SPAWN_DUP2, child_out, 4)],
                setpgroup=0)  # its own process group: close() ends the renderers with it
        finally:
            for fd in (child_in, child_out, log):
                os.close(fd)
        self._buf = bytearray()
        self._scanned = 0
        self._next_id = 0
        self._events: list[dict] = []
        try:
            self.send("Browser.getVersion", timeout=max(timeout, STARTUP_TIMEOUT))
        except BrowserError as err:
            tail = self.log_tail()
            self.close()
            raise BrowserError(f"Chromium did not start: {err}; its log ends with:\n{tail}") from None

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def _recv(self, deadline: float) -> dict:
        while True:
            end = self._buf.find(b"\0", self._scanned)
            if end >= 0:
                msg = json.loads(self._buf[:end])
                del self._buf[:end + 1]
                self._scanned = 0
                return msg
            self._scanned = len(self._buf)
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"Chromium did not answer within {self.timeout:g} s")
            if select.select([self._from], [], [], left)[0]:
                chunk = os.read(self._from, 1 << 20)
                if not chunk:
                    raise BrowserError("Chromium exited; its log ends with:\n" + self.log_tail())
                self._buf += chunk

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float | None = None) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._to, data):]
        except BrokenPipeError:
            raise BrowserError("Chromium exited; its log ends with:\n" + self.log_tail()) from None
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._recv(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def wait_event(self, method: str, session: str, timeout: float | None = None) -> dict | None:
        """The first not-yet-taken event `method` of `session`, or None on timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        seen = 0
        while True:
            for ev in self._events[seen:]:
                if ev["method"] == method and ev.get("sessionId") == session:
                    self._events.remove(ev)
                    return ev
            seen = len(self._events)
            try:
                msg = self._recv(deadline)
            except BrowserError:
                if time.monotonic() >= deadline:
                    return None
                raise
            if "method" in msg:
                self._events.append(msg)

    def take_events(self, session: str) -> list[dict]:
        """Every event of `session` received so far (and forget them)."""
        mine = [e for e in self._events if e.get("sessionId") == session]
        self._events = [e for e in self._events if e.get("sessionId") != session]
        return mine

    def forget_events(self) -> None:
        self._events.clear()

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):
            self.send("Browser.close", timeout=5)
        for _ in range(50):  # up to 5 s for a clean exit
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        for fd in (self._to, self._from):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- serving the book -------------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the report says what matters; no request log
        pass


@contextlib.contextmanager
def serve(root: Path):
    """Serve `root` on 127.0.0.1 (file:// would block some of the theme's scripts); yields the base URL."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# --- what is checked on each page -------------------------------------------------------------

# Runs after the load event: load lazy images now, and wait for MathJax's first typeset and fonts.
SETTLE_JS = """(async () => {
  const imgs = [...document.images];
  imgs.forEach(i => { i.loading = "eager"; });
  const ready = (async () => {
    await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
      i.addEventListener("load", r); i.addEventListener("error", r); })));
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
    await document.fonts.ready;
    return "ready";
  })();
  return await Promise.race([ready, new Promise(r => setTimeout(() => r("timeout"), %d))]);
})()"""

# Everything the checks need, gathered in the page in one go.
COLLECT_JS = r"""(() => {
  const shown = el => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const imgs = [...document.images].map(i => ({
    src: i.currentSrc || i.src || i.getAttribute("src") || "", w: i.naturalWidth, h: i.naturalHeight,
    inOutput: !!i.closest(".cell_output, .output, figure, .figure"),
    // superconv.plots.figure_html: the figure's width (inches) and its smallest text (points)
    widthIn: parseFloat(i.dataset.widthIn), textPt: parseFloat(i.dataset.textPt),
    shownW: i.getBoundingClientRect().width}));
  const links = [...document.querySelectorAll("a[href]")].map(a => a.href);
  const errors = [...document.querySelectorAll(
      ".output.error, .output.traceback, .system-message")]
    .map(e => (e.innerText || e.textContent).trim().split("\n").slice(-1)[0].slice(0, 160));
  const text = document.body ? document.body.innerText : "";
  const rawTex = [];
  const skip = "PRE, CODE, SCRIPT, STYLE, TEXTAREA, MJX-CONTAINER, .highlight";
  const walk = document.createTreeWalker(document.body || document, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n && rawTex.length < 3; n = walk.nextNode()) {
    const p = n.parentElement;
    if (!p || p.closest(skip) || !shown(p)) continue;
    const m = n.data.match(/\$\$|\\\(|\\\[|\\begin\{|\$\\[A-Za-z]/);
    if (m) rawTex.push(n.data.slice(Math.max(0, m.index - 20), m.index + 40).replace(/\s+/g, " "));
  }
  // Markdown that reached the reader as text (a glued sentence shows its backticks and stars),
  // and absolute paths of the machine that built the book
  const rawMd = [], paths = [];
  const md = /`[^`\s][^`]*`|\*\*[^*\s][^*]*\*\*|(?<![\w*])\*[A-Za-z][^*\n]*\*(?![\w*])/;
  const path = /(^|[\s("'=])(\/(home|root|tmp|work|Users|private|var\/folders)\/[^\s"')]+)/;
  const walk2 = document.createTreeWalker(document.body || document, NodeFilter.SHOW_TEXT);
  for (let n = walk2.nextNode(); n; n = walk2.nextNode()) {
    const p = n.parentElement;
    if (!p || p.closest(skip + ", .math, .headerlink") || !shown(p)) continue;
    const m = n.data.match(md);
    if (m && rawMd.length < 3) rawMd.push(n.data.slice(Math.max(0, m.index - 20), m.index + 50).replace(/\s+/g, " "));
    const q = n.data.match(path);
    if (q && paths.length < 3) paths.push(q[2].slice(0, 80));
  }
  // tables wider than the content column (a reader would scroll sideways to see the verdicts)
  const col = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  const colWidth = col.clientWidth;
  const wideTables = [...col.querySelectorAll("table")].filter(t => !t.closest(".highlight") && shown(t))
    .filter(t => t.getBoundingClientRect().width > colWidth + 2)
    .slice(0, 3).map(t => {
      const head = t.querySelector("th, td");
      return `${Math.round(t.getBoundingClientRect().width)} px > ${colWidth} px (` +
        ((head && head.innerText) || "").trim().slice(0, 40) + ")";
    });
  return {
    imgs, links, errors, rawTex, rawMd, paths, wideTables,
    traceback: text.includes("Traceback (most recent call last)"),
    mathElements: document.querySelectorAll(".math").length,
    mathjax: !!(window.MathJax && window.MathJax.version),
    merrors: [...document.querySelectorAll("mjx-merror")].slice(0, 3)
      .map(e => e.getAttribute("data-mjx-error") || e.textContent),
    wideMath: [...document.querySelectorAll('mjx-container[display="true"]')]
      .filter(e => e.scrollWidth > e.clientWidth + 2).length,
    theme: document.documentElement.dataset.theme || "",
  };
})()"""


class _Ids(html.parser.HTMLParser):
    """Anchor targets of a page: every id, and the name of every <a>."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if value and (key == "id" or (key == "name" and tag == "a")):
                self.ids.add(value)


@functools.lru_cache(maxsize=None)
def anchors(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(errors="replace"))
    return frozenset(parser.ids)


def redirect_target(path: Path) -> str | None:
    """The url of a pure `<meta http-equiv="refresh">` stub (Jupyter Book's index.html), else None."""
    text = path.read_text(errors="replace")
    if len(text) > 2000 or "http-equiv" not in text.lower():
        return None
    low = text.lower()
    at = low.find("url=")
    return text[at + 4:].split('"')[0].split("'")[0].strip() if at >= 0 else None


def local_file(root: Path, base: str, url: str) -> tuple[Path | None, str]:
    """The file under `root` that a same-site `url` names, and its #fragment; (None, "") if not local."""
    parts = urllib.parse.urlsplit(url)
    if not url.startswith(base):
        return None, ""
    path = urllib.parse.unquote(parts.path)
    if path.endswith("/"):
        path += "index.html"
    return root / path.lstrip("/"), urllib.parse.unquote(parts.fragment)


def check_links(root: Path, base: str, links: list[str]) -> tuple[list[str], int]:
    """Problems with the same-site links, and how many links lead off-site (not checked: offline)."""
    problems, external = [], set()
    for url in dict.fromkeys(links):  # each distinct link once, in page order
        target, fragment = local_file(root, base, url)
        if target is None:
            if url.startswith(("http:", "https:")):
                external.add(url)
            continue
        rel = url[len(base):]
        if not target.is_file():
            problems.append(f"broken link: {rel} (no such file)")
        elif fragment and fragment != "top" and target.suffix == ".html" and fragment not in anchors(target):
            problems.append(f"broken link: {rel} (no id {fragment!r} in {target.name})")
    return problems, len(external)


@dataclass
class PageReport:
    page: str  # path relative to the html root
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts that do not fail the page
    screenshot: Path | None = None
    skipped: str = ""  # why the page was not opened


def _short(url: str, base: str) -> str:
    return url[len(base):] if url.startswith(base) else url[:100]


def check_page(browser: Browser, root: Path, base: str, page: str, shot: Path | None,
               color_scheme: str = "light") -> PageReport:
    """Open one page in a fresh tab and check it; save a full-page screenshot to `shot`.

    color_scheme: the reader's system preference (``prefers-color-scheme``), "light" or "dark";
    the theme follows it, and the report notes which theme the page showed."""
    if color_scheme not in ("light", "dark"):
        raise ValueError(f"color_scheme={color_scheme!r} is not allowed; allowed: 'light', 'dark'")
    report = PageReport(page)
    browser.forget_events()  # late events of earlier tabs
    url = base + urllib.parse.quote(page)
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    try:
        for domain in ("Page", "Network", "Runtime"):
            browser.send(f"{domain}.enable", session=session)
        width, height = VIEWPORT
        browser.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                     "deviceScaleFactor": 1, "mobile": False}, session=session)
        browser.send("Emulation.setEmulatedMedia", {"features": [
            {"name": "prefers-color-scheme", "value": color_scheme}]}, session=session)
        nav = browser.send("Page.navigate", {"url": url}, session=session)
        if nav.get("errorText"):
            report.problems.append(f"does not load: {nav['errorText']}")
            return report
        if browser.wait_event("Page.loadEventFired", session) is None:
            report.problems.append(f"no load event within {browser.timeout:g} s")
        settle_ms = int(browser.timeout * 1000 * 0.6)
        settled = browser.send("Runtime.evaluate", {"expression": SETTLE_JS % settle_ms,
                               "awaitPromise": True, "returnByValue": True}, session=session)
        if settled.get("result", {}).get("value") != "ready":
            report.problems.append(f"images/MathJax/fonts not settled within {settle_ms / 1000:g} s")
        facts = browser.send("Runtime.evaluate", {"expression": COLLECT_JS, "returnByValue": True},
                             session=session)["result"]["value"]
        _network_and_js(report, browser.take_events(session), base, nav.get("frameId"))
        _page_problems(report, facts, root, base)
        if shot is not None:
            size = browser.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": max(width, size["width"]),
                    "height": min(max(height, size["height"]), MAX_SHOT_HEIGHT), "scale": 1}
            png = browser.send("Page.captureScreenshot", {"format": "png", "clip": clip,
                               "captureBeyondViewport": True}, session=session, timeout=60)["data"]
            shot.parent.mkdir(parents=True, exist_ok=True)
            shot.write_bytes(base64.b64decode(png))
            report.screenshot = shot
    finally:
        browser.send("Target.closeTarget", {"targetId": target})
        browser.take_events(session)
    return report


def _network_and_js(report: PageReport, events: list[dict], base: str, frame: str | None) -> None:
    requests, blocked = {}, []
    for ev in events:
        method, p = ev["method"], ev.get("params", {})
        if p.get("type") == "Image":
            continue  # images are checked in the page (naturalWidth), once each
        if p.get("request", p.get("response", {})).get("url", "") == base + "favicon.ico":
            continue  # the browser guesses this one by itself; the page did not ask for it
        if method == "Network.requestWillBeSent":
            requests[p["requestId"]] = p["request"]["url"]
        elif method == "Network.responseReceived":
            status, url = p["response"]["status"], p["response"]["url"]
            if status >= 400:
                main = p.get("type") == "Document" and p.get("frameId") == frame
                report.problems.append(f"{'does not load' if main else 'missing resource'}: "
                                       f"HTTP {status} {_short(url, base)}")
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            url = requests.get(p["requestId"], "?")
            if url.startswith(base):
                report.problems.append(f"missing resource: {_short(url, base)} ({p.get('errorText')})")
            elif url.startswith("http"):
                blocked.append(urllib.parse.urlsplit(url).netloc)
        elif method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            what = d.get("exception", {}).get("description") or d.get("text", "")
            what = what.splitlines()[0][:160] if what else "?"
            known = next((why for msg, why in KNOWN_JS_ERRORS.items() if msg in what), None)
            if known:
                report.notes.append(f"known JavaScript error, harmless: {known}")
            else:
                report.problems.append(f"JavaScript error: {what}")
    if blocked:
        report.notes.append("offline, not fetched: " + ", ".join(sorted(set(blocked))))


def _page_problems(report: PageReport, facts: dict, root: Path, base: str) -> None:
    problems = report.problems
    for img in facts["imgs"]:
        if img["w"] == 0:
            problems.append(f"broken image: {_short(img['src'], base)}")
    broken, external = check_links(root, base, facts["links"])
    problems += broken
    if external:
        report.notes.append(f"{external} external links not checked (offline)")
    problems += [f"error output: {e}" for e in facts["errors"]]
    if facts["traceback"]:
        problems.append("a traceback is visible (\"Traceback (most recent call last)\")")
    if facts["mathElements"] and not facts["mathjax"]:
        problems.append(f"math not rendered: MathJax did not load ({facts['mathElements']} formulas)")
    problems += [f"math error: {m}" for m in facts["merrors"]]
    problems += [f"raw TeX visible: {t!r}" for t in facts["rawTex"]]
    problems += [f"raw Markdown visible: {t!r}" for t in facts.get("rawMd", [])]
    problems += [f"a build-machine path is visible: {p!r}" for p in facts.get("paths", [])]
    problems += [f"a table is wider than the content column at {VIEWPORT[0]} px: {t}" for t in facts.get("wideTables", [])]
    figures = [i for i in facts["imgs"] if i["w"] >= FIGURE_MIN_PX and i["h"] >= FIGURE_MIN_PX
               and (i["inOutput"] or "/_images/" in i["src"] or i["src"].startswith("data:image"))]
    for i in figures:
        src = "an inline figure" if i["src"].startswith("data:") else _short(i["src"], base)
        if not (i.get("textPt") and i.get("widthIn")):  # JSON turns NaN into None
            if report.page.startswith("chapters/"):
                problems.append(f"a figure without its text size (not shown by superconv.plots.finish): {src}")
            continue
        pt = i["textPt"] * i["shownW"] / (96 * i["widthIn"])
        if pt < LEGIBLE_PT:
            problems.append(f"figure text renders at {pt:.1f} pt, below {LEGIBLE_PT:g} pt: its {i['textPt']:g} pt "
                            f"text on a {i['widthIn']:.1f}-inch figure shown {i['shownW']:.0f} px wide ({src})")
    if report.page.startswith("chapters/"):
        if not figures:
            problems.append("chapter has no figure (no plot image)")
        else:
            report.notes.append(f"{len(figures)} figures")
    if facts["mathElements"] and facts["mathjax"]:
        report.notes.append(f"{facts['mathElements']} formulas rendered")
    if facts.get("theme") and facts["theme"] != "light":
        report.notes.append(f"{facts['theme']} theme")
    if facts["wideMath"]:  # readable by scrolling sideways, so a note rather than a failure
        report.notes.append(f"{facts['wideMath']} display formulas wider than the text column")


def pages(root: Path) -> list[str]:
    """Every .html page of the built book, as paths relative to `root` (assets folders excluded)."""
    found = []
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] not in ASSET_DIRS:
            found.append(rel)
    return found


def check_site(root: Path | str, screenshots: Path | str | None = "", executable: str | None = None,
               timeout: float = 30.0) -> list[PageReport]:
    """Check every page of the built HTML under `root`; one report per page.

    screenshots: folder for `<page>.png` (default: `<root>/../screenshots`, i.e. `_build/screenshots`
    for `_build/html`); None takes none.
    """
    root = Path(root).resolve()
    if not (root / "_static").is_dir() and not any(root.glob("*.html")):
        raise FileNotFoundError(f"root={root} holds no built HTML (expected e.g. _build/html)")
    if screenshots == "":
        screenshots = root.parent / "screenshots"
    anchors.cache_clear()
    reports = []
    with serve(root) as base, Browser(executable, timeout=timeout) as browser:
        for page in pages(root):
            name = page.split("/")[-1]
            if name in SKIP and "/" not in page:
                reports.append(PageReport(page, skipped=SKIP[name]))
                continue
            target = redirect_target(root / page)
            if target is not None:  # a redirect stub has nothing to render; its target must exist
                report = PageReport(page, notes=[f"redirects to {target}"])
                report.problems += check_links(root, base, [urllib.parse.urljoin(base + page, target)])[0]
                reports.append(report)
                continue
            shot = None if screenshots is None else Path(screenshots) / (page[:-len(".html")] + ".png")
            reports.append(check_page(browser, root, base, page, shot))
    return reports


def format_table(reports: list[PageReport]) -> str:
    """One row per page (status, page, what was found), problems first, then a summary line."""
    width = max([len(r.page) for r in reports] + [4])
    lines = [f"{'status':<7} {'page':<{width}}  details", "-" * (width + 40)]
    for r in reports:
        status = "SKIP" if r.skipped else ("FAIL" if r.problems else "ok")
        details = [r.skipped] if r.skipped else r.problems + r.notes
        if r.screenshot:
            details.append(f"screenshot {r.screenshot}")
        lines.append(f"{status:<7} {r.page:<{width}}  {details[0] if details else ''}")
        lines += [f"{'':<7} {'':<{width}}  {d}" for d in details[1:]]
    bad = sum(bool(r.problems) for r in reports)
    opened = sum(not r.skipped for r in reports)
    lines.append(f"{opened} pages checked, {bad} with problems, "
                 f"{sum(len(r.problems) for r in reports)} problems")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html", type=Path, help="the built book's HTML folder, e.g. _build/html")
    ap.add_argument("--screenshots", type=Path, default=None,
                    help="where to save <page>.png (default: next to the HTML folder, in screenshots/)")
    ap.add_argument("--no-screenshots", action="store_true")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per browser step")
    args = ap.parse_args(argv)
    shots = None if args.no_screenshots else (args.screenshots or "")
    try:
        reports = check_site(args.html, shots, timeout=args.timeout)
    except (BrowserError, FileNotFoundError) as err:
        print(err, file=sys.stderr)
        return 2
    print(format_table(reports))
    return 1 if any(r.problems for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
