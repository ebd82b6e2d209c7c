#!/usr/bin/env bash
# idle_tasks_compare.sh: memory per idle task, TASKS (default 100000) tasks
# blocked on an Event at once, against Boost.Fiber fibers blocked on a
# condition_variable (//benchmarks:idle_tasks), REPS runs of each (default
# 3), interleaved evergreen, boost, evergreen, ...
#
#   benchmarks/idle_tasks_compare.sh [REPS]
#
# Prints the binary's own lines and `RESULT runtime idle_task_memory <impl>
# <bytes> B/task` (RSS growth per task, one line per run) for
# //benchmarks:compare (format: benchmarks/README.md). BIN_DIR=path uses a
# binary already built with -c opt there (no Bazel). Bounded: each run is
# stopped after 300 s.
set -euo pipefail

cd "$(dirname "$0")/.."
readonly REPS="${1:-3}"
readonly TASKS="${TASKS:-100000}"

if [[ -n "${BIN_DIR:-}" ]]; then
  bin="${BIN_DIR}/benchmarks/idle_tasks"
else
  ./bazelw build -c opt //benchmarks:idle_tasks >&2
  bin="$(./bazelw info -c opt bazel-bin 2>/dev/null)/benchmarks/idle_tasks"
fi

for _ in $(seq "${REPS}"); do
  for impl in evergreen boost; do
    out="$(timeout 300 "${bin}" --impl="${impl}" --tasks="${TASKS}")"
    echo "${out}"
    name="${impl/boost/boost_fiber}"
    sed -n "s|.*rss/task \([0-9.]*\) B.*|RESULT runtime idle_task_memory ${name} \1 B/task|p" <<<"${out}"
  done
done
echo "NOTE runtime idle_task_memory: RSS growth per idle task, ${TASKS} tasks blocked at once (256 KiB stacks reserved; no numeric target)"
