#!/usr/bin/env bash
# Bad flag values end every subcommand with exit status 2 and one line naming the flag and its allowed
# range, before any work: never a crash, a hang, or a run on a silently changed value.
source "$(dirname "$0")/common.sh"
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/run" --max_steps=1 > "$WORK/pretrain.log"
P=("$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/bad_run")
echo "vfm pretrain:"
refused 2 '--data_threads must be in \[1, 256\], got 100000' "${P[@]}" --data_threads=100000
refused 2 '--out_dim must be in \[1, 1048576\], got 0' "${P[@]}" --out_dim=0
refused 2 '--head_hidden must be in \[1, 65536\], got 0' "${P[@]}" --head_hidden=0
refused 2 '--head_bottleneck must be in \[1, 65536\], got -4' "${P[@]}" --head_bottleneck=-4
refused 2 '--depth must be in \[0, 128\], got 100000' "${P[@]}" --depth=100000
refused 2 '--depth must be in \[0, 128\], got -1' "${P[@]}" --depth=-1
refused 2 '--heads must be in \[0, 1024\], got -1' "${P[@]}" --heads=-1
refused 2 '--heads 5 does not divide the width 192 of --arch vit_tiny' "${P[@]}" --heads=5
refused 2 '--patch must be in \[1, 256\], got 0' "${P[@]}" --patch=0
refused 2 '--global_size 18 is not a multiple of --patch 4' "${P[@]}" --global_size=18
refused 2 '--global_size must be in \[5, 4096\], got 4' "${P[@]}" --global_size=4
refused 2 '--local_size must be in \[5, 4096\], got -8' "${P[@]}" --local_size=-8
refused 2 '--lr must be in \[0, inf\), got -1' "${P[@]}" --lr=-1
refused 2 '--lr must be in \[0, inf\), got nan' "${P[@]}" --lr=nan
refused 2 '--momentum_teacher must be in \[0, 1\], got 2' "${P[@]}" --momentum_teacher=2
refused 2 '--epochs must be in \[1, 1000000\], got -1' "${P[@]}" --epochs=-1
refused 2 '--max_steps must be in \[0, 1000000000000\], got -5' "${P[@]}" --max_steps=-5
refused 2 '--batch must be in \[1, 1048576\], got -16' "${P[@]}" --batch=-16
refused 2 '--batch must be in \[1, 1048576\], got 0' "${P[@]}" --batch=0
refused 2 '--global_crops must be in \[1, 16\], got 0' "${P[@]}" --global_crops=0
refused 2 '--local_crops must be in \[0, 64\], got -1' "${P[@]}" --local_crops=-1
refused 2 '--log_every must be in \[1, 1000000000\], got 0' "${P[@]}" --log_every=0
refused 2 '--checkpoint_every must be in \[1, 1000000000\], got -1' "${P[@]}" --checkpoint_every=-1
refused 2 '--keep_checkpoints must be in \[1, 1000000\], got 0' "${P[@]}" --keep_checkpoints=0
refused 2 '--prefetch must be in \[0, 64\], got -1' "${P[@]}" --prefetch=-1
refused 2 '--global_blur_p must be a list of numbers in \[0, 1\], got 2' "${P[@]}" --global_blur_p=1,2
refused 2 "--global_solarize_p must be a list of numbers in \[0, 1\], got 'x'" "${P[@]}" --global_solarize_p=x
refused 2 '--local_blur_p must be in \[0, 1\], got -0.5' "${P[@]}" --local_blur_p=-0.5
refused 2 '--jitter_p must be in \[0, 1\], got 2' "${P[@]}" --jitter_p=2
refused 2 '--flip_p must be in \[0, 1\], got -1' "${P[@]}" --flip_p=-1
refused 2 '--mask_ratio_max must be in \[0, 1\], got 1.5' "${P[@]}" --mask_ratio_max=1.5
refused 2 '--mask_ratio_min 0.6 is above --mask_ratio_max 0.5' "${P[@]}" --mask_ratio_min=0.6
refused 2 '--mask_prob_none must be in \[0, 1\], got -1' "${P[@]}" --mask_prob_none=-1
refused 2 '--koleo must be in \[0, inf\), got -1' "${P[@]}" --koleo=-1
refused 2 '--student_temp must be in \(0, 100\], got 0' "${P[@]}" --student_temp=0
refused 2 '--teacher_temp must be in \(0, 100\], got -0.04' "${P[@]}" --teacher_temp=-0.04
refused 2 '--global_scale_min 0.9 is above --global_scale_max 0.5' "${P[@]}" --global_scale_min=0.9 --global_scale_max=0.5
refused 2 '--local_scale_min must be in \(0, 1\], got 0' "${P[@]}" --local_scale_min=0
refused 2 '--weight_decay must be in \[0, 100\], got -0.1' "${P[@]}" --weight_decay=-0.1
refused 2 '--warmup_epochs must be in \[0, 1000000\], got -1' "${P[@]}" --warmup_epochs=-1
refused 2 '--bucket_mb must be in \(0, 1048576\], got 0' "${P[@]}" --bucket_mb=0
refused 2 '--bucket_mb must be in \(0, 1048576\], got nan' "${P[@]}" --bucket_mb=nan
refused 2 '--comm_timeout_s must be in \(0, inf\), got -5' "${P[@]}" --comm_timeout_s=-5
refused 2 '--comm_timeout_s must be in \(0, inf\), got inf' "${P[@]}" --comm_timeout_s=inf
refused 2 '--eval_data, --eval_test_data and --eval_linear take effect with --eval_every' "${P[@]}" --eval_data="$WORK/data"
refused 2 '--eval_size 18 is not a multiple of --patch 4' "${P[@]}" --eval_every=2 --eval_data="$WORK/data" \
  --eval_test_data="$WORK/data" --eval_size=18
