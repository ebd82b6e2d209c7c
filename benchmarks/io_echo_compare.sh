#!/usr/bin/env bash
# io_echo_compare.sh: TCP echo of //examples:echo_server (//runtime/io, a
# task per connection) against three peers, all driven by
# //benchmarks:echo_load in the same run (issue 7, "Benchmarks"):
#   raw:   //benchmarks:raw_uv_echo_server, raw libuv, uv_try_write first;
#   asio:  //benchmarks:asio_spawn_echo_server, Boost.Asio stackful
#          coroutines (boost::asio::spawn), a coroutine per connection;
#   node:  benchmarks/node_net_echo_server.js, Node's `net` (pipe()).
#
#   benchmarks/io_echo_compare.sh [REPS]
#   CALLGRIND=1 benchmarks/io_echo_compare.sh [REPS]
#
# Scenarios (see echo_load.cc; every echoed byte is checked):
#   pingpong: 100 connections, 64-byte messages, ROUND_TRIPS round trips in
#             total (default 200000); round trips/s.
#   stream:   10 connections writing 16 KiB chunks while reading the echo
#             back, MIB MiB per connection (default 64); MiB/s.
#   pingpong1_core0: 1 connection ping-ponging 64 B, ROUND_TRIPS1 round trips
#             (default 50000), with the client and every server (all their
#             threads) pinned to CPU 0 (taskset): the per-round-trip cost
#             without the cross-CPU wake-up. Run last; the pinning stays.
# The four servers run at once, each on a free 127.0.0.1 port (port 0, read
# back from its "listening on" line); for each scenario the load runs go
# evergreen, raw, asio, node, evergreen, ... REPS times (default 3) so that
# drift hits all. Prints each server's median and min-max, the ratios
# evergreen/peer of the medians against the targets (>= 0.9x raw, >= 1.0x
# asio, >= 1.5x node) and the median of the per-repetition ratios, and the
# servers' CPU time per unit of work (/proc/PID/task/*/schedstat, all
# threads: less sensitive to other load than wall clock).
#
# CALLGRIND=1 adds the user-space instructions per round trip of evergreen,
# raw and asio (not node: a JIT) on one connection, counted by valgrind
# --tool=callgrind: each server runs under callgrind for K1 = 10000 and
# K2 = 30000 round trips; (Ir(K2) - Ir(K1)) / (K2 - K1) is one round trip
# (startup cancels out). The kernel's share is not counted.
#
# BIN_DIR=path uses binaries already built with -c opt there (no Bazel).
# Exits non-zero if a load run fails (a mismatched byte, an error, a
# timeout) or a server does not exit 0 on SIGTERM. Bounded: each load run
# gives up after 60 s, each server stops itself after 900 s, and the EXIT
# trap kills, by PID, whatever is left.
# Also prints `RESULT <area> <metric> <impl> <value> <unit>` lines (one per
# run) and TARGET lines for //benchmarks:compare (format: benchmarks/README.md).
set -euo pipefail

cd "$(dirname "$0")/.."
readonly REPS="${1:-3}"
readonly ROUND_TRIPS="${ROUND_TRIPS:-200000}"
readonly ROUND_TRIPS1="${ROUND_TRIPS1:-50000}"
readonly MIB="${MIB:-64}"
readonly SERVER_SECONDS=900
readonly IMPLS=(evergreen raw asio node)
declare -A TARGET=([raw]=0.9 [asio]=1.0 [node]=1.5)

command -v node >/dev/null || { echo "node is missing" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset is missing" >&2; exit 1; }
if [[ -n "${BIN_DIR:-}" ]]; then
  bin="${BIN_DIR}"
else
  ./bazelw build -c opt //examples:echo_server //benchmarks:raw_uv_echo_server \
    //benchmarks:asio_spawn_echo_server //benchmarks:echo_load >&2
  bin="$(./bazelw info -c opt bazel-bin 2>/dev/null)"
fi
SECONDS=0
work="$(mktemp -d)"
declare -A pid port
source benchmarks/io_lib.sh
cleanup() {
  kill_servers
  rm -rf "${work}"
}
trap cleanup EXIT

# The command line of server `impl` (listening on port 0).
server_cmd() {
  case "$1" in
    evergreen) echo "${bin}/examples/echo_server --port=0 --max_seconds=$2" ;;
    raw) echo "${bin}/benchmarks/raw_uv_echo_server --port=0 --max_seconds=$2" ;;
    asio) echo "${bin}/benchmarks/asio_spawn_echo_server --port=0 --max_seconds=$2" ;;
    node) echo "node benchmarks/node_net_echo_server.js $2" ;;
  esac
}

