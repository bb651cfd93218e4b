"""`labs serve` in a real browser: headless Chromium from Debian's packages (scripts/browser installs
it; CI never skips these), driven by Selenium, against a real `labs serve` process and real labs.

- a learner's whole path: catalogue, start nginx-misconfig, `nginx -t` typed in the terminal and
  read on the page, a UTF-8 character split across frames, Check with failing objectives, a hint,
  stop — and the history recorded all of it;
- the instructor page sees a seat's progress change, and a learner cannot open it;
- a flood (`yes`) in one tab while another tab's Check still answers, and Ctrl-C still stops it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import ctrl_c_reaches_it

pytestmark = [pytest.mark.docker, pytest.mark.browser]

LAB = "nginx-misconfig"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,900",
]
READ_TERMINAL = """
const b = window.labsTerminal && window.labsTerminal.buffer.active;
if (!b) return '';
let s = '';
for (let i = 0; i < b.length; i++) s += b.getLine(i).translateToString(true) + '\\n';
return s;
"""


def _executables() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        message = "headless Chromium is missing: run scripts/browser (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return chromium, driver


@pytest.fixture
def browser():
    """A factory of fresh headless Chromium sessions (each its own profile); all quit afterwards."""
    chromium, driver_path = _executables()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers, profiles = [], []

    def open_browser():
        options = webdriver.ChromeOptions()
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        profile = tempfile.mkdtemp(prefix="labs-chromium-")
        profiles.append(profile)
        options.add_argument(f"--user-data-dir={profile}")
        options.binary_location = chromium
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
        driver.set_page_load_timeout(60)
        drivers.append(driver)
        return driver

    yield open_browser
    for driver in drivers:
        driver.quit()
    for profile in profiles:
        shutil.rmtree(profile, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A real `labs serve` process; its output is kept to read the links and to check the log."""

    def __init__(self, state_dir: Path, *args: str, env: dict | None = None, listen_within: float = 60):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = state_dir / f"serve-{self.port}.log"
        self.log = open(self.log_path, "w")
        env = {**(os.environ if env is None else env), "LABS_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"}  # env: the whole environment
        self.proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "serve", "--port", str(self.port), *args],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env, preexec_fn=ctrl_c_reaches_it)
        deadline = time.monotonic() + listen_within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"labs serve exited {self.proc.returncode}:\n{self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"labs serve did not listen within {listen_within:g} s:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def links(self) -> dict[str, str]:
        found = {}
        for line in self.output().splitlines():
            match = re.match(r"\s+(instructor|seat\s+\d+)\b.*?(http://\S+/join/\S+)$", line)
            if match:
                found[re.sub(r"\s+", " ", match.group(1))] = match.group(2)
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def seat_link(server: Server, seat: int) -> str:
    """The token of seat ``seat``'s personal link, as `labs serve` printed it."""
    link = server.links().get(f"seat {seat}")
    assert link, server.output()
    return link.rsplit("/", 1)[1]


def finished(http, op: dict, server: Server, within: float) -> dict:
    """The web operation ``op`` once it ended (at most ``within`` seconds)."""
    deadline = time.monotonic() + within
    while op["state"] == "running":
        assert time.monotonic() < deadline, f"operation {op} still running after {within:g} s:\n{server.output()}"
        time.sleep(0.5)
        op = http.get(f"/api/operations/{op['id']}").json()
    return op


@pytest.fixture
def serve(state_dir, labs):
    servers, instances = [], []

    def start(*args: str) -> Server:
        server = Server(state_dir, *args)
        servers.append(server)
        return server

    start.instances = instances
    yield start
    for server in servers:
        server.stop()
    for instance in instances:
        labs("stop", LAB, "--instance", instance)


def wait(driver, condition, timeout: float = 60, message: str = ""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition, message)


def text_of(driver, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


def terminal_text(driver) -> str:
    return driver.execute_script(READ_TERMINAL) or ""


def type_in_terminal(driver, keys) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "#terminal textarea").send_keys(keys)


