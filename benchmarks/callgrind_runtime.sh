#!/usr/bin/env bash
# Instructions per spawn+join and per ping-pong round trip, evergreen's
# runtime against Boost.Fiber, under callgrind: Ir(K2) - Ir(K1) over K2 - K1,
# so start-up costs cancel out. queue: per item handed from one task to
# another through a bounded queue (Queue / buffered_channel, capacity 64).
#   bash benchmarks/callgrind_runtime.sh
#   MODES=queue bash benchmarks/callgrind_runtime.sh
# K1/K2 (default 2000/12000) set the two run sizes; BIN_DIR=path uses
# binaries already built with -c opt there. Prints `RESULT runtime
# <mode>_instructions <impl> <n> instructions` lines for //benchmarks:compare
# (format: benchmarks/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# BIN=/path/to/runtime_instructions skips the build (e.g. an older binary).
if [[ -z "${BIN:-}" && -n "${BIN_DIR:-}" ]]; then
  BIN="${BIN_DIR}/benchmarks/runtime_instructions"
elif [[ -z "${BIN:-}" ]]; then
  ./bazelw build -c opt //benchmarks:runtime_instructions >/dev/null 2>&1
  BIN="$(./bazelw info -c opt bazel-bin 2>/dev/null)/benchmarks/runtime_instructions"
fi
K1="${K1:-2000}"
K2="${K2:-12000}"
ir() {  # mode impl k
  local out
  out="$(mktemp)"
  valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="${out}" "${BIN}" "$1" "$2" "$3" \
    >/dev/null 2>"${out}.err" || {
    echo "valgrind failed on ${BIN} $*:" >&2
    tail -3 "${out}.err" >&2
    rm -f "${out}" "${out}.err"
    return 1
  }
  callgrind_annotate "${out}" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}'
  rm -f "${out}" "${out}.err"
}
printf '%-10s %12s %12s %8s\n' mode evergreen boost ratio
results=()
for mode in ${MODES:-spawnjoin pingpong queue}; do
  # One assignment each, so that a failed run stops the script (set -e).
  e2="$(ir "${mode}" evergreen "${K2}")"
  e1="$(ir "${mode}" evergreen "${K1}")"
  b2="$(ir "${mode}" boost "${K2}")"
  b1="$(ir "${mode}" boost "${K1}")"
  e=$(( (e2 - e1) / (K2 - K1) ))
  b=$(( (b2 - b1) / (K2 - K1) ))
  printf '%-10s %12d %12d %8s\n' "${mode}" "${e}" "${b}" \
    "$(awk -v e="${e}" -v b="${b}" 'BEGIN { printf "%.2f", e / b }')"
  results+=("RESULT runtime ${mode}_instructions evergreen ${e} instructions"
    "RESULT runtime ${mode}_instructions boost_fiber ${b} instructions")
done
printf '%s\n' "${results[@]}"
echo "TARGET runtime spawnjoin_instructions boost_fiber <= 0.2"
echo "TARGET runtime pingpong_instructions boost_fiber <= 0.2"
echo "NOTE runtime *_instructions: exact instructions per operation under callgrind (queue: per item, capacity 64), K=${K1}/${K2}"