for impl in "${IMPLS[@]}"; do
  # shellcheck disable=SC2046 # the command line splits on spaces
  start_server "${impl}" $(server_cmd "${impl}" "${SERVER_SECONDS}")
done

# One load run: appends "rate server_cpu_seconds" to ${work}/<scenario>.<impl>.
run() {
  local scenario="$1" impl="$2" out before after rate
  local args=(--port="${port[${impl}]}" --max_seconds=60) pin=()
  case "${scenario}" in
    pingpong) args+=(--scenario=pingpong --round_trips="${ROUND_TRIPS}") ;;
    stream) args+=(--scenario=stream --mib="${MIB}") ;;
    pingpong1_core0)
      args+=(--scenario=pingpong --connections=1 --round_trips="${ROUND_TRIPS1}")
      pin=(taskset -c 0)
      ;;
  esac
  before="$(cpu_ns "${pid[${impl}]}")"
  out="$("${pin[@]}" "${bin}/benchmarks/echo_load" "${args[@]}")" || {
    echo "echo_load failed against ${impl}: ${out}" >&2
    exit 1
  }
  after="$(cpu_ns "${pid[${impl}]}")"
  rate="$(sed -n 's/.*_per_second=\([0-9.]*\).*/\1/p' <<<"${out}")"
  echo "${rate} $(awk -v a="${before}" -v b="${after}" \
    'BEGIN { printf "%.6f", (b - a) / 1e9 }')" >>"${work}/${scenario}.${impl}"
  printf '  %-16s %-9s %s\n' "${scenario}" "${impl}" "${out}" >&2
}

readonly SCENARIOS=(pingpong stream pingpong1_core0)
echo "runs (interleaved ${IMPLS[*]}; ${REPS} each):" >&2
for scenario in "${SCENARIOS[@]}"; do
  if [[ "${scenario}" == pingpong1_core0 ]]; then
    for impl in "${IMPLS[@]}"; do
      taskset -a -p -c 0 "${pid[${impl}]}" >/dev/null
    done
  fi
  for _ in $(seq "${REPS}"); do
    for impl in "${IMPLS[@]}"; do run "${scenario}" "${impl}"; done
  done
done

unit_of() {
  case "$1" in
    stream) echo "MiB/s" ;;
    *) echo "round_trips/s" ;;
  esac
}

echo
echo "TCP echo, median (min-max) of ${REPS} interleaved runs each ($(date -u '+%F %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-16s %-14s' scenario unit
for impl in "${IMPLS[@]}"; do printf ' %-21s' "${impl}"; done
echo
for scenario in "${SCENARIOS[@]}"; do
  printf '%-16s %-14s' "${scenario}" "$(unit_of "${scenario}")"
  for impl in "${IMPLS[@]}"; do
    f="${work}/${scenario}.${impl}"
    printf ' %-21s' "$(awk -v m="$(median "${f}")" 'BEGIN { printf "%.0f", m }') ($(spread "${f}"))"
  done
  echo
done
echo
echo "evergreen/peer: ratio of the medians [median of the per-repetition ratios] (target)"
printf '%-16s' scenario
for impl in raw asio node; do printf ' %-26s' "vs ${impl} (>= ${TARGET[${impl}]}x)"; done
echo
for scenario in "${SCENARIOS[@]}"; do
  printf '%-16s' "${scenario}"
  eg="$(median "${work}/${scenario}.evergreen")"
  for impl in raw asio node; do
    peer="$(median "${work}/${scenario}.${impl}")"
    paste "${work}/${scenario}.evergreen" "${work}/${scenario}.${impl}" |
      awk '{ print $1 / $3 }' >"${work}/${scenario}.paired.${impl}"
    paired="$(median "${work}/${scenario}.paired.${impl}")"
    printf ' %-26s' "$(awk -v e="${eg}" -v p="${peer}" -v q="${paired}" \
      -v t="${TARGET[${impl}]}" 'BEGIN { r = e / p;
        printf "%.2fx [%.2fx] %s", r, q, (r >= t ? "met" : "MISSED") }')"
  done
  echo
