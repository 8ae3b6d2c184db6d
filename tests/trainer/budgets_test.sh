#!/usr/bin/env bash
# Budgets that end cleanly (trainer/budget.h) and the compute account (trainer/compute_account.h):
#   --budget_images: the run stops at its step, the schedules at their final values there; the account's
#     FLOPs equal the documented formula (trainer/README.md), computed here on its own, step by step;
#   --budget_flops: the step count from the formula;
#   --budget_minutes: the step count fixed once, kept in state.json and on resume; the timing window grows
#     to 5% of a longer budget, on two ranks alike;
#   --lr_schedule=constant + --branch_from: a cooldown branch starts from the trunk's checkpoint (its
#     steps before the cooldown are the trunk's, byte for byte) and ends at min_lr, wd_end and momentum 1;
#   bad values are refused with exit status 2.
source "$(dirname "$0")/common.sh"
# No masks: every step's FLOPs are the same, so the formula can be checked exactly.
B=("${TINY[@]}" --mask_prob_none=1 --checkpoint_every=100)
"$VFM" pretrain "${B[@]}" --budget_images=400 --run_dir="$WORK/images" > "$WORK/images.log"
grep -q "16 steps/epoch, a budget of 400 images: 25 steps, batch 16 on 1 rank(s), stopping at step 25" "$WORK/images.log" || { cat "$WORK/images.log"; exit 1; }
"$VFM" inspect "$WORK/images" > "$WORK/inspect.txt"
grep -qE "compute: 400 images seen, .* model FLOPs \(forward \+ backward\), .* tokens/s on average; 0.0 s of periodic evals beside" "$WORK/inspect.txt" \
  || { echo "FAIL: vfm inspect shows no compute account"; cat "$WORK/inspect.txt"; exit 1; }
