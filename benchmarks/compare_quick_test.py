"""Tests of //benchmarks:compare: its parser and report, and the smoke run.

The smoke run is `compare.py --quick` on this build's binaries (the test's
runfiles): every comparison must run, exit 0 and print its RESULT lines, and
RESULTS.md and one PNG per area must be written into $TEST_TMPDIR. No timing
is asserted.
"""

import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import compare  # noqa: E402  (next to this file in the runfiles)

ROOT = os.path.dirname(HERE)  # the runfiles' workspace folder
TMP = os.environ.get("TEST_TMPDIR", "/tmp")


def outcome(text):
    entry = compare.Entry("loop", "t", "script", "x.sh", [])
    out = compare.Outcome(entry, "ok", 0.0, [], [], [])
    return out, compare.parse_lines(text, "t", out)


class ParseTest(unittest.TestCase):

    def test_lines(self):
        out, errors = outcome("hello\nRESULT loop echo evergreen 10 MiB/s\n"
                              "RESULT loop echo raw_libuv 1e1 MiB/s\n"
                              "TARGET loop echo raw_libuv >= 0.97\n"
                              "NOTE loop two words\n")
        self.assertEqual(errors, [])
        self.assertEqual(out.results, [("loop", "echo", "evergreen", 10.0,
                                        "MiB/s"),
                                       ("loop", "echo", "raw_libuv", 10.0,
                                        "MiB/s")])
        self.assertEqual(out.targets, [("loop", "echo", "raw_libuv", ">=", 0.97)])
        self.assertEqual(out.notes, [("loop", "two words")])

    def test_bad_lines_are_errors(self):
        for bad in ("RESULT loop echo evergreen ten MiB/s",
                    "RESULT loop echo evergreen 10",
                    "TARGET loop echo raw_libuv > 1",
                    "RESULT nowhere echo evergreen 1 ns"):
            _, errors = outcome(bad + "\n")
            self.assertEqual(len(errors), 1, bad)


class ReportTest(unittest.TestCase):

    def rows(self, text):
        out, errors = outcome(text)
        self.assertEqual(errors, [])
        return compare.area_rows([out], "loop")

    def test_ratio_spread_and_target(self):
        rows = self.rows("RESULT loop x evergreen 1 ns\n"
                         "RESULT loop x evergreen 3 ns\n"
                         "RESULT loop x evergreen 2 ns\n"
                         "RESULT loop x peer 4 ns\n"
                         "RESULT loop x peer 4 ns\n"
                         "RESULT loop x peer 8 ns\n"
                         "TARGET loop x peer <= 0.4\n")
        self.assertEqual(len(rows), 1)
        r = rows[0]
        self.assertAlmostEqual(r.ratio, 0.5)  # median 2 over median 4
        self.assertEqual(r.paired, (0.25, 0.75))
        self.assertEqual(r.status, "MISSED")

    def test_absolute_target(self):
        rows = self.rows("RESULT loop m evergreen 10 B\n"
                         "TARGET loop m - <= 16\n")
        self.assertEqual([(r.peer, r.status) for r in rows], [("-", "met")])

    def test_results_md_keeps_hand_written_text_and_other_areas(self):
        path = os.path.join(TMP, "RESULTS.md")
        with open(path, "w") as f:
            f.write("# Title\n\nhand-written history\n")
        compare.write_results(path, {"loop": "<!-- area:loop -->\nL1\n"
                                             "<!-- /area:loop -->",
                                     "tls": "<!-- area:tls -->\nT1\n"
                                            "<!-- /area:tls -->"})
        compare.write_results(path, {"loop": "<!-- area:loop -->\nL2\n"
                                             "<!-- /area:loop -->"})
        with open(path) as f:
            text = f.read()
        self.assertTrue(text.startswith("# Title\n"))
        self.assertIn("hand-written history", text)
        self.assertIn("L2", text)
        self.assertNotIn("L1", text)
        self.assertIn("T1", text)
        self.assertEqual(text.count(compare.BEGIN), 1)
        self.assertEqual(text.count(compare.END), 1)


class QuickRunTest(unittest.TestCase):

    def test_quick_run_writes_every_table_and_plot(self):
        out = os.path.join(TMP, "quick")
        run = subprocess.run(
            [sys.executable, os.path.join(HERE, "compare.py"), "--quick",
             "--root=" + ROOT, "--bin-dir=" + ROOT, "--out=" + out,
             # Bounded here, so that no entry outlives the test (each runs
             # in its own process group, stopped by its PID).
             "--max-seconds=200"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=280)
        print(run.stdout[-20000:])
        self.assertEqual(run.returncode, 0, "compare.py --quick failed")
        with open(os.path.join(out, "RESULTS.md")) as f:
            md = f.read()
        web = os.path.exists(os.path.join(ROOT, "benchmarks", "http_compare.sh"))
        for area in compare.AREAS:
            self.assertIn("<!-- area:%s -->" % area, md)
            if area == "web" and not web:
                self.assertIn("Not available in this checkout.", md)
                continue
            png = os.path.join(out, "plots", area + ".png")
            with open(png, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", png)
            self.assertIn("](plots/%s.png)" % area, md)
        self.assertNotIn("FAIL", md)


if __name__ == "__main__":
    unittest.main()
