# shellcheck shell=bash disable=SC2004,SC2034,SC2154
# io_lib.sh: helpers shared by io_echo_compare.sh, io_idle_compare.sh and
# io_tls_compare.sh (issue 7). Sourced, not run; expects `work` (a temp
# dir) and the associative arrays `pid` and `port` to exist.
#
#   source benchmarks/io_lib.sh
#   start_server evergreen "${bin}/examples/echo_server" --port=0
#   echo "${port[evergreen]}"

# Starts server `impl` running the command after it, its output in
# ${work}/<impl>.out; waits (START_SECONDS, default 10, at most) for its "listening on
# 127.0.0.1:PORT" line (anything may follow the port, e.g. " (tls)"); sets
# pid[impl] and port[impl]. Exits the script if it does not start.
start_server() {
  local impl="$1"
  shift
  "$@" >"${work}/${impl}.out" 2>&1 &
  pid[${impl}]=$!
  for _ in $(seq $((${START_SECONDS:-10} * 10))); do
    grep -q '^listening on' "${work}/${impl}.out" && break
    kill -0 "${pid[${impl}]}" 2>/dev/null || break
    sleep 0.1
  done
  port[${impl}]="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*$/\1/p' \
    "${work}/${impl}.out" | head -1)"
  [[ -n "${port[${impl}]}" ]] || {
    echo "${impl} did not start:" >&2
    cat "${work}/${impl}.out" >&2
    exit 1
  }
}

# Stops server `impl` with SIGTERM and waits for it; sets `stopped_rc` to
# its exit status. (Not in a $(...) subshell: only this shell can wait.)
stop_server() {
  local impl="$1"
  stopped_rc=0
  kill -TERM "${pid[${impl}]}" 2>/dev/null || true
  wait "${pid[${impl}]}" || stopped_rc=$?
  unset "pid[${impl}]"
}

# Kills (SIGKILL, by PID) every server still in `pid`: for the EXIT trap.
kill_servers() {
  local impl
  for impl in "${!pid[@]}"; do
    kill -KILL "${pid[${impl}]}" 2>/dev/null || true
  done
}

# CPU time (ns, user + sys) process `p` (all its threads) used so far.
cpu_ns() {
  local total=0 f
  for f in /proc/"$1"/task/*/schedstat; do
    total=$((total + $(awk '{ print $1 }' "${f}" 2>/dev/null || echo 0)))
  done
  echo "${total}"
}

# Median of column `col` (default 1) of file `f`.
median() {
  awk -v c="${2:-1}" '{ print $c }' "$1" | sort -g |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# "min-max" of column `col` (default 1) of file `f`, with `fmt` (default %.0f).
spread() {
  awk -v c="${2:-1}" '{ print $c }' "$1" | sort -g |
    awk -v f="${3:-%.0f}" 'NR == 1 { lo = $1 } { hi = $1 }
      END { printf f "-" f, lo, hi }'
}
