#!/bin/bash
# Runs the main demo and checks what it prints: each section's values, the
# unwinding of the abandoned generator, and the consumer's result.
set -euo pipefail
out="$("$1")"
echo "${out}"
expect() {
  grep -qF -- "$1" <<<"${out}" || { echo "MISSING: $1" >&2; exit 1; }
}
expect "1. Fibonacci(12): 0 1 1 2 3 5 8 13 21 34 55 89"
expect "2. the first squares from an infinite generator: 1 4 9 16 25 36"
expect "Naturals: stack unwound, destructor ran"
expect "35  (through 4 nested generators)"
expect "the consumer caught: negative input"
expect "18 words sent"
expect "fibers     4"
[[ "$(tail -n 1 <<<"${out}")" == "done." ]] || { echo "no final 'done.'" >&2; exit 1; }
