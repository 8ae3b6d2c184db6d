# Shared by the SLURM tests: exits 77 (skipped) without root or SLURM, else starts a throwaway one-node
# SLURM (local_slurm.sh) that the EXIT trap stops. Expects VFM, SRC and WORK (made here if missing).
for tool in munged mungekey slurmctld slurmd sbatch scontrol squeue scancel; do
  command -v "$tool" > /dev/null || { echo "SKIP: no $tool (apt-get install slurm-wlm munge)"; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "SKIP: slurmd must run as root"; exit 77; }
mkdir -p "$WORK"
VFM=$(realpath "$VFM")
export VFM OMP_NUM_THREADS=1
SLURM_DIR=$(mktemp -d /tmp/vfm-slurm.XXXXXX)  # short: munged's socket path must fit in 108 bytes
trap 'bash "$SRC/tests/launch/local_slurm.sh" stop "$SLURM_DIR"; rm -rf "$SLURM_DIR"' EXIT
bash "$SRC/tests/launch/local_slurm.sh" start "$SLURM_DIR"
export SLURM_CONF=$SLURM_DIR/slurm.conf

# until_step RUN_DIR JOB: until RUN_DIR has logged step 30 (at most 60 s, and only while JOB is queued).
until_step() {
  local metrics=$1/metrics.jsonl
  for _ in $(seq 600); do
    [ -f "$metrics" ] && grep -q '"step": *[3-9][0-9]' "$metrics" && return 0
    [ -n "$(squeue -h -j "$2")" ] || { echo "FAIL: job $2 ended before $1 reached step 30"; tail -n 3 "$WORK"/*.out; exit 1; }
    sleep 0.1
  done
  echo "FAIL: $1 did not reach step 30 within 60 s"; exit 1
}

# all_completed JOB TASKS: waits until array job JOB leaves the queue (at most 150 s); each of its TASKS
# (0 to TASKS-1) must have ended COMPLETED with exit code 0.
all_completed() {
  local start=$SECONDS i state
  while [ -n "$(squeue -h -j "$1")" ]; do
    (( SECONDS - start < 150 )) || { squeue -j "$1"; echo "FAIL: job $1 still queued after 150 s"; exit 1; }
    sleep 1
  done
  echo "job $1 done $(( SECONDS - start )) s after the signals"
  for (( i = 0; i < $2; i++ )); do
    state=$(scontrol -o show job "$1_$i" | grep -o 'JobState=[A-Z]* .* ExitCode=[0-9:]*' | sed 's/ .* / /')
    [ "$state" = "JobState=COMPLETED ExitCode=0:0" ] || { echo "FAIL: task $i: $state"; cat "$WORK"/*_$i.out; exit 1; }
  done
}
