#!/usr/bin/env bash
# A slow, lossy, briefly broken network slows the run but does not change it: with host 1's link limited
# to 100 Mbit/s (tbf), with 20 ms delay and 1% loss where the kernel has netem, and cut for 2 s mid-run
# (under --comm_timeout_s, 8 s: TCP retransmits), 4 ranks on 2 hosts finish with the weights and loss of
# 1 rank.
source "$(dirname "$0")/common.sh"
FLAGS=("${TINY[@]}" --drop_path=0 --checkpoint_every=4 --max_steps=12 --log_every=1 --comm_timeout_s=8)
"$VFM" pretrain "${FLAGS[@]}" --run_dir="$WORK/one" > "$WORK/one.log"
if have_netem; then
  shape 1 netem delay 20ms loss 1% rate 100mbit
  echo "host 1: 100 Mbit/s, 20 ms, 1% loss (netem)"
else
  shape 1 tbf rate 100mbit burst 64kb latency 50ms
  echo "host 1: 100 Mbit/s (tbf); this kernel has no netem: no added delay or loss"
fi
start_run shaped "${FLAGS[@]}"
wait_for_checkpoint "$WORK/shaped" 4
link_down 1
sleep 2
link_up 1
wait $RUN_PID || fail_with_log "the run did not survive the shaped, flapping link" "$RUN_LOG"
/usr/bin/python3 "$HERE/../trainer/compare_runs.py" "$WORK/one" "$WORK/shaped" 12 --loss
echo PASS
