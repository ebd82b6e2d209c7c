"""Generators built on fibers, nested, as in python-fibers' tests."""

import unittest

import fibers
from fibers import Fiber


class genlet(Fiber):
    """A generator made of a fiber: values are switched to the consumer."""

    def __init__(self, fn, *args):
        super().__init__(target=self._body, args=(fn, args))
        self.consumer = None

    def _body(self, fn, args):
        fn(*args)
        raise StopIteration

    def __iter__(self):
        return self

    def __next__(self):
        self.parent = fibers.current()
        self.consumer = fibers.current()
        if not self.is_alive():
            raise StopIteration
        try:
            return self.switch()
        except RuntimeError as e:  # StopIteration raised in a fiber
            raise StopIteration from e


def Yield(value):
    g = fibers.current()
    while not isinstance(g, genlet):
        g = g.parent
    g.consumer.switch(value)


def countdown(n):
    while n > 0:
        Yield(n)
        n -= 1


def walk(tree):
    """Nested genlets: each subtree is its own fiber."""
    if isinstance(tree, list):
        for sub in tree:
            for leaf in genlet(walk, sub):
                Yield(leaf)
    else:
        Yield(tree)


class GeneratorTest(unittest.TestCase):
    def test_generator(self):
        self.assertEqual(list(genlet(countdown, 5)), [5, 4, 3, 2, 1])

    def test_two_interleaved(self):
        a, b = genlet(countdown, 3), genlet(countdown, 3)
        self.assertEqual([next(a), next(b), next(a), next(b)], [3, 3, 2, 2])

    def test_nested(self):
        tree = [1, [2, [3, 4], 5], [[6]], 7]
        self.assertEqual(list(genlet(walk, tree)), [1, 2, 3, 4, 5, 6, 7])

    def test_python_generator_inside_fiber(self):
        def gen():
            yield 1
            fibers.current().parent.switch("mid")
            yield 2

        def body():
            return list(gen())
        f = Fiber(body)
        self.assertEqual(f.switch(), "mid")
        self.assertEqual(f.switch(), [1, 2])


if __name__ == "__main__":
    unittest.main()
