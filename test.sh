#!/usr/bin/env bash
# Sets up (installs packages, builds) and runs the whole test suite; ends with ctest's summary.
set -euo pipefail
cd "$(dirname "$0")"
bash setup.sh build
# Every /usr file the repo reads must come from a package setup.sh installs (a fresh machine has no others).
tools/check-packaged-paths
# A second, checking build of the CPU code with AddressSanitizer and UndefinedBehaviorSanitizer: the parsers,
# decoders, shard reader, ops and the CLI's end-to-end runs (the tests labelled "sanitize").
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVFM_CUDA=OFF \
  -DVFM_SANITIZE=address,undefined > /dev/null
cmake --build build-sanitize -j"$(nproc)" --target vfm ops_test data_shard_test data_decode_test data_loader_test \
  data_augment_test data_shard_index_test data_shard_metadata_test data_shard_bitflip_test \
  data_convert_bad_input_test data_tiff_test export_test robustness_test
(cd build-sanitize && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest -L sanitize --output-on-failure --timeout 900 -j1)
cd build && ctest --output-on-failure --timeout 900 -j1
