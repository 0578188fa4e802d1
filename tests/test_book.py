"""The book builds with warnings as errors from the committed executed notebooks, and every page works in
headless Chromium (Debian's chromium + chromedriver, installed by `make setup`). The build goes to
_build/html and the screenshots to _build/screenshots, where CI keeps them."""
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from jst.book import build

REPO = build.REPO
TOC = yaml.safe_load((REPO / "_toc.yml").read_text())
CHAPTERS = [REPO / "book" / "intro"] + [REPO / c["file"] for part in TOC["parts"] for c in part["chapters"]]


def toc_file(chapter: Path) -> Path:
    return next(chapter.with_suffix(s) for s in (".md", ".ipynb") if chapter.with_suffix(s).exists())


@pytest.fixture(scope="module")
def html():
    return build.build(REPO)  # raises if jupyter-book reports any warning (-W)


@pytest.fixture(scope="module")
def pages(html):
    if not (Path(build.CHROMIUM[0]).exists() and Path(build.CHROMIUM[1]).exists()):
        pytest.fail("chromium / chromedriver missing: run `make setup` (apt-get install chromium chromium-driver)")
    shots = REPO / "_build" / "screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    return {r.page: r for r in build.check(html, shots)}


def test_every_chapter_of_the_toc_is_a_page(html):
    for chapter in CHAPTERS:
        assert toc_file(chapter), chapter
        assert (html / chapter.relative_to(REPO).with_suffix(".html")).is_file(), chapter


def test_committed_notebooks_are_executed_at_a_real_scale():
    for chapter in CHAPTERS:
        path = toc_file(chapter)
        if path.suffix != ".ipynb":
            continue
        nb = nbformat.read(str(path), as_version=4)
        assert "papermill" in nb.metadata, f"{path.name} was not executed by papermill"
        params = nb.metadata["papermill"]["parameters"]
        # the book shows real runs: cpu or paper scale (the performance and reproduction chapters read
        # committed records and have no scale of their own)
        assert params.get("scale", "cpu") in ("cpu", "paper"), f"{path.name} ran at {params.get('scale')} scale"
        assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name
        assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", [])), path.name
        assert "widgets" not in nb.metadata  # no widget state: nothing would fetch the widget manager


GLUE_REF = re.compile(r"\{glue:\w+\}`([^`:]+\.ipynb)::([^`:]+)(?::[^`]*)?`")


def test_every_pasted_value_is_glued_in_the_committed_notebook():
    """A page that pastes a value an executed notebook lacks fails the -W build with one line in stderr; this
    names the page, the notebook and the key without building."""
    missing = []
    for page in (REPO / "book").rglob("*.md"):
        for notebook, key in GLUE_REF.findall(page.read_text()):
            nb = nbformat.read(str(page.parent / notebook), as_version=4)
            glued = {o.metadata["scrapbook"]["name"] for c in nb.cells for o in c.get("outputs", [])
                     if "scrapbook" in o.get("metadata", {})}
            if key not in glued:
                missing.append(f"{page.name} -> {notebook}::{key}")
    assert not missing, missing


def test_pages_fetch_nothing_from_the_network(html):
    for page in build.pages(html):
        text = page.read_text()
        remote = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(https?://[^"]+)"', text)
        assert not remote, f"{page.name} loads {remote}"


def test_every_page_loads_without_console_errors(pages):
    assert len(pages) >= len(CHAPTERS)
    errors = {p: r.console_errors for p, r in pages.items() if r.console_errors}
    assert not errors


def test_no_missing_images(pages):
    assert not {p: r.broken_images for p, r in pages.items() if r.broken_images}


def test_figures_present(pages):
    """Each notebook page shows as many figures as its executed notebook holds (and at least one where the
    stage draws any)."""
    for chapter in CHAPTERS:
        path = toc_file(chapter)
        if path.suffix != ".ipynb":
            continue
        nb = nbformat.read(str(path), as_version=4)
        pngs = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
        report = pages[chapter.relative_to(REPO).with_suffix(".html").as_posix()]
        assert report.figures >= pngs, (path.name, report.figures, pngs)
    for stage in ("01_coarse_training", "02_sampler", "05_search", "07_sensitivity", "08_explorer"):
        assert pages[f"book/notebooks/{stage}.html"].figures >= 1, stage


def test_explorer_control_changes_the_view(pages):
    report = pages["book/notebooks/08_explorer.html"]
    assert report.explorer is not None, "no explorer slider on the page"
    assert report.explorer["value_after"] != report.explorer["value_before"]
    assert report.explorer["after"]["metrics"] != report.explorer["before"]["metrics"]
    assert report.explorer["after"]["kept"] != report.explorer["before"]["kept"]


def test_screenshot_of_each_page(pages):
    for report in pages.values():
        shot = Path(report.screenshot)
        assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", report.page
        assert shot.stat().st_size > 5000, report.page  # not blank
