#!/usr/bin/env bash
# Exposed communication against link speed: bench_reducer on 2 hosts (network namespaces, one rank each,
# MPI over TCP: tests/multihost/netns.sh) with both directions of host 1's link limited by tbf to each
# bandwidth in turn. Appends one CSV row per bandwidth to bench/results/multihost_overlap.csv:
#   link_mbit,latency_ms,ranks,hosts,grad_bytes,step_s,comm_exposed_s,model
# step_s is the median overlapped step, comm_exposed_s its median wait for communication after backward.
# Run as root from the repo root, under the build lock:
#   flock /tmp/vfm-build.lock bash bench/distributed/multihost_overlap.sh [BENCH] [MBIT...]
set -euo pipefail
bench=${1:-build/bench_reducer}
shift || true
bandwidths=("$@")
[ ${#bandwidths[@]} -gt 0 ] || bandwidths=(1000 300 100)
SRC=$(pwd)
source tests/multihost/netns.sh
netns_up 2
csv=bench/results/multihost_overlap.csv
[ -s $csv ] || echo "link_mbit,latency_ms,ranks,hosts,grad_bytes,step_s,comm_exposed_s,model" > $csv
args=(--arch=vit_tiny --steps=4)   # ViT-Ti/16 at 96 px, K = 8192, batch 4 per rank, 25 MiB buckets
for mbit in "${bandwidths[@]}"; do
  shape 1 tbf rate "${mbit}mbit" burst 256kb latency 100ms
  out=$(on_host 0 env OMP_NUM_THREADS=1 "$SRC/launch/mpirun.sh" -n 2 -N 1 --cpu -H "$NETNS_HOSTFILE" -- \
        "$SRC/$bench" "${args[@]}" 2>&1)
  echo "--- ${mbit} Mbit/s"
  echo "$out" | grep -E "config|gradients|communication|\|"
  figures=$(echo "$out" | grep "^figures:")
  get() { echo "$figures" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  echo "$mbit,0,2,2,$(get grad_bytes),$(get step_s),$(get comm_exposed_s),vit_tiny/16 img96 K8192 batch4/rank" >> $csv
done
