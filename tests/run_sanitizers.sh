#!/usr/bin/env bash
# Build fastnn with AddressSanitizer + UndefinedBehaviorSanitizer and run the
# whole test suite on that build (issue 14).  Run on request, not in CI: it
# takes about 10 minutes on 2 cores.
#
#   tests/run_sanitizers.sh            # -O1 -g
#   tests/run_sanitizers.sh -O0        # -O0 -g, Cython's own checks on (FASTNN_DEBUG=1)
#   tests/run_sanitizers.sh -O1 -x tests/test_kernels.py   # pytest arguments after the level
#
# It builds the committed HEAD in a temporary git worktree (your checkout's
# build is untouched), preloads the sanitizer runtimes into Python (which is
# not instrumented), and fails on the first error: ASan aborts on a memory
# error, UBSan halts on undefined behaviour (-fno-sanitize-recover).  Leak
# detection is off: CPython does not free everything at exit.  Needs gcc (or
# CC=clang with its runtimes) and the test extras installed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LEVEL=${1:--O1}
[ $# -gt 0 ] && shift
case "$LEVEL" in
    -O1) DEBUG=0 ;;
    -O0) DEBUG=1 ;;
    *) echo "usage: $0 [-O1|-O0] [pytest arguments]" >&2; exit 2 ;;
esac
CC=${CC:-gcc}
DIR=$(mktemp -d)/fastnn-sanitized
git -C "$ROOT" worktree add --quiet --detach "$DIR" HEAD
trap 'git -C "$ROOT" worktree remove --force "$DIR"' EXIT
cd "$DIR"
echo "+ CC=$CC FASTNN_SANITIZE=1 FASTNN_DEBUG=$DEBUG python setup.py build_ext --inplace"
CC=$CC FASTNN_SANITIZE=1 FASTNN_DEBUG=$DEBUG python setup.py build_ext --inplace -j 2 \
    > build.log 2>&1 || { tail -40 build.log; exit 1; }
runtimes="$($CC -print-file-name=libasan.so) $($CC -print-file-name=libubsan.so)"
export LD_PRELOAD="$runtimes"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:check_initialization_order=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
python -c "import fastnn; assert fastnn.config()['sanitize'], 'not a sanitized build'"
echo "+ python -m pytest -q $*"
python -m pytest -q -p no:cacheprovider "$@"
