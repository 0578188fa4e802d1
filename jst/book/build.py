"""Build the Jupyter Book and check the built pages in headless Chromium.

  python -m jst.book.build                 # build _build/html (warnings are errors), offline
  python -m jst.book.build --check         # then load every page in Chromium; screenshots in _build/screenshots

The book renders the committed executed notebooks (``book/notebooks``); it never executes them. MathJax
is served from the book itself (copied from the django-static-mathjax wheel), so no page fetches
anything from the network.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "book" / "_static"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,900")


def prepare_static() -> Path:
    """Copy MathJax (single-file SVG build) into the book's static folder."""
    from importlib.util import find_spec
    spec = find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax not found: install the book extra (pip install '.[book]')")
    src = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5" / "tex-svg.js"
    dst = STATIC / "mathjax" / "tex-svg.js"
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists() or dst.stat().st_size != src.stat().st_size:
        shutil.copyfile(src, dst)
    return dst


def build(source: Path = REPO, strict: bool = True) -> Path:
    """``jupyter-book build`` (warnings as errors when ``strict``); returns the HTML folder."""
    prepare_static()
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(source), "--all"]
    if strict:
        cmd += ["-W", "--keep-going"]
    subprocess.run(cmd, check=True, cwd=source)
    return source / "_build" / "html"


@dataclass
class PageReport:
    page: str
    console_errors: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    figures: int = 0
    screenshot: str = ""
    explorer: dict | None = None
    unrendered_markup: list[str] = field(default_factory=list)
    in_house_words: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)        # every figure image: natural and rendered size
    illegible_figures: list[dict] = field(default_factory=list)

    @property
    def problems(self) -> dict[str, list]:
        """What the reader would meet on this page, by check (empty lists left out)."""
        found = {"console errors": self.console_errors, "broken images": self.broken_images,
                 "unrendered markup": self.unrendered_markup, "in-house words": self.in_house_words,
                 "illegible figures": self.illegible_figures}
        return {k: v for k, v in found.items() if v}


def pages(html: Path) -> list[Path]:
    """Every HTML page of the book (not the theme's or Sphinx's internal files)."""
    skip = {"_static", "_sources", "_images", "_sphinx_design_static", "_panels_static"}
    return sorted(p for p in html.rglob("*.html") if not skip & set(p.relative_to(html).parts))


def _driver(attempts: int = 3):
    """Headless Chromium with a new empty profile folder per start (a shared or stale profile is the usual
    cause of "DevToolsActivePort file doesn't exist"); a failed start is retried, and the last failure
    carries the tail of chromedriver's log."""
    from selenium import webdriver
    from selenium.common.exceptions import SessionNotCreatedException
    from selenium.webdriver.chrome.service import Service
    for attempt in range(1, attempts + 1):
        profile = Path(tempfile.mkdtemp(prefix="jst-chromium-"))
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM[0]
        for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile}", f"--crash-dumps-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        log = profile / "chromedriver.log"
        try:
            service = Service(CHROMIUM[1], service_args=["--log-level=INFO"], log_output=str(log))
            driver = webdriver.Chrome(service=service, options=options)
        except SessionNotCreatedException as e:
            tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
            shutil.rmtree(profile, ignore_errors=True)
            if attempt == attempts:
                raise RuntimeError(f"headless Chromium did not start ({attempts} attempts): {e.msg}\n"
                                   "chromedriver log (tail):\n" + "\n".join(tail)) from e
            time.sleep(2.0 * attempt)
            continue
        driver.profile = profile
        return driver


def _quit(driver) -> None:
    driver.quit()
    shutil.rmtree(driver.profile, ignore_errors=True)


class _Server:
    """A local HTTP server over the built book (pages load as they would from a web host)."""

    def __init__(self, root: Path):
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


_IMAGES_JS = """return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)
                 .map(i => i.getAttribute('src'));"""
_FIGURES_JS = """return document.querySelectorAll('.cell_output img, .output img, article svg.bars').length;"""
# the page's visible prose: the article without code blocks (cell inputs, fences, printed output), scripts,
# styles and MathJax's rendering; hidden (collapsed) content stays, a reader can open it
_ARTICLE = "(document.querySelector('article.bd-article') || document.querySelector('main') || document.body)"
_TEXT_JS = "const a = " + _ARTICLE + """.cloneNode(true);
              a.querySelectorAll('pre, script, style, mjx-container, .MathJax, .headerlink').forEach(e => e.remove());
              return a.textContent;"""
# everything a reader sees, code and printed output included (for the in-house words)
_ALL_TEXT_JS = "return " + _ARTICLE + ".textContent;"
# every figure image in the article: its natural size, its rendered size and the width of the page column
_IMAGE_SIZES_JS = """const col = document.querySelector('article.bd-article') || document.querySelector('main');
  const width = col ? col.clientWidth : document.documentElement.clientWidth;
  return Array.from(document.querySelectorAll('article img')).filter(i => i.complete && i.naturalWidth > 0)
    .map(i => {const r = i.getBoundingClientRect();
               return {src: i.getAttribute('src'), natural_width: i.naturalWidth, natural_height: i.naturalHeight,
                       width: Math.round(r.width), height: Math.round(r.height), column: width};});"""

# MyST that did not render: a role or directive shown as text, or a code fence shown as text
UNRENDERED = re.compile(r"\{(?:glue|cite|ref|numref|doc|eq|term|download|math|abbr|sub|sup)(?::[\w-]+)?\}"
                        r"|\{glue:|\{cite|`{3}")
