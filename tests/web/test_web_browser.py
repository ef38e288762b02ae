"""The web app end to end in a real headless browser (Debian's chromium driven by playwright).

Skipped where /usr/bin/chromium or the playwright package is absent; CI installs both.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("flask")
sync_api = pytest.importorskip("playwright.sync_api")

from web_server import live_server  # noqa: E402

from analogist.data import example_path  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed"
    ),
]

#: Each view at its smallest, cheapest settings so the whole tour takes seconds.
FAST = {
    "analogy": {"iters": "0", "semantic": False},
    "buddies": {},
    "align": {},
    "hybrid": {"iters": "0"},
    "morph": {"frames": "3"},
    "stylize": {"steps": "2"},
    "appearance": {"steps": "2"},
    "samnet": {"iters": "2"},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("web")) as (url, app):
        yield url, app


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(300_000)
    pg.goto(server[0])
    pg.wait_for_selector("#tabs button")  # the page has loaded the views and wired its controls
    yield pg
    context.close()


def _configure(page, name: str, size: int = 64) -> None:
    page.click(f"#tabs button[data-name={name}]")
    page.eval_on_selector("#size", "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", str(size))
    for option, value in FAST[name].items():
        if isinstance(value, bool):
            page.set_checked(f"#opt_{option}", value)
        else:
            page.fill(f"#opt_{option}", value)


@pytest.mark.slow
def test_every_view_gives_a_result_that_downloads(page, tmp_path):
    page.set_input_files("#file_a", str(example_path("cat.jpg")))  # a real upload through the file chooser
    page.set_input_files("#file_b", str(example_path("cat_painting.jpg")))
    assert page.eval_on_selector("#preview_a", "im => !im.hidden")
    names = page.eval_on_selector_all("#tabs button", "bs => bs.map(b => b.dataset.name)")
    assert set(FAST) <= set(names)
    for name in FAST:
        _configure(page, name)
        if name == "stylize":
            _load_examples(page)  # bundled astronaut and swirls, one click
        page.click("#go")
        page.wait_for_selector("#results:not([hidden]), #error:not([hidden])")
        assert page.is_hidden("#error"), page.inner_text("#error")
        assert "done in" in page.inner_text("#status")
        main = page.wait_for_selector("#gallery figure img, #gallery figure video")
        if main.evaluate("el => el.tagName") == "IMG":
            page.wait_for_function("() => document.querySelector('#gallery figure img').naturalWidth > 0")
        first = page.locator("#downloads a").first
        with page.expect_download() as info:
            first.click()
        target = tmp_path / f"{name}_{info.value.suggested_filename}"
        info.value.save_as(target)
        with Image.open(target) as im:
            im.load()
            assert min(im.size) >= 16, (name, im.size)
        assert page.locator("#downloads a", has_text="everything (zip)").count() == 1
        if name == "morph":
            assert page.locator("#gallery img[alt='morph.gif']").count() == 1
        if name == "stylize":
            assert page.is_visible("#compare")


def test_bad_upload_shows_the_cli_message(page, tmp_path):
    bad = tmp_path / "holiday.png"
    bad.write_text("not really a picture")
    _configure(page, "buddies")
    page.set_input_files("#file_a", str(bad))
    page.set_input_files("#file_b", str(example_path("cat.jpg")))
    page.click("#go")
    page.wait_for_selector("#error:not([hidden])")
    text = page.inner_text("#error")
    assert text.startswith("holiday.png is not an image analogist can read"), text
    assert "Error" not in text and "\n" not in text


def _load_examples(page) -> None:
    """Click "Try the example images" and wait for both: the page fetches B only after A is set, and Run
    pressed in between (a busy machine) is refused on the page with "choose two images first"."""
    page.click("#example")
    for key, name in (("a", "astronaut.jpg"), ("b", "swirls.jpg")):
        page.wait_for_function(f"() => document.querySelector('#drop_{key} .hint').textContent === '{name}'")


def _start_stylize(page, size: int, **settings: str) -> None:
    """Start a stylize job on the bundled pair and wait until it reports progress."""
    _configure(page, "stylize", size=size)
    for name, value in settings.items():
        if name == "preset":
            page.select_option("#opt_preset", value)
        else:
            page.fill(f"#opt_{name}", value)
    _load_examples(page)
    page.click("#go")
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('%')")


def test_cancel_stops_a_running_job(page):
    _start_stylize(page, 256, preset="paper")
    page.click("#cancel")
    page.wait_for_function("() => document.querySelector('#status').textContent === 'cancelled'", timeout=120_000)
    assert page.is_enabled("#go") and page.is_hidden("#results")


def test_drag_and_drop_sets_the_input(page):
    page.evaluate("""async () => {
        const blob = await (await fetch('api/examples/coffee.jpg')).blob();
        const dt = new DataTransfer();
        dt.items.add(new File([blob], 'dropped.jpg', { type: blob.type }));
        document.querySelector('#drop_b').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true }));
    }""")
    page.wait_for_function("() => document.querySelector('#drop_b .hint').textContent === 'dropped.jpg'")
    page.wait_for_function("() => document.querySelector('#preview_b').naturalWidth > 0")


def test_usable_at_phone_width(browser, server):
    context = browser.new_context(viewport={"width": 375, "height": 740})
    pg = context.new_page()
    pg.goto(server[0])
    pg.wait_for_selector("#tabs button")
    assert pg.evaluate("document.documentElement.scrollWidth") <= 375
    box_a, box_b = pg.locator("#drop_a").bounding_box(), pg.locator("#drop_b").bounding_box()
    assert box_b["y"] > box_a["y"] + box_a["height"] - 1  # drop zones stacked, not squeezed side by side
    context.close()


def _box(page, selector: str) -> dict:
    return page.locator(selector).bounding_box()


def test_a_job_survives_a_reload_and_stays_private(browser, server, page, tmp_path):
    _start_stylize(page, 128, steps="24")
    page.reload()  # mid-job: the page finds the job again from its cookie
    page.wait_for_selector("#jobs li")
    assert page.locator("#jobs li").count() == 1
    assert "Neural Neighbor Style Transfer" in page.inner_text("#jobs li")
    page.click("#tabs button[data-name=buddies]")  # another tab: the job's progress is not shown there
    assert page.is_hidden("#progress_panel") and page.is_hidden("#results")
    page.click("#jobs li button")  # open it: back to its own tab
    assert page.get_attribute("#tabs button[data-name=stylize]", "aria-selected") == "true"
    page.wait_for_selector("#results:not([hidden])")
    assert "done in" in page.inner_text("#status") and page.is_hidden("#error")
    page.wait_for_function("() => document.querySelector('#compare_after').naturalWidth > 0")
    page.wait_for_function("() => document.querySelector('#compare_frame').style.width !== ''")
    page.wait_for_timeout(800)  # the smooth scroll to the results
    assert 0 <= _box(page, "#results")["y"] < page.viewport_size["height"] / 2  # scrolled into view
    before, after, slider = _box(page, "#compare_before"), _box(page, "#compare_after"), _box(page, "#compare_slider")
    assert before == after  # one frame: features line up
    assert after["y"] + after["height"] <= slider["y"]  # the slider is below the picture, not under it
    caption = page.inner_text("#gallery figure.main figcaption")
    assert "128×" in caption and "enlarged" in caption  # a 128 px result is not silently stretched
    assert page.locator("#gallery figure.input img").count() == 1  # the style image beside the result
    page.screenshot(path=str(tmp_path / "reloaded.png"), full_page=True)

    stranger = browser.new_context()  # another browser: its own cookie, none of these jobs
    other = stranger.new_page()
    other.goto(server[0])
    other.wait_for_selector("#tabs button")
    other.wait_for_timeout(500)
    assert other.is_hidden("#jobs_panel") and other.locator("#jobs li").count() == 0
    assert other.evaluate("async () => (await (await fetch('api/jobs')).json()).jobs.length") == 0
    stranger.close()
