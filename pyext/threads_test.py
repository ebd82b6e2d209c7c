"""Threads: fibers never cross threads; many threads run fibers at once."""

import threading
import unittest
import weakref

import fibers
from fibers import Fiber


def switch(value=None):
    return fibers.current().parent.switch(value)


def in_thread(fn):
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # reported to the test thread
            out["error"] = e
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


class ThreadsTest(unittest.TestCase):
    def test_main_fiber_per_thread(self):
        other = in_thread(fibers.current)
        self.assertIsNot(other, fibers.current())
        self.assertIsNone(other.parent)

    def test_switch_to_other_thread(self):
        g = in_thread(lambda: Fiber(lambda: None))
        with self.assertRaisesRegex(
                fibers.error, "cannot switch to a Fiber on a different thread"):
            g.switch()
        with self.assertRaisesRegex(
                fibers.error, "cannot switch to a Fiber on a different thread"):
            g.throw(ValueError)

    def test_switch_to_suspended_fiber_of_exited_thread(self):
        def make():
            f = Fiber(switch)
            f.switch()
            return f
        g = in_thread(make)
        self.assertTrue(g.is_alive())
        with self.assertRaisesRegex(
                fibers.error, "cannot switch to a Fiber on a different thread"):
            g.switch()
        del g  # cannot be unwound here: left as it is, without crashing

    def test_parent_on_other_thread(self):
        main = fibers.current()
        with self.assertRaisesRegex(
                fibers.error, "parent cannot be on a different thread"):
            in_thread(lambda: Fiber(lambda: None, parent=main))
        local = Fiber(lambda: None)

        def reparent():
            f = Fiber(lambda: None)
            f.parent = local
        with self.assertRaisesRegex(
                ValueError, "parent cannot be on a different thread"):
            in_thread(reparent)

    def test_many_threads_at_once(self):
        results = {}
        barrier = threading.Barrier(4)

        def work(n):
            def gen():
                for i in range(1000):
                    switch(i * n)
            g = Fiber(gen)
            barrier.wait()
            total = 0
            while True:
                v = g.switch()
                if v is None:
                    break
                total += v
            results[n] = total
        threads = [threading.Thread(target=work, args=(n,))
                   for n in range(1, 5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, {n: n * 499500 for n in range(1, 5)})

    def test_switch_after_other_thread_exited(self):
        in_thread(lambda: Fiber(lambda: 1).switch())
        self.assertEqual(Fiber(lambda: 2).switch(), 2)

    def test_thread_main_fiber_freed(self):
        def get():
            f = Fiber(lambda: None)
            f.switch()
            return weakref.ref(fibers.current()), weakref.ref(f)
        main_ref, fiber_ref = in_thread(get)
        self.assertIsNone(main_ref())
        self.assertIsNone(fiber_ref())


if __name__ == "__main__":
    unittest.main()