# in-house wording that means nothing to a reader of the book (case-insensitive)
IN_HOUSE_WORDS = ("moonshot", "goal of the issue", "goals are met", "issue #")
# A figure is too small to read (measured at the check's 1280 px window, where the page column is 740 px and
# an output image at most 676 px wide; the book's matplotlib figures are drawn at about 100 dpi with 10-12 pt
# text, i.e. 14-17 px at natural size):
#  - shown at under SHRINK of its natural width while its natural width exceeds the column: its text falls
#    under about 8 px (a 4-panel row of 1,330-1,400 px shows at 0.48-0.51), or
#  - a multi-panel figure (natural width at least MULTI_PANEL x its height: panels side by side) rendered
#    under MIN_HEIGHT px tall (the 4-panel rows show at 129-183 px; 2-panel rows of 10 in x 3.5 in at 237 px).
SHRINK, MIN_HEIGHT, MULTI_PANEL = 0.5, 200, 2.2


def unrendered_markup(text: str, context: int = 30) -> list[str]:
    """Each piece of unrendered MyST in ``text``, with a little context."""
    return [text[max(m.start() - context, 0):m.end() + context].replace("\n", " ") for m in UNRENDERED.finditer(text)]


def in_house_words(text: str) -> list[str]:
    """The in-house words ``text`` holds (IN_HOUSE_WORDS, case-insensitive)."""
    low = " ".join(text.lower().split())
    return [w for w in IN_HOUSE_WORDS if w in low]


def illegible(image: dict) -> str:
    """Why a figure image (a dict of ``_IMAGE_SIZES_JS``) is too small to read, or "" when it is not."""
    scale = image["width"] / image["natural_width"]
    if image["natural_width"] > image["column"] and scale < SHRINK:
        return f"shown at {scale:.0%} of its natural width (under {SHRINK:.0%})"
    if image["natural_width"] >= MULTI_PANEL * image["natural_height"] and image["height"] < MIN_HEIGHT:
        return f"multi-panel figure rendered {image['height']} px tall (under {MIN_HEIGHT} px)"
    return ""


def check(html: Path, screenshots: Path, settle: float = 0.5) -> list[PageReport]:
    """Load every page: console errors, images that failed to load, figures; unrendered MyST in the visible
    prose (UNRENDERED: a role or glue shown as text, a code fence shown as text; code blocks are left out), the
    in-house words (IN_HOUSE_WORDS, anywhere on the page), and every figure image's natural and rendered size,
    flagged by ``illegible`` (SHRINK, MIN_HEIGHT, MULTI_PANEL); a full-page screenshot of each; on the explorer
    page, move a slider and record what the page showed before and after. ``PageReport.problems`` sums up."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    screenshots.mkdir(parents=True, exist_ok=True)
    reports = []
    with _Server(html) as server:
        driver = _driver()
        try:
            for page in pages(html):
                rel = page.relative_to(html).as_posix()
                driver.set_window_size(1280, 900)
                driver.get(server.url + rel)
                _wait_loaded(driver)
                time.sleep(settle)  # MathJax typesets after load
                report = PageReport(rel)
                report.console_errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
                report.broken_images = driver.execute_script(_IMAGES_JS)
                report.figures = driver.execute_script(_FIGURES_JS)
                report.unrendered_markup = unrendered_markup(driver.execute_script(_TEXT_JS))
                report.in_house_words = in_house_words(driver.execute_script(_ALL_TEXT_JS))
                report.images = driver.execute_script(_IMAGE_SIZES_JS)
                report.illegible_figures = [{**i, "why": why} for i in report.images if (why := illegible(i))]
                sliders = driver.find_elements(By.CSS_SELECTOR, ".jst-explorer input[type=range]")
                if sliders:
                    report.explorer = _move_slider(driver, sliders[0], Keys.ARROW_LEFT)
                    report.console_errors += [e["message"] for e in driver.get_log("browser")
                                              if e["level"] == "SEVERE"]
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(1280, min(max(height, 900), 12000))
                shot = screenshots / (rel.replace("/", "__").removesuffix(".html") + ".png")
                driver.save_screenshot(str(shot))
                report.screenshot = str(shot)
                reports.append(report)
        finally:
            _quit(driver)
    return reports


def _wait_loaded(driver, timeout: float = 20.0) -> None:
    end = time.time() + timeout
    while driver.execute_script("return document.readyState") != "complete" and time.time() < end:
        time.sleep(0.1)


def _move_slider(driver, slider, key) -> dict:
    state = """const r = arguments[0].closest('.jst-explorer');
               return {metrics: r.querySelector('.metrics').textContent,
                       kept: Array.from(r.querySelectorAll('rect.kept'))
                                  .map(e => e.getAttribute('data-kept')).join(',')};"""
    before = driver.execute_script(state, slider)
    value = slider.get_attribute("value")
    slider.send_keys(key)
    after = driver.execute_script(state, slider)
    return {"before": before, "after": after, "value_before": value, "value_after": slider.get_attribute("value")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jst.book", description=__doc__.splitlines()[0])
    p.add_argument("--no-build", action="store_true", help="check an existing build only")
    p.add_argument("--check", action="store_true", help="load every page in headless Chromium")
    args = p.parse_args(argv)
    html = REPO / "_build" / "html" if args.no_build else build()
    if not args.check:
        return 0
    reports = check(html, REPO / "_build" / "screenshots")
    bad = [r for r in reports if r.problems]
    for r in reports:
        print(json.dumps({k: v for k, v in r.__dict__.items() if k != "images"}))
    for r in bad:
        for check_name, found in r.problems.items():
            print(f"{r.page}: {check_name}: {found}")
    print(f"{len(reports)} pages checked, {len(bad)} with problems; screenshots in {REPO / '_build' / 'screenshots'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