refused 2 '--eval_resize 12 is smaller than --eval_size 16' "${P[@]}" --eval_every=2 --eval_data="$WORK/data" \
  --eval_test_data="$WORK/data" --eval_resize=12
# Refused after the run folder is made (the datasets are opened then): the new folder is removed again.
refused 1 'missing' "${P[@]}" --eval_every=2 --eval_data="$WORK/missing" --eval_test_data="$WORK/data"
refused 1 'missing' "${P[@]}" --data="$WORK/missing"
[ ! -e "$WORK/bad_run" ] || { echo "FAIL: a refused run created its --run_dir"; exit 1; }

echo "vfm eval:"
E=(--data="$WORK/data" --test_data="$WORK/data" --checkpoint="$WORK/run" --eval_size=16 --eval_resize=16)
refused 2 '--knn_k must be in \[1, 100000\], got -3' "$VFM" eval knn "${E[@]}" --knn_k=-3
refused 2 '--knn_k must be in \[1, 100000\], got 0' "$VFM" eval knn "${E[@]}" --knn_k=0
refused 2 '--knn_temperature must be in \(0, 100\], got 0' "$VFM" eval knn "${E[@]}" --knn_temperature=0
refused 2 '--probe_epochs must be in \[1, 100000\], got 0' "$VFM" eval linear "${E[@]}" --probe_epochs=0
refused 2 '--n_last_blocks must be in \[1, 64\], got 99' "$VFM" eval knn "${E[@]}" --n_last_blocks=99
refused 2 '--n_last_blocks must be in \[1, 1\] \(the blocks of .*ckpt-00000001\), got 2' "$VFM" eval knn "${E[@]}" --n_last_blocks=2
refused 2 '--eval_size 18 is not a multiple of the patch size 4 of .*ckpt-00000001' "$VFM" eval knn "${E[@]}" --eval_size=18 --eval_resize=20
refused 2 '--eval_resize 16 is smaller than --eval_size 20' "$VFM" eval knn "${E[@]}" --eval_size=20
refused 2 '--eval_threads must be in \[1, 256\], got 0' "$VFM" eval knn "${E[@]}" --eval_threads=0
refused 2 '--knn_k 1000 is more than the 256 samples of --data' "$VFM" eval knn "${E[@]}" --knn_k=1000
refused 2 '--json_out .*/nowhere/k.json: not a file in an existing folder' "$VFM" eval knn "${E[@]}" \
  --json_out="$WORK/nowhere/k.json"
refused 2 '--features_out .*: not a file in an existing folder' "$VFM" eval knn "${E[@]}" --features_out="$WORK"
refused 2 '--checkpoint is required' "$VFM" eval knn --data="$WORK/data" --test_data="$WORK/data"
refused 2 '--checkpoint is required' "$VFM" attn --images="$WORK/x.png" --out="$WORK/x"

echo "vfm shard / import:"
refused 2 '--threads must be in \[0, 256\], got 100000' "$VFM" shard --threads=100000 --output=x --csv=y
refused 2 '--shard_size_mb must be in \[0.001, 1000000\], got -5' "$VFM" shard --shard_size_mb=-5 --output=x --csv=y
refused 2 '--out_dim must be in \[1, 1048576\], got -1' "$VFM" import --weights=w --run_dir="$WORK/imported" --out_dim=-1
refused 2 '--heads 7 does not divide the width 768 of --arch vit_base' "$VFM" import --weights=w --run_dir="$WORK/imported" --heads=7

# Abseil's flags are global: a flag of another subcommand is refused when typed, named with its readers. One
# in a --flagfile is not (a recipe serves pretrain and import), and neither is --no<bool> or "--flag value".
echo "flags of another subcommand:"
refused 2 '--knn_k is not a flag of `vfm pretrain` \(it is read by `vfm eval`\)' "${P[@]}" --knn_k=5
refused 2 '--lr is not a flag of `vfm eval` \(it is read by `vfm pretrain`, `vfm views`\)' "$VFM" eval knn "${E[@]}" --lr 1
refused 2 '--seed is not a flag of `vfm export`' "$VFM" export --checkpoint="$WORK/run" --out="$WORK/x.st" --seed=1
refused 2 '--with_head is not a flag of `vfm import`' "$VFM" import --weights=w --run_dir="$WORK/imported" --nowith_head
refused 2 '--out is not a flag of `vfm shard`' "$VFM" shard --output="$WORK/x" --csv=y -out "$WORK/y"
printf -- '--knn_k=5\n--arch=vit_tiny\n' > "$WORK/shared.flags"
refused 2 '--weights' "$VFM" import --flagfile="$WORK/shared.flags" --run_dir="$WORK/imported"
# Every flag vfm defines is some subcommand's: typed to `vfm inspect` (which reads none), each names a reader.
/usr/bin/python3 - "$VFM" <<'PY'
import re, subprocess, sys
vfm = sys.argv[1]
text = subprocess.run([vfm, "inspect", "--helpfull"], capture_output=True, text=True).stdout
flags = []
for block in re.split(r"\n  Flags from ", text):
    if "trainer/cli/" in block.split(":")[0]:
        flags += re.findall(r"^    --(\w+) \(.*?default: (.*?);$", block, re.M | re.S)
assert len(flags) > 100, f"only {len(flags)} flags found in --helpfull"
for name, default in flags:
    value = default.strip('"')
    err = subprocess.run([vfm, "inspect", f"--{name}={value}", "x"], capture_output=True, text=True).stderr
    assert re.search(rf"--{name} is not a flag of `vfm inspect` \(it is read by `vfm \w", err), (name, err)
print(f"  each of the {len(flags)} flags vfm defines is read by some subcommand")
PY
echo "bad flags: ok"
