#!/usr/bin/env bash
# http_compare.sh: a plain-text hello on keep-alive connections, served by
# //examples/webapp (GET /hello, //runtime/http on one thread) against
# nginx (Debian's nginx-light, one worker) and Node's `http`
# (node_http_hello_server.js), each loaded by `wrk -t1 -c64` in the same
# run (issue 9's benchmark: targets >= 0.9x nginx, >= 2x Node).
#
#   benchmarks/http_compare.sh [REPS]          # default 3 repetitions
#   DURATION=2 benchmarks/http_compare.sh 1    # a quick run
#   BIN_DIR=path benchmarks/http_compare.sh    # binaries built -c opt there
#
# All three answer "Hello, World!\n" as text/plain with Content-Length.
# Every server is pinned to CPU 0 and wrk to CPU 1 (taskset), so that each
# server has one core, as the single-threaded ones can use no more; the
# runs go evergreen, nginx, node, evergreen, ... REPS times, DURATION
# seconds each (default 5), so that drift hits all. Prints each server's
# requests/s median and min-max, the ratios against the targets, and the
# RESULT/TARGET/NOTE lines of benchmarks/README.md.
#
# Exits non-zero if a server does not start, wrk reports errors or non-2xx
# answers, or a server does not exit 0 on SIGTERM. Bounded: evergreen and
# Node stop themselves after 300 s, each wrk run is killed 30 s after its
# duration, and the EXIT trap kills, by PID, whatever is left (nginx too).
set -euo pipefail

cd "$(dirname "$0")/.."
readonly REPS="${1:-3}"
readonly DURATION="${DURATION:-5}"
readonly CONNECTIONS=64
readonly IMPLS=(evergreen nginx node)
for tool in wrk nginx node taskset; do
  command -v "${tool}" >/dev/null ||
    [[ -x "/usr/sbin/${tool}" ]] || {
    echo "http_compare: ${tool} is missing (./bazelw installs it)" >&2
    exit 1
  }
done
readonly NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

if [[ -n "${BIN_DIR:-}" ]]; then
  bin="${BIN_DIR}"
else
  ./bazelw build -c opt //examples/webapp >&2
  bin="$(./bazelw info -c opt bazel-bin 2>/dev/null)"
fi
readonly bin

work="$(mktemp -d "${TMPDIR:-/tmp}/http_compare.XXXXXX")"
readonly work
declare -A pid port
source benchmarks/io_lib.sh
declare -A cpu_pid=()
# nginx's worker too: killing its master with SIGKILL would orphan it.
cleanup() {
  local rc=$?
  kill_servers
  if [[ -n "${cpu_pid[nginx]:-}" ]]; then
    kill -KILL "${cpu_pid[nginx]}" 2>/dev/null || true
  fi
  rm -rf "${work}"
  exit "${rc}"  # the script's own status, not the last kill's
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# nginx: one worker, no logs, the same hello on /hello.
nginx_port="$(free_port)"
mkdir -p "${work}/nginx/logs"
cat >"${work}/nginx/nginx.conf" <<CONF
worker_processes 1;
pid ${work}/nginx/nginx.pid;
error_log ${work}/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 15s;
  client_body_temp_path ${work}/nginx/body;
  proxy_temp_path ${work}/nginx/proxy;
  fastcgi_temp_path ${work}/nginx/fastcgi;
  uwsgi_temp_path ${work}/nginx/uwsgi;
  scgi_temp_path ${work}/nginx/scgi;
  server {
    listen 127.0.0.1:${nginx_port} backlog=511;
    location = /hello {
      default_type text/plain;
      return 200 "Hello, World!\n";
    }
  }
}
CONF

start_server evergreen taskset -c 0 "${bin}/examples/webapp/webapp" \
  --port=0 --max_seconds=300
start_server node taskset -c 0 node benchmarks/node_http_hello_server.js 300
# nginx prints nothing: announce its port, then become nginx (same PID).
start_server nginx taskset -c 0 bash -c \
  "echo listening on 127.0.0.1:${nginx_port}; exec ${NGINX} -p ${work}/nginx \
   -c ${work}/nginx/nginx.conf -g 'daemon off;'"
