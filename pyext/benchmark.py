"""Switch round trip from Python: fibers (this module) against greenlet.

Run with Debian's interpreter, where python3-greenlet is installed:

  ./bazelw build //pyext:fibers.so
  PYTHONPATH=bazel-bin/pyext /usr/bin/python3 pyext/benchmark.py

A round trip is main -> fiber -> main: two switches, each a Python method
call. The loop overhead (an empty loop calling a no-op method) is measured
too and reported, not subtracted.

BENCH_N (default 1000000) round trips per timing, BENCH_REPEAT (default 5)
timings of each; the best is printed. Also prints `RESULT python <metric>
<impl> <ns> ns` lines (one per timing) and the targets for
//benchmarks:compare (format: benchmarks/README.md).
"""

import os

import sys
import time

import fibers

N = int(os.environ.get("BENCH_N", "1000000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))

# (metric, impl) -> ns per operation of every timing, for the RESULT lines.
SAMPLES = {}


def best_ns(fn, metric, impl):
    samples = SAMPLES.setdefault((metric, impl), [])
    for _ in range(REPEAT):
        t = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t) / N)
    return min(samples)


def fibers_round_trip():
    main = fibers.current()

    def loop():
        while True:
            main.switch()
    f = fibers.Fiber(loop)
    f.switch()
    switch = f.switch

    def run():
        for _ in range(N):
            switch()
    return best_ns(run, "switch_round_trip", "evergreen")


def greenlet_round_trip():
    import greenlet
    main = greenlet.getcurrent()

    def loop():
        while True:
            main.switch()
    g = greenlet.greenlet(loop)
    g.switch()
    switch = g.switch

    def run():
        for _ in range(N):
            switch()
    return best_ns(run, "switch_round_trip", "greenlet")


def loop_overhead():
    class Nop:
        def nop(self):
            pass
    nop = Nop().nop

    def run():
        for _ in range(N):
            nop()
    return best_ns(run, "method_call", "python")


def main():
    print("python %s (%s)" % (sys.version.split()[0], sys.executable))
    ours = fibers_round_trip()
    print("fibers   round trip: %7.1f ns" % ours)
    try:
        theirs = greenlet_round_trip()
    except ImportError:
        print("greenlet not installed (apt-get install python3-greenlet)")
        theirs = None
    if theirs is not None:
        print("greenlet round trip: %7.1f ns" % theirs)
        print("ratio fibers/greenlet: %.2f" % (ours / theirs))
    print("loop + Python method call (for scale): %.1f ns" % loop_overhead())
    for (metric, impl), samples in SAMPLES.items():
        for ns in samples:
            print("RESULT python %s %s %.1f ns" % (metric, impl, ns))
    print("TARGET python switch_round_trip - <= 150")
    print("TARGET python switch_round_trip greenlet <= 0.5")
    print("NOTE python switch_round_trip: main -> fiber -> main from Python "
          "(fibers.Fiber.switch against greenlet.switch), %d round trips per "
          "timing; method_call: the loop and a no-op method call, for scale"
          % N)


if __name__ == "__main__":
    main()
