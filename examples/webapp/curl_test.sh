#!/bin/bash
# The web demo with Debian's curl as the client: HTTP and HTTPS (through
# //runtime/io's TLS streams), keep-alive across requests, conditional and
# range requests, a chunked upload, malformed and traversal requests, and a
# graceful shutdown.
#
#   curl_test.sh WEBAPP CERT KEY CA
set -euo pipefail
readonly webapp="$1" cert="$2" key="$3" ca="$4"
readonly tmp="${TEST_TMPDIR:-$(mktemp -d)}"
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v curl >/dev/null || fail "curl is not installed (./bazelw installs it)"

pid=""
cleanup() { [[ -n "${pid}" ]] && kill -KILL "${pid}" 2>/dev/null || true; }
trap cleanup EXIT

# start ARGS...: runs the demo on a free port; sets pid, port and base.
start() {
  local out="${tmp}/server.out"
  : >"${out}"
  "${webapp}" --port=0 "$@" >"${out}" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "${out}")"
    [[ -n "${port}" ]] && return 0
    kill -0 "${pid}" 2>/dev/null || fail "the server exited: $(cat "${out}")"
    sleep 0.1  # polling the server's first line, bounded to 10 s
  done
  fail "no 'listening on' line within 10 s: $(cat "${out}")"
}

# stop: SIGTERM; the server must print "stopped" and exit 0 within 10 s.
stop() {
  kill -TERM "${pid}"
  local rc=0
  timeout 10 tail --pid="${pid}" -f /dev/null || fail "no exit within 10 s"
  wait "${pid}" || rc=$?
  pid=""
  [[ "${rc}" == 0 ]] || fail "exit status ${rc}"
  grep -q '^stopped$' "${tmp}/server.out" || fail "no 'stopped' line"
}

# status URL [CURL ARGS...]: prints the response status.
status() {
  local url="$1"
  shift
  curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$@" "${url}"
}
expect_eq() { [[ "$1" == "$2" ]] || fail "$3: got '$1', expected '$2'"; }

echo "== HTTP"
start
base="http://127.0.0.1:${port}"
expect_eq "$(curl -sS --max-time 10 "${base}/hello")" "Hello, World!" "/hello"
page="$(curl -sS --max-time 10 "${base}/")"
grep -q '<h1>evergreen</h1>' <<<"${page}" || fail "the page: ${page}"
stats="$(curl -sS --max-time 10 "${base}/api/stats")"
grep -q '"chat_users":0,' <<<"${stats}" || fail "stats: ${stats}"
ctype="$(curl -sS --max-time 10 -o /dev/null -w '%{content_type}' \
  "${base}/static/style.css")"
expect_eq "${ctype}" "text/css; charset=utf-8" "style.css's type"

# Keep-alive: three URLs in one curl run share one connection.
verbose="$(curl -sS -v --max-time 10 "${base}/hello" "${base}/api/stats" \
  "${base}/static/chat.js" -o /dev/null -o /dev/null -o /dev/null 2>&1)"
[[ "$(grep -c 'Re-using existing connection' <<<"${verbose}")" == 2 ]] ||
  fail "curl did not reuse the connection: ${verbose}"

# Conditional and range requests.
modified="$(curl -sS --max-time 10 -D - -o /dev/null "${base}/static/style.css" |
  sed -n 's/^Last-Modified: \(.*\)\r$/\1/p')"
[[ -n "${modified}" ]] || fail "no Last-Modified"
expect_eq "$(status "${base}/static/style.css" -H "If-Modified-Since: ${modified}")" \
  304 "If-Modified-Since"
expect_eq "$(curl -sS --max-time 10 -r 0-1 "${base}/static/style.css")" "/*" \
  "a range"
expect_eq "$(status "${base}/static/style.css" -r 999999-)" 416 "a range past the end"

# A chunked upload is read whole, then the route refuses the method.
expect_eq "$(status "${base}/api/stats" -H 'Transfer-Encoding: chunked' \
  --data-binary 'some body')" 405 "POST (chunked)"

# Errors, and the server stays up.
expect_eq "$(status "${base}/nope")" 404 "/nope"
expect_eq "$(status "${base}/static/../BUILD" --path-as-is)" 403 "traversal"
expect_eq "$(status "${base}/static/%2e%2e/BUILD" --path-as-is)" 403 \
  "encoded traversal"
expect_eq "$(status "${base}/$(head -c 9000 /dev/zero | tr '\0' a)")" 414 \
  "a long target"
expect_eq "$(status "${base}/" -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' b)")" \
  431 "a big header"
expect_eq "$(status "${base}/api/stats" --data-binary @<(head -c 2000000 /dev/zero))" \
  413 "a big body"
expect_eq "$(status "${base}/hello")" 200 "still up"
stop

echo "== HTTPS"
start --tls --cert="${cert}" --key="${key}"
base="https://localhost:${port}"
resolve=(--resolve "localhost:${port}:127.0.0.1" --cacert "${ca}")
expect_eq "$(curl -sS --max-time 10 "${resolve[@]}" "${base}/hello")" \
  "Hello, World!" "/hello over TLS"
verbose="$(curl -sS -v --max-time 10 "${resolve[@]}" "${base}/hello" \
  "${base}/api/stats" -o /dev/null -o /dev/null 2>&1)"
grep -q 'SSL connection using TLSv1.3' <<<"${verbose}" ||
  fail "no TLS 1.3: ${verbose}"
grep -q 'Re-using existing connection' <<<"${verbose}" ||
  fail "curl did not reuse the TLS connection: ${verbose}"
expect_eq "$(status "${base}/static/style.css" "${resolve[@]}")" 200 \
  "style.css over TLS"
# A client that does not trust the certificate fails its handshake; the
# server goes on.
if curl -sS --max-time 10 --resolve "localhost:${port}:127.0.0.1" \
  "${base}/hello" >/dev/null 2>&1; then
  fail "an untrusted certificate was accepted"
fi
expect_eq "$(status "${base}/hello" "${resolve[@]}")" 200 "still up"
stop
echo "PASS"
