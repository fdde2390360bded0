#!/usr/bin/env bash
# Line coverage of the protocol core (and the engine) from the unit tests:
#   bash scripts/coverage.sh        -> summary, HTML in build-cov/html
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cmake -S . -B build-cov -G Ninja -DCMAKE_BUILD_TYPE=Debug -DWGD_COVERAGE=ON -DWGD_BENCH=OFF >/dev/null
ninja -C build-cov
find build-cov -name '*.gcda' -delete
ctest --test-dir build-cov --output-on-failure -j "$(nproc)"
lcov --quiet --capture --directory build-cov --output-file build-cov/all.info
lcov --quiet --extract build-cov/all.info "$root/src/*" --output-file build-cov/src.info
genhtml --quiet build-cov/src.info --output-directory build-cov/html
core='crypto|noise|cookie|ratelimiter|replay|allowedips|index|addr|uapi'
lcov --list build-cov/src.info | grep -E "($core)\.c|Total"
echo "core modules:"
lcov --quiet --extract build-cov/src.info $(printf "$root/src/%s.c " ${core//|/ }) \
	--output-file build-cov/core.info
lcov --summary build-cov/core.info 2>&1 | grep -E 'lines|functions'
