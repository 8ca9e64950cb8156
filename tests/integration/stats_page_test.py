#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The admin stats page in a real browser: headless Chromium (Debian's chromium and
chromium-driver, driven by python3-selenium) opens GET / of a running ringlb with a token and
traffic flowing, gives the token on the page's 401, reads every backend row (state, health,
non-zero rates), the pool's chart, clicks drain and sees /status change, checks the CSP let
the page run, and that a phone-width window shows every backend without sideways scrolling.

Usage: stats_page_test.py SOURCE_ROOT BUILD_ROOT
Writes BUILD_ROOT/stats-page.png and stats-page-phone.png (docs/admin-page.png is one of
the former). Every wait is on a
state (a log line, a port, a DOM condition, /status), bounded by WAIT. Without chromium the
test is skipped (exit 77), except under CI=true, where that is a failure.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from checks import WAIT, Failure, check, log, wait_for

TOKEN = "page-test-operator-token"
PAYLOAD = b"x" * 4096
DEBIAN_PYTHON = "/usr/bin/python3"


class Process:
    """A child whose stdout+stderr lines are collected by a thread, to wait for a line."""

    def __init__(self, name, argv):
        self.name = name
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, errors="replace")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_for(self, pattern):
        deadline = time.monotonic() + WAIT
        regex = re.compile(pattern)
        with self.cond:
            while True:
                for line in self.lines:
                    match = regex.search(line)
                    if match:
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise Failure(f"{self.name}: no line matching {pattern!r}; output:\n"
                                  + "\n".join(self.lines[-30:]))
                self.cond.wait(min(left, 0.5))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Traffic(threading.Thread):
    """Clients one after another: connect, send 4 KiB, read the echo back, close."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop_event = threading.Event()
        self.done = 0
        self.error = None

    def run(self):
        while not self.stop_event.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    s.sendall(PAYLOAD)
                    got = 0
                    while got < len(PAYLOAD):
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        got += len(chunk)
                    self.done += 1
            except OSError as error:
                self.error = error
            self.stop_event.wait(0.01)  # about 100 new connections a second, not a benchmark


def admin_get(port, path, token=TOKEN):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def status(port):
    code, _, body = admin_get(port, "/status")
    check(code == 200, f"/status with the token answered {code}")
    return json.loads(body)


def browser(chromium, driver_path, shots):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,860", f"--user-data-dir={shots}/profile"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=options)


def run(build, work):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    backend_binary = f"{build}/tests/support/ringlb-testbackend"
    backends = [Process(f"backend{i}", [backend_binary, "--mode", "echo", "--listen", "127.0.0.1:0"])
                for i in range(2)]
    addresses = [b.wait_for(r"^listening (127\.0\.0\.1:\d+)$").group(1) for b in backends]
    token_file = f"{work}/token"
    with open(token_file, "w") as f:
        f.write(TOKEN + "\n")
    config = f"{work}/ringlb.toml"
    with open(config, "w") as f:
        f.write(f"""[global]
workers = 2

[admin]
bind = "127.0.0.1:0"
token_file = "{token_file}"

[[listener]]
name = "web"
bind = "127.0.0.1:0"
pool = "app"

[[pool]]
name = "app"
  [pool.health]
  interval_ms = 200
  rise = 1
