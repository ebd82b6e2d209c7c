#!/usr/bin/env bash
# tls_compare.sh: TLS echo throughput and new TLS 1.3 handshakes per second
# of //examples:tls_echo_server (//tls's TlsStream on //loop) against Node's
# `tls` echo server (tls/testdata/node_echo_server.js) and `openssl
# s_server`, all driven by the same client, //benchmarks:tls_load, in the
# same run (issue 4, "Benchmarks").
#
#   benchmarks/tls_compare.sh [REPS]
#
# Every server uses tls/testdata/server.pem and server.key (ECDSA P-256
# certificate and key); the client offers TLS 1.3 only and never resumes.
# Scenarios (see tls_load.cc):
#   echo:       one connection writing 64 KiB SSL_writes for ECHO_SECONDS
#               (default 5) while it reads the echo back and checks every
#               byte; MB/s (10^6 bytes echoed per second). openssl s_server
#               has no binary echo mode (-rev reverses text lines), so it
#               is not in this scenario.
#   handshakes: CONCURRENCY (default 1) client threads, each connecting,
#               doing a full handshake, sending close_notify and waiting
#               for the server to close, for HANDSHAKE_SECONDS (default 5);
#               handshakes/s. With CA=1 the client also verifies the chain
#               (off by default: it is client CPU on the same 2 cores).
# The three servers run at once, each on a free 127.0.0.1 port (port 0, read
# back from its output, or from `ss` for s_server); runs are interleaved
# (evergreen, node, openssl, evergreen, ...) REPS times (default 3) so that
# drift hits all. Prints each server's median, min-max spread, and the
# ratios evergreen/peer of the medians against the targets: echo >= 1.2x
# Node, handshakes >= 1.0x openssl s_server. Also the servers' CPU time per
# unit of work (/proc/PID/schedstat; less sensitive to other load).
# BIN_DIR=path uses binaries already built with -c opt there (no Bazel).
# EVERGREEN_BIN=path runs that server binary instead (e.g. an older build,
# for before/after figures). S_TIME=1 adds `openssl s_time -new` against
# each server as a cross-check of the handshake rate (its own client:
# OpenSSL 3, 5 s each, one run; it prints connections per second of its own
# user CPU and connections per real second).
#
# Exits non-zero if a load run fails (a mismatched byte, an error, a
# timeout) or our server does not exit 0 on SIGTERM. Bounded: each load run
# gives up after 60 s; every server stops itself (ours and Node's through
# their max-seconds argument, s_server through `timeout`) after 900 s; the
# EXIT trap kills whatever is left, by PID.
# Also prints `RESULT <area> <metric> <impl> <value> <unit>` lines (one per
# run) and TARGET lines for //benchmarks:compare (format: benchmarks/README.md).
set -euo pipefail

cd "$(dirname "$0")/.."
readonly REPS="${1:-3}"
readonly ECHO_SECONDS="${ECHO_SECONDS:-5}"
readonly HANDSHAKE_SECONDS="${HANDSHAKE_SECONDS:-5}"
readonly CONCURRENCY="${CONCURRENCY:-1}"
readonly ECHO_TARGET=1.2
readonly HANDSHAKE_TARGET=1.0
readonly CERT="tls/testdata/server.pem" KEY="tls/testdata/server.key"
readonly SERVER_SECONDS=900

command -v node >/dev/null || { echo "node is missing" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl is missing" >&2; exit 1; }
if [[ -n "${BIN_DIR:-}" ]]; then
  bin="${BIN_DIR}"  # already built there (-c opt); skips Bazel
else
  ./bazelw build -c opt //examples:tls_echo_server //benchmarks:tls_load >&2
  bin="$(./bazelw info -c opt bazel-bin 2>/dev/null)"
fi
SECONDS=0
work="$(mktemp -d)"
declare -A pid port
child=""  # s_server's own PID, under `timeout` (a KILL does not reach it)
cleanup() {
  for impl in "${!pid[@]}"; do kill -KILL "${pid[${impl}]}" 2>/dev/null || true; done
  [[ -n "${child}" ]] && kill -KILL "${child}" 2>/dev/null || true
  rm -rf "${work}"
}
trap cleanup EXIT

# Waits until server `impl` printed "<prefix>127.0.0.1:PORT"; sets port[impl].
wait_port() {
  local impl="$1" prefix="$2"
  for _ in $(seq 100); do
    grep -q "^${prefix}" "${work}/${impl}.out" && break
    sleep 0.1
  done
  port[${impl}]="$(sed -n "s/^${prefix}127\.0\.0\.1:\([0-9]*\)\$/\1/p" \
    "${work}/${impl}.out")"
  [[ -n "${port[${impl}]}" ]] || {
    echo "${impl} did not start:" >&2
    cat "${work}/${impl}.out" >&2
    exit 1
  }
}

"${EVERGREEN_BIN:-${bin}/examples/tls_echo_server}" --port=0 --max_seconds="${SERVER_SECONDS}" \
  --cert="${CERT}" --key="${KEY}" >"${work}/evergreen.out" 2>&1 &
pid[evergreen]=$!
wait_port evergreen "listening on "

node tls/testdata/node_echo_server.js "${CERT}" "${KEY}" "${SERVER_SECONDS}" \
  TLS_AES_128_GCM_SHA256 \
  >"${work}/node.out" 2>&1 &
pid[node]=$!
wait_port node "listening on "

# s_server -quiet prints nothing, not even its port: find it with ss. It
# reads stdin (here /dev/null; -quiet implies -ign_eof) and runs until
# killed; `exec timeout` keeps its PID ours and bounds it.
(exec timeout "${SERVER_SECONDS}" openssl s_server -quiet \
  -accept 127.0.0.1:0 -cert "${CERT}" -key "${KEY}" \
  </dev/null >"${work}/openssl.out" 2>&1) &
pid[openssl]=$!
for _ in $(seq 100); do
  child="$(pgrep -P "${pid[openssl]}" || true)"
  if [[ -n "${child}" ]]; then
    port[openssl]="$(ss -Hltnp | grep "pid=${child}," |
      sed -n 's/.* 127\.0\.0\.1:\([0-9]*\) .*/\1/p' | head -1 || true)"
    [[ -n "${port[openssl]}" ]] && break
  fi
  sleep 0.1
