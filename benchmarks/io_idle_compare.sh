#!/usr/bin/env bash
# io_idle_compare.sh: server memory per idle connection with CONNECTIONS
# (default 10000) connections open at once, //examples:echo_server (a task
# per connection, //runtime/io) against Boost.Asio stackful coroutines
# (//benchmarks:asio_spawn_echo_server), Node's `net`
# (benchmarks/node_net_echo_server.js) and, as the floor, raw libuv
# (//benchmarks:raw_uv_echo_server: one small struct per connection, no
# stack), in the same run (issue 7, "Benchmarks"; target: evergreen <= 16
# KiB per connection).
#
#   benchmarks/io_idle_compare.sh [REPS]
#
# Each repetition starts each server afresh (evergreen, asio, node, raw, in
# that order, REPS times, default 3), reads its VmRSS and RssAnon from
# /proc/PID/status once it listens, then runs `echo_load --scenario=idle`
# in another process: it opens the connections 100 at a time, ping-pongs one
# 64-byte message on each (checked: every connection was accepted and its
# task, coroutine or callback is serving it), prints "ready" and holds them
# all open. The server's VmRSS and RssAnon are read again (after a 0.5 s
# settle) and the deltas divided by CONNECTIONS are the memory per idle
# connection: everything the server keeps for one (task and stack, socket
# handle, buffers, allocator overhead); socket buffers in the kernel are
# not in RSS, and are the same for all. Then the client is stopped
# (SIGTERM, it must exit 0), then the server (SIGTERM, must exit 0).
#
# Needs `ulimit -n` above CONNECTIONS + 100 (client and server are separate
# processes: each needs one descriptor per connection). BIN_DIR=path uses
# binaries already built with -c opt there (no Bazel). Bounded: the client
# gives up after 120 s (exit 2) and holds at most 120 s; servers stop
# themselves after 300 s; the EXIT trap kills what is left, by PID.
# Also prints `RESULT <area> <metric> <impl> <value> <unit>` lines (one per
# run) and TARGET lines for //benchmarks:compare (format: benchmarks/README.md).
set -euo pipefail

cd "$(dirname "$0")/.."
readonly REPS="${1:-3}"
readonly CONNECTIONS="${CONNECTIONS:-10000}"
readonly TARGET_BYTES=16384
readonly IMPLS=(evergreen asio node raw)

command -v node >/dev/null || { echo "node is missing" >&2; exit 1; }
if (($(ulimit -n) < CONNECTIONS + 100)); then
  ulimit -n $((CONNECTIONS + 100)) 2>/dev/null || {
    echo "ulimit -n is $(ulimit -n): need more than ${CONNECTIONS} + 100" >&2
    exit 1
  }
fi
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

# kB of `field` (VmRSS, RssAnon) in /proc/<p>/status.
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# One repetition for server `impl`: appends "rss_bytes_per_conn
# anon_bytes_per_conn ready_seconds" to ${work}/idle.<impl>.
run() {
  local impl="$1" rss0 anon0 rss1 anon1 out
  case "${impl}" in
    evergreen) start_server "${impl}" "${bin}/examples/echo_server" --port=0 --max_seconds=300 ;;
    raw) start_server "${impl}" "${bin}/benchmarks/raw_uv_echo_server" --port=0 --max_seconds=300 ;;
    asio) start_server "${impl}" "${bin}/benchmarks/asio_spawn_echo_server" --port=0 --max_seconds=300 ;;
    node) start_server "${impl}" node benchmarks/node_net_echo_server.js 300 ;;
  esac
  rss0="$(status_kb "${pid[${impl}]}" VmRSS)"
  anon0="$(status_kb "${pid[${impl}]}" RssAnon)"
  "${bin}/benchmarks/echo_load" --port="${port[${impl}]}" --scenario=idle \
    --connections="${CONNECTIONS}" --max_seconds=120 --hold_seconds=120 \
    >"${work}/client.out" 2>&1 &
  pid[client]=$!
  while ! grep -q 'ready$' "${work}/client.out"; do
    if ! kill -0 "${pid[client]}" 2>/dev/null; then
      echo "echo_load --scenario=idle failed against ${impl}:" >&2
      cat "${work}/client.out" >&2
      exit 1
    fi
    sleep 0.1
  done
  sleep 0.5 # let the server finish what the last replies started
  rss1="$(status_kb "${pid[${impl}]}" VmRSS)"
  anon1="$(status_kb "${pid[${impl}]}" RssAnon)"
  stop_server client
  if [[ "${stopped_rc}" != 0 ]] || ! grep -q 'closed$' "${work}/client.out"; then
    echo "echo_load --scenario=idle against ${impl} did not end cleanly:" >&2
    cat "${work}/client.out" >&2
    exit 1
  fi
  out="$(grep 'ready$' "${work}/client.out")"
  stop_server "${impl}"
  if [[ "${stopped_rc}" != 0 ]]; then
    echo "${impl} server exited with ${stopped_rc} on SIGTERM" >&2
    exit 1
  fi
  awk -v r0="${rss0}" -v r1="${rss1}" -v a0="${anon0}" -v a1="${anon1}" \
    -v n="${CONNECTIONS}" -v s="$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<<"${out}")" \
    'BEGIN { printf "%.0f %.0f %s\n", (r1 - r0) * 1024 / n, (a1 - a0) * 1024 / n, s }' \
    >>"${work}/idle.${impl}"
  printf '  %-9s rss %s -> %s kB, anon %s -> %s kB; %s\n' "${impl}" "${rss0}" \
    "${rss1}" "${anon0}" "${anon1}" "${out}" >&2
}

echo "runs (interleaved ${IMPLS[*]}; ${REPS} each; ${CONNECTIONS} connections):" >&2
for _ in $(seq "${REPS}"); do
  for impl in "${IMPLS[@]}"; do run "${impl}"; done
done

echo
echo "${CONNECTIONS} idle connections: server memory per connection, median (min-max) of ${REPS} runs ($(date -u '+%F %H:%M UTC'), $(nproc) cores)"
printf '%-10s %-22s %-22s %-16s %s\n' server "VmRSS delta B/conn" \
  "RssAnon delta B/conn" "vs evergreen" "connect+echo s"
eg="$(median "${work}/idle.evergreen" 1)"
for impl in "${IMPLS[@]}"; do
  f="${work}/idle.${impl}"
  m="$(median "${f}" 1)"
  printf '%-10s %-22s %-22s %-16s %s\n' "${impl}" "${m} ($(spread "${f}" 1))" \
    "$(median "${f}" 2) ($(spread "${f}" 2))" \
    "$(awk -v m="${m}" -v e="${eg}" 'BEGIN { if (e > 0) printf "%.2fx", m / e; else print "-" }')" \
    "$(median "${f}" 3)"
done
awk -v e="${eg}" -v t="${TARGET_BYTES}" 'BEGIN {
  printf "evergreen: %.1f KiB per idle connection (target <= %d KiB: %s)\n",
    e / 1024, t / 1024, (e <= t ? "met" : "MISSED") }'
for impl in "${IMPLS[@]}"; do
  awk -v i="${impl/raw/raw_libuv}" '{ print "RESULT io idle_memory " i " " $1 " B/conn" }' \
    "${work}/idle.${impl}"
done
echo "TARGET io idle_memory - <= ${TARGET_BYTES}"
echo "NOTE io idle_memory: server VmRSS growth per connection with ${CONNECTIONS} idle connections open at once"
echo "(runs took ${SECONDS} s after the build)"
