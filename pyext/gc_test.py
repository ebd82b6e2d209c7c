"""Garbage collection: cycles through fibers, suspended fibers, no leaks."""

import gc
import sys
import tracemalloc
import unittest
import weakref

import fibers
from fibers import Fiber


def switch(value=None):
    return fibers.current().parent.switch(value)


class GcTest(unittest.TestCase):
    def test_dead_cycle_collected(self):
        g = Fiber(lambda: None)
        g.me = g
        g.switch()
        r = weakref.ref(g)
        del g
        gc.collect()
        self.assertIsNone(r())

    def test_unstarted_cycle_through_target(self):
        box = []
        g = Fiber(lambda: box)
        box.append(g)
        r = weakref.ref(g)
        del g, box
        gc.collect()
        self.assertIsNone(r())

    def test_suspended_fiber_unwound_when_dropped(self):
        log = []

        def f():
            try:
                switch()
            except fibers.FiberExit:
                log.append("exit")
                raise
            finally:
                log.append("finally")
        g = Fiber(f)
        g.switch()
        r = weakref.ref(g)
        del g
        self.assertIsNone(r())
        self.assertEqual(log, ["exit", "finally"])

    def test_suspended_cycle_collected(self):
        log = []

        def f():
            try:
                switch()
            finally:
                log.append("finally")
        g = Fiber(f)
        g.cycle = g
        g.switch()
        r = weakref.ref(g)
        del g
        gc.collect()
        self.assertIsNone(r())
        self.assertEqual(log, ["finally"])

    def test_finalizer_crash(self):
        # A cycle of suspended fibers (through their __dict__s) whose frames
        # hold objects with finalizers.
        class Obj:
            def __del__(self):
                deleted.append(1)
        deleted = []

        def f():
            o = Obj()  # noqa: F841
            switch()
        a = Fiber(f)
        b = Fiber(f)
        a.b = b
        b.a = a
        a.switch()
        b.switch()
        ra, rb = weakref.ref(a), weakref.ref(b)
        del a, b
        gc.collect()
        self.assertIsNone(ra())
        self.assertIsNone(rb())
        self.assertEqual(deleted, [1, 1])

    def test_no_leak_over_10000_fibers(self):
        def suspended():
            x = [1, 2, 3]  # noqa: F841 (held by the suspended frame)
            switch()

        def run_batch(n):
            refs = []
            for i in range(n):
                kind = i % 4
                if kind == 0:
                    f = Fiber(lambda: None)
                    f.switch()
                elif kind == 1:
                    f = Fiber(lambda: None)
                elif kind == 2:
                    f = Fiber(suspended)
                    f.switch()
                else:
                    f = Fiber(suspended)
                    f.switch()
                    f.cycle = f
                refs.append(weakref.ref(f))
                del f
            return refs

        run_batch(1000)  # warm up pools and caches
        gc.collect()
        tracemalloc.start()
        try:
            base_objects = len(gc.get_objects())
            snap0 = tracemalloc.take_snapshot()
            refs = run_batch(10000)
            gc.collect()
            self.assertEqual(sum(r() is not None for r in refs), 0)
            del refs
            gc.collect()
            snap1 = tracemalloc.take_snapshot()
            grown = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
            self.assertLess(grown, 64 * 1024, "leaked %d bytes" % grown)
            self.assertLess(len(gc.get_objects()) - base_objects, 100)
        finally:
            tracemalloc.stop()

    def test_refcounts_of_switched_values(self):
        value = object()
        before = sys.getrefcount(value)
        g = Fiber(lambda: switch(value))
        for _ in range(100):
            g = Fiber(lambda: switch(value))
            self.assertIs(g.switch(), value)
            g.switch(value)
        del g
        self.assertEqual(sys.getrefcount(value), before)


if __name__ == "__main__":
    unittest.main()