done
[[ -n "${port[openssl]:-}" ]] || { echo "openssl s_server did not start" >&2; exit 1; }
# CPU time is read from s_server itself, not from `timeout`.
declare -A cpu_pid=([evergreen]="${pid[evergreen]}" [node]="${pid[node]}"
  [openssl]="${child}")

# CPU time (ns, user + sys) process `p` (all its threads) used so far.
cpu_ns() {
  local total=0 f
  for f in /proc/"$1"/task/*/schedstat; do
    total=$((total + $(awk '{ print $1 }' "${f}")))
  done
  echo "${total}"
}

# One load run: appends "rate server_cpu_seconds work_units" to
# ${work}/<scenario>.<impl>.
run() {
  local scenario="$1" impl="$2" out before after rate units
  local args=(--port="${port[${impl}]}" --scenario="${scenario}"
    --max_seconds=60)
  if [[ "${scenario}" == echo ]]; then
    args+=(--seconds="${ECHO_SECONDS}" --chunk_bytes=65536)
  else
    args+=(--seconds="${HANDSHAKE_SECONDS}" --concurrency="${CONCURRENCY}")
    [[ "${CA:-0}" == 1 ]] && args+=(--ca=tls/testdata/ca.pem)
  fi
  before="$(cpu_ns "${cpu_pid[${impl}]}")"
  out="$("${bin}/benchmarks/tls_load" "${args[@]}")" || {
    echo "tls_load failed against ${impl}: ${out}" >&2
    exit 1
  }
  after="$(cpu_ns "${cpu_pid[${impl}]}")"
  if [[ "${scenario}" == echo ]]; then
    rate="$(sed -n 's/.*mb_per_second=\([0-9.]*\).*/\1/p' <<<"${out}")"
    units="$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' <<<"${out}")"
  else
    rate="$(sed -n 's/.*handshakes_per_second=\([0-9.]*\).*/\1/p' <<<"${out}")"
    units="$(sed -n 's/.* handshakes=\([0-9]*\).*/\1/p' <<<"${out}")"
  fi
  echo "${rate} $(awk -v a="${before}" -v b="${after}" \
    'BEGIN { printf "%.6f", (b - a) / 1e9 }') ${units}" \
    >>"${work}/${scenario}.${impl}"
  printf '  %-10s %-9s %s\n' "${scenario}" "${impl}" "${out}" >&2
}

echo "runs (interleaved; ${REPS} each; client concurrency ${CONCURRENCY}):" >&2
for _ in $(seq "${REPS}"); do
  for impl in evergreen node; do run echo "${impl}"; done
done
for _ in $(seq "${REPS}"); do
  for impl in evergreen node openssl; do run handshakes "${impl}"; done
done

