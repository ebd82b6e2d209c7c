#!/usr/bin/env bash
# queue_handoff_compare.sh: one task hands ITEMS (default 1000000) items to
# another through a bounded queue (capacity 64): runtime::Queue against
# Boost.Fiber's buffered_channel, REPS runs (default 3) of
# //benchmarks:queue_handoff, each timing both sides one after the other.
#
#   benchmarks/queue_handoff_compare.sh [REPS]
#
# Prints the binary's own lines and `RESULT runtime queue_handoff <impl>
# <ns> ns` (ns per item, one line per run) for //benchmarks:compare (format:
# benchmarks/README.md). BIN_DIR=path uses a binary already built with -c opt
# there (no Bazel). Bounded: each run is stopped after 300 s.
set -euo pipefail

cd "$(dirname "$0")/.."
readonly REPS="${1:-3}"
readonly ITEMS="${ITEMS:-1000000}"

if [[ -n "${BIN_DIR:-}" ]]; then
  bin="${BIN_DIR}/benchmarks/queue_handoff"
else
  ./bazelw build -c opt //benchmarks:queue_handoff >&2
  bin="$(./bazelw info -c opt bazel-bin 2>/dev/null)/benchmarks/queue_handoff"
fi

for _ in $(seq "${REPS}"); do
  out="$(timeout 300 "${bin}" --items="${ITEMS}" --repetitions=1)"
  echo "${out}"
  awk '/^evergreen Queue/ { print "RESULT runtime queue_handoff evergreen " $4 " ns" }
       /^boost buffered_channel/ { print "RESULT runtime queue_handoff boost_fiber_channel " $4 " ns" }' <<<"${out}"
done
echo "NOTE runtime queue_handoff: wall ns per item, ${ITEMS} items through a queue of capacity 64 (Queue against buffered_channel; no numeric target)"
