"""Per-fiber interpreter state: frames, tracebacks, exc_info, recursion."""

import sys
import traceback
import unittest

import fibers
from fibers import Fiber


def switch(value=None):
    return fibers.current().parent.switch(value)


def frame_names(frame):
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return names


class FramesTest(unittest.TestCase):
    def test_new_fiber_has_empty_stack(self):
        def target():
            return frame_names(sys._getframe())
        self.assertEqual(Fiber(target).switch(), ["target"])

    def test_frames_restored_after_switch(self):
        def target():
            switch(frame_names(sys._getframe()))
            return frame_names(sys._getframe())
        g = Fiber(target)
        self.assertEqual(g.switch(), ["target"])
        here = frame_names(sys._getframe())
        self.assertEqual(g.switch(), ["target"])
        self.assertEqual(frame_names(sys._getframe()), here)

    def test_traceback_of_escaping_exception(self):
        def inner():
            raise ValueError("boom")

        def target():
            switch()
            inner()
        g = Fiber(target)
        g.switch()
        try:
            g.switch()
        except ValueError as e:
            names = [f.name for f in traceback.extract_tb(e.__traceback__)]
        # Raised at our switch() call, coming from the fiber's frames only.
        self.assertEqual(names, ["test_traceback_of_escaping_exception",
                                 "target", "inner"])


class ExcInfoTest(unittest.TestCase):
    def test_new_fiber_has_no_exception(self):
        try:
            raise KeyError
        except KeyError:
            self.assertIsNone(Fiber(sys.exc_info).switch()[0])
            self.assertIs(sys.exc_info()[0], KeyError)

    def test_exc_info_per_fiber(self):
        def target():
            try:
                raise ValueError("in fiber")
            except ValueError:
                switch(sys.exc_info()[0])
                return sys.exc_info()[0]
        g = Fiber(target)
        try:
            raise KeyError
        except KeyError:
            self.assertIs(g.switch(), ValueError)
            self.assertIs(sys.exc_info()[0], KeyError)
            self.assertIs(g.switch(), ValueError)
            self.assertIs(sys.exc_info()[0], KeyError)
        self.assertIsNone(sys.exc_info()[0])

    def test_exc_info_with_generators(self):
        def gen():
            try:
                raise IndexError
            except IndexError:
                yield sys.exc_info()[0]
                switch()
                yield sys.exc_info()[0]

        def target():
            g = gen()
            a = next(g)
            b = next(g)
            return a, b, sys.exc_info()[0]
        f = Fiber(target)
        try:
            raise KeyError
        except KeyError:
            self.assertIsNone(f.switch())
            self.assertIs(sys.exc_info()[0], KeyError)
            self.assertEqual(f.switch(), (IndexError, IndexError, None))


class RecursionTest(unittest.TestCase):
    def test_python_recursion(self):
        def rec(n):
            return rec(n + 1)

        def target():
            try:
                rec(0)
            except RecursionError:
                return "caught"
        self.assertEqual(Fiber(target).switch(), "caught")
        # The main fiber's depth is untouched.
        self.assertEqual(Fiber(target).switch(), "caught")

    def test_recursion_through_c(self):
        class Deep:
            def __getattr__(self, name):
                return getattr(self, name + "x")

        def target():
            try:
                Deep().a
            except RecursionError:
                return "caught"
        self.assertEqual(Fiber(target).switch(), "caught")

    def test_uncaught_recursion_error_propagates(self):
        def rec():
            return rec()
        with self.assertRaises(RecursionError):
            Fiber(rec).switch()

    def test_depth_per_fiber(self):
        limit = sys.getrecursionlimit()

        def nest(n, fn):
            return fn() if n == 0 else nest(n - 1, fn)

        def target():
            switch()
            # Deep recursion here: the main fiber's depth does not count.
            return nest(limit - 50, lambda: "deep")
        g = Fiber(target)
        g.switch()
        self.assertEqual(nest(limit - 100, g.switch), "deep")

    def test_recursion_limit_changed_while_suspended(self):
        def rec(n):
            try:
                return rec(n + 1)
            except RecursionError:
                return n

        def target():
            switch()
            return rec(0)
        g = Fiber(target)
        g.switch()
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(300)
        try:
            self.assertLess(g.switch(), 300)
        finally:
            sys.setrecursionlimit(old)


class TracingTest(unittest.TestCase):
    def test_settrace_sees_fiber_frames(self):
        seen = set()

        def tracer(frame, event, arg):
            if event == "call":
                seen.add(frame.f_code.co_name)
            return None

        def traced_target():
            return 1
        sys.settrace(tracer)
        try:
            Fiber(traced_target).switch()
        finally:
            sys.settrace(None)
        self.assertIn("traced_target", seen)


if __name__ == "__main__":
    unittest.main()