# Median of column `col` of file `f`.
median() {
  awk -v c="$2" '{ print $c }' "$1" | sort -g |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
spread() {
  awk '{ print $1 }' "$1" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 }
    END { printf "%.0f-%.0f", lo, hi }'
}
# Server CPU per unit: median over runs of cpu_seconds / units * scale.
cpu_per_unit() {
  awk -v k="$2" '{ if ($3 > 0) print $2 / $3 * k }' "$1" | sort -g |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
echo "TLS, median (min-max) of ${REPS} interleaved runs each ($(date -u +%F), $(nproc) cores, client concurrency ${CONCURRENCY})"
printf '%-11s %-14s %-20s %-20s %-20s\n' scenario unit evergreen node openssl
for scenario in echo handshakes; do
  unit="MB/s" impls=(evergreen node)
  [[ "${scenario}" == handshakes ]] && unit="handshakes/s" impls=(evergreen node openssl)
  line="$(printf '%-11s %-14s' "${scenario}" "${unit}")"
  for impl in evergreen node openssl; do
    if [[ -f "${work}/${scenario}.${impl}" ]]; then
      cell="$(median "${work}/${scenario}.${impl}" 1) ($(spread "${work}/${scenario}.${impl}"))"
    else
      cell="-"
    fi
    line+="$(printf ' %-20s' "${cell}")"
  done
  echo "${line}"
done
echo
eg="$(median "${work}/echo.evergreen" 1)"
nd="$(median "${work}/echo.node" 1)"
awk -v e="${eg}" -v n="${nd}" -v t="${ECHO_TARGET}" 'BEGIN {
  q = e / n; printf "echo:       evergreen/node    %.2fx (target >= %.1fx: %s)\n",
  q, t, (q >= t ? "met" : "MISSED") }'
eg="$(median "${work}/handshakes.evergreen" 1)"
nd="$(median "${work}/handshakes.node" 1)"
os="$(median "${work}/handshakes.openssl" 1)"
awk -v e="${eg}" -v n="${nd}" -v o="${os}" -v t="${HANDSHAKE_TARGET}" 'BEGIN {
  q = e / o; printf "handshakes: evergreen/openssl %.2fx (target >= %.1fx: %s); evergreen/node %.2fx\n",
  q, t, (q >= t ? "met" : "MISSED"), e / n }'
# Median over reps of each evergreen run against the peer's run next to it.
paired() {
  paste "${work}/$1.evergreen" "${work}/$1.$2" | awk '{ print $1 / $4 }' \
    >"${work}/$1.paired.$2"
  median "${work}/$1.paired.$2" 1
}
awk -v e="$(paired echo node)" -v o="$(paired handshakes openssl)" 'BEGIN {
  printf "paired (median of per-rep ratios): echo vs node %.2fx, handshakes vs openssl %.2fx\n", e, o }'
echo
echo "server CPU time per unit of work, median"
printf '%-11s %-16s %10s %10s %10s\n' scenario unit evergreen node openssl
for scenario in echo handshakes; do
  if [[ "${scenario}" == echo ]]; then
    unit="ms/GB echoed" scale=1e12
  else
    unit="us/handshake" scale=1e6
  fi
  line="$(printf '%-11s %-16s' "${scenario}" "${unit}")"
  for impl in evergreen node openssl; do
    if [[ -f "${work}/${scenario}.${impl}" ]]; then
      line+="$(printf ' %10.1f' "$(cpu_per_unit "${work}/${scenario}.${impl}" "${scale}")")"
    else
      line+="$(printf ' %10s' -)"
    fi
  done
  echo "${line}"
done

for scenario in echo handshakes; do
  unit="MB/s"
  [[ "${scenario}" == handshakes ]] && unit="handshakes/s"
  for impl in evergreen node openssl; do
    [[ -f "${work}/${scenario}.${impl}" ]] || continue
    awk -v s="${scenario}" -v i="${impl}" -v u="${unit}" \
      '{ print "RESULT tls " s " " i " " $1 " " u }' "${work}/${scenario}.${impl}"
  done
done
echo "TARGET tls echo node >= ${ECHO_TARGET}"
echo "TARGET tls handshakes openssl >= ${HANDSHAKE_TARGET}"
echo "NOTE tls echo: one connection, 64 KiB writes for ${ECHO_SECONDS} s, TLS 1.3 AES-128-GCM; handshakes: new TLS 1.3 handshakes, client concurrency ${CONCURRENCY}, ${HANDSHAKE_SECONDS} s (//examples:tls_echo_server, //benchmarks:tls_load)"

if [[ "${S_TIME:-0}" == "1" ]]; then
  echo
  echo "openssl s_time -new -time 5 (OpenSSL 3 client, TLS 1.3, no verification)"
  for impl in evergreen node openssl; do
    out="$(timeout 30 openssl s_time -connect "127.0.0.1:${port[${impl}]}" \
      -new -time 5 -tls1_3 2>&1 | grep -E 'connections/user sec|real seconds' |
      tr '\n' ' ' || true)"
    printf '  %-9s %s\n' "${impl}" "${out:-(no result)}"
  done
fi

echo "(runs took ${SECONDS} s after the build)"

# Stop every server by PID; ours must exit 0 on SIGTERM.
status=0
for impl in evergreen node openssl; do
  kill -TERM "${pid[${impl}]}"
  rc=0
  wait "${pid[${impl}]}" || rc=$?
  unset "pid[${impl}]"
  if [[ "${impl}" == evergreen && "${rc}" != 0 ]]; then
    echo "${impl} server exited with ${rc} on SIGTERM" >&2
    status=1
  fi
done
exit "${status}"
