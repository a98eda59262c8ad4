#!/usr/bin/env bash
# The C harnesses on every instruction-set path: tests/c/test_gemm.c (the GEMM
# kernels) and tests/c/test_norm.c (the normalization loops, bit for bit with
# a scalar oracle), each built natively and run on each path this CPU
# supports (portable, avx2, avx512), then cross-compiled for aarch64 and run
# under qemu-user (portable, neon).  Not part of CI; the Python suite covers
# the native paths too, this is the only test of the NEON kernels on an x86
# machine.
#
#   tests/c/run_gemm.sh            # native, then aarch64
#   tests/c/run_gemm.sh native     # only the native build
#   tests/c/run_gemm.sh aarch64    # only the aarch64 build under qemu
#
# aarch64 needs (Debian/Ubuntu): apt-get install qemu-user gcc-aarch64-linux-gnu
# libc6-dev-arm64-cross.  Extra arguments after the target are path names
# passed to the harness (e.g. `tests/c/run_gemm.sh aarch64 neon`).
# Compiler flags are the extension's (setup.py): -O3 -ffp-contract=off
# -fno-math-errno -std=c11 -fopenmp, no -march.
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET=${1:-all}
shift || true
FLAGS=(-O3 -ffp-contract=off -fno-math-errno -std=c11 -fopenmp -Wall -Wextra -Werror -Icsrc)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
status=0

HARNESSES=(test_gemm test_norm)

if [ "$TARGET" = all ] || [ "$TARGET" = native ]; then
    for t in "${HARNESSES[@]}"; do
        echo "+ native ($(uname -m)): ${CC:-gcc} ${FLAGS[*]} tests/c/$t.c"
        "${CC:-gcc}" "${FLAGS[@]}" "tests/c/$t.c" -o "$OUT/$t" -lm
        "$OUT/$t" "$@" || status=1
    done
fi

if [ "$TARGET" = all ] || [ "$TARGET" = aarch64 ]; then
    CROSS=${CROSS_CC:-aarch64-linux-gnu-gcc}
    SYSROOT=${QEMU_LD_PREFIX:-/usr/aarch64-linux-gnu}
    if ! command -v "$CROSS" > /dev/null || ! command -v qemu-aarch64 > /dev/null; then
        echo "aarch64: needs $CROSS and qemu-aarch64 (apt-get install qemu-user" \
             "gcc-aarch64-linux-gnu libc6-dev-arm64-cross)" >&2
        exit 2
    fi
    for t in "${HARNESSES[@]}"; do
        echo "+ aarch64 (qemu-aarch64): $CROSS ${FLAGS[*]} tests/c/$t.c"
        "$CROSS" "${FLAGS[@]}" "tests/c/$t.c" -o "$OUT/${t}_aarch64" -lm
        qemu-aarch64 -L "$SYSROOT" "$OUT/${t}_aarch64" "$@" || status=1
    done
fi

exit $status
