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


def test_one_run_shows_one_set_of_numbers():
    """The chain's run on every page that shows it: fine-tuning and export (06) and the results chapter (10) ran
    on the same run folder and show its record's table cell for cell (the book once showed two sets of
    numbers for one run, from notebooks executed at different times)."""
    tables, folders = {}, set()
    for name in ("06_finetune_export", "10_results"):
        nb = nbformat.read(str(REPO / "book" / "notebooks" / f"{name}.ipynb"), as_version=4)
        folders.add(nb.metadata["papermill"]["parameters"]["run_dir"])
        html = [o["data"]["text/html"] for c in nb.cells for o in c.get("outputs", [])
                if "pruned / " in o.get("data", {}).get("text/html", "")]
        assert len(html) == 1, name
        tables[name] = re.sub(r"T_[0-9a-f]+", "T", html[0])   # the styler's random table id aside
    assert len(folders) == 1, folders
    assert tables["06_finetune_export"] == tables["10_results"]


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
    # the page marks the FLOPs budget and states the accuracy's noise
    assert "the budget of" in report.explorer["after"]["metrics"], report.explorer["after"]["metrics"]
    assert "one standard error" in report.explorer["after"]["metrics"]


def test_no_unrendered_markup_on_any_page(pages):
    """No role, glue or code fence shows as text ({glue:...}, {cite}, {ref}, {numref}, {doc}, ```)."""
    assert not {p: r.unrendered_markup for p, r in pages.items() if r.unrendered_markup}


def test_no_in_house_words_on_any_page(pages):
    assert not {p: r.in_house_words for p, r in pages.items() if r.in_house_words}


def test_figures_are_rendered_large_enough_to_read(pages):
    """Every figure image is measured (natural against rendered size); none is shown too small to read
    (build.illegible)."""
    for page, report in pages.items():   # every figure image is measured (the explorer draws SVG, not images)
        if page.startswith("book/notebooks/") and page != "book/notebooks/08_explorer.html":
            assert len(report.images) >= report.figures, (page, len(report.images), report.figures)
    assert sum(len(r.images) for r in pages.values()) > 0
    for report in pages.values():
        for image in report.images:
            assert image["width"] > 0 and image["natural_width"] > 0 and image["column"] > 0, (report.page, image)
    bad = {p: [(i["src"].rsplit("/", 1)[-1][:12], i["why"]) for i in r.illegible_figures]
           for p, r in pages.items() if r.illegible_figures}
    assert not bad, bad


def test_performance_and_reproduction_pages_pass_every_check(pages):
    for page in ("book/notebooks/12_reproduction.html", "book/notebooks/13_performance.html"):
        assert not pages[page].problems, (page, pages[page].problems)
        assert pages[page].images, page


def test_check_catches_markup_words_and_shrunken_figures(tmp_path):
    """The browser check on a page made to fail every rule: it finds each problem (and only the real ones)."""
    from PIL import Image
    if not (Path(build.CHROMIUM[0]).exists() and Path(build.CHROMIUM[1]).exists()):
        pytest.fail("chromium / chromedriver missing: run `make setup` (apt-get install chromium chromium-driver)")
    Image.new("RGB", (1400, 300), "white").save(tmp_path / "wide.png")
    Image.new("RGB", (600, 400), "white").save(tmp_path / "small.png")
    (tmp_path / "page.html").write_text(
        '<html><head><link rel="icon" href="data:,"></head><body><article class="bd-article" style="width:740px">'
        "<p>We paste {glue:text}`value` here, cite {cite}`lu2020jst`, and every goal of the issue is a moonshot.</p>"
        "<p>```python</p><pre>x = f'{cite}'  # code is not prose</pre>"
        '<img src="wide.png" style="width:500px"><img src="small.png"></article></body></html>')
    (report,) = build.check(tmp_path, tmp_path / "shots", settle=0.1)
    assert [m.strip() for m in report.unrendered_markup] and len(report.unrendered_markup) == 3
    assert any("{glue:text}" in m for m in report.unrendered_markup)
    assert any("```" in m for m in report.unrendered_markup)
    assert set(report.in_house_words) == {"moonshot", "goal of the issue"}
    assert [i["src"] for i in report.illegible_figures] == ["wide.png"]
    assert report.illegible_figures[0]["why"].startswith("shown at 36%")
    assert set(report.problems) == {"unrendered markup", "in-house words", "illegible figures"}


def test_legibility_rule():
    wide = {"natural_width": 1330, "natural_height": 267, "column": 740}
    assert build.illegible({**wide, "width": 676, "height": 136}).startswith("multi-panel")
    assert build.illegible({**wide, "width": 600, "height": 120, "natural_height": 600}).startswith("shown at 45%")
    assert not build.illegible({"natural_width": 972, "natural_height": 345, "column": 740, "width": 676,
                                "height": 240})   # a 2-panel row at the page's width stays legible
    assert not build.illegible({"natural_width": 684, "natural_height": 404, "column": 740, "width": 676,
                                "height": 399})


def test_markup_and_word_rules():
    assert build.unrendered_markup("ok {glue:text}`a` and {numref}`fig` and {ref}`x`") != []
    assert len(build.unrendered_markup("a {glue:text}`a` b {numref}`fig` c {ref}`x` d {doc}`y`")) == 4
    assert build.unrendered_markup("a dict {'a': 1} and set {1, 2}") == []
    assert build.in_house_words("13 of 86 goals are  met; see Issue #25") == ["goals are met", "issue #"]
    assert build.in_house_words("the goal of the method") == []


