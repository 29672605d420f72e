"""The page end to end in headless Chromium (selenium + Debian's chromium and chromium-driver).

Types a review into the page the way a person does (key by key), waits for the
debounced heatmap and the class probability, checks them against the JSON API,
generates steered continuations, and saves a screenshot (default
/tmp/sentiment-neuron-page.png; $SENTIMENT_NEURON_SCREENSHOT to change it).
Skipped, with the reason, where no browser can be driven: `make test-browser`
installs Debian's chromium and chromium-driver first where it can.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from serve_helpers import running_server

from sentiment_neuron.serve.app import create_app
from sentiment_neuron.text import preprocess_with_offsets

pytestmark = pytest.mark.browser

REVIEW = "This movie was wonderful and lovely, a delight from start to finish."
SCREENSHOT_ENV = "SENTIMENT_NEURON_SCREENSHOT"


def _browser_paths() -> tuple[str, str]:
    """(chromium, chromedriver), or a skip saying what is missing."""
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[test]')")
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("no headless Chromium to drive: `make test-browser` installs Debian's chromium and "
                    "chromium-driver (apt-get, as root), or install them by hand")
    return browser, driver


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = _browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1100,1150", "--disable-extensions"):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
    except WebDriverException as err:
        pytest.skip(f"Chromium would not start: {err.msg}")
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def screenshot() -> Path:
    """Where the screenshot goes: $SENTIMENT_NEURON_SCREENSHOT, else sentiment-neuron-page.png in the temp folder."""
    return Path(os.environ.get(SCREENSHOT_ENV) or Path(tempfile.gettempdir()) / "sentiment-neuron-page.png")


@pytest.fixture(scope="module")
def served(neuron):
    with running_server(create_app(neuron)) as url:
        yield url


def test_typing_a_review_colours_it_and_shows_the_probability(browser, served, neuron, screenshot):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(served + "/")
    wait = WebDriverWait(browser, 20)
    wait.until(lambda b: "units" in b.find_element(By.ID, "model-info").text)
    box = browser.find_element(By.ID, "text")
    box.send_keys(REVIEW)
    shown = len(preprocess_with_offsets(REVIEW).cleaned)
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#heatmap span")) == shown
               and "%" in b.find_element(By.ID, "probability").text)

    spans = browser.find_elements(By.CSS_SELECTOR, "#heatmap span")
    assert "".join(s.text or " " for s in spans) == REVIEW
    colours = {s.value_of_css_property("background-color") for s in spans}
    assert len(colours) > 5, colours  # coloured by value, not one flat colour
    p = neuron.classify([REVIEW]).proba[0, 1]
    assert browser.find_element(By.ID, "probability").text == f"positive {100 * p:.1f}%"

    box.send_keys(" Terrible ending.")  # the heatmap follows the text as it grows
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#heatmap span")) == shown + len(" Terrible ending."))

    browser.find_element(By.ID, "steer-button").click()
    wait.until(lambda b: b.find_element(By.ID, "positive").text and b.find_element(By.ID, "negative").text)
    assert browser.find_element(By.ID, "positive").text.startswith("This movie")
    assert "clamped" in browser.find_element(By.ID, "steer-status").text

    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded, loaded
    assert all(name.startswith(served) for name in loaded), loaded  # nothing from elsewhere
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(screenshot))
