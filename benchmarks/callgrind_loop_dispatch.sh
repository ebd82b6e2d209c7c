#!/usr/bin/env bash
# callgrind_loop_dispatch.sh: instructions per timer, idle and async callback
# through //loop against raw libuv, counted by valgrind --tool=callgrind, plus
# wall-clock ns per callback of plain runs (information only).
#
#   benchmarks/callgrind_loop_dispatch.sh [K1 K2 [K_WALL]]
#
# Modes (see loop_dispatch.cc): timer, idle and async re-arm through each
# side's own API (what a user pays per callback); timer_dispatch and
# async_dispatch re-arm through libuv on both sides, so the difference is the
# wrapper's dispatch alone.
#
# Builds //benchmarks:loop_dispatch (-c opt) and runs each mode and
# implementation for K1 and for K2 callbacks; everything else in the run is
# identical, so (Ir(K2) - Ir(K1)) / (K2 - K1) is the exact count for one
# callback. The wall-clock figure is the median of 5 plain runs of K_WALL
# callbacks (default 1000000). Set ANNOTATE=1 to also print the top functions
# of the K2 runs, and BIN=<path> to measure an existing loop_dispatch binary
# (e.g. one built from an older tree) instead of building it, or BIN_DIR=path
# for binaries already built with -c opt there. MODES="timer idle" runs only
# those modes. Prints `RESULT loop dispatch_<mode>_instructions <impl> <n>
# instructions` and `RESULT loop dispatch_<mode>_wall <impl> <ns> ns` (one
# per plain run) lines for //benchmarks:compare (benchmarks/README.md).
set -euo pipefail

cd "$(dirname "$0")/.."
readonly K1="${1:-100000}"
readonly K2="${2:-200000}"
readonly K_WALL="${3:-1000000}"
readonly TARGET=1.1

if [[ -n "${BIN:-}" ]]; then
  bin="${BIN}"
elif [[ -n "${BIN_DIR:-}" ]]; then
  bin="${BIN_DIR}/benchmarks/loop_dispatch"
else
  ./bazelw build -c opt //benchmarks:loop_dispatch >&2
  bin="$(./bazelw info -c opt bazel-bin 2>/dev/null)/benchmarks/loop_dispatch"
fi
out="$(mktemp -d)"
trap 'rm -rf "${out}"' EXIT

# Total instructions (Ir) of one run under callgrind.
instructions() {
  local mode="$1" impl="$2" k="$3" file="${out}/callgrind.$1.$2.$3"
  valgrind --tool=callgrind --callgrind-out-file="${file}" \
    "${bin}" "${mode}" "${impl}" "${k}" >/dev/null 2>"${file}.err" || {
    echo "valgrind failed on ${bin} ${mode} ${impl} ${k}:" >&2
    tail -3 "${file}.err" >&2
    return 1
  }
  awk '/^(summary|totals):/ { print $2; exit }' "${file}"
}

# Instructions per callback: (Ir(K2) - Ir(K1)) / (K2 - K1).
per_callback() {
  local mode="$1" impl="$2" i1 i2
  i1="$(instructions "${mode}" "${impl}" "${K1}")"
  i2="$(instructions "${mode}" "${impl}" "${K2}")"
  awk -v a="${i1}" -v b="${i2}" -v k1="${K1}" -v k2="${K2}" \
    'BEGIN { printf "%.2f %d %d\n", (b - a) / (k2 - k1), a, b }'
}

# Median wall-clock ns per callback of 5 plain runs (each run also goes to
# the RESULT lines).
results=()
wall_ns() {
  local mode="$1" impl="$2" runs name="${2/raw/raw_libuv}"
  runs="$(for _ in 1 2 3 4 5; do
    "${bin}" "${mode}" "${impl}" "${K_WALL}" | sed 's/.*ns_per_callback=//'
  done)"
  while read -r ns; do
    results+=("RESULT loop dispatch_${mode}_wall ${name} ${ns} ns")
  done <<<"${runs}"
  sort -g <<<"${runs}" | sed -n 3p
}

echo "instructions per callback, (Ir(K=${K2}) - Ir(K=${K1})) / $((K2 - K1));"
echo "wall clock: median of 5 plain runs, K=${K_WALL}"
printf '%-14s %10s %10s %7s %6s %9s %12s %12s\n' mode evergreen raw ratio \
  "<=${TARGET}" "+instr" "eg ns/cb" "raw ns/cb"
for mode in ${MODES:-timer timer_dispatch idle async async_dispatch}; do
  read -r eg eg1 eg2 <<<"$(per_callback "${mode}" evergreen)"
  read -r raw raw1 raw2 <<<"$(per_callback "${mode}" raw)"
  # per_callback runs in a subshell: a failed valgrind shows as no count.
  if ((${eg1:-0} <= 0 || ${raw1:-0} <= 0)); then
    echo "no instruction count for ${mode} (valgrind failed?)" >&2
    exit 1
  fi
  wall_ns "${mode}" evergreen >"${out}/wall"
  eg_ns="$(cat "${out}/wall")"
  wall_ns "${mode}" raw >"${out}/wall"
  raw_ns="$(cat "${out}/wall")"
  results+=("RESULT loop dispatch_${mode}_instructions evergreen ${eg} instructions"
    "RESULT loop dispatch_${mode}_instructions raw_libuv ${raw} instructions"
    "TARGET loop dispatch_${mode}_instructions raw_libuv <= ${TARGET}")
  awk -v m="${mode}" -v e="${eg}" -v r="${raw}" -v t="${TARGET}" \
    -v en="${eg_ns}" -v rn="${raw_ns}" \
    'BEGIN { ratio = e / r
             printf "%-14s %10.2f %10.2f %6.3fx %6s %9.2f %12.1f %12.1f\n",
               m, e, r, ratio, (ratio <= t ? "yes" : "NO"), e - r, en, rn }'
  echo "  (Ir evergreen ${eg1} / ${eg2}, raw ${raw1} / ${raw2})"
done

printf '%s\n' "${results[@]}"
echo "NOTE loop dispatch_*_instructions: exact instructions per callback under callgrind, K=${K1}/${K2}; dispatch_*_wall: ns per callback of 5 plain runs of K=${K_WALL} (information only)"

if [[ "${ANNOTATE:-0}" == "1" ]]; then
  for mode in timer idle async; do
    for impl in evergreen raw; do
      echo
      echo "== ${mode} ${impl}, K=${K2}: exclusive instructions by function"
      callgrind_annotate --inclusive=no "${out}/callgrind.${mode}.${impl}.${K2}" |
        sed -n '/^Ir/,$p' | sed -n '4,20p' | sed 's/ \[[^]]*\]$//'
    done
  done
fi
