"""Switch round trip from Python: fibers (this module) against greenlet.

Run with Debian's interpreter, where python3-greenlet is installed:

  ./bazelw build //pyext:fibers.so
  PYTHONPATH=bazel-bin/pyext /usr/bin/python3 pyext/benchmark.py

A round trip is main -> fiber -> main: two switches, each a Python method
call. The loop overhead (an empty loop calling a no-op method) is measured
too and reported, not subtracted.
"""

import sys
import time

import fibers

N = 1_000_000
REPEAT = 5


def best_ns(fn):
    best = float("inf")
    for _ in range(REPEAT):
        t = time.perf_counter_ns()
        fn()
        best = min(best, time.perf_counter_ns() - t)
    return best / N


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
    return best_ns(run)


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
    return best_ns(run)


def loop_overhead():
    class Nop:
        def nop(self):
            pass
    nop = Nop().nop

    def run():
        for _ in range(N):
            nop()
    return best_ns(run)


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


if __name__ == "__main__":
    main()
