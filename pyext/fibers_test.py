"""Switching, values, parents, dead fibers, subclassing, weakrefs: fibers' API."""

import copy
import pickle
import sys
import unittest
import weakref

import fibers
from fibers import Fiber


def switch(value=None):
    return fibers.current().parent.switch(value)


class ModuleTest(unittest.TestCase):
    def test_surface(self):
        self.assertTrue(issubclass(fibers.error, Exception))
        self.assertEqual(fibers.error.__bases__, (Exception,))
        self.assertIsInstance(fibers.__version__, str)
        self.assertIs(fibers.current(), Fiber.current())
        main = fibers.current()
        self.assertIsNone(main.parent)
        self.assertTrue(main.is_alive())


class SwitchTest(unittest.TestCase):
    def test_values_both_ways(self):
        seen = []

        def f(a, b=0):
            seen.append((a, b))
            x = switch(a + b)
            seen.append(x)
            y = switch(x * 2)
            seen.append(y)
            return "done"

        g = Fiber(f, (1,), {"b": 2})
        self.assertEqual(g.switch(), 3)
        self.assertEqual(g.switch(10), 20)
        self.assertEqual(g.switch(value="v"), "done")
        self.assertEqual(seen, [(1, 2), 10, "v"])
        self.assertFalse(g.is_alive())

    def test_args_bound_at_creation(self):
        args = [1]
        g = Fiber(lambda *a, **k: (a, k), (args,), {"k": 2})
        args.append(2)
        self.assertEqual(g.switch(), (([1, 2],), {"k": 2}))

    def test_positional_constructor_and_no_target(self):
        self.assertIsNone(Fiber().switch())
        self.assertEqual(Fiber(lambda x: x, (5,)).switch(), 5)

    def test_constructor_errors(self):
        with self.assertRaisesRegex(TypeError, "target must be a callable"):
            Fiber(42)
        with self.assertRaisesRegex(TypeError, "args must be a tuple"):
            Fiber(lambda: None, [1])
        with self.assertRaisesRegex(TypeError, "kwargs must be a dict"):
            Fiber(lambda: None, (), [1])
        with self.assertRaises(TypeError):
            Fiber(lambda: None, parent=42)
        g = Fiber(lambda: None)
        with self.assertRaisesRegex(RuntimeError, "already initialized"):
            g.__init__(lambda: None)
        g.switch()
        with self.assertRaisesRegex(ValueError, "parent must not have ended"):
            Fiber(lambda: None, parent=g)

    def test_value_into_unstarted(self):
        g = Fiber(lambda: 1)
        with self.assertRaisesRegex(
                ValueError, "cannot specify a value when the Fiber wasn't started"):
            g.switch(1)
        self.assertTrue(g.is_alive())
        self.assertEqual(g.switch(None), 1)

    def test_switch_to_self(self):
        def f():
            with self.assertRaisesRegex(fibers.error, "from a Fiber to itself"):
                fibers.current().switch()
            return 7
        self.assertEqual(Fiber(f).switch(), 7)
        with self.assertRaisesRegex(fibers.error, "from a Fiber to itself"):
            fibers.current().switch()

    def test_dead_fiber(self):
        g = Fiber(lambda: 1)
        self.assertTrue(g.is_alive())  # unstarted is alive
        g.switch()
        self.assertFalse(g.is_alive())
        for call in (g.switch, lambda: g.throw(ValueError)):
            with self.assertRaisesRegex(fibers.error, "Fiber has ended"):
                call()

    def test_is_alive_while_running(self):
        def f():
            return fibers.current().is_alive()
        self.assertTrue(Fiber(f).switch())

    def test_result_goes_to_nearest_live_ancestor(self):
        main = fibers.current()
        log = []

        def child():
            log.append("child")
            return "from child"

        def parent_fn():
            c = Fiber(child)
            log.append("parent")
            main.switch(c)  # parent stays suspended
            log.append("parent resumed")

        p = Fiber(parent_fn)
        c = p.switch()
        self.assertIs(c.parent, p)
        # The child's parent p is suspended: the result goes to p.
        self.assertIsNone(c.switch())
        self.assertEqual(log, ["parent", "child", "parent resumed"])

    def test_skips_unstarted_and_dead_ancestors(self):
        unstarted = Fiber(lambda: None)
        c = Fiber(lambda: "r", parent=unstarted)
        self.assertEqual(c.switch(), "r")  # unstarted skipped: back to main
        self.assertTrue(unstarted.is_alive())
        dead = Fiber(lambda: None)
        c2 = Fiber(lambda: "r2")
        c2.parent = dead
        dead.switch()
        self.assertEqual(c2.switch(), "r2")

    def test_exception_propagates_to_parent(self):
        def f():
            raise KeyError("k")
        with self.assertRaises(KeyError):
            Fiber(f).switch()

    def test_exception_through_two_levels(self):
        def inner():
            raise ZeroDivisionError

        def outer():
            try:
                Fiber(inner).switch()
            except ZeroDivisionError:
                return "caught in outer"
        self.assertEqual(Fiber(outer).switch(), "caught in outer")

    def test_nested_parents(self):
        def f(depth):
            if depth == 0:
                return fibers.current().parent
            return Fiber(f, (depth - 1,)).switch()
        self.assertIsInstance(Fiber(f, (20,)).switch(), Fiber)

    def test_refs_released_after_run(self):
        target = lambda *a, **k: None  # noqa: E731
        args = ("x",)
        kwargs = {"y": 1}
        before = [sys.getrefcount(o) for o in (target, args, kwargs)]
        g = Fiber(target, args, kwargs)
        during = [sys.getrefcount(o) for o in (target, args, kwargs)]
        self.assertEqual(during, [b + 1 for b in before])
        g.switch()
        after = [sys.getrefcount(o) for o in (target, args, kwargs)]
        self.assertEqual(after, before)


