"""End to end in a real browser: `streamlit run app.py` on 127.0.0.1, driven by headless Chromium.

Needs Debian's ``chromium`` and ``chromium-driver``. Without them the tests are skipped
with that reason, unless ``UNCERTAINTY_EXPLORER_REQUIRE_BROWSER=1`` (set by ``.ci/run``)
turns the skip into a failure.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.training import TrainConfig, fine_tune

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
PAGE_TIMEOUT = 120.0
# The Data page is the default page, which Streamlit serves at the root address.
PAGES = ("", "train", "explore", "attributions", "adversarial", "triage", "jobs")


def _require_browser() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if not missing:
        return
    message = f"headless browser test needs Debian packages chromium and chromium-driver; missing {missing}"
    if os.environ.get("UNCERTAINTY_EXPLORER_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_model_dir):
    """A workspace holding one finished run of the tiny model on keyword sentences."""
    from tests.conftest import keyword_rows
    from core import data as data_module

    folder = tmp_path_factory.mktemp("browser-workspace")
    table = data_module.RawTable(keyword_rows(200, seed=1), name="keywords.csv", format="csv")
    dataset = data_module.apply_mapping(table, data_module.ColumnMapping(text="text", label="label"))
    config = TrainConfig(model=str(tiny_model_dir), epochs=2, learning_rate=5e-3, max_length=32, device="cpu")
    fine_tune(dataset, config, output_dir=folder / "runs" / "keyword-run", data_info={"name": "keywords.csv"})
    return folder


@pytest.fixture(scope="module")
def server(workspace):
    """Start the dashboard with `streamlit run` on a free loopback port; stop it afterwards."""
    _require_browser()
    port = _free_port()
    environment = dict(os.environ, UNCERTAINTY_EXPLORER_WORKSPACE=str(workspace), HF_HUB_OFFLINE="1")
    log = open(workspace / "streamlit.log", "wb")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
            "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
        ],
        cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + PAGE_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"streamlit exited early:\n{(workspace / 'streamlit.log').read_text()}")
            time.sleep(0.5)
    yield base
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1400,1600", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    yield driver
    driver.quit()


def _wait_for(driver, condition, *, timeout: float = PAGE_TIMEOUT, message: str = ""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.5).until(condition, message)


def _type_into(driver, label: str, *keys) -> None:
    """Replace the text of the input labelled ``label``, retrying while a rerun replaces the element."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def attempt(d) -> bool:
        try:
            box = d.find_element(By.CSS_SELECTOR, f"input[aria-label='{label}']")
            box.send_keys(Keys.CONTROL, "a")
            box.send_keys(*keys)
        except StaleElementReferenceException:
            return False
        return True

    _wait_for(driver, attempt, message=f"could not type into the {label!r} input")


def _click_button(driver, text: str) -> None:
    """Click the button showing ``text``, retrying while a rerun replaces the element."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def attempt(d) -> bool:
        try:
            buttons = [button for button in d.find_elements(By.TAG_NAME, "button") if button.text == text]
            if not buttons:
                return False
            buttons[0].click()
        except StaleElementReferenceException:
            return False
        return True

    _wait_for(driver, attempt, message=f"no {text!r} button to click")


def _page_settled(driver) -> bool:
    from selenium.webdriver.common.by import By

    has_header = bool(driver.find_elements(By.CSS_SELECTOR, "[data-testid='stHeading'], h2"))
    running = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget'] [data-testid='stStatusWidgetRunningIcon']")
    spinners = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stSpinner']")
    return has_header and not running and not spinners


def _exceptions(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_exception(browser, server, page):
    browser.get(f"{server}/{page}")
    _wait_for(browser, _page_settled, message=f"page {page} did not finish rendering")
    time.sleep(1.0)
    from selenium.webdriver.common.by import By

    sidebar = browser.find_element(By.CSS_SELECTOR, "[data-testid='stSidebar']").text

    assert _exceptions(browser) == []
    assert "Page not found" not in browser.find_element(By.TAG_NAME, "body").text
    assert "Uncertainty Explorer" in sidebar  # the page ran inside app.py's shell
    assert "Jobs" in sidebar


def test_explore_lists_samples(browser, server):
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/explore")
    _wait_for(browser, _page_settled)
    _wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid='stDataFrame']"))

    assert "keyword-run" in browser.page_source
    assert _exceptions(browser) == []


def test_training_progress_survives_reload(browser, server, workspace, tiny_model_dir):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from core import jobs

    browser.get(f"{server}/train")
    _wait_for(browser, _page_settled)
    _type_into(browser, "Model", str(tiny_model_dir), Keys.ENTER)
    _wait_for(browser, lambda d: str(tiny_model_dir) in d.page_source, message="model setting not applied")
    _wait_for(browser, _page_settled, message="train page did not finish its rerun for the new model")
    _type_into(browser, "Epochs", "50")
    _type_into(browser, "Rows to sample", "1000")
    _click_button(browser, "Start fine-tuning")

    _wait_for(browser, lambda d: "job=" in d.current_url, message="job id never reached the URL")
    job_id = browser.current_url.split("job=")[1].split("&")[0]

    def step_shown(driver) -> int:
        # The jobs panel refreshes every 2 s, so an element read here may already be replaced.
        try:
            for element in driver.find_elements(By.CSS_SELECTOR, "[data-testid='stProgress']"):
                text = element.text
                if "step " in text:
                    return int(text.split("step ")[1].split("/")[0])
        except StaleElementReferenceException:
            pass
        return 0

    first = _wait_for(browser, step_shown, message="no training progress shown")
    browser.refresh()
    _wait_for(browser, lambda d: step_shown(d) > first, message="progress did not continue after reload")

    assert f"job={job_id}" in browser.current_url
    assert _exceptions(browser) == []
    _click_button(browser, "Cancel")
    assert jobs.wait(workspace, job_id, timeout=PAGE_TIMEOUT).state == "cancelled"


def test_report_opens_offline(workspace, tmp_path):
    """The CLI writes a Chinese report that a browser with every host unreachable renders fully."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    run_dir = next((workspace / "runs").iterdir())
    output = tmp_path / "report.html"
    finished = subprocess.run(
        [sys.executable, "-m", "core", "report", "--run", str(run_dir), "--output", str(output), "--language", "zh"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert finished.returncode == 0, finished.stderr

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1600",
        # Every host name fails to resolve and every connection goes to a closed local port.
        "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(output.as_uri())
        _wait_for(driver, lambda d: len(d.find_elements("css selector", ".plot-container")) == 2,
                  message="the report's two plotly figures did not render offline")
        sections = [element.get_attribute("id") for element in driver.find_elements("css selector", "section")]
        heading = driver.find_element("css selector", "h1").text
    finally:
        driver.quit()

    assert sections[:5] == ["overview", "data", "training", "calibration", "uncertain"]
    assert heading.startswith("不确定性报告")
