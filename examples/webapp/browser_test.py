"""The web demo end to end in headless Chromium (Debian's chromium and
chromium-driver, which ./bazelw installs).

Two browser sessions load the page; the test checks that the static CSS is
applied and that the live figures refresh, then types a chat message in
the first page and waits for it to appear in the second one, over the
WebSocket. Chromium is driven through chromedriver's WebDriver protocol
(plain HTTP and JSON, spoken here with the standard library). Every wait is
bounded; the server, chromedriver and the browsers are stopped by PID.

chromedriver's log goes to the test's undeclared outputs (chromedriver.log)
and its tail is printed when the test fails. A browser that does not start
(chromedriver's "session not created", seen once on a loaded 2-core CI
machine) is launched once more with a fresh profile: that is Chromium's
start-up, not the server under test; everything after it is asserted once.

  browser_test.py WEBAPP
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

WEBAPP = None  # set from argv
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TIMEOUT = 20.0  # seconds, for any single wait
# chromedriver gives Chromium 60 s to start before it answers "session not
# created"; waiting longer than that lets its own error message through.
SESSION_TIMEOUT = 100.0
SESSION_ATTEMPTS = 2


def wait_for(what, probe, timeout=TIMEOUT):
    """Calls probe() until it returns a true value; fails after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)  # polling the browser's state, bounded
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    """A WebDriver client for chromedriver: just what the test needs."""

    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def call(self, method, path, body=None, timeout=60):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise AssertionError("%s %s: %s" % (method, path, e.read()))

    def ready(self):
        try:
            return self.call("GET", "/status").get("ready")
        except (OSError, AssertionError):
            return False


class Browser:
    """One Chromium session."""

    def __init__(self, driver, profile):
        self.driver = driver
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless=new",
                            "--no-sandbox",  # the tests run as root
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--no-first-run",
                            "--user-data-dir=" + profile,
                        ],
                    },
                }
            }
        }
        self.session = driver.call("POST", "/session", caps,
                                   timeout=SESSION_TIMEOUT)["sessionId"]
        self.path = "/session/" + self.session

    def open(self, url):
        self.driver.call("POST", self.path + "/url", {"url": url})

    def js(self, script, *args):
        return self.driver.call(
            "POST", self.path + "/execute/sync",
            {"script": script, "args": list(args)})

    def element(self, css):
        found = self.driver.call(
            "POST", self.path + "/element",
            {"using": "css selector", "value": css})
        return next(iter(found.values()))

    def type(self, css, text):
        self.driver.call(
            "POST", self.path + "/element/%s/value" % self.element(css),
            {"text": text})

    def click(self, css):
        self.driver.call(
            "POST", self.path + "/element/%s/click" % self.element(css), {})

    def text(self, css):
        return self.js("return document.querySelector(arguments[0]).textContent",
                       css)

    def quit(self):
        self.driver.call("DELETE", self.path)


class BrowserTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        self.driver_log = os.path.join(
            os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR", self.tmp),
            "chromedriver.log")
        self.procs = []
        self.server = subprocess.Popen(
            [WEBAPP, "--port=0"], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.procs.append(self.server)
        line = self.server.stdout.readline()
        self.assertTrue(line.startswith("listening on 127.0.0.1:"), line)
        self.base = "http://" + line.split()[2] + "/"
        driver_port = free_port()
        env = dict(os.environ, HOME=self.tmp)
        self.chromedriver = subprocess.Popen(
            [CHROMEDRIVER, "--port=%d" % driver_port,
             "--log-path=" + self.driver_log, "--readable-timestamp"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.procs.append(self.chromedriver)
        self.driver = WebDriver(driver_port)
        wait_for("chromedriver", self.driver.ready)
        self.browsers = []

    def print_driver_log(self, lines=60):
        try:
            with open(self.driver_log, errors="replace") as f:
                tail = f.readlines()[-lines:]
        except OSError as e:
            tail = ["(no chromedriver log: %s)\n" % e]
        sys.stderr.write("---- last lines of %s\n" % self.driver_log)
        sys.stderr.writelines(tail)
        sys.stderr.write("----\n")

    def run(self, result=None):
        failures = len(result.failures) + len(result.errors) if result else 0
        super().run(result)
        if result and len(result.failures) + len(result.errors) > failures:
            self.print_driver_log()

    def tearDown(self):
        for b in self.browsers:
            try:
                b.quit()
            except Exception:  # the browser may be gone; the PIDs go below
                pass
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
            p.wait(timeout=TIMEOUT)
        self.server.stdout.close()

    def browser(self):
        for attempt in range(1, SESSION_ATTEMPTS + 1):
            profile = os.path.join(
                self.tmp, "profile%d-%d" % (len(self.browsers), attempt))
            try:
                b = Browser(self.driver, profile)
                break
            except (AssertionError, OSError) as e:
                if attempt == SESSION_ATTEMPTS:
                    raise
                sys.stderr.write("Chromium did not start (%s); once more\n"
                                 % str(e)[:500])
                self.print_driver_log(lines=20)
        self.browsers.append(b)
        return b

    def test_css_live_figures_and_chat_between_two_pages(self):
        one = self.browser()
        two = self.browser()
        for b in (one, two):
            b.open(self.base)
            # The static CSS is applied: h1's color comes from style.css.
            color = b.js("return getComputedStyle("
                         "document.querySelector('h1')).color")
            self.assertEqual(color, "rgb(46, 125, 50)")
            wait_for("the chat to connect",
                     lambda b=b: b.text("#status") == "connected as anonymous")
        # The live figures refresh from /api/stats (every 2 s).
        first = int(two.text("#requests"))
        wait_for("the figures to refresh",
                 lambda: int(two.text("#requests")) > first)
        self.assertEqual(two.text("#chat_users"), "2")

        one.type("#name", "alice")
        one.type("#text", "hello from page one <b>")
        one.click("#send button")
        wait_for("the message in the second page",
                 lambda: "hello from page one <b>" in two.text("#messages"))
        self.assertIn("alice", two.text("#messages"))
        # Rendered as text, not markup.
        self.assertEqual(two.js("return document.querySelectorAll("
                                "'#messages b').length"),
                         two.js("return document.querySelectorAll("
                                "'#messages li.message').length"))
        wait_for("the message in the first page too",
                 lambda: "hello from page one" in one.text("#messages"))

        # A reload renders the message server-side, escaped.
        two.open(self.base)
        self.assertIn("hello from page one <b>", two.text("#messages"))

        # Shutting the server down closes the chats with 1001.
        self.server.send_signal(signal.SIGTERM)
        wait_for("the page to see the close",
                 lambda: "1001" in one.text("#status"))
        self.assertIn("server shutting down", one.text("#status"))
        self.assertEqual(self.server.wait(timeout=TIMEOUT), 0)


if __name__ == "__main__":
    WEBAPP = os.path.abspath(sys.argv.pop(1))
    unittest.main()