class ParentTest(unittest.TestCase):
    def test_set_parent(self):
        a = Fiber(lambda: None)
        b = Fiber(lambda: "b")
        b.parent = a
        self.assertIs(b.parent, a)

    def test_parent_errors(self):
        a = Fiber(lambda: None)
        b = Fiber(lambda: None, parent=a)
        with self.assertRaisesRegex(ValueError, "cyclic parent chain"):
            a.parent = b
        with self.assertRaisesRegex(ValueError, "cyclic parent chain"):
            a.parent = a
        with self.assertRaisesRegex(TypeError, "parent must be a Fiber"):
            a.parent = 1
        with self.assertRaises(AttributeError):
            del a.parent
        d = Fiber(lambda: None)
        d.switch()
        with self.assertRaisesRegex(ValueError, "parent must not have ended"):
            a.parent = d
        with self.assertRaisesRegex(ValueError, "cyclic parent chain"):
            fibers.current().parent = a


class ObjectTest(unittest.TestCase):
    def test_instance_dict(self):
        g = Fiber(lambda: None)
        g.x = 1
        self.assertEqual(g.__dict__, {"x": 1})
        g.__dict__ = {"y": 2}
        self.assertEqual(g.y, 2)
        with self.assertRaises(TypeError):
            g.__dict__ = 1
        with self.assertRaises(AttributeError):
            del g.__dict__

    def test_not_serializable(self):
        g = Fiber(lambda: None)
        for op in (g.__getstate__, lambda: pickle.dumps(g),
                   lambda: copy.copy(g), lambda: copy.deepcopy(g)):
            with self.assertRaisesRegex(TypeError, "cannot serialize"):
                op()

    def test_weakref(self):
        g = Fiber(lambda: None)
        r = weakref.ref(g)
        self.assertIs(r(), g)
        del g
        self.assertIsNone(r())
        m = weakref.ref(fibers.current())
        self.assertIs(m(), fibers.current())

    def test_subclass_run(self):
        class Worker(Fiber):
            def __init__(self, n):
                super().__init__()
                self.n = n

            def run(self):
                return switch(self.n) + 1

        w = Worker(41)
        self.assertEqual(w.switch(), 41)
        self.assertEqual(w.switch(1), 2)
        self.assertIsInstance(Worker.current(), Fiber)

    def test_subclass_with_target(self):
        class F(Fiber):
            pass
        f = F(lambda: "t")
        self.assertEqual(f.switch(), "t")
        self.assertEqual(type(f).__name__, "F")

    def test_uninitialized(self):
        class Lazy(Fiber):
            def __init__(self):
                pass
        with self.assertRaisesRegex(fibers.error, "__init__"):
            Lazy().switch()


if __name__ == "__main__":
    unittest.main()
