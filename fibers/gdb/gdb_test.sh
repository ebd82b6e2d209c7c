#!/usr/bin/env bash
# Runs gdb_demo under gdb with evergreen_fibers.py: `info fibers` lists the
# named fibers with their states, `fiber bt` shows where a suspended fiber
# waits, and the program then runs on to its end unharmed.
set -euo pipefail
demo="$1"
script="$2"
out="$(gdb -nx -batch -ex "source ${script}" \
  -ex "break evergreen_gdb_break_here" -ex run -ex "info fibers" \
  -ex "fiber bt parser" -ex continue "${demo}" 2>&1)" || true
echo "${out}"
fail() { echo "FAIL: $1"; exit 1; }
grep -Eq "#[0-9]+ suspended \(main\)|\* #[0-9]+ running \(main\)" <<<"${out}" ||
  fail "main fiber not listed as running"
grep -Eq "#[0-9]+ 'parser' suspended \(stack [0-9]+ bytes\)" <<<"${out}" ||
  fail "parser not listed as suspended"
grep -Eq "#[0-9]+ 'idle' unstarted" <<<"${out}" || fail "idle not listed"
grep -q "WaitingInsideParser" <<<"${out}" || fail "fiber bt misses the frame"
grep -q "parser resumed" <<<"${out}" || fail "the program did not go on"
grep -q "exited normally" <<<"${out}" || fail "the program did not end well"
echo PASS
