"""Fibers left unfinished at interpreter exit, in child interpreters."""

import os
import subprocess
import sys
import unittest

SCRIPTS = {
    "suspended": """
import fibers
def f():
    try:
        fibers.current().parent.switch("suspended")
    finally:
        print("finally must not run at exit")
g = fibers.Fiber(f)
print(g.switch())
""",
    "suspended_in_thread": """
import threading, fibers
keep = []
def t():
    g = fibers.Fiber(lambda: fibers.current().parent.switch())
    g.switch()
    keep.append(g)
th = threading.Thread(target=t)
th.start(); th.join()
print("suspended")
""",
    "suspended_cycle": """
import fibers
def f():
    fibers.current().parent.switch("suspended")
g = fibers.Fiber(f)
g.me = g
print(g.switch())
""",
    "exit_from_fiber": """
import sys, fibers
def f():
    print("suspended")
    sys.exit(3)
fibers.Fiber(f).switch()
""",
}


class ExitTest(unittest.TestCase):
    def run_script(self, name):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(sys.path)
        return subprocess.run([sys.executable, "-c", SCRIPTS[name]], env=env,
                              capture_output=True, text=True, timeout=60)

    def check(self, name, code=0):
        p = self.run_script(name)
        self.assertEqual(p.returncode, code, p.stderr)
        self.assertEqual(p.stdout, "suspended\n")
        self.assertEqual(p.stderr, "")

    def test_suspended(self):
        self.check("suspended")

    def test_suspended_in_thread(self):
        self.check("suspended_in_thread")

    def test_suspended_cycle(self):
        self.check("suspended_cycle")

    def test_exit_from_fiber(self):
        self.check("exit_from_fiber", code=3)


if __name__ == "__main__":
    unittest.main()