""" + "".join(f'  [[pool.backend]]\n  address = "{a}"\n' for a in addresses))
    ringlb = Process("ringlb", [f"{build}/src/ringlb", "--config", config])
    processes = backends + [ringlb]
    traffic = None
    driver = None
    try:
        ringlb.wait_for(r"\bready workers=\d+")
        listener_port = int(ringlb.wait_for(r"\blistening listener=web address=\S*:(\d+)").group(1))
        admin_port = int(ringlb.wait_for(r"admin listening address=127\.0\.0\.1:(\d+)").group(1))
        traffic = Traffic(listener_port)
        traffic.start()

        # The shell loads without a token (it holds no data); /status does not.
        code, headers, body = admin_get(admin_port, "/", token=None)
        check(code == 200, f"GET / without a token answered {code}")
        check(headers.get("Content-Type") == "text/html; charset=utf-8", f"GET / type {headers}")
        csp = headers.get("Content-Security-Policy", "")
        check("default-src 'none'" in csp and "script-src 'sha256-" in csp, f"GET / CSP {csp!r}")
        check(len(body) < 64 * 1024 and b"<script src" not in body, "the page is self-contained")
        check(admin_get(admin_port, "/status", token=None)[0] == 401, "/status without a token")

        driver = browser(shutil.which("chromium"), shutil.which("chromedriver"), work)
        wait = WebDriverWait(driver, WAIT)
        driver.get(f"http://127.0.0.1:{admin_port}/")
        # No token yet: the page's /status is refused, and it says so and asks for one.
        wait.until(ec.visibility_of_element_located((By.ID, "login")),
                   message="the token prompt after the page's first 401 (did its script run?)")
        alert = driver.find_element(By.ID, "alert")
        check(alert.is_displayed() and "401" in alert.text, f"the 401 is shown: {alert.text!r}")
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.ID, "login-submit").click()
        log("token given")

        def row(address):
            return f'tr.backend[data-pool="app"][data-backend="{address}"]'

        def value(address, column):
            cells = driver.find_elements(By.CSS_SELECTOR, f"{row(address)} td.{column}")
            return cells[0].get_attribute("data-value") if cells else None

        def number(address, column):
            text = value(address, column)
            return float(text) if text not in (None, "") else 0.0

        # Every backend: active, up (with its last check), and moving: new connections and
        # bytes both ways per second, as the server computed them.
        def backends_live(_):
            return all(value(a, "c-state") == "active" and value(a, "c-health") == "true"
                       and number(a, "c-new") > 0 and number(a, "c-in") > 0
                       and number(a, "c-out") > 0 for a in addresses)
        wait.until(backends_live,
                   message="every backend row active, up, with new connections and bytes per second")
        health_text = driver.find_element(By.CSS_SELECTOR, f"{row(addresses[0])} td.c-health").text
        check("up" in health_text and "last check ok" in health_text, f"health {health_text!r}")
        check(len(driver.find_elements(By.CSS_SELECTOR, 'tr.listener[data-listener="web"]')) == 1,
              "the listener's row")
        check(len(driver.find_elements(By.CSS_SELECTOR, 'tr.pool[data-pool="app"]')) == 1,
              "the pool's row")
        log(f"rows live after {traffic.done} client connections")
        # The pool's chart has drawn points of its own (two refreshes: two points at least).
        wait.until(lambda d: len(d.find_element(
            By.CSS_SELECTOR, '.chart[data-pool="app"] polyline.l-conn')
            .get_attribute("points").split()) >= 2,
                   message="two points in the pool's chart")

        # Drain the first backend with its button: /status (read directly) says so, and the
        # page shows it on its next refresh.
        driver.find_element(By.CSS_SELECTOR, f"{row(addresses[0])} button.a-drain").click()
        wait_for("/status to show the drained backend",
                   lambda: [b["state"] for b in status(admin_port)["pools"][0]["backends"]]
                   == ["drain", "active"])
        wait.until(lambda _: value(addresses[0], "c-state") == "drain",
                   message="the page to show the drained backend")
        check(value(addresses[1], "c-state") == "active", "the other backend stays active")
        driver.save_screenshot(f"{build}/stats-page.png")

        # A wrong token: a 401 shown, and the page asks again.
        driver.execute_script("sessionStorage.setItem('ringlb-admin-token', 'wrong'); location.reload();")
        wait.until(ec.visibility_of_element_located((By.ID, "login")),
                   message="the token prompt after a wrong token's 401")
        check("401" in driver.find_element(By.ID, "alert").text, "a refused token is shown as 401")
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.ID, "login-submit").click()
        wait.until(lambda _: value(addresses[1], "c-state") == "active",
                   message="the rows again with the right token")

        # Phone width: every backend still shown, as cards, with no sideways scrolling.
        driver.set_window_size(390, 844)
        wait.until(lambda d: d.execute_script("return window.innerWidth") <= 420,
                   message="a phone-width window")
        width, inner, wide = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth,"
            " [...document.querySelectorAll('body *')]"
            " .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)"
            " .slice(0, 5).map((e) => e.tagName + '.' + e.className)]")
        check(width <= inner + 1, f"phone width: {width} px wide in {inner}: {wide}")
        for address in addresses:
            check(driver.find_element(By.CSS_SELECTOR, row(address)).is_displayed(),
                  f"{address} shown at phone width")
        check(not driver.find_element(By.CSS_SELECTOR, "#stats thead").is_displayed(),
              "phone width: the table header gives way to labelled cards")
        driver.save_screenshot(f"{build}/stats-page-phone.png")

        # The page ran under its CSP: nothing refused, no script error.
        problems = [e["message"] for e in driver.get_log("browser")
                    if e["level"] == "SEVERE" and "status of 401" not in e["message"]
                    and "favicon.ico" not in e["message"]]
        check(not problems, f"browser console errors: {problems}")
        check(traffic.error is None or traffic.done > 0, f"traffic: {traffic.error}")
        log("ok")
    finally:
        if driver:
            driver.quit()
        if traffic:
            traffic.stop_event.set()
            traffic.join(10)
        for process in reversed(processes):
            process.stop()
        if sys.exc_info()[0] is not None:
            print("--- ringlb\n" + "\n".join(ringlb.lines[-40:]), flush=True)


def main():
    build = sys.argv[2]
    missing = [tool for tool in ("chromium", "chromedriver") if not shutil.which(tool)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        # python3-selenium is Debian's, for Debian's interpreter: another python3 first on
        # PATH (pyenv, a venv) does not see it.
        if sys.executable != DEBIAN_PYTHON and os.access(DEBIAN_PYTHON, os.X_OK):
            os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, __file__] + sys.argv[1:])
        missing.append("python3-selenium")
    if missing:
        message = f"{', '.join(missing)} missing (scripts/test installs TEST_PACKAGES)"
        if os.environ.get("CI") == "true":
            sys.exit(f"FAILED: {message}; under CI that is a failure")
        print(f"SKIPPED: {message}", flush=True)
        sys.exit(77)
    work = tempfile.mkdtemp(prefix="ringlb-page-")
    try:
        run(build, work)
    except Failure as failure:
        print(f"FAILED: {failure}", flush=True)
        sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
