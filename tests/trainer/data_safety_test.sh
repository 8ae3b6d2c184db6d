#!/usr/bin/env bash
# Export and import never destroy data: export does not replace a file without --overwrite nor write
# into a checkpoint folder; import does not write into a run folder that has checkpoints (its pruning
# would delete them). A write that fails midway names the file and errno's text and leaves no temporary:
# the file size limit (ulimit -f, EFBIG) stands in for a full disk; where a tmpfs can be mounted (a private
# mount namespace), a really full one (ENOSPC) too.
source "$(dirname "$0")/common.sh"
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/run" --max_steps=2 --checkpoint_every=1 > "$WORK/pretrain.log"
MODEL=(--arch=vit_tiny --depth=1 --patch=4 --global_size=16 --out_dim=64 --head_hidden=64 --head_bottleneck=32)
mkdir "$WORK/out"
"$VFM" export --checkpoint="$WORK/run" --out="$WORK/out/t.safetensors" > /dev/null
cp "$WORK/out/t.safetensors" "$WORK/t.orig"
refused 2 "--out $WORK/out/t.safetensors exists: pass --overwrite to replace it" \
  "$VFM" export --checkpoint="$WORK/run" --out="$WORK/out/t.safetensors" --which=student
cmp "$WORK/out/t.safetensors" "$WORK/t.orig"
"$VFM" export --checkpoint="$WORK/run" --out="$WORK/out/t.safetensors" --which=student --overwrite > /dev/null
! cmp -s "$WORK/out/t.safetensors" "$WORK/t.orig" || { echo "FAIL: --overwrite did not replace --out"; exit 1; }
refused 2 "--out $WORK/run/ckpt-00000002/teacher.safetensors is inside the checkpoint folder $WORK/run/ckpt-00000002" \
  "$VFM" export --checkpoint="$WORK/run" --out="$WORK/run/ckpt-00000002/teacher.safetensors" --overwrite
refused 2 "--out $WORK/out is a folder" "$VFM" export --checkpoint="$WORK/run" --out="$WORK/out" --overwrite
ls "$WORK/run" > "$WORK/run.before"
refused 1 "$WORK/run already holds checkpoints \(the newest: ckpt-00000002\), which importing would delete" \
  "$VFM" import --weights="$WORK/t.orig" --run_dir="$WORK/run" "${MODEL[@]}"
ls "$WORK/run" | cmp - "$WORK/run.before"
"$VFM" inspect "$WORK/run/ckpt-00000002" > /dev/null  # still complete, checksums match

# Failed writes (ulimit -f counts 1 KiB blocks; SIGXFSZ ignored, so write() returns EFBIG).
LIMITED=(bash -c 'trap "" XFSZ; ulimit -f 64; exec "$@"' limited)
cp "$WORK/out/t.safetensors" "$WORK/t.student"
refused 1 "cannot write $WORK/out/t.safetensors: File too large" \
  "${LIMITED[@]}" "$VFM" export --checkpoint="$WORK/run" --out="$WORK/out/t.safetensors" --overwrite
cmp "$WORK/out/t.safetensors" "$WORK/t.student"  # the previous file is untouched
refused 1 "cannot write $WORK/imported/\.tmp-ckpt-00000000-[0-9]+/student.safetensors: File too large" \
  "${LIMITED[@]}" "$VFM" import --weights="$WORK/t.orig" --run_dir="$WORK/imported" "${MODEL[@]}"
refused 1 "cannot write $WORK/full/\.tmp-ckpt-00000001-[0-9]+/student.safetensors: File too large" \
  "${LIMITED[@]}" "$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/full" --max_steps=1
refused 1 "cannot write $WORK/no/such/folder.safetensors: No such file or directory" \
  "$VFM" export --checkpoint="$WORK/run" --out="$WORK/no/such/folder.safetensors"
leftovers=$(find "$WORK/out" "$WORK/imported" "$WORK/full" -name '*.tmp*')
[ -z "$leftovers" ] || { echo "FAIL: temporaries left behind: $leftovers"; exit 1; }

if unshare --mount --map-root-user true 2> /dev/null; then
  mkdir "$WORK/tmpfs"
  unshare --mount --map-root-user bash -c "
    set -e
    mount -t tmpfs -o size=3m tmpfs '$WORK/tmpfs'
    '$VFM' export --checkpoint='$WORK/run' --out='$WORK/tmpfs/a.safetensors' > /dev/null
    if '$VFM' export --checkpoint='$WORK/run' --out='$WORK/tmpfs/b.safetensors' 2> '$WORK/enospc.err'; then exit 1; fi
    ls -A '$WORK/tmpfs' > '$WORK/tmpfs.ls'"
  grep -q "cannot write $WORK/tmpfs/b.safetensors: No space left on device" "$WORK/enospc.err" ||
    { cat "$WORK/enospc.err"; echo "FAIL: a full tmpfs"; exit 1; }
  [ "$(cat "$WORK/tmpfs.ls")" = "a.safetensors" ] || { echo "FAIL: left on the full tmpfs: $(cat "$WORK/tmpfs.ls")"; exit 1; }
  echo "  a full tmpfs: $(cat "$WORK/enospc.err")"
else
  echo "  (no private mount namespace here: the full-tmpfs case is skipped)"
fi
echo "data safety: ok"