done
echo
echo "server CPU time per unit of work (all threads), median"
printf '%-16s %-14s' scenario unit
for impl in "${IMPLS[@]}"; do printf ' %10s' "${impl}"; done
echo
for scenario in "${SCENARIOS[@]}"; do
  case "${scenario}" in
    pingpong) unit="us/round_trip" scale="$(awk -v n="${ROUND_TRIPS}" 'BEGIN { print 1e6 / n }')" ;;
    pingpong1_core0) unit="us/round_trip" scale="$(awk -v n="${ROUND_TRIPS1}" 'BEGIN { print 1e6 / n }')" ;;
    stream) unit="ms/GiB" scale="$(awk -v m="${MIB}" 'BEGIN { print 1e3 * 1024 / (10 * m) }')" ;;
  esac
  printf '%-16s %-14s' "${scenario}" "${unit}"
  for impl in "${IMPLS[@]}"; do
    printf ' %10.3f' "$(awk -v c="$(median "${work}/${scenario}.${impl}" 2)" \
      -v k="${scale}" 'BEGIN { print c * k }')"
  done
  echo
done

for scenario in "${SCENARIOS[@]}"; do
  for impl in "${IMPLS[@]}"; do
    awk -v s="${scenario}" -v i="${impl/raw/raw_libuv}" -v u="$(unit_of "${scenario}")" \
      '{ print "RESULT io echo_" s " " i " " $1 " " u }' "${work}/${scenario}.${impl}"
  done
  for impl in raw asio node; do
    echo "TARGET io echo_${scenario} ${impl/raw/raw_libuv} >= ${TARGET[${impl}]}"
  done
done
echo "NOTE io echo_pingpong: 100 connections, 64 B, ${ROUND_TRIPS} round trips in all; echo_stream: 10 connections streaming 16 KiB chunks, ${MIB} MiB each; echo_pingpong1_core0: 1 connection, ${ROUND_TRIPS1} round trips, client and servers pinned to CPU 0 (//examples:echo_server)"

# Sets `instr` to the instructions of one callgrind run of server `impl`
# for `k` round trips on one connection (not in a subshell, so that the
# EXIT trap knows the server's PID).
callgrind_instructions() {
  local impl="$1" k="$2" file="${work}/callgrind.$1.$2"
  # shellcheck disable=SC2046
  START_SECONDS=60 start_server "callgrind" valgrind --tool=callgrind \
    --callgrind-out-file="${file}" $(server_cmd "${impl}" 300)
  "${bin}/benchmarks/echo_load" --port="${port[callgrind]}" \
    --scenario=pingpong --connections=1 --round_trips="${k}" \
    --max_seconds=120 >/dev/null
  stop_server callgrind
  [[ "${stopped_rc}" == 0 ]] || {
    echo "callgrind run of ${impl} did not exit 0" >&2
    exit 1
  }
  instr="$(awk '/^(summary|totals):/ { print $2; exit }' "${file}")"
}

if [[ "${CALLGRIND:-0}" == "1" ]]; then
  echo
  echo "server user-space instructions per round trip, 1 connection (callgrind)"
  for impl in evergreen raw asio; do
    callgrind_instructions "${impl}" 10000
    i1="${instr}"
    callgrind_instructions "${impl}" 30000
    i2="${instr}"
    awk -v n="${impl}" -v a="${i1}" -v b="${i2}" \
      'BEGIN { printf "  %-10s %8.1f\n", n, (b - a) / 20000 }'
  done
fi

echo "(runs took ${SECONDS} s after the build)"

# Stop every server by PID; each must exit 0 on SIGTERM.
status=0
for impl in "${IMPLS[@]}"; do
  stop_server "${impl}"
  if [[ "${stopped_rc}" != 0 ]]; then
    echo "${impl} server exited with ${stopped_rc} on SIGTERM" >&2
    status=1
  fi
done
exit "${status}"
