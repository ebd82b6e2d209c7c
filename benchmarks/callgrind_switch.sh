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
# MODES="evergreen jump_fcontext ..." runs only those modes; BIN_DIR=path uses
# binaries already built with -c opt there (no Bazel). Prints `RESULT fibers
# <metric> <impl> <instructions> instructions` lines for
# //benchmarks:compare (format: benchmarks/README.md).
set -euo pipefail

cd "$(dirname "$0")/.."
readonly K1="${1:-100000}"
readonly K2="${2:-200000}"
# Kills are ~100x dearer than switches: fewer of them.
readonly KILL_K1=$((K1 / 100))
readonly KILL_K2=$((K2 / 100))

if [[ -n "${BIN_DIR:-}" ]]; then
  bin="${BIN_DIR}/benchmarks/switch_instructions"
else
  ./bazelw build -c opt //benchmarks:switch_instructions >&2
  bin="$(./bazelw info -c opt bazel-bin 2>/dev/null)/benchmarks/switch_instructions"
fi
readonly MODES=" ${MODES:-evergreen jump_fcontext boost_fiber evergreen_create boost_fiber_create evergreen_kill boost_fiber_destroy} "
out="$(mktemp -d)"
trap 'rm -rf "${out}"' EXIT

# Total instructions (Ir) of one run under callgrind.
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

# The RESULT line's metric and impl of each mode.
declare -A METRIC=([evergreen]="switch_round_trip_instructions evergreen"
  [jump_fcontext]="switch_round_trip_instructions jump_fcontext"
  [boost_fiber]="switch_round_trip_instructions boost_fiber"
  [evergreen_create]="create_switch_finish_instructions evergreen"
  [boost_fiber_create]="create_switch_finish_instructions boost_fiber"
  [evergreen_kill]="create_start_kill_instructions evergreen"
  [boost_fiber_destroy]="create_start_kill_instructions boost_fiber")

per_op() {
  local mode="$1" k1="$2" k2="$3" i1 i2
  [[ "${MODES}" == *" ${mode} "* ]] || return 0
  i1="$(instructions "${mode}" "${k1}")"
  i2="$(instructions "${mode}" "${k2}")"
  awk -v a="${i1}" -v b="${i2}" -v k1="${k1}" -v k2="${k2}" -v m="${mode}" \
    'BEGIN { printf "%-22s %10.2f   (Ir %d at K=%d, %d at K=%d)\n",
             m, (b - a) / (k2 - k1), a, k1, b, k2 }'
  results+=("RESULT fibers ${METRIC[${mode}]} $(awk -v a="${i1}" -v b="${i2}" \
    -v k1="${k1}" -v k2="${k2}" 'BEGIN { printf "%.2f", (b - a) / (k2 - k1) }') instructions")
}
results=()

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

printf '%s\n' "${results[@]}"
echo "TARGET fibers switch_round_trip_instructions - <= 45"
echo "TARGET fibers create_start_kill_instructions boost_fiber <= 0.25"
echo "NOTE fibers *_instructions: exact instruction counts per operation under callgrind, (Ir(K2) - Ir(K1)) / (K2 - K1), K=${K1}/${K2} (kill: ${KILL_K1}/${KILL_K2})"

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
