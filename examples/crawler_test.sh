#!/bin/bash
# Runs the crawler on generated sites and checks the counts it prints
# against what the site's rules imply: page n links to n+1, n+2 and two
# other pages; pages n % 10 == 3 add a missing page, n % 25 == 7 an
# external one; with --faults, pages n % 50 in {13, 29, 41} answer badly.
set -euo pipefail
crawler="$1"
fail() { echo "FAIL: $*" >&2; exit 1; }

# run EXPECTED_EXIT ARGS...: runs the crawler (bounded), sets out and err.
run() {
  local want="$1" rc=0
  shift
  out="$(timeout 60 "${crawler}" "$@" 2>"${TEST_TMPDIR:-/tmp}/err")" || rc=$?
  err="$(cat "${TEST_TMPDIR:-/tmp}/err")"
  echo "crawler $*: exit ${rc}"
  echo "${out}"
  echo "${err}"
  [[ "${rc}" == "${want}" ]] || fail "exit ${rc}, expected ${want}"
}
expect() { grep -qF -- "$1" <<<"${out}" || fail "missing: $1"; }
# in_flight_at_most N: the reported peak of requests in flight is 1..N.
in_flight_at_most() {
  local peak
  peak="$(sed -n 's/.*at most \([0-9]*\) requests in flight$/\1/p' <<<"${out}")"
  [[ -n "${peak}" && "${peak}" -ge 1 && "${peak}" -le "$1" ]] ||
    fail "requests in flight '${peak}' not within 1..$1"
}

run 0 --pages=200 --concurrency=8
expect "site: 200 generated pages on http://127.0.0.1:"
expect "crawled 200 pages"
expect "20 not found, 0 errors, 8 external links skipped"
in_flight_at_most 8

run 0 --pages=1 --concurrency=1
expect "crawled 1 pages"
expect "0 not found, 0 errors, 0 external links skipped"
in_flight_at_most 1

run 0 --pages=3000 --concurrency=50
expect "crawled 3000 pages"
expect "300 not found, 0 errors, 120 external links skipped"
in_flight_at_most 50

# Faulty pages: 4 of each kind in 200; the cut pages 13, 63, 113, 163 are
# also among those linking to a missing page, so 4 fewer 404s are seen.
run 1 --pages=200 --concurrency=3 --faults --fetch_timeout=0.3
expect "crawled 188 pages"
expect "16 not found, 12 errors, 8 external links skipped"
in_flight_at_most 3
for n in 13 63 113 163; do
  grep -qF "GET /p/${n}: OUT_OF_RANGE: read 127.0.0.1:" <<<"${err}" ||
    fail "no cut-body error for page ${n}"
done
for n in 29 79 129 179; do
  grep -qF "GET /p/${n}: DATA_LOSS: bad status line" <<<"${err}" ||
    fail "no status-line error for page ${n}"
done
for n in 41 91 141 191; do
  grep -qF "GET /p/${n}: DEADLINE_EXCEEDED: no complete response" <<<"${err}" ||
    fail "no deadline error for page ${n}"
done

run 2 --pages=0
echo PASS
