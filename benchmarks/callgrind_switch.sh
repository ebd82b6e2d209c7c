#!/usr/bin/env bash
# callgrind_switch.sh: instructions per switch round trip (and per
# create + switch + finish, and per create + start + kill), counted by
# valgrind --tool=callgrind.
#
#   benchmarks/callgrind_switch.sh [K1 K2]
#
# Builds //benchmarks:switch_instructions (-c opt) and runs each mode for K1
# and for K2 repetitions; everything else in the run is identical, so
# (Ir(K2) - Ir(K1)) / (K2 - K1) is the exact count for one repetition.
# Set ANNOTATE=1 to also print the top functions of the evergreen runs.
set -euo pipefail

cd "$(dirname "$0")/.."
readonly K1="${1:-100000}"
readonly K2="${2:-200000}"
# Kills are ~100x dearer than switches: fewer of them.
readonly KILL_K1=$((K1 / 100))
readonly KILL_K2=$((K2 / 100))

./bazelw build -c opt //benchmarks:switch_instructions >&2
bin="$(./bazelw info -c opt bazel-bin 2>/dev/null)/benchmarks/switch_instructions"
out="$(mktemp -d)"
trap 'rm -rf "${out}"' EXIT

# Total instructions (Ir) of one run under callgrind.
instructions() {
  local mode="$1" k="$2" file="${out}/callgrind.$1.$2"
  valgrind --tool=callgrind --callgrind-out-file="${file}" \
    "${bin}" "${mode}" "${k}" 2>/dev/null
  awk '/^(summary|totals):/ { print $2; exit }' "${file}"
}

per_op() {
  local mode="$1" k1="$2" k2="$3" i1 i2
  i1="$(instructions "${mode}" "${k1}")"
  i2="$(instructions "${mode}" "${k2}")"
  awk -v a="${i1}" -v b="${i2}" -v k1="${k1}" -v k2="${k2}" -v m="${mode}" \
    'BEGIN { printf "%-22s %10.2f   (Ir %d at K=%d, %d at K=%d)\n",
             m, (b - a) / (k2 - k1), a, k1, b, k2 }'
}

echo "instructions per round trip (main -> fiber -> main):"
per_op evergreen "${K1}" "${K2}"
per_op jump_fcontext "${K1}" "${K2}"
per_op boost_fiber "${K1}" "${K2}"
echo "instructions per create + first switch + finish (target returns):"
per_op evergreen_create "${K1}" "${K2}"
per_op boost_fiber_create "${K1}" "${K2}"
echo "instructions per create + start + kill (suspended, one RAII object):"
per_op evergreen_kill "${KILL_K1}" "${KILL_K2}"
per_op boost_fiber_destroy "${KILL_K1}" "${KILL_K2}"

if [[ "${ANNOTATE:-0}" == "1" ]]; then
  for mode in evergreen evergreen_kill; do
    k="${K2}"
    [[ "${mode}" == evergreen_kill ]] && k="${KILL_K2}"
    echo
    echo "== ${mode}, K=${k}: exclusive instructions by function"
    callgrind_annotate --inclusive=no "${out}/callgrind.${mode}.${k}" |
      sed -n '/^Ir/,$p' | sed -n '4,24p' | sed 's/ \[[^]]*\]$//'
  done
fi
