#!/usr/bin/env bash
# Cross-compiles //fibers and its tests for aarch64 (AAPCS64, the assembly in
# fibers/internal/switch_aarch64.S) and runs them under qemu-user.
#
#   tests/aarch64/run.sh
#
# Outside Bazel: Bazel 4.2.3 from Debian has no aarch64 cross toolchain, so
# this calls Debian's cross g++ directly on the same sources, with the same
# warnings. Installs what it needs (root): the cross compiler, qemu-user and
# the arm64 builds of abseil and googletest (multiarch).
set -euo pipefail
cd "$(dirname "$0")/../.."

readonly PACKAGES=(g++-aarch64-linux-gnu qemu-user libabsl-dev:arm64
  libgtest-dev:arm64 libgmock-dev:arm64)
missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "${pkg}" 2>/dev/null || true)"
  [[ "${status}" == "installed" ]] || missing+=("${pkg}")
done
if ((${#missing[@]} > 0)); then
  echo "aarch64: installing ${missing[*]}" >&2
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
fi

readonly CXX=aarch64-linux-gnu-g++
readonly FLAGS=(-std=c++17 -O2 -g -Wall -Wextra -Werror -I. -pthread)
readonly ABSL=(-labsl_status -labsl_statusor -labsl_strerror -labsl_cord
  -labsl_cord_internal -labsl_cordz_functions -labsl_cordz_handle
  -labsl_cordz_info -labsl_exponential_biased -labsl_bad_optional_access
  -labsl_bad_variant_access -labsl_str_format_internal -labsl_strings
  -labsl_strings_internal -labsl_int128 -labsl_synchronization
  -labsl_graphcycles_internal -labsl_stacktrace -labsl_symbolize
  -labsl_debugging_internal -labsl_demangle_internal -labsl_malloc_internal
  -labsl_time -labsl_time_zone -labsl_civil_time -labsl_hash -labsl_city
  -labsl_low_level_hash -labsl_raw_hash_set -labsl_base
  -labsl_raw_logging_internal -labsl_log_severity -labsl_spinlock_wait
  -labsl_throw_delegate)
readonly GTEST=(-l:libgmock_main.a -l:libgmock.a -l:libgtest.a)
readonly LIB=(fibers/fiber.cc fibers/internal/stack_pool.cc
  fibers/internal/switch_aarch64.S)

out="$(mktemp -d "${TMPDIR:-/tmp}/evergreen-aarch64.XXXXXX")"
trap 'rm -rf "${out}"' EXIT

echo "aarch64: compiling with $(${CXX} --version | head -1)"
"${CXX}" "${FLAGS[@]}" "${LIB[@]}" fibers/fiber_test.cc -o "${out}/fiber_test" \
  "${GTEST[@]}" "${ABSL[@]}"
"${CXX}" "${FLAGS[@]}" "${LIB[@]}" fibers/internal/stack_pool_test.cc \
  -o "${out}/stack_pool_test" "${GTEST[@]}" "${ABSL[@]}"
file "${out}/fiber_test" | sed 's|.*/||'

status=0
for test in fiber_test stack_pool_test; do
  echo "aarch64: qemu-aarch64 ${test}"
  qemu-aarch64 -L / "${out}/${test}" ${GTEST_ARGS:-} || status=1
done
exit "${status}"