grep -qE "^ +fashion +400 samples" "$WORK/inspect.txt" || { cat "$WORK/inspect.txt"; exit 1; }
STEP_FLOPS=$(/usr/bin/python3 - <<'PY'
# trainer/README.md's formula for the tiny recipe: vit_tiny (D 192, MLP 768), depth 1, patch 4; global
# crops 2 x 16 px (16 patches + [CLS]), local crops 2 x 8 px (4 + 1); head 192 -> 64 -> 64 -> 32 -> 64.
D, H, depth, p = 192, 768, 1, 4
def vit(n_images, size):
    patches = (size // p) ** 2; n = patches + 1
    block = 2 * n * D * 3 * D + 2 * n * D * D + 2 * 2 * n * D * H + 4 * n * n * D
    return n_images * (2 * patches * 3 * p * p * D + depth * block)
def head(rows):
    return 2 * rows * (D * 64 + 64 * 64 + 64 * 32 + 32 * 64)
b = 16
student = vit(2 * b, 16) + vit(2 * b, 8) + head(2 * b + 2 * b + 0)  # no masked patches
teacher = vit(2 * b, 16) + head(2 * b * 17)
print(3 * student + teacher)
PY
)
/usr/bin/python3 - "$WORK" "$STEP_FLOPS" <<'PY'
import json, sys
w, step_flops = sys.argv[1], float(sys.argv[2])
lines = [json.loads(l) for l in open(f"{w}/images/metrics.jsonl")]
last = lines[-1]
assert last["kind"] == "train" and last["step"] == 25, last
# The schedules end with the budget (DINO's cosine stops one step short of its final value).
near = lambda value, start, end: abs(value - end) < 0.01 * abs(end - start)  # within 1% of the way
assert near(last["lr"], 7.5e-5 * 16 / 256, 2e-6) and near(last["weight_decay"], 0.04, 0.4), last
assert near(last["momentum"], 0.996, 1.0), last
for l in lines:
    assert l["images_seen"] == 16 * l["step"] and l["samples_per_modality"] == {"fashion": 16 * l["step"]}, l
    assert l["flops"] == step_flops * l["step"], (l["flops"], step_flops * l["step"])
    assert 0 < l["wall_s"] == l["device_s"] and l["tokens_per_s"] == l["img_per_s"] * (2 * 17 + 2 * 5), l
state = json.load(open(f"{w}/images/ckpt-00000025/state.json"))
assert state["compute"]["flops"] == 25 * step_flops and state["compute"]["images_seen"] == 400, state["compute"]
print("budget_images: 25 steps, lr", last["lr"], "; FLOPs per step", step_flops, "as the formula counts")
PY
# --budget_flops of 10.5 steps' FLOPs: 11 steps.
"$VFM" pretrain "${B[@]}" --budget_flops="$(/usr/bin/python3 -c "print(10.5 * $STEP_FLOPS)")" --run_dir="$WORK/flops" \
  > "$WORK/flops.log"
grep -qE "a budget of [0-9.e+]+ FLOPs \([0-9.e+]+ per step expected\): 11 steps" "$WORK/flops.log" && [ -d "$WORK/flops/ckpt-00000011" ] \
  || { echo "FAIL: --budget_flops"; cat "$WORK/flops.log"; exit 1; }

# --budget_minutes: fixed after 10 steps (more on a machine faster than 0.0375 s a step: the window covers
# 5% of the budget), stored; a resume (even before the end) keeps it. Steps of 0.008-0.14 s pass.
"$VFM" pretrain "${B[@]}" --budget_minutes=0.1 --max_steps=40 --run_dir="$WORK/minutes" > "$WORK/minutes1.log"
grep -q "a budget of 0.1 minutes: steps fixed after the first 10, or 5% of the budget if longer, batch 16 on 1 rank(s), stopping at step 40" \
  "$WORK/minutes1.log" || { cat "$WORK/minutes1.log"; exit 1; }
# Before the step count is fixed a progress line shows --max_steps as the last step and an ETA within the
# budget; with no --max_steps, "?" (the run below is fixed after about 10 steps, its log lines every 4).
grep -qE "^step 8/40 .*\| ETA 0m0[0-6]s$" "$WORK/minutes1.log" \
  || { echo "FAIL: the progress lines of a minutes budget"; cat "$WORK/minutes1.log"; exit 1; }
"$VFM" pretrain "${B[@]}" --budget_minutes=0.02 --run_dir="$WORK/minutes_open" > "$WORK/minutes_open.log"
grep -qE "^step 4/\? .*\| ETA 0m0[0-1]s$" "$WORK/minutes_open.log" && grep -qE "^step ([0-9]+)/\1 " "$WORK/minutes_open.log" \
  || { echo "FAIL: the progress lines of an open minutes budget"; cat "$WORK/minutes_open.log"; exit 1; }
"$VFM" pretrain "${B[@]}" --budget_minutes=0.1 --max_steps=42 --run_dir="$WORK/minutes" > "$WORK/minutes2.log"
grep -q "resuming from .*ckpt-00000040" "$WORK/minutes2.log" || { echo "FAIL: no resume"; exit 1; }
! grep -q "s per step measured" "$WORK/minutes2.log" || { echo "FAIL: the resume measured again"; exit 1; }
N=$(/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
n40 = json.load(open(f"{w}/minutes/ckpt-00000040/state.json"))["budget_steps"]
n42 = json.load(open(f"{w}/minutes/ckpt-00000042/state.json"))["budget_steps"]
assert n40 > 42 and n40 == n42, (n40, n42)
print(n40)
PY
)
"$VFM" pretrain "${B[@]}" --budget_minutes=0.1 --run_dir="$WORK/minutes" > "$WORK/minutes3.log"
/usr/bin/python3 - "$WORK" "$N" <<'PY'
import json, sys, glob
w, n = sys.argv[1], int(sys.argv[2])
last = [json.loads(l) for l in open(f"{w}/minutes/metrics.jsonl")][-1]
assert last["step"] == n and abs(last["lr"] - 2e-6) < 0.01 * (7.5e-5 * 16 / 256 - 2e-6), (last, n)
assert sorted(glob.glob(f"{w}/minutes/ckpt-*"))[-1].endswith("%08d" % n)
print("budget_minutes: fixed at", n, "steps, kept on resume, schedules ended there")
PY

# Periodic evals are not training time: evals in the timing window (slow ones, every 2 steps) leave the
# measured seconds per step near minutes1's (they inflated it when they counted), and eval_s has them.
"$VFM" pretrain "${B[@]}" --budget_minutes=0.1 --max_steps=40 --run_dir="$WORK/minutes_eval" --eval_every=2 \
  --eval_data="$WORK/data" --eval_test_data="$WORK/data" --eval_linear --eval_probe_epochs=100 > "$WORK/minutes_eval.log"
/usr/bin/python3 - "$WORK" <<'PY'
import json, re, sys
w = sys.argv[1]
rate = lambda run: float(re.search(r"([0-9.]+) s per step measured", open(f"{w}/{run}.log").read())[1])
c = json.load(open(f"{w}/minutes_eval/ckpt-00000040/state.json"))["compute"]
assert rate("minutes_eval") < 2.5 * rate("minutes1"), (rate("minutes_eval"), rate("minutes1"))
assert c["eval_s"] > 0.3 * c["wall_s"], c  # the evals took a good share of the time: the check above can fail
print("budget_minutes with evals:", rate("minutes_eval"), "s per step against", rate("minutes1"), "; compute", c)
PY

# A budget whose 5% outlasts the 8 timed steps times more of them: 2 ranks (they must agree on the window's
# end, a collective), a 1-minute budget, stopped well after the window that minutes1's rate predicts (twice
# it: two ranks of one thread can step faster than one process of two threads).
W=$(/usr/bin/python3 -c "import math, re, sys; r = float(re.search(r'([0-9.]+) s per step', sys.stdin.read())[1]); \
print(max(8, math.ceil(3 / r)))" < "$WORK/minutes1.log")
mpirun -np 2 --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1 -x OMPI_MCA_btl_vader_single_copy_mechanism=none \
  "$VFM" pretrain "${B[@]}" --budget_minutes=1 --max_steps=$((2 * W + 4)) --run_dir="$WORK/window" > "$WORK/window.log"
grep -qE "s per step measured over ([9]|[1-9][0-9]+) steps" "$WORK/window.log" \
  && [ "$(grep -c "s per step measured" "$WORK/window.log")" = 1 ] \
  && grep -q '"budget_steps": [1-9]' "$WORK/window/ckpt-$(printf %08d $((2 * W + 4)))/state.json" \
  || { echo "FAIL: the window did not grow to 5% of the budget (expected about $W steps)"; cat "$WORK/window.log"; exit 1; }

# A constant-lr trunk and a cooldown branch from its step-8 checkpoint with a 20-step budget: the last
# 5 steps (15-19) cool down; before them the branch is the trunk.
C=("${B[@]}" --lr_schedule=constant --checkpoint_every=4)
"$VFM" pretrain "${C[@]}" --run_dir="$WORK/trunk" --max_steps=12 > "$WORK/trunk.log"
"$VFM" pretrain "${C[@]}" --cooldown_fraction=0.25 --budget_images=320 --branch_from="$WORK/trunk/ckpt-00000008" \
  --run_dir="$WORK/branch" > "$WORK/branch.log"
grep -q "branching from .*trunk/ckpt-00000008 (step 8" "$WORK/branch.log" || { cat "$WORK/branch.log"; exit 1; }
for f in student.safetensors teacher.safetensors optimizer.safetensors loss.safetensors; do
  cmp "$WORK/trunk/ckpt-00000012/$f" "$WORK/branch/ckpt-00000012/$f" || { echo "FAIL: the branch is not the trunk"; exit 1; }
done
/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
lines = {l["step"]: l for l in map(json.loads, open(f"{w}/branch/metrics.jsonl"))}
base = 7.5e-5 * 16 / 256
assert min(lines) == 12 and lines[12]["lr"] == base and lines[12]["weight_decay"] == 0.04, lines[12]
last = lines[20]
assert last["lr"] == 2e-6 and last["weight_decay"] == 0.4 and last["momentum"] == 1.0, last
assert last["images_seen"] == 320, last  # counted from the trunk's start
print("branch: the trunk's bytes at step 12, lr", last["lr"], "wd", last["weight_decay"], "at step 20")
PY
refused 1 "branch_from's checkpoint is at step 12, not before the end of this run's budget \(step 12\)" \
  "$VFM" pretrain "${C[@]}" --budget_images=192 --branch_from="$WORK/trunk" --run_dir="$WORK/late_branch"
refused 1 "differ from .*: --lr .*allow_changed_flags" \
  "$VFM" pretrain "${C[@]}" --lr=1e-4 --budget_images=320 --branch_from="$WORK/trunk" --run_dir="$WORK/other_branch"
refused 2 "give at most one" "$VFM" pretrain "${B[@]}" --budget_images=100 --budget_minutes=1 --run_dir="$WORK/x"
refused 2 "^vfm pretrain: --budget_flops must be in \[0, inf\), got -1$" "$VFM" pretrain "${B[@]}" --budget_flops=-1 --run_dir="$WORK/x"
refused 2 "--lr_schedule must be cosine or constant, not 'step'" "$VFM" pretrain "${B[@]}" --lr_schedule=step --run_dir="$WORK/x"
refused 2 "--cooldown_fraction needs --lr_schedule=constant" "$VFM" pretrain "${B[@]}" --cooldown_fraction=0.2 --run_dir="$WORK/x"
refused 2 "--cooldown_fraction must be in \[0, 1\], got 2" "$VFM" pretrain "${C[@]}" --cooldown_fraction=2 --run_dir="$WORK/x"
refused 2 "--cooldown must be linear or cosine" "$VFM" pretrain "${C[@]}" --cooldown=step --run_dir="$WORK/x"
refused 2 "--eval_every needs --eval_data and --eval_test_data" "$VFM" pretrain "${B[@]}" --eval_every=5 --run_dir="$WORK/x"
refused 2 "--eval_every must be in \[0, 1000000000\], got -1" "$VFM" pretrain "${B[@]}" --eval_every=-1 --run_dir="$WORK/x"
refused 2 "--eval_probe_epochs must be in \[1, 100000\], got 0" "$VFM" pretrain "${B[@]}" --eval_probe_epochs=0 --run_dir="$WORK/x"
refused 1 "--eval_data .*: 256 of 256 samples have no label|--eval_test_data /nonexistent" \
  "$VFM" pretrain "${B[@]}" --eval_every=5 --eval_data="$WORK/data" --eval_test_data=/nonexistent --run_dir="$WORK/x"
# A budget defines the run: a resume may not change it (unless allowed); the eval flags may change.
refused 1 "--budget_images 400 -> 480" "$VFM" pretrain "${B[@]}" --budget_images=480 --run_dir="$WORK/images"
grep -q '"budget_images": "400"' "$WORK/images/flags.json" || { echo "FAIL: flags.json lacks the budget"; exit 1; }
echo "budgets: images, FLOPs, minutes, constant + cooldown branch, compute account, bad values"
