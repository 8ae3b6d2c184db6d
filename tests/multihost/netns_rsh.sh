#!/usr/bin/env bash
# Open MPI's rsh agent (plm_rsh_agent) for the "hosts" of netns.sh: `netns_rsh.sh HOST COMMAND...` runs
# COMMAND in HOST's network namespace under HOST as its host name, from a clean environment as ssh would:
# what reaches a remote rank is only what mpirun forwards.
set -euo pipefail
host=$1
shift
exec env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="${HOME:-/root}" \
  ip netns exec "$VFM_NETNS_PREFIX$host" unshare --uts sh -c 'hostname "$0" && exec sh -c "$1"' "$host" "$*"