for _ in $(seq 100); do  # nginx binds after announcing: wait until it answers
  curl -s -o /dev/null "http://127.0.0.1:${nginx_port}/hello" && break
  sleep 0.1
done

# Whose CPU time counts: the server's, and for nginx its worker's.
cpu_pid[evergreen]="${pid[evergreen]}"
cpu_pid[node]="${pid[node]}"
cpu_pid[nginx]="$(pgrep -P "${pid[nginx]}" | head -1)"
[[ -n "${cpu_pid[nginx]}" ]] || {
  echo "no nginx worker process" >&2
  exit 1
}

# The three must answer the same body.
for impl in "${IMPLS[@]}"; do
  body="$(curl -sS --max-time 5 "http://127.0.0.1:${port[${impl}]}/hello")"
  [[ "${body}" == "Hello, World!" ]] || {
    echo "${impl} answered '${body}'" >&2
    exit 1
  }
done

echo "wrk -t1 -c${CONNECTIONS} -d${DURATION}s, ${REPS} interleaved runs; servers on CPU 0, wrk on CPU 1 ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
for rep in $(seq "${REPS}"); do
  for impl in "${IMPLS[@]}"; do
    out="${work}/wrk.${impl}.${rep}"
    cpu0="$(cpu_ns "${cpu_pid[${impl}]}")"
    timeout $((DURATION + 30)) taskset -c 1 wrk -t1 -c"${CONNECTIONS}" \
      -d"${DURATION}s" "http://127.0.0.1:${port[${impl}]}/hello" >"${out}"
    cpu1="$(cpu_ns "${cpu_pid[${impl}]}")"
    if grep -qE 'Socket errors|Non-2xx' "${out}"; then
      echo "${impl}: wrk saw errors:" >&2
      cat "${out}" >&2
      exit 1
    fi
    rps="$(awk '/^Requests\/sec:/ { print $2 }' "${out}")"
    requests="$(awk '/requests in/ { print $1 }' "${out}")"
    [[ -n "${rps}" && -n "${requests}" && "${requests}" -gt 0 ]] || {
      echo "${impl}: no figures from wrk:" >&2
      cat "${out}" >&2
      exit 1
    }
    echo "${rps}" >>"${work}/${impl}.rps"
    awk -v a="${cpu0}" -v b="${cpu1}" -v n="${requests}" \
      'BEGIN { printf "%.3f\n", (b - a) / n / 1000 }' >>"${work}/${impl}.cpu"
    echo "RESULT web hello_keepalive ${impl} ${rps} requests/s"
  done
done

echo
printf '%-10s %14s %22s %22s\n' server requests/s "min-max" \
  "server CPU us/request"
for impl in "${IMPLS[@]}"; do
  printf '%-10s %14.0f %22s %22s\n' "${impl}" \
    "$(median "${work}/${impl}.rps")" "$(spread "${work}/${impl}.rps")" \
    "$(median "${work}/${impl}.cpu")"
done
ours="$(median "${work}/evergreen.rps")"
for peer_target in nginx:0.9 node:2; do
  peer="${peer_target%%:*}"
  target="${peer_target##*:}"
  theirs="$(median "${work}/${peer}.rps")"
  awk -v a="${ours}" -v b="${theirs}" -v t="${target}" -v p="${peer}" \
    'BEGIN { r = a / b; printf "evergreen / %-6s %.2fx (target >= %sx: %s)\n",
             p, r, t, (r >= t) ? "met" : "MISSED" }'
  echo "TARGET web hello_keepalive ${peer} >= ${target}"
done
echo "NOTE web wrk -t1 -c${CONNECTIONS} -d${DURATION}s on keep-alive connections, GET /hello answered with a 14-byte text/plain body; each server pinned to one core (taskset), wrk on the other"

for impl in "${IMPLS[@]}"; do
  stop_server "${impl}"
  [[ "${stopped_rc}" == 0 ]] || {
    echo "${impl} exited ${stopped_rc} on SIGTERM" >&2
    exit 1
  }
done
