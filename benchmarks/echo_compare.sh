#!/usr/bin/env bash
# echo_compare.sh: TCP echo throughput of //examples:loop_echo_server (on
# //loop) against //benchmarks:raw_uv_echo_server (the same server on raw
# libuv, same idiom), driven by //benchmarks:echo_load in the same run.
#
#   benchmarks/echo_compare.sh [REPS]
#
# Scenarios (see echo_load.cc; every echoed byte is checked):
#   pingpong: 100 connections, 64-byte messages, ROUND_TRIPS round trips in
#             total (default 200000); reports round trips/s.
#   stream:   10 connections writing 16 KiB chunks while reading the echo
#             back, MIB MiB per connection (default 64); reports MiB/s.
# Both servers run at once, each on a free port (port 0, read back from its
# "listening on" line); the load runs alternate between them, REPS times each
# (default 3), interleaved A B A B A B so that drift hits both. Prints the
# median of each, the ratio evergreen/raw of the medians (target >= 0.97)
# and the median of the ratios of each run to its neighbour, and the servers'
# own CPU time per unit of work (from /proc/PID/schedstat, in ns: less
# sensitive than wall clock to other load on the machine). Exits non-zero if a load run
# fails (a mismatched byte, an error, a timeout) or a server does not exit 0
# on SIGTERM. Bounded: each load run gives up after 30 s and each server
# stops itself after 170 s.
#
# CALLGRIND=1 adds the servers' user-space instructions per ping-pong round
# trip, counted by valgrind --tool=callgrind (the kernel's share is not
# counted): each server runs under callgrind for K1 = 10000 and K2 = 30000
# round trips; (Ir(K2) - Ir(K1)) / (K2 - K1) is one round trip (startup
# cancels out). About 30 s more.
#
# BIN_DIR=path uses binaries already built with -c opt there (no Bazel).
# Also prints `RESULT loop echo_<scenario> <impl> <rate> <unit>` (one line
# per run) and TARGET lines for //benchmarks:compare (format:
# benchmarks/README.md).
set -euo pipefail

cd "$(dirname "$0")/.."
readonly REPS="${1:-3}"
readonly ROUND_TRIPS="${ROUND_TRIPS:-200000}"
readonly MIB="${MIB:-64}"
readonly TARGET=0.97

if [[ -n "${BIN_DIR:-}" ]]; then
  bin="${BIN_DIR}"
else
  ./bazelw build -c opt //examples:loop_echo_server \
    //benchmarks:raw_uv_echo_server //benchmarks:echo_load >&2
  bin="$(./bazelw info -c opt bazel-bin 2>/dev/null)"
fi
SECONDS=0
work="$(mktemp -d)"
declare -A pid port
cleanup() {
  for impl in "${!pid[@]}"; do kill -KILL "${pid[${impl}]}" 2>/dev/null || true; done
  rm -rf "${work}"
}
trap cleanup EXIT

# Starts server `impl` from `binary` on a free port: sets pid[impl], port[impl].
start_server() {
  local impl="$1" binary="$2"
  "${binary}" --port=0 --max_seconds=170 >"${work}/${impl}.out" 2>&1 &
  pid[${impl}]=$!
  for _ in $(seq 100); do
    grep -q '^listening on' "${work}/${impl}.out" && break
    sleep 0.1
  done
  port[${impl}]="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' \
    "${work}/${impl}.out")"
  [[ -n "${port[${impl}]}" ]] || {
    echo "${impl} did not start:" >&2
    cat "${work}/${impl}.out" >&2
    exit 1
  }
}

# CPU time (ns, user + sys) the single-threaded process `pid` used so far.
cpu_ns() { awk '{ print $1 }' "/proc/$1/schedstat"; }

start_server evergreen "${bin}/examples/loop_echo_server"
start_server raw "${bin}/benchmarks/raw_uv_echo_server"

# One load run: appends "rate server_cpu_seconds" to ${work}/<scenario>.<impl>.
run() {
  local scenario="$1" impl="$2" out before after rate
  local args=(--port="${port[${impl}]}" --scenario="${scenario}"
    --max_seconds=30)
  if [[ "${scenario}" == pingpong ]]; then
    args+=(--round_trips="${ROUND_TRIPS}")
  else
    args+=(--mib="${MIB}")
  fi
  before="$(cpu_ns "${pid[${impl}]}")"
  out="$("${bin}/benchmarks/echo_load" "${args[@]}")" || {
    echo "echo_load failed against ${impl}: ${out}" >&2
    exit 1
  }
  after="$(cpu_ns "${pid[${impl}]}")"
  rate="$(sed -n 's/.*_per_second=\([0-9.]*\).*/\1/p' <<<"${out}")"
  echo "${rate} $(awk -v a="${before}" -v b="${after}" \
    'BEGIN { printf "%.6f", (b - a) / 1e9 }')" >>"${work}/${scenario}.${impl}"
  printf '  %-9s %-9s %s\n' "${scenario}" "${impl}" "${out}" >&2
}

echo "runs (interleaved evergreen, raw; ${REPS} each):" >&2
for scenario in pingpong stream; do
  for _ in $(seq "${REPS}"); do
    run "${scenario}" evergreen
    run "${scenario}" raw
  done
done

