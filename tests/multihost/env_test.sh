#!/usr/bin/env bash
# launch/mpirun.sh passes the environment launch/README.md documents to ranks on other hosts, which start
# from a clean environment (netns_rsh.sh, as over ssh): a rank on vfm-h1 prints what it got. A variable
# that is not on the list must not arrive (otherwise the test would prove nothing).
set -euo pipefail
source "$(dirname "$0")/netns.sh"
netns_up 2
export NCCL_SOCKET_IFNAME=vfm-eth NCCL_IB_HCA=mlx5_0:1 NCCL_IB_DISABLE=1 NCCL_NET_GDR_LEVEL=PHB
export UCX_NET_DEVICES=vfm-eth CUDA_VISIBLE_DEVICES=0 NCCL_DEBUG=INFO OMP_NUM_THREADS=3
export OMPI_MCA_btl_vader_single_copy_mechanism=none VFM_NOT_FORWARDED=1
documented=(OMP_NUM_THREADS NCCL_DEBUG NCCL_SOCKET_IFNAME NCCL_IB_HCA NCCL_IB_DISABLE NCCL_NET_GDR_LEVEL
            UCX_NET_DEVICES CUDA_VISIBLE_DEVICES OMPI_MCA_btl_vader_single_copy_mechanism)
out=$(on_host 0 timeout -s KILL 60 "$SRC/launch/mpirun.sh" -n 2 -N 1 --cpu -H "$NETNS_HOSTFILE" -- \
      bash -c '[ "$(hostname)" != vfm-h1 ] || env' 2>&1)
[ -n "$out" ] || { echo "FAIL: no output from the rank on vfm-h1"; exit 1; }
for var in "${documented[@]}"; do
  grep -qx "$var=${!var}" <<< "$out" || { echo "FAIL: $var=${!var} did not reach vfm-h1"; echo "$out"; exit 1; }
  echo "vfm-h1 got $var=${!var}"
done
! grep -q "^VFM_NOT_FORWARDED=" <<< "$out" || { echo "FAIL: an undocumented variable reached vfm-h1"; exit 1; }
echo PASS
