#!/usr/bin/env bash
# callgrind_fiber_local.sh: instructions per access of one int through
# thread_local, a heap pointer, FiberLocal<int> and Boost.Fiber's
# fiber_specific_ptr<int>, counted by valgrind --tool=callgrind.
#
#   benchmarks/callgrind_fiber_local.sh [K1 K2]
#
# Builds //local_storage:fiber_local_instructions (-c opt) and runs each mode
# for K1 and for K2 accesses; everything else in the run is identical, so
# (Ir(K2) - Ir(K1)) / (K2 - K1) is the exact count for one access (the
# read-modify-write plus the loop's decrement and branch).
#
# MODES="thread_local fiber_local ..." runs only those modes (thread_local
# always runs: it is the baseline); BIN_DIR=path uses binaries already built
# with -c opt there (no Bazel). Prints `RESULT local_storage <metric> <impl>
# <instructions> instructions` lines for //benchmarks:compare (format:
# benchmarks/README.md).
set -euo pipefail

cd "$(dirname "$0")/.."
readonly K1="${1:-1000000}"
readonly K2="${2:-2000000}"

if [[ -n "${BIN_DIR:-}" ]]; then
  bin="${BIN_DIR}/local_storage/fiber_local_instructions"
else
  ./bazelw build -c opt //local_storage:fiber_local_instructions >&2
  bin="$(./bazelw info -c opt bazel-bin 2>/dev/null)/local_storage/fiber_local_instructions"
fi
out="$(mktemp -d)"
trap 'rm -rf "${out}"' EXIT

instructions() {
  local mode="$1" k="$2" file="${out}/callgrind.$1.$2"
  valgrind --tool=callgrind --callgrind-out-file="${file}" \
    "${bin}" "${mode}" "${k}" 2>"${file}.err" || {
    echo "valgrind failed on ${bin} ${mode} ${k}:" >&2
    tail -3 "${file}.err" >&2
    return 1
  }
  awk '/^(summary|totals):/ { print $2; exit }' "${file}"
}

# The RESULT lines' metric and impl of each mode (thread_local is the
# baseline of both metrics: the same access inside or outside a fiber).
declare -A METRIC=([thread_local]="rmw_instructions_main thread_local"
  [heap]="rmw_instructions_main heap"
  [fiber_local]="rmw_instructions_main evergreen"
  [fiber_local_in_fiber]="rmw_instructions_in_fiber evergreen"
  [fiber_specific_ptr]="rmw_instructions_main fiber_specific_ptr"
  [fiber_specific_ptr_in_fiber]="rmw_instructions_in_fiber fiber_specific_ptr")
results=()
tls=""
per_op() {
  local mode="$1" i1 i2 per
  i1="$(instructions "${mode}" "${K1}")"
  i2="$(instructions "${mode}" "${K2}")"
  per="$(awk -v a="${i1}" -v b="${i2}" -v k1="${K1}" -v k2="${K2}" \
    'BEGIN { printf "%.2f", (b - a) / (k2 - k1) }')"
  [[ "${mode}" == thread_local ]] && tls="${per}"
  results+=("RESULT local_storage ${METRIC[${mode}]} ${per} instructions")
  [[ "${mode}" == thread_local ]] &&
    results+=("RESULT local_storage rmw_instructions_in_fiber thread_local ${per} instructions")
  awk -v p="${per}" -v t="${tls}" -v m="${mode}" -v a="${i1}" -v b="${i2}" \
    -v k1="${K1}" -v k2="${K2}" \
    'BEGIN { printf "%-28s %8.2f  %6.2fx   (Ir %d at K=%d, %d at K=%d)\n",
             m, p, p / t, a, k1, b, k2 }'
}

echo "instructions per access (vs thread_local):"
for mode in thread_local ${MODES:-heap fiber_local fiber_local_in_fiber \
  fiber_specific_ptr fiber_specific_ptr_in_fiber}; do
  [[ "${mode}" == thread_local && -n "${tls}" ]] && continue
  per_op "${mode}"
done
printf '%s\n' "${results[@]}"
echo "TARGET local_storage rmw_instructions_main thread_local <= 2.0"
echo "TARGET local_storage rmw_instructions_in_fiber thread_local <= 2.0"
echo "NOTE local_storage rmw_instructions_*: exact instructions per read-modify-write of one int under callgrind (with the loop's decrement and branch), K=${K1}/${K2}"
