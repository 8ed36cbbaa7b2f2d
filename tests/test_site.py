"""The built website, opened in headless Chromium with every request outside the local server blocked.

Needs the site in _build/html (scripts/test.sh builds it first) and Debian's Chromium
(/usr/bin/chromium, or $CHROMIUM). Without them the tests are skipped with a message saying so; where CI is
set, they fail instead.
Screenshots of the landing page and of the first page of each chapter go to _build/screenshots/.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from book_toc import executed_notebook, figure_outputs, toc_files

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


PAGES = toc_files()
NOTEBOOK_PAGES = [p for p in PAGES if (ROOT / f"{p}.ipynb").exists()]


def _skip_reason() -> str | None:
    if CHROMIUM is None:
        return "no Chromium: install Debian's `chromium` package (apt-get install chromium) to run the browser tests"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright Python package is missing: pip install -r requirements-dev.txt"
    if not (SITE / "index.html").exists():
        return "no built site in _build/html: run `bash scripts/build-book.sh` first"
    return None


# Where CI is set (CI machines set it; .ci/run exports it), what would skip these tests fails them instead
# (no Chromium, no playwright, no built site), so that a green CI run has run them.
_ON_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
_SKIP = _skip_reason()
pytestmark = pytest.mark.skipif(_SKIP is not None and not _ON_CI, reason=_SKIP or "")


@pytest.fixture(scope="module", autouse=True)
def _browser_required_on_ci():
    if _SKIP is not None and _ON_CI:
        pytest.fail(f"CI is set, so the browser tests must run, but: {_SKIP}", pytrace=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Visit:
    """A page opened with all non-local requests blocked, and what went wrong while it loaded."""

    def __init__(self, browser, base: str, path: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.console_errors: list[str] = []

        def route(r):
            if r.request.url.startswith(base):
                r.continue_()
            else:
                self.blocked.append(r.request.url)
                r.abort()

        self.page.route("**/*", route)
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.url} (HTTP {r.status})"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.goto(base + path, wait_until="networkidle")
        # MathJax typesets asynchronously; wait for it to finish when the page uses it
        self.page.wait_for_function("!window.MathJax || !MathJax.startup || MathJax.startup.promise !== undefined")
        self.page.evaluate("window.MathJax && MathJax.startup && MathJax.startup.promise")
        self.page.wait_for_timeout(300)

    def close(self):
        self.context.close()


@pytest.fixture(scope="module")
def visits(server, browser):
    opened: dict[str, Visit] = {}

    def visit(page_path: str) -> Visit:
        if page_path not in opened:
            opened[page_path] = Visit(browser, server, page_path + ".html")
        return opened[page_path]

    yield visit
    for v in opened.values():
        v.close()


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_with_no_failed_request_and_no_javascript_error(visits, page):
    v = visits(page)
    assert not v.blocked, f"{page} asked for resources outside the site: {v.blocked}"
    assert not v.failed, f"{page} had failed requests: {v.failed}"
    assert not v.errors, f"{page} raised JavaScript errors: {v.errors}"
    assert not v.console_errors, f"{page} logged errors in the console: {v.console_errors}"


@pytest.mark.parametrize("page", PAGES)
def test_maths_is_rendered(visits, page):
    v = visits(page)
    unrendered = v.page.evaluate(
        """() => [...document.querySelectorAll('main .math')]
              .filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.slice(0, 60))"""
    )
    assert not unrendered, f"maths left unrendered on {page}: {unrendered}"
    text = v.page.evaluate(
        """() => { const main = document.querySelector('main').cloneNode(true);
                   main.querySelectorAll('pre, code, script, style, mjx-container').forEach(e => e.remove());
                   return main.innerText; }"""
    )
    raw = re.findall(r"\$[^$\n]{1,80}\$|\\\(|\\\[", text)
    assert not raw, f"raw TeX left in the text of {page}: {raw[:5]}"
    # a page whose source has maths must show typeset maths (not pass because no `.math` element was found)
    if _has_maths(page):
        typeset = v.page.locator("main mjx-container").count()
        assert typeset > 0, f"{page} has maths in its source but none is typeset on the page"


def _has_maths(page: str) -> bool:
    path = ROOT / f"{page}.ipynb"
    if path.exists():
        text = "\n".join(
            "".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"
        )
    else:
        text = (ROOT / f"{page}.md").read_text()
    text = re.sub(r"```.*?```|`[^`\n]*`", "", text, flags=re.S)  # code is not maths
    return bool(re.search(r"\$[^$\n]+\$", text))


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_every_figure_the_notebook_drew_is_on_its_page(visits, page):
    """The images in the page's cell outputs (not the header's logos, not images a widget draws) are the
    figures the build's execution of the notebook produced: as many, at least one, each loaded, each
    with alternative text (from the figure's titles) rather than a file name."""
    executed = executed_notebook(page)
    assert executed is not None, f"the book build's cache holds no execution of {page} as it is now"
    drawn = len(figure_outputs(executed))
    v = visits(page)
    images = v.page.evaluate(
        """() => [...document.querySelectorAll('main .cell_output img')]
              .filter(i => !i.closest('.jupyter-widgets, .lm-Widget, .animation'))
              .map(i => ({src: i.getAttribute('src'), width: i.complete && i.naturalWidth, alt: i.alt}))"""
    )
    assert drawn >= 1, f"the executed {page} holds no figure: were its figures drawn (MPLBACKEND)?"
    assert len(images) == drawn, f"{page}: the notebook drew {drawn} figures, the page shows {len(images)}"
    broken = [i["src"] for i in images if not i["width"]]
    assert not broken, f"figures that did not load on {page}: {broken}"
    undescribed = [i["src"] for i in images if not i["alt"].strip() or i["alt"].endswith((".png", ".jpg"))]
    assert not undescribed, f"figures on {page} with no alternative text: {undescribed}"


@pytest.mark.parametrize("page", PAGES)
def test_no_code_block_scrolls_sideways_at_1280_px(visits, page):
    """At 1280 x 900 every code block fits the column, those in closed exercise solutions included."""
    v = visits(page)
    assert v.page.viewport_size == {"width": 1280, "height": 900}
    cut = v.page.evaluate(
        """() => {
            const closed = [...document.querySelectorAll('main details:not([open])')];
            closed.forEach(d => d.open = true);
            const blocks = [...document.querySelectorAll('main pre')].filter(p => p.closest('div.highlight'));
            const cut = blocks.filter(p => p.scrollWidth > p.clientWidth + 1)
                .map(p => p.innerText.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), ''));
            closed.forEach(d => d.open = false);
            return {count: blocks.length, cut};
        }"""
    )
    assert not cut["cut"], f"{page}: {len(cut['cut'])} code blocks scroll sideways; longest lines: {cut['cut'][:5]}"
    if page in NOTEBOOK_PAGES:
        assert cut["count"] > 0, f"{page}: no code blocks found (has the page's markup changed?)"


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_widgets_are_drawn(visits, page):
    """Every widget the executed notebook displayed (progress bars, explorers) is on the page and drawn."""
    executed = executed_notebook(page)
    assert executed is not None, f"the book build's cache holds no execution of {page} as it is now"
    displayed = sum(
        "application/vnd.jupyter.widget-view+json" in out.get("data", {})
        for cell in executed.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )
    v = visits(page)
    views = v.page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count()
    assert views == displayed, f"{page}: the notebook displayed {displayed} widgets, the page holds {views}"
    if views == 0:
        pytest.skip(f"{page} displays no widgets")
    v.page.wait_for_function(
        "n => document.querySelectorAll('.jupyter-widgets.widget-inline-hbox, .jupyter-widgets.widget-box,"
        " .widget-hprogress, .widget-slider, .jupyter-widgets.widget-output, .widget-dropdown').length > 0",
        arg=views,
        timeout=10_000,
    )
    drawn = v.page.evaluate(
        """() => [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')]
              .filter(s => s.parentElement.querySelector('.jupyter-widgets, .lm-Widget')).length"""
    )
    assert drawn == views, f"{page}: {views} widgets stored, {drawn} drawn"


def _animations(page: str) -> int:
    """How many animations (``utils.actions.animate_clips``: matplotlib's JavaScript player) the executed
    notebook shows."""
    executed = executed_notebook(page)
    assert executed is not None, f"the book build's cache holds no execution of {page} as it is now"
    return sum(
        'class="animation"' in "".join(out.get("data", {}).get("text/html", ""))
        for cell in executed.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )


ANIMATED_PAGES = [p for p in NOTEBOOK_PAGES if "animate_clips(" in (ROOT / f"{p}.ipynb").read_text()]


@pytest.mark.parametrize("page", ANIMATED_PAGES)
def test_animations_play_on_the_page(visits, page):
    """Every clip animation the notebook shows is on the page, with its first frame loaded and described,
    its buttons drawn as text (nothing fetched from the web), and stepping or playing it shows other
    frames: the player works on the static site."""
    expected = _animations(page)
    assert expected >= 1, f"{page} calls animate_clips but its executed notebook shows no animation"
    v = visits(page)
    players = v.page.locator("main .cell_output .animation")
    assert players.count() == expected, f"{page}: {expected} animations drawn, {players.count()} on the page"
    for k in range(expected):
        player = players.nth(k)
        player.scroll_into_view_if_needed()
        image = player.locator("img")
        state = image.evaluate("i => ({width: i.complete && i.naturalWidth, alt: i.alt, src: i.src})")
        assert state["width"] and state["width"] > 50, f"{page}: animation {k} shows no frame"
        assert state["alt"].startswith("Animation of"), f"{page}: animation {k} has no alternative text"
        for label in ("Play", "Pause", "Next frame"):
            button = player.get_by_role("button", name=label, exact=True)
            assert button.is_visible() and button.inner_text().strip(), f"{page}: no visible {label} button"
        player.get_by_role("button", name="Pause", exact=True).click()
        player.get_by_role("button", name="First frame", exact=True).click()
        first = image.evaluate("i => i.src")
        player.get_by_role("button", name="Next frame", exact=True).click()
        second = image.evaluate("i => i.src")
        assert second != first, f"{page}: 'Next frame' did not change animation {k}'s frame"
        player.get_by_role("button", name="Play", exact=True).click()
        v.page.wait_for_timeout(1200)
        player.get_by_role("button", name="Pause", exact=True).click()
        assert image.evaluate("i => i.src") not in (first, second), f"{page}: animation {k} did not play"


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_no_cell_output_is_an_error(visits, page):
    v = visits(page)
    errors = v.page.locator("main .output.traceback, main .output.error, main .cell_output .traceback").count()
    assert errors == 0, f"{page} shows {errors} error outputs"
    outputs = v.page.evaluate(
        "() => [...document.querySelectorAll('main .cell_output')].map(o => o.innerText).join('\\n')"
    )
    assert "Traceback (most recent call last)" not in outputs
    assert not re.search(r"^\w+Error: ", outputs, re.M), f"{page} shows an exception in an output"


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_launch_buttons_point_at_this_notebook(visits, page):
    v = visits(page)
    repo = CONFIG["repository"]["url"].rstrip("/")
    owner_repo = repo.removeprefix("https://github.com/")
    branch = CONFIG["repository"].get("branch", "main")
    hrefs = v.page.evaluate("() => [...document.querySelectorAll('a')].map(a => a.href)")
    colab = f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/{page}.ipynb"
    binder = f"https://mybinder.org/v2/gh/{owner_repo}/{branch}?urlpath=lab/tree/{quote(page)}.ipynb"
    assert colab in hrefs, f"no Colab button for {page} (expected {colab})"
    assert binder in hrefs, f"no Binder button for {page} (expected {binder})"


CHAPTER_PAGES = [p for p in PAGES if re.fullmatch(r"book/ch\d\d", p)]


@pytest.mark.parametrize("page", CHAPTER_PAGES)
def test_chapter_page_shows_its_key_figure(visits, page):
    """Each chapter page opens with the chapter's key figure, drawn by one of its notebooks
    (``{key-figure}``, book/_ext/key_figure.py): loaded, described (alt text from the figure's
    titles) and captioned."""
    v = visits(page)
    figures = v.page.evaluate(
        """() => [...document.querySelectorAll('main figure.key-figure')].map(f => {
              const i = f.querySelector('img');
              return {width: i && i.complete && i.naturalWidth, alt: i ? i.alt : '',
                      caption: (f.querySelector('figcaption') || {innerText: ''}).innerText.trim()};
            })"""
    )
    assert len(figures) == 1, f"{page} shows {len(figures)} key figures, expected 1"
    (f,) = figures
    assert f["width"] and f["width"] > 300, f"{page}: the key figure did not load"
    assert f["alt"].strip() and not f["alt"].endswith(".png"), f"{page}: the key figure has no alt text"
    assert len(f["caption"]) > 20, f"{page}: the key figure has no caption"


@pytest.mark.parametrize("page", CHAPTER_PAGES)
def test_chapter_page_shows_the_measured_runtimes(visits, page):
    """Each chapter page shows "runs in about N s" from book/runtimes.json, one row per notebook."""
    measured = json.loads((ROOT / "book" / "runtimes.json").read_text())["notebooks"]
    v = visits(page)
    text = v.page.inner_text("main")
    total = re.search(r"run in about (\d+) s in all on a laptop CPU", text)
    assert total, f"{page} does not say how long its notebooks run"
    rows = v.page.evaluate(
        """() => [...document.querySelectorAll('table.runtimes tbody tr')]
              .map(r => [...r.cells].map(c => c.innerText.trim()))"""
    )
    chapter = {k: m for k, m in measured.items() if Path(k).stem in {r[0] for r in rows}}
    assert rows and len(chapter) == len(rows), f"{page}: runtime rows {rows} do not match book/runtimes.json"
    for name, seconds, memory in rows:
        (key,) = [k for k in chapter if Path(k).stem == name]
        assert seconds == f"{round(chapter[key]['seconds'])} s" and memory == f"{chapter[key]['peak_mb']:,} MB"
    assert int(total.group(1)) == round(sum(m["seconds"] for m in chapter.values()))


def test_search_finds_a_chapter_term(server, browser):
    chapters = [p for p in NOTEBOOK_PAGES]
    term, expected = "Inception", [p for p in chapters if "googlenet" in p or "inception" in p]
    if not expected:
        term, expected = "receptive", [p for p in chapters if "convolution" in p]
    v = Visit(browser, server, f"search.html?q={term}")
    try:
        v.page.wait_for_selector("#search-results ul.search li", timeout=15_000)
        hits = v.page.evaluate(
            "() => [...document.querySelectorAll('#search-results ul.search li a')].map(a => a.href)"
        )
        assert any(e in h for h in hits for e in expected), f"search for {term!r} did not find {expected}: {hits}"
        assert not v.errors and not v.blocked
    finally:
        v.close()


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_notebook_page_starts_with_its_title_not_the_colab_cell(visits, page):
    v = visits(page)
    assert "google.colab" not in v.page.inner_text("main"), f"{page} shows the Colab setup cell"
    first = v.page.evaluate(
        "() => { const el = document.querySelector('main article').querySelector('h1, div.cell');"
        " return el ? [el.tagName, el.textContent.trim()] : null; }"
    )
    assert first and first[0] == "H1" and first[1], f"{page} does not start with its title: {first}"


def test_widget_renderer_mathjax2_calls_typeset_with_mathjax3(visits):
    """The widget renderer typesets labels with MathJax 2's MathJax.Hub.Queue; the site's shim
    (book/_ext/quiet_pages.py) must turn that call into MathJax 3 typesetting, not an error."""
    v = visits(NOTEBOOK_PAGES[0])
    typeset = v.page.evaluate(
        """async () => {
            const el = document.createElement('div');
            el.textContent = '$x^2 + y^2$';
            document.querySelector('main').appendChild(el);
            MathJax.Hub.Queue(['Typeset', MathJax.Hub, el]);
            for (let i = 0; i < 100 && !el.querySelector('mjx-container'); i++) {
                await new Promise(r => setTimeout(r, 100));
            }
            const done = !!el.querySelector('mjx-container');
            el.remove();
            return done;
        }"""
    )
    assert typeset, "MathJax.Hub.Queue did not typeset the element"
    assert not v.errors and not v.console_errors


def test_screenshots(server, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    firsts = {}
    for p in NOTEBOOK_PAGES:
        firsts.setdefault(p.split("/")[1], p)
    for page in [PAGES[0], *CHAPTER_PAGES, *firsts.values()]:
        v = Visit(browser, server, page + ".html")
        try:
            out = SHOTS / (page.replace("/", "__") + ".png")
            v.page.screenshot(path=str(out), full_page=page.startswith("book/"))  # notebook pages: first screen
            assert out.stat().st_size > 10_000
        finally:
            v.close()


def test_favicon_and_licences_in_the_page_template(visits):
    """Browsers ask for a favicon on the first page load (a 404 before the site had one), and every page's
    footer names the licences of the code and of the text."""
    v = visits(PAGES[0])
    href = v.page.evaluate("() => { const l = document.querySelector('link[rel~=icon]'); return l && l.href; }")
    assert href, "no <link rel=icon> in the page"
    response = v.page.request.get(href)
    assert response.status == 200 and response.body(), f"the favicon {href} did not load ({response.status})"
    footer = v.page.inner_text("footer.bd-footer-content")
    assert "MIT" in footer and "CC BY-SA 4.0" in footer, f"the footer does not state the licences: {footer!r}"