def start_from_page(driver, timeout: float = 240) -> None:
    from selenium.webdriver.common.by import By

    wait(driver, lambda d: text_of(d, "state") not in ("…", ""), 30, "the lab page never showed a state")
    driver.find_element(By.ID, "start").click()
    wait(driver, lambda d: text_of(d, "state") == "running" or not d.find_element(By.ID, "progress-error").get_attribute("hidden"),
         timeout, "the start neither finished nor failed")
    assert text_of(driver, "state") == "running", text_of(driver, "progress")
    wait(driver, lambda d: "connected" in text_of(d, "term-status") and "root@" in terminal_text(d), 60, "no shell prompt in the terminal")


def test_learner_path_in_the_browser(browser, serve, labs, state_dir, instance_name):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server = serve()
    serve.instances.append(instance_name)
    driver = browser()

    driver.get(server.base + "/")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".card"), 30, "the catalogue shows no lab")
    cards = [c.get_attribute("data-lab") for c in driver.find_elements(By.CSS_SELECTOR, ".card")]
    assert LAB in cards and len(cards) >= 3
    Select(driver.find_element(By.ID, "difficulty")).select_by_visible_text("intermediate")
    shown = [c.get_attribute("data-lab") for c in driver.find_elements(By.CSS_SELECTOR, ".card")]
    assert LAB not in shown and shown, "the difficulty filter did not filter"
    Select(driver.find_element(By.ID, "difficulty")).select_by_visible_text("any")
    Select(driver.find_element(By.ID, "tag")).select_by_visible_text("reverse-proxy")
    tagged = [c.get_attribute("data-lab") for c in driver.find_elements(By.CSS_SELECTOR, ".card")]
    from orchestrator.catalog import Catalog, summaries

    assert sorted(tagged) == sorted(r.id for r in summaries(Catalog.from_env(), tag="reverse-proxy")) and LAB in tagged
    assert driver.find_element(By.CSS_SELECTOR, f'.card[data-lab="{LAB}"]').get_attribute("href").endswith(f"/labs/{LAB}")

    driver.get(f"{server.base}/labs/{LAB}?instance={instance_name}")
    assert "INC-4172" in text_of(driver, "briefing")  # the briefing, rendered
    start_from_page(driver)
    assert "breaking the environment" in text_of(driver, "progress-lines")  # live progress was shown

    type_in_terminal(driver, "nginx -t\n")
    wait(driver, lambda d: "test failed" in terminal_text(d), 30, "nginx -t output never reached the page")
    assert "orders-proxy.conf" in terminal_text(driver)

    # A character split across two output frames (the shell sleeps between its halves) is intact.
    type_in_terminal(driver, "printf 'split:\\342\\202'; sleep 0.6; printf '\\254:end\\n'\n")
    wait(driver, lambda d: "split:€:end" in terminal_text(d), 30, "the split euro sign was not rendered whole")
    assert "\ufffd" not in terminal_text(driver)

    driver.find_element(By.ID, "check").click()
    wait(driver, lambda d: "objectives pass" in text_of(d, "check-summary") or "failed" in text_of(d, "check-summary"), 180, "Check never answered")
    summary = text_of(driver, "check-summary")
    assert re.match(r"\d+/\d+ objectives pass", summary), summary
    failing = driver.find_elements(By.CSS_SELECTOR, "#verdicts li.fail")
    assert failing and any("nginx accepts its configuration" in li.text for li in failing)
    assert any("look at" in li.text for li in failing)  # what the probe saw, and where to look

    driver.find_element(By.ID, "hint").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#hints li"), 30, "no hint appeared")
    assert text_of(driver, "hints").startswith("hint 1/3")

    driver.find_element(By.ID, "stop").click()
    wait(driver, lambda d: text_of(d, "state") == "stopped", 120, "the lab did not stop")

    result, rows = labs.json("progress", LAB, "--instance", instance_name)
    assert result.returncode == 0 and len(rows) == 1
    assert rows[0]["attempts"] == 1 and rows[0]["checks"] == 1 and rows[0]["hints_total"] == 1
    kinds = [e["kind"] for e in json.loads(labs("progress", LAB, "--instance", instance_name, "--export", "json").stdout)]
    assert kinds == ["start", "check", "hint", "stop"]


