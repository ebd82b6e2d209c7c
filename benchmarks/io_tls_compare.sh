#!/usr/bin/env bash
# io_tls_compare.sh: TLS echo throughput of //examples:echo_server --tls
# (//runtime/io's TlsStream, a task per connection) against Node's `tls`
# echo server (tls/testdata/node_echo_server.js, as in tls_compare.sh) and,
# for reference, //examples:tls_echo_server (//tls on //loop callbacks),
# all driven by //benchmarks:tls_load in the same run (issue 7,
# "Benchmarks"; target: evergreen >= 1.2x Node).
#
#   benchmarks/io_tls_compare.sh [REPS]
#
# Every server uses tls/testdata/server.pem and server.key (ECDSA P-256) and
# negotiates TLS 1.3 with TLS_AES_128_GCM_SHA256 (Node is given that suite:
# its own order puts AES-256 first). Scenario (see tls_load.cc): one
# connection writing 64 KiB SSL_writes for ECHO_SECONDS (default 5) while
# it reads the echo back and checks every byte; MB/s (10^6 bytes echoed per
# second). The servers run at once, each on a free 127.0.0.1 port; runs go
# evergreen, node, loop, evergreen, ... REPS times (default 3). Prints each
# server's median and min-max, the ratio evergreen/node of the medians and
# the median of the per-repetition ratios, and each server's CPU time per
# GB echoed (/proc/PID/task/*/schedstat).
#
# BIN_DIR=path uses binaries already built with -c opt there (no Bazel).
# Exits non-zero if a load run fails (a mismatched byte, an error, a
# timeout) or one of our servers does not exit 0 on SIGTERM. Bounded: each
# load run gives up after 60 s, each server stops itself after 900 s, and
# the EXIT trap kills, by PID, whatever is left.
# Also prints `RESULT <area> <metric> <impl> <value> <unit>` lines (one per
# run) and TARGET lines for //benchmarks:compare (format: benchmarks/README.md).
set -euo pipefail

cd "$(dirname "$0")/.."
readonly REPS="${1:-3}"
readonly ECHO_SECONDS="${ECHO_SECONDS:-5}"
readonly TARGET=1.2
readonly CERT="tls/testdata/server.pem" KEY="tls/testdata/server.key"
readonly SERVER_SECONDS=900
readonly IMPLS=(evergreen node loop)

command -v node >/dev/null || { echo "node is missing" >&2; exit 1; }
if [[ -n "${BIN_DIR:-}" ]]; then
  bin="${BIN_DIR}"
else
  ./bazelw build -c opt //examples:echo_server //examples:tls_echo_server \
    //benchmarks:tls_load >&2
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

start_server evergreen "${bin}/examples/echo_server" --tls --cert="${CERT}" \
  --key="${KEY}" --port=0 --max_seconds="${SERVER_SECONDS}"
start_server node node tls/testdata/node_echo_server.js "${CERT}" "${KEY}" \
  "${SERVER_SECONDS}" TLS_AES_128_GCM_SHA256
start_server loop "${bin}/examples/tls_echo_server" --cert="${CERT}" \
  --key="${KEY}" --port=0 --max_seconds="${SERVER_SECONDS}"

# One load run: appends "mb_per_second server_cpu_seconds bytes" to
# ${work}/echo.<impl>.
run() {
  local impl="$1" out before after
  before="$(cpu_ns "${pid[${impl}]}")"
  out="$("${bin}/benchmarks/tls_load" --port="${port[${impl}]}" \
    --scenario=echo --seconds="${ECHO_SECONDS}" --chunk_bytes=65536 \
    --max_seconds=60)" || {
    echo "tls_load failed against ${impl}: ${out}" >&2
    exit 1
  }
  after="$(cpu_ns "${pid[${impl}]}")"
  echo "$(sed -n 's/.*mb_per_second=\([0-9.]*\).*/\1/p' <<<"${out}") $(awk \
    -v a="${before}" -v b="${after}" 'BEGIN { printf "%.6f", (b - a) / 1e9 }') $(sed \
    -n 's/.* bytes=\([0-9]*\).*/\1/p' <<<"${out}")" >>"${work}/echo.${impl}"
  printf '  %-9s %s\n' "${impl}" "${out}" >&2
}

echo "runs (interleaved ${IMPLS[*]}; ${REPS} each):" >&2
for _ in $(seq "${REPS}"); do
  for impl in "${IMPLS[@]}"; do run "${impl}"; done
done

echo
echo "TLS echo MB/s, one connection, median (min-max) of ${REPS} interleaved runs ($(date -u '+%F %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-10s %-20s %s\n' server "MB/s" "server CPU ms/GB echoed"
for impl in "${IMPLS[@]}"; do
  f="${work}/echo.${impl}"
  printf '%-10s %-20s %.1f\n' "${impl}" "$(median "${f}") ($(spread "${f}"))" \
    "$(awk '{ if ($3 > 0) print $2 / $3 * 1e12 }' "${f}" >"${f}.cpu"; median "${f}.cpu")"
done
paste "${work}/echo.evergreen" "${work}/echo.node" | awk '{ print $1 / $4 }' \
  >"${work}/paired"
awk -v e="$(median "${work}/echo.evergreen")" -v n="$(median "${work}/echo.node")" \
  -v l="$(median "${work}/echo.loop")" -v p="$(median "${work}/paired")" -v t="${TARGET}" \
  'BEGIN { q = e / n;
    printf "evergreen/node %.2fx [median of per-repetition ratios %.2fx] (target >= %.1fx: %s); evergreen/loop %.2fx\n",
      q, p, t, (q >= t ? "met" : "MISSED"), e / l }'
for impl in "${IMPLS[@]}"; do
  awk -v i="${impl/loop/tls_on_loop}" '{ print "RESULT io tls_echo " i " " $1 " MB/s" }' \
    "${work}/echo.${impl}"
done
echo "TARGET io tls_echo node >= ${TARGET}"
echo "NOTE io tls_echo: one connection, 64 KiB writes for ${ECHO_SECONDS} s, TLS 1.3 AES-128-GCM (//examples:echo_server --tls; tls_on_loop is //examples:tls_echo_server)"
echo "(runs took ${SECONDS} s after the build)"

status=0
for impl in "${IMPLS[@]}"; do
  stop_server "${impl}"
  if [[ "${impl}" != node && "${stopped_rc}" != 0 ]]; then
    echo "${impl} server exited with ${stopped_rc} on SIGTERM" >&2
    status=1
  fi
done
exit "${status}"
