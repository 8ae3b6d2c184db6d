#!/usr/bin/env bash
# Evaluations during training (--eval_every): kNN (and the linear probe) lines in metrics.jsonl, the same
# figures `vfm eval` gives for the checkpoint, and a training stream they do not touch: the checkpoints
# are byte-identical with evals on or off, and a resumed run with evals (other eval flags: they are
# runtime flags) equals an uninterrupted one. Also on 2 ranks, each extracting its share, at the resolution
# --eval_size / --eval_resize give (the default: the crop size, resized by 256/224).
source "$(dirname "$0")/common.sh"
EVAL=(--eval_data="$WORK/data" --eval_test_data="$WORK/data")
hashes() { (cd "$1" && sha256sum student.safetensors teacher.safetensors optimizer.safetensors loss.safetensors | cut -c1-64); }
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/off" --max_steps=24 --checkpoint_every=100 > "$WORK/off.log"
"$VFM" pretrain "${TINY[@]}" "${EVAL[@]}" --eval_every=8 --eval_linear --eval_probe_epochs=3 --run_dir="$WORK/on" \
  --max_steps=24 --checkpoint_every=100 > "$WORK/on.log"
grep -E "^eval at step 24 \| kNN top-1 [0-9.]+% top-5 [0-9.]+% \| linear top-1 [0-9.]+%" "$WORK/on.log" \
  || { echo "FAIL: no eval progress line"; cat "$WORK/on.log"; exit 1; }
[ "$(hashes "$WORK/off/ckpt-00000024")" = "$(hashes "$WORK/on/ckpt-00000024")" ] \
  || { echo "FAIL: evals changed the training stream"; exit 1; }
# Resumed with evals, at another frequency, from a checkpoint between two evals.
"$VFM" pretrain "${TINY[@]}" "${EVAL[@]}" --eval_every=8 --run_dir="$WORK/split" --max_steps=12 --checkpoint_every=100 \
  > "$WORK/split1.log"
"$VFM" pretrain "${TINY[@]}" "${EVAL[@]}" --eval_every=6 --run_dir="$WORK/split" --max_steps=24 --checkpoint_every=100 \
  > "$WORK/split2.log"
grep -q "resuming from .*ckpt-00000012" "$WORK/split2.log" || { echo "FAIL: the second run did not resume"; exit 1; }
[ "$(hashes "$WORK/off/ckpt-00000024")" = "$(hashes "$WORK/split/ckpt-00000024")" ] \
  || { echo "FAIL: a resumed run with evals differs from an uninterrupted one"; exit 1; }
# The last eval's kNN is the checkpoint's, as vfm eval computes it (the same crop: 16 px, resized to 18).
"$VFM" eval knn --data="$WORK/data" --test_data="$WORK/data" --eval_size=16 --eval_resize=18 \
  --checkpoint="$WORK/on/ckpt-00000024" --json_out="$WORK/knn.json" 2> /dev/null > /dev/null
OMP_NUM_THREADS=1 OMPI_MCA_btl_vader_single_copy_mechanism=none mpirun -np 2 --oversubscribe --allow-run-as-root \
  "$VFM" pretrain "${TINY[@]}" "${EVAL[@]}" --eval_every=12 --run_dir="$WORK/two" --max_steps=12 \
  --checkpoint_every=100 --eval_size=16 --eval_resize=16 > "$WORK/two.log"
"$VFM" eval knn --data="$WORK/data" --test_data="$WORK/data" --eval_size=16 --eval_resize=16 \
  --checkpoint="$WORK/two/ckpt-00000012" --json_out="$WORK/knn_two.json" 2> /dev/null > /dev/null
/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
def lines(run):
    return [json.loads(l) for l in open(f"{w}/{run}/metrics.jsonl")]
on = lines("on")
assert all(l["kind"] in ("train", "eval") for l in on), on
evals = [l for l in on if l["kind"] == "eval"]
assert [e["step"] for e in evals] == [8, 16, 24], evals
for e in evals:
    assert set(e) == {"kind", "step", "images_seen", "flops", "knn_top1", "knn_top5", "linear_top1"}, e
    assert e["images_seen"] == 16 * e["step"] and e["flops"] > 0, e
    assert 0 <= e["knn_top1"] <= e["knn_top5"] <= 100 and 0 <= e["linear_top1"] <= 100, e
train = {l["step"]: l for l in on if l["kind"] == "train"}
assert evals[-1]["flops"] == train[24]["flops"], (evals[-1], train[24])
# The evals' time is counted apart from training's (eval_s; a line is logged before its step's eval),
# cumulative over a resume.
state = lambda run, step: json.load(open(f"{w}/{run}/ckpt-{step:08d}/state.json"))["compute"]
assert train[8]["eval_s"] == 0 < train[16]["eval_s"] < train[24]["eval_s"] < state("on", 24)["eval_s"], train
assert all(l["eval_s"] == 0 for l in lines("off") if l["kind"] == "train") and state("off", 24)["eval_s"] == 0
assert 0 < state("split", 12)["eval_s"] < state("split", 24)["eval_s"], (state("split", 12), state("split", 24))
knn = json.load(open(f"{w}/knn.json"))
assert abs(evals[-1]["knn_top1"] - knn["top1"]) < 1e-9, (evals[-1], knn)
# The resumed run: its metrics were cut at the checkpoint, then evals every 6 steps.
split = [(l["step"]) for l in lines("split") if l["kind"] == "eval"]
assert split == [8, 12, 18, 24], split
# 2 ranks: each extracted half the samples; gathered, the figures of the whole checkpoint (the ranks'
# batches differ from one process's, so the features may differ in the last bits: one sample at most).
two = [l for l in lines("two") if l["kind"] == "eval"]
knn_two = json.load(open(f"{w}/knn_two.json"))
assert len(two) == 1 and abs(two[0]["knn_top1"] - knn_two["top1"]) <= 100 / 256 + 1e-9, (two, knn_two)
print("periodic eval: kNN", [e["knn_top1"] for e in evals], "== vfm eval", knn["top1"], "; 2 ranks", two[0]["knn_top1"],
      "vs", knn_two["top1"])
PY
echo "periodic eval: checkpoints identical with evals on/off and resumed with evals"
