"""Fiber.throw: a type, an instance, a traceback; into unstarted fibers."""

import sys
import unittest

import fibers
from fibers import Fiber


def switch(value=None):
    return fibers.current().parent.switch(value)


class ThrowTest(unittest.TestCase):
    def test_class(self):
        def f():
            try:
                switch("ok")
            except RuntimeError:
                switch("caught")
                return
            switch("fail")
        g = Fiber(f)
        self.assertEqual(g.switch(), "ok")
        self.assertEqual(g.throw(RuntimeError), "caught")

    def test_class_and_value(self):
        def f():
            try:
                switch("ok")
            except RuntimeError:
                return sys.exc_info()[1].args
        g = Fiber(f)
        g.switch()
        self.assertEqual(g.throw(RuntimeError, "v"), ("v",))
        g = Fiber(f)
        g.switch()
        self.assertEqual(g.throw(RuntimeError, ("a", "b")), ("a", "b"))

    def test_instance(self):
        err = ValueError("x")

        def f():
            try:
                switch("ok")
            except ValueError as e:
                return e
        g = Fiber(f)
        g.switch()
        self.assertIs(g.throw(err), err)

    def test_traceback(self):
        try:
            raise KeyError("k")
        except KeyError:
            tb = sys.exc_info()[2]

        def f():
            try:
                switch("ok")
            except KeyError as e:
                # The given traceback, then this fiber's frame.
                t = e.__traceback__
                frames = []
                while t is not None:
                    frames.append(t.tb_frame.f_code.co_name)
                    t = t.tb_next
                return frames
        g = Fiber(f)
        g.switch()
        frames = g.throw(KeyError, KeyError("k"), tb)
        self.assertEqual(frames[0], "f")
        self.assertIn("test_traceback", frames)

    def test_argument_errors(self):
        g = Fiber(lambda: None)
        with self.assertRaises(TypeError):
            g.throw()
        with self.assertRaisesRegex(TypeError, "must be classes, or instances"):
            g.throw(1)
        with self.assertRaisesRegex(TypeError, "cannot have a separate value"):
            g.throw(ValueError("a"), "b")
        with self.assertRaisesRegex(TypeError, "traceback object"):
            g.throw(ValueError, None, "tb")
        self.assertTrue(g.is_alive())

    def test_uncaught_goes_to_thrower(self):
        g = Fiber(lambda: switch())
        g.switch()
        with self.assertRaises(IndexError):
            g.throw(IndexError)
        self.assertFalse(g.is_alive())

    def test_into_unstarted_runs_nothing(self):
        ran = []
        g = Fiber(lambda: ran.append(1))
        with self.assertRaises(ValueError):
            g.throw(ValueError)
        self.assertEqual(ran, [])
        self.assertFalse(g.is_alive())

    def test_into_unstarted_goes_to_started_ancestor(self):
        def parent_fn():
            unstarted = Fiber(lambda: None)
            child = Fiber(lambda: None, parent=unstarted)
            try:
                fibers.current().parent.switch(child)
            except KeyError:
                return "parent got it"
        p = Fiber(parent_fn)
        child = p.switch()
        # child's parent is unstarted: skipped, p gets the exception.
        self.assertEqual(child.throw(KeyError), "parent got it")

    def test_throw_to_self(self):
        with self.assertRaisesRegex(fibers.error, "throw from a Fiber to itself"):
            fibers.current().throw(ValueError)


if __name__ == "__main__":
    unittest.main()
