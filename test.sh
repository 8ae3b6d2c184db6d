#!/usr/bin/env bash
# Sets up (installs packages, builds) and runs the whole test suite; ends with ctest's summary.
set -euo pipefail
cd "$(dirname "$0")"
bash setup.sh build
# Every /usr file the repo reads must come from a package setup.sh installs (a fresh machine has no others).
tools/check-packaged-paths
cd build && ctest --output-on-failure --timeout 900 -j1