# Median of column `col` of file `f`.
median() {
  awk -v c="$2" '{ print $c }' "$1" | sort -g |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
echo "TCP echo, median of ${REPS} interleaved runs each ($(date -u +%F), $(nproc) cores)"
printf '%-10s %-14s %12s %12s %8s %6s %8s\n' scenario unit evergreen raw ratio \
  ">=${TARGET}" paired
for scenario in pingpong stream; do
  unit="round_trips/s"
  [[ "${scenario}" == stream ]] && unit="MiB/s"
  eg="$(median "${work}/${scenario}.evergreen" 1)"
  raw="$(median "${work}/${scenario}.raw" 1)"
  # Each evergreen run against the raw run right after it.
  paste "${work}/${scenario}.evergreen" "${work}/${scenario}.raw" |
    awk '{ print $1 / $3 }' >"${work}/${scenario}.paired"
  paired="$(median "${work}/${scenario}.paired" 1)"
  awk -v s="${scenario}" -v u="${unit}" -v e="${eg}" -v r="${raw}" -v t="${TARGET}" \
    -v p="${paired}" \
    'BEGIN { q = e / r; printf "%-10s %-14s %12.1f %12.1f %7.3fx %6s %7.3fx\n",
             s, u, e, r, q, (q >= t ? "yes" : "NO"), p }'
done
echo
echo "server CPU time per unit of work, median; ratio raw/evergreen"
printf '%-10s %-14s %12s %12s %8s\n' scenario unit evergreen raw ratio
for scenario in pingpong stream; do
  if [[ "${scenario}" == pingpong ]]; then
    unit="us/round_trip" scale="$(awk -v n="${ROUND_TRIPS}" 'BEGIN { print 1e6 / n }')"
  else
    unit="ms/GiB" scale="$(awk -v m="${MIB}" 'BEGIN { print 1e3 * 1024 / (10 * m) }')"
  fi
  eg="$(median "${work}/${scenario}.evergreen" 2)"
  raw="$(median "${work}/${scenario}.raw" 2)"
  awk -v s="${scenario}" -v u="${unit}" -v e="${eg}" -v r="${raw}" -v k="${scale}" \
    'BEGIN { printf "%-10s %-14s %12.3f %12.3f %7.3fx\n", s, u, e * k, r * k,
             (e > 0 ? r / e : 0) }'
done

for scenario in pingpong stream; do
  unit="round_trips/s"
  [[ "${scenario}" == stream ]] && unit="MiB/s"
  for impl in evergreen raw; do
    awk -v s="${scenario}" -v i="${impl/raw/raw_libuv}" -v u="${unit}" \
      '{ print "RESULT loop echo_" s " " i " " $1 " " u }' "${work}/${scenario}.${impl}"
  done
  echo "TARGET loop echo_${scenario} raw_libuv >= ${TARGET}"
done
echo "NOTE loop echo_pingpong: 100 connections, 64 B messages, ${ROUND_TRIPS} round trips in all; echo_stream: 10 connections streaming 16 KiB chunks, ${MIB} MiB each (//examples:loop_echo_server against the same server on raw libuv)"

# Instructions of one callgrind run of server `binary` for `k` round trips.
callgrind_instructions() {
  local binary="$1" k="$2" file="${work}/callgrind.$(basename "$1").$2" p
  valgrind --tool=callgrind --callgrind-out-file="${file}" "${binary}" \
    --port=0 --max_seconds=120 >"${file}.out" 2>/dev/null &
  pid[callgrind]=$!
  for _ in $(seq 200); do
    grep -q '^listening on' "${file}.out" && break
    sleep 0.1
  done
  p="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "${file}.out")"
  "${bin}/benchmarks/echo_load" --port="${p}" --scenario=pingpong \
    --round_trips="${k}" --max_seconds=60 >/dev/null
  kill -TERM "${pid[callgrind]}"
  wait "${pid[callgrind]}"
  unset "pid[callgrind]"
  awk '/^(summary|totals):/ { print $2; exit }' "${file}"
}

if [[ "${CALLGRIND:-0}" == "1" ]]; then
  echo
  echo "server user-space instructions per pingpong round trip (callgrind)"
  declare -A per_rt
  for impl in evergreen raw; do
    binary="${bin}/benchmarks/raw_uv_echo_server"
    [[ "${impl}" == evergreen ]] && binary="${bin}/examples/loop_echo_server"
    i1="$(callgrind_instructions "${binary}" 10000)"
    i2="$(callgrind_instructions "${binary}" 30000)"
    per_rt[${impl}]="$(awk -v a="${i1}" -v b="${i2}" \
      'BEGIN { printf "%.1f", (b - a) / 20000 }')"
  done
  awk -v e="${per_rt[evergreen]}" -v r="${per_rt[raw]}" \
    'BEGIN { printf "evergreen %.1f, raw %.1f, +%.1f per round trip\n",
             e, r, e - r }'
fi

echo "(runs took ${SECONDS} s after the build)"

# Stop both servers by PID; each must exit 0 on SIGTERM.
status=0
for impl in evergreen raw; do
  kill -TERM "${pid[${impl}]}"
  rc=0
  wait "${pid[${impl}]}" || rc=$?
  unset "pid[${impl}]"
  if [[ "${rc}" != 0 ]]; then
    echo "${impl} server exited with ${rc} on SIGTERM" >&2
    status=1
  fi
done
exit "${status}"
