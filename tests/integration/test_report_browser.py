"""The HTML report in a real headless browser: Debian's chromium and chromedriver (the Makefile installs both).

The page is opened with the browser's network switched off; every plot must
have decoded (natural width above 0), every table that lists methods must list
all of the run's methods, and the page must have asked for nothing but itself
and its embedded images.
"""

from __future__ import annotations

import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from attune.orchestrator.report import write_report
from tests.unit.test_report import TASK, write_run
from tests.unit.test_report_vectors import write_vector_run

METHOD_COLUMNS = ("method", "minus")


@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "chromium and chromedriver are missing: run `make install` (it apt-gets them)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    with webdriver.Chrome(options=options, service=Service(executable_path=driver)) as browser:
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        yield browser


def tables(browser) -> list[tuple[list[str], list[list[str]]]]:
    return browser.execute_script("""
        return Array.from(document.querySelectorAll('table')).map(t => [
            Array.from(t.querySelectorAll('th')).map(c => c.textContent),
            Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.cells).map(c => c.textContent))]);""")


def test_the_report_opens_offline_with_every_plot_and_every_method(browser, tmp_path):
    run = write_run(tmp_path / "run")
    html = write_report([run]).html
    browser.get(html.as_uri())
    widths = browser.execute_script(
        "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : -1);")
    assert len(widths) >= 4 and all(w > 0 for w in widths), widths
    methods = set(TASK)
    checked = 0
    for header, rows in tables(browser):
        columns = [header.index(c) for c in METHOD_COLUMNS if c in header]
        if columns:
            assert {row[c] for row in rows for c in columns} == methods, header
            checked += 1
    assert checked >= 4  # per method and the breakdowns
    text = browser.execute_script("return document.body.innerText;")
    assert "The run cannot tell apart 3 of 3 pairs: rag - vanilla" in text, "4 users tell no pair apart: one line"
    requested = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);")
    assert all(name.startswith("data:") for name in requested), requested
    assert "http:" not in html.read_text() and "https:" not in html.read_text()


def test_the_user_vector_plot_loads(browser, tmp_path):
    run = write_vector_run(tmp_path / "run", informative=True)
    html = write_report([run]).html
    browser.get(html.as_uri())
    titles = browser.execute_script(
        "return Array.from(document.images).filter(i => i.naturalWidth > 0).map(i => i.alt);")
    assert "User vectors learned by rag_vector" in titles
