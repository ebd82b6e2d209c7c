#!/usr/bin/env bash
# callgrind_http.sh: user-space instructions per keep-alive `GET /hello`,
# //examples/webapp against nginx (nginx-light, one worker process, no
# master), counted by valgrind --tool=callgrind (issue 9; exact and
# independent of machine load, unlike wrk's requests/s).
#
#   benchmarks/callgrind_http.sh            # K1=2000 K2=6000 requests, 16 connections
#   BIN_DIR=path benchmarks/callgrind_http.sh
#
# Each server runs under callgrind twice, for K1 and K2 requests sent by
# benchmarks/http_keepalive_load.py; (Ir(K2) - Ir(K1)) / (K2 - K1) is one
# request (start-up and shutdown cancel out). The kernel's share is not
# counted. Prints RESULT lines (benchmarks/README.md). Bounded: each server
# stops itself (SIGTERM / SIGQUIT after its load) and the EXIT trap kills
# whatever is left, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
readonly K1="${K1:-2000}" K2="${K2:-6000}" CONNS="${CONNS:-16}"
if [[ -n "${BIN_DIR:-}" ]]; then
  bin="${BIN_DIR}"
else
  ./bazelw build -c opt //examples/webapp >&2
  bin="$(./bazelw info -c opt bazel-bin 2>/dev/null)"
fi
readonly bin NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
work="$(mktemp -d "${TMPDIR:-/tmp}/callgrind_http.XXXXXX")"
readonly work
server_pid=""
trap 'rc=$?; [[ -z "${server_pid}" ]] || kill -KILL "${server_pid}" 2>/dev/null || true; rm -rf "${work}"; exit "${rc}"' EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# count IMPL K: instructions of a whole run serving K requests.
count() {
  local impl="$1" k="$2" port out="${work}/${impl}.${2}.cg"
  port="$(free_port)"
  if [[ "${impl}" == evergreen ]]; then
    valgrind --tool=callgrind --callgrind-out-file="${out}" \
      "${bin}/examples/webapp/webapp" --port="${port}" --max_seconds=300 \
      >"${work}/server.log" 2>&1 &
  else
    mkdir -p "${work}/nginx/logs"
    cat >"${work}/nginx/nginx.conf" <<CONF
master_process off;
daemon off;
worker_processes 1;
pid ${work}/nginx/nginx.pid;
error_log ${work}/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${work}/nginx/body;
  proxy_temp_path ${work}/nginx/proxy;
  fastcgi_temp_path ${work}/nginx/fastcgi;
  uwsgi_temp_path ${work}/nginx/uwsgi;
  scgi_temp_path ${work}/nginx/scgi;
  server {
    listen 127.0.0.1:${port};
    location = /hello { default_type text/plain; return 200 "Hello, World!\n"; }
  }
}
CONF
    valgrind --tool=callgrind --callgrind-out-file="${out}" "${NGINX}" \
      -p "${work}/nginx" -c "${work}/nginx/nginx.conf" \
      >"${work}/server.log" 2>&1 &
  fi
  server_pid=$!
  for _ in $(seq 300); do
    curl -s -o /dev/null "http://127.0.0.1:${port}/hello" && break
    sleep 0.1
  done
  # The probe above was one request more for both servers: it cancels out.
  local load_rc=0 server_rc=0 total
  timeout 300 python3 benchmarks/http_keepalive_load.py "${port}" "${k}" \
    "${CONNS}" >&2 || load_rc=$?
  if [[ "${impl}" == evergreen ]]; then kill -TERM "${server_pid}"; else kill -QUIT "${server_pid}"; fi
  wait "${server_pid}" || server_rc=$?
  server_pid=""
  total="$(awk '/^(summary|totals):/ { print $2; exit }' "${out}" 2>/dev/null)"
  if ((load_rc != 0 || server_rc != 0)) || [[ -z "${total}" ]]; then
    echo "callgrind_http: ${impl}, ${k} requests: load exit ${load_rc}, server exit ${server_rc}, total '${total}'" >&2
    cat "${work}/server.log" >&2
    return 1
  fi
  echo "${total}"
}

echo "user-space instructions per keep-alive GET /hello (callgrind, K1=${K1} K2=${K2}, ${CONNS} connections)"
for impl in evergreen nginx; do
  # (A function's failure inside $(...) does not stop a set -e script.)
  a="$(count "${impl}" "${K1}")" || exit 1
  b="$(count "${impl}" "${K2}")" || exit 1
  per=$(((b - a) / (K2 - K1)))
  printf '  %-10s %8d\n' "${impl}" "${per}"
  echo "RESULT web hello_instructions ${impl} ${per} instructions"
done
echo "NOTE web hello_instructions: user-space instructions per request under callgrind, ${CONNS} keep-alive connections (the kernel's share not counted)"