def test_instructor_sees_a_seat_progress_live(browser, serve, labs, state_dir):
    from selenium.webdriver.common.by import By

    server = serve("--seats", "2", "--lab", LAB)
    serve.instances.extend(["seat-1", "seat-2"])
    links = server.links()
    assert set(links) == {"instructor", "seat 1", "seat 2"}, server.output()

    teacher = browser()
    teacher.get(links["instructor"])
    wait(teacher, lambda d: d.execute_script("return document.querySelectorAll('#seats tr').length") == 2, 30, "the instructor page shows no seats")
    def seat_row(d, cell: str = "") -> str:  # read in one script: the table is redrawn every second
        return d.execute_script(f"const e = document.querySelector('#seats tr[data-seat=\"1\"] {cell}'); return e ? e.innerText : '';")

    assert "stopped" in seat_row(teacher) and "running" not in seat_row(teacher)

    learner = browser()
    learner.get(links["seat 1"])
    wait(learner, lambda d: "/labs/" in d.current_url, 30)
    assert "seat-1" in text_of(learner, "who")
    start_from_page(learner)
    wait(teacher, lambda d: "running" in seat_row(d), 30, "the instructor page never showed the seat running")

    learner.find_element(By.ID, "check").click()
    wait(learner, lambda d: "objectives pass" in text_of(d, "check-summary"), 180, "Check never answered")
    passing = re.search(r"\d+/\d+", text_of(learner, "check-summary")).group(0)
    wait(teacher, lambda d: passing in seat_row(d), 30, "the check result never reached the instructor page")
    learner.find_element(By.ID, "hint").click()
    wait(teacher, lambda d: seat_row(d, "td:nth-child(6)") == "1", 30, "hints used did not change")

    # The learner's cookie opens neither the instructor page nor another seat.
    learner.get(server.base + "/instructor")
    assert "instructor's link" in learner.find_element(By.TAG_NAME, "body").text
    learner.get(server.base + f"/api/labs/{LAB}/instances/seat-2")
    assert "not your lab instance" in learner.find_element(By.TAG_NAME, "body").text

    for token_link in links.values():
        assert token_link.rsplit("/", 1)[1] not in server.output().split("Hand each learner")[1].split("\n", len(links) + 1)[-1], "a token reached the log"


def test_flood_in_one_tab_while_another_tab_checks(browser, serve, engine, labs, state_dir, instance_name):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    server = serve()
    serve.instances.append(instance_name)
    driver = browser()
    page = f"{server.base}/labs/{LAB}?instance={instance_name}"
    driver.get(page)
    start_from_page(driver)
    flood_tab = driver.current_window_handle
    flooding = "timeout 300 yes 'flooding the terminal with megabytes'\n"

    def flood_seen(d):
        return terminal_text(d).count("flooding the terminal") > 20

    type_in_terminal(driver, flooding)
    wait(driver, flood_seen, 30, "the flood never reached the page")

    driver.switch_to.new_window("tab")
    driver.get(page)
    wait(driver, lambda d: text_of(d, "state") == "running", 60)
    driver.find_element(By.ID, "check").click()
    wait(driver, lambda d: "objectives pass" in text_of(d, "check-summary"), 240, "Check did not answer during the flood")

    # Back in the flooded tab (if the check restarted the services, the page opened a new shell):
    # stop whatever runs, then flood again and stop it with Ctrl-C.
    driver.switch_to.window(flood_tab)
    assert driver.execute_script("return 1 + 1") == 2  # the flooded page still runs its script
    wait(driver, lambda d: "connected" in text_of(d, "term-status"), 90, "the terminal did not stay connected")
    type_in_terminal(driver, Keys.CONTROL + "c")
    time.sleep(1)
    type_in_terminal(driver, "clear; echo ready-$((40+2))\n")
    wait(driver, lambda d: "ready-42" in terminal_text(d), 60, "the shell did not answer after the check")
    type_in_terminal(driver, flooding)
    wait(driver, flood_seen, 30, "the second flood never reached the page")
    time.sleep(2)  # megabytes later
    type_in_terminal(driver, Keys.CONTROL + "c")
    time.sleep(1)
    type_in_terminal(driver, "echo flood-over-$((6*7))\n")
    wait(driver, lambda d: "flood-over-42" in terminal_text(d), 60, "Ctrl-C did not get through the flood")
    proxy = engine.containers.get(f"labs-{LAB}-{instance_name}-proxy")
    assert not [p for p in proxy.top()["Processes"] if p[-1].startswith("yes ")], "yes still runs after Ctrl-C"