def test_screenshot_of_each_page(pages):
    for report in pages.values():
        shot = Path(report.screenshot)
        assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", report.page
        assert shot.stat().st_size > 5000, report.page  # not blank


# ---- the static pages: bibliography, table of contents, configuration, environment, pipeline figure ----
# (fast: none of these builds the book)

BOOK = REPO / "book"
CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")


def _bib_keys() -> set[str]:
    return set(re.findall(r"^@\w+\{([^,\s]+),", (BOOK / "references.bib").read_text(), flags=re.M))


def _cited() -> dict[str, set[str]]:
    """Page -> the keys it cites ({cite}, {cite:t}, {cite:p}; several keys separated by commas)."""
    return {page.relative_to(REPO).as_posix(): {k.strip() for group in CITE.findall(page.read_text())
                                                for k in group.split(",")}
            for page in BOOK.rglob("*.md")}


def test_every_cited_key_is_in_the_bibliography_and_every_entry_is_cited():
    keys, cited = _bib_keys(), _cited()
    unknown = {page: sorted(k - keys) for page, k in cited.items() if k - keys}
    assert not unknown, f"cited but not in book/references.bib: {unknown}"
    uncited = keys - set().union(*cited.values())
    assert not uncited, f"in book/references.bib but cited nowhere: {sorted(uncited)}"
    for page in ("intro", "method", "published", "rerun", "reconstruction"):
        assert cited[f"book/{page}.md"], f"book/{page}.md cites nothing"
    assert "lu2020jst" in cited["book/method.md"]


def test_bibliography_is_configured_and_has_its_page():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["bibtex_bibfiles"] == ["book/references.bib"]
    # sphinx.config.extensions replaces Jupyter Book's list, so the extension must be named there
    assert "sphinxcontrib.bibtex" in config["sphinx"]["config"]["extensions"]
    assert "```{bibliography}" in (BOOK / "bibliography.md").read_text()
    bib = (BOOK / "references.bib").read_text()
    assert "10.24963/ijcai.2020/358" in bib   # JST's DOI, as ijcai.org gives it


def test_toc_lists_the_new_pages():
    parts = {part["caption"]: [c["file"] for c in part["chapters"]] for part in TOC["parts"]}
    assert "book/own_network" in parts["Using it"]
    assert parts["Appendix"] == ["book/reconstruction", "book/bibliography"]
    for chapter in ("own_network", "reconstruction", "bibliography", "method"):
        assert (BOOK / f"{chapter}.md").is_file()
    assert "{doc}`reconstruction`" in (BOOK / "method.md").read_text()


def test_repository_url_is_one_value_that_drives_the_buttons():
    text = (REPO / "_config.yml").read_text()
    config = yaml.safe_load(text)
    url = config["repository"]["url"]
    assert url.startswith("https://github.com/")
    assert text.count(url) == 1                     # nothing else repeats it
    assert config["html"]["use_repository_button"] is True
    assert config["launch_buttons"]["binderhub_url"]   # the launch button builds its link from repository.url


def _pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:   # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_environment_yml_lists_every_package_of_pyproject():
    project = _pyproject()["project"]
    wanted = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {r.replace(" ", "") for r in pip}
    missing = [r for r in wanted if r.replace(" ", "") not in listed]
    assert not missing, f"environment.yml lacks (or pins differently) {missing}"
    assert "torch==" in " ".join(pip) and "torchvision==" in " ".join(pip)   # the pair stays pinned


def test_pipeline_figure_is_committed_and_regenerates(tmp_path):
    from jst.book import pipeline_figure
    committed = BOOK / "_static" / "pipeline.svg"
    svg = committed.read_text()
    for title in pipeline_figure.TITLES:
        assert f">{title}</text>" in svg, title
    assert "_static/pipeline.svg" in (BOOK / "method.md").read_text()
    fresh = pipeline_figure.write(tmp_path / "pipeline.svg").read_text()
    version = re.compile(r"Matplotlib v[\d.]+")
    if version.search(svg).group() == version.search(fresh).group():
        assert fresh == svg, "book/_static/pipeline.svg is stale: run python -m jst.book.pipeline_figure"
    else:   # another matplotlib lays text out differently: the stages must still all be there
        assert all(f">{title}</text>" in fresh for title in pipeline_figure.TITLES)


SCHEDULE_ROWS = [  # (scale, the "networks" cell of the method page's table, an architecture of that family)
    ("paper", "CIFAR ResNets, VGG-16 (and the LeNets)", "resnet56"),
    ("paper", "ImageNet ResNets", "resnet50"),
    ("cpu", "LeNet-5, LeNet-300-100", "lenet5"),
    ("cpu", "CIFAR ResNets, VGG-16", "resnet20"),
    ("cpu", "ImageNet ResNets", "resnet18"),
    ("smoke", "LeNet-5, LeNet-300-100", "lenet5"),
]


def test_method_page_schedules_match_the_presets():
    from jst.config import make_config
    page = (BOOK / "method.md").read_text()
    for scale, networks, arch in SCHEDULE_ROWS:
        c = make_config(scale, arch)
        (m1, m2), (lr1, lr2) = c.search_epochs, c.search_lr
        if c.search_switch >= c.search_steps:
            search = f"{m1} at {lr1:g} for every t"
        else:
            search = f"{m1} at {lr1:g} for t ≤ {c.search_switch}, then {m2} at {lr2:g}"
        row = (f"| `{scale}` | {networks} | {c.coarse_epochs} at {c.coarse_lr:g} | {c.search_steps} | {search} | "
               f"{c.filter_epochs} | {c.finetune_epochs} at {c.finetune_lr:g} |")
        assert row in page, f"method.md's schedule table should have the row\n{row}"
