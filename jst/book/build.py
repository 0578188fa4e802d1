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


def check(html: Path, screenshots: Path, settle: float = 0.5) -> list[PageReport]:
    """Load every page: console errors, images that failed to load, figures; a full-page screenshot of
    each; on the explorer page, move a slider and record what the page showed before and after."""
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
    bad = [r for r in reports if r.console_errors or r.broken_images]
    for r in reports:
        print(json.dumps(r.__dict__))
    print(f"{len(reports)} pages checked, {len(bad)} with console errors or broken images; "
          f"screenshots in {REPO / '_build' / 'screenshots'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
