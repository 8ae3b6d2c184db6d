# Sourced by the multi-host tests (run as root): "hosts" that are network namespaces on this machine, each
# with its own address and host name, linked by veth pairs to a private bridge that lives in a namespace
# of its own, so that nothing outside the namespaces this file creates is touched. Ranks start on them
# through launch/mpirun.sh -H with netns_rsh.sh as Open MPI's rsh agent, MPI over TCP on the test subnet.
#
#   source tests/multihost/netns.sh
#   netns_up 2                      # hosts vfm-h0 (10.R.S.10) and vfm-h1 (10.R.S.11); hostfile $NETNS_HOSTFILE
#   on_host 0 launch/mpirun.sh -n 4 -N 2 -H "$NETNS_HOSTFILE" -- ...   # mpirun itself runs on host 0
#   link_down 1; link_up 1; shape 1 tbf rate 100mbit burst 64kb latency 50ms
#
# Everything is removed on exit (an EXIT trap), whether the test passed or not. Exits with status 77 (the
# test's SKIP_RETURN_CODE) when not root or without network namespaces.
NETNS_SKIP=77
if [ "$(id -u)" != 0 ]; then echo "SKIP: multi-host tests need root (network namespaces)"; exit $NETNS_SKIP; fi
for tool in ip unshare mpirun; do
  command -v $tool > /dev/null || { echo "SKIP: multi-host tests need '$tool'"; exit $NETNS_SKIP; }
done

# Names unique to this test process: namespaces vfm-<pid>-*, subnet 10.<100 + pid / 256 % 128>.<pid % 256>.0/24
# (private to the namespaces: it cannot clash with any network outside them).
NETNS_ID=$$
export VFM_NETNS_PREFIX="vfm-$NETNS_ID-"
NETNS_SUBNET="10.$(( 100 + NETNS_ID / 256 % 128 )).$(( NETNS_ID % 256 ))"
NETNS_SWITCH="${VFM_NETNS_PREFIX}switch"
NETNS_COUNT=0

# The address of host I.
host_addr() { echo "$NETNS_SUBNET.$(( 10 + $1 ))"; }

# netns_up N: N hosts vfm-h0.. on the bridge, a hostfile ($NETNS_HOSTFILE, one slot per core each) and the
# Open MPI environment that keeps MPI on the test subnet.
netns_up() {
  NETNS_COUNT=$1
  trap netns_down EXIT
  ip netns add "$NETNS_SWITCH" || { echo "SKIP: cannot create a network namespace"; exit $NETNS_SKIP; }
  ip -n "$NETNS_SWITCH" link add vfm-br type bridge || { echo "SKIP: cannot create a bridge"; exit $NETNS_SKIP; }
  ip -n "$NETNS_SWITCH" link set vfm-br up
  NETNS_HOSTFILE=$(mktemp "/tmp/${VFM_NETNS_PREFIX}hosts.XXXX")
  for ((i = 0; i < NETNS_COUNT; i++)); do
    local ns="${VFM_NETNS_PREFIX}vfm-h$i"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # vfm-eth in the host, vfm-h<i> on the bridge.
    ip -n "$ns" link add vfm-eth type veth peer name "vfm-h$i" netns "$NETNS_SWITCH"
    ip -n "$NETNS_SWITCH" link set "vfm-h$i" master vfm-br up
    ip -n "$ns" addr add "$(host_addr $i)/24" dev vfm-eth
    ip -n "$ns" link set vfm-eth up
    echo "vfm-h$i slots=$(nproc)" >> "$NETNS_HOSTFILE"
  done
  export OMPI_MCA_plm_rsh_agent="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/netns_rsh.sh"
  export OMPI_MCA_pml=ob1 OMPI_MCA_btl=tcp,self
  export OMPI_MCA_btl_tcp_if_include="$NETNS_SUBNET.0/24" OMPI_MCA_oob_tcp_if_include="$NETNS_SUBNET.0/24"
}

# Kills every process left in the hosts (a daemon cut off by a fault may outlive mpirun), then removes them.
netns_down() {
  local rc=$?
  for ((i = 0; i < NETNS_COUNT; i++)); do
    local ns="${VFM_NETNS_PREFIX}vfm-h$i" pids
    pids=$(ip netns pids "$ns" 2> /dev/null || true)
    [ -z "$pids" ] || kill -CONT $pids 2> /dev/null || true
    [ -z "$pids" ] || kill -KILL $pids 2> /dev/null || true
    ip netns del "$ns" 2> /dev/null || true
  done
  ip netns del "$NETNS_SWITCH" 2> /dev/null || true
  [ -z "${NETNS_HOSTFILE:-}" ] || rm -f "$NETNS_HOSTFILE" "$NETNS_HOSTFILE".*
  exit $rc
}

# on_host I COMMAND...: runs COMMAND on host I (its namespace and host name), as mpirun would start it.
on_host() {
  local i=$1
  shift
  ip netns exec "${VFM_NETNS_PREFIX}vfm-h$i" unshare --uts bash -c 'hostname "$0" && exec "$@"' "vfm-h$i" "$@"
}

# The PIDs of processes on host I.
host_pids() { ip netns pids "${VFM_NETNS_PREFIX}vfm-h$1"; }
# Host I's link to the bridge (its cable, as it were): cut or restored.
link_down() { ip -n "$NETNS_SWITCH" link set "vfm-h$1" down; }
link_up() { ip -n "$NETNS_SWITCH" link set "vfm-h$1" up; }
# shape I QDISC...: the queueing discipline QDISC (tc: "tbf rate 100mbit burst 64kb latency 50ms",
# "netem delay 20ms loss 1%") on both directions of host I's link.
shape() {
  local i=$1
  shift
  tc -n "${VFM_NETNS_PREFIX}vfm-h$i" qdisc replace dev vfm-eth root "$@"
  tc -n "$NETNS_SWITCH" qdisc replace dev "vfm-h$i" root "$@"
}
# Whether this kernel has netem (sch_netem; some VM kernels lack it): tried on the bridge's own queue.
have_netem() { tc -n "$NETNS_SWITCH" qdisc replace dev vfm-br root netem delay 1ms 2> /dev/null; }
