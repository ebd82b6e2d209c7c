"""gdb commands for evergreen fibers: list a thread's fibers, backtrace one.

    (gdb) source fibers/gdb/evergreen_fibers.py
    (gdb) info fibers            # the current thread's fiber tree
    (gdb) fiber bt 7             # backtrace of suspended fiber #7
    (gdb) fiber bt parser        # ... or by name

Fibers are found from the thread's state (fibers_internal::tls_switch_state),
walking the tree from the main fiber through each fiber's children. A
suspended fiber's registers are on its own stack (see
fibers/internal/switch.h); `fiber bt` loads them into the thread for the
duration of one `bt` (live processes only: a core file's registers cannot be
changed), then puts the thread's own registers back.
"""

import gdb

_STATES = {0: "suspended", 1: "unstarted", 2: "running", 3: "finished"}
_FRAME_REGS = ["r15", "r14", "r13", "r12", "rbx", "rbp"]  # x86_64 SwitchFrame


def _thread_state():
    ts = gdb.parse_and_eval("evergreen::fibers_internal::tls_switch_state")
    if int(ts) == 0:
        raise gdb.GdbError("this thread has not used fibers")
    thread_state = gdb.lookup_type("evergreen::fibers_internal::ThreadState")
    return ts.cast(thread_state.pointer()).dereference()


def _fibers():
    """Yields (depth, fiber value) for the current thread, tree order."""
    main = _thread_state()["main"]
    fiber_ptr = gdb.lookup_type("evergreen::Fiber").pointer()
    stack = [(0, main.address.cast(fiber_ptr))]
    while stack:
        depth, f = stack.pop()
        yield depth, f
        children = []
        child = f["first_child_"]
        while int(child) != 0:
            children.append((depth + 1, child))
            child = child["next_sibling_"]
        stack.extend(reversed(children))


def _describe(f):
    name = f["name_"].format_string().strip('"')
    state = _STATES.get(int(f["state_"]), "?")
    kind = "main" if bool(f["is_main_"]) else "stack %d bytes" % int(
        f["stack_"]["size"])
    label = "#%d" % int(f["id_"]) + (" '%s'" % name if name else "")
    return "%s %s (%s)" % (label, state, kind)


class InfoFibers(gdb.Command):
    """info fibers: the current thread's fibers, as a tree."""

    def __init__(self):
        super().__init__("info fibers", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        current = int(_thread_state()["current"])
        for depth, f in _fibers():
            mark = "*" if int(f) == current else " "
            gdb.write("%s %s%s\n" % (mark, "  " * depth, _describe(f)))


class FiberPrefix(gdb.Command):
    """Commands on evergreen fibers."""

    def __init__(self):
        super().__init__("fiber", gdb.COMMAND_STACK, prefix=True)


class FiberBacktrace(gdb.Command):
    """fiber bt ID|NAME: backtrace of a suspended fiber, by id or name."""

    def __init__(self):
        super().__init__("fiber bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        wanted = arg.strip()
        if not wanted:
            raise gdb.GdbError("usage: fiber bt ID|NAME")
        for _, f in _fibers():
            name = f["name_"].format_string().strip('"')
            if str(int(f["id_"])) == wanted or name == wanted:
                break
        else:
            raise gdb.GdbError("no fiber %s in this thread" % wanted)
        if int(f["state_"]) != 0:
            raise gdb.GdbError("fiber %s is %s, not suspended: use bt" %
                               (wanted, _STATES.get(int(f["state_"]), "?")))
        if gdb.lookup_type("long").sizeof != 8 or "x86-64" not in \
                gdb.selected_frame().architecture().name():
            raise gdb.GdbError("fiber bt supports x86_64 only")
        sp = int(f["saved_sp_"])
        words = gdb.lookup_type("unsigned long").pointer()
        frame = gdb.Value(sp).cast(words)
        saved = {r: int(gdb.parse_and_eval("$" + r))
                 for r in _FRAME_REGS + ["rsp", "rip"]}
        gdb.write("fiber %s\n" % _describe(f))
        try:
            for i, reg in enumerate(_FRAME_REGS):
                gdb.execute("set $%s = %d" % (reg, int(frame[i])))
            gdb.execute("set $rsp = %d" % (sp + 8 * (len(_FRAME_REGS) + 1)))
            gdb.execute("set $rip = %d" % int(frame[len(_FRAME_REGS)]))
            gdb.execute("bt")
        finally:
            gdb.execute("set $rip = %d" % saved["rip"])
            gdb.execute("set $rsp = %d" % saved["rsp"])
            for reg in _FRAME_REGS:
                gdb.execute("set $%s = %d" % (reg, saved[reg]))


InfoFibers()
FiberPrefix()
FiberBacktrace()
