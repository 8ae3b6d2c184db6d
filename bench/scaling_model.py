#!/usr/bin/python3
"""A scaling model of vfm's data-parallel iBOT pretraining on H200 nodes (issue 16, point 4).

From the single-GPU step measured on an H200 (bench/results/gpu_h200.md, run 4), the gradient buckets of
the model (autograd/grad_buckets.h: parameters in reverse order, filled up to --bucket_mb, fp32) and
published link figures, it predicts per configuration (GPUs x model) the step time, the communication left
exposed after backward, the scaling efficiency, images/s, and the wall time and GPU-hours of VisionFM's
pretraining. Inputs and their sources: bench/results/scaling_model.md. Standard library only.

The model, step by step:
  compute   The step does the same work per GPU at any scale (per-GPU batch fixed, weak scaling). Its
            time is its FLOPs (trainer/flops.h's count, repeated here) over the rate run 4 achieved:
            31.07 TFLOP in 108.7 ms. ViT-L and other crop shapes run at that same rate (FLOP ratio).
  schedule  Backward runs the student's head, then blocks last to first, then the embeddings; each layer
            takes its share of the backward time by FLOPs (2x its forward). A bucket is ready when the
            backward op that produces its last gradient ends.
  all-reduce of S bytes over n GPUs, g per node, m = n / g nodes (hierarchical, as NCCL does on rails):
              intra-node reduce-scatter  (g-1)/g * S / B_nvlink   + (g-1) * a_nvlink
              inter-node all-reduce      2(m-1)/m * S / B_node     + min(2(m-1), 2 ceil(log2 m)) * a_net
                                         (each GPU's shard S/g over its own NIC: B_node = NICs x NIC rate;
                                          the latency term is ring or tree, whichever is less)
              intra-node all-gather      (g-1)/g * S / B_nvlink   + (g-1) * a_nvlink
              plus a fixed launch latency per collective.
            On one rank nothing is reduced (vfm makes no reducer).
  overlap   Buckets go out in order on one stream: bucket k starts at max(ready_k, end_{k-1}). What ends
            after backward is exposed: exposed = max(0, end_last - backward_end). The [CLS] and patch
            centres' all-reduces (K floats each, after the update: trainer/ibot_loss.cc) are exposed whole.
  step      step = compute + exposed; efficiency = compute / step (ideal: n times one GPU's images/s).

--validate CSV compares the exposed communication this model predicts with runs measured on network
namespace "hosts" over TCP (tests/multihost, bench/results/multihost_overlap.csv).
"""
import argparse
import csv
import math
import sys
from dataclasses import dataclass

# Run 4 (bench/results/gpu_h200.md): ViT-B/16, batch 64, 2 x 224 + 10 x 96 crops, mask ratio 0.3.
MEASURED_STEP_S = 0.1087
MEASURED_FLOPS = 31.07e12
VISIONFM_IMAGES = 3.4e6
VISIONFM_EPOCHS = 400  # ABILab-CUHK/VisionFM README and train_vitb_fundus.sh: --epochs 400
GB = 1e9


@dataclass(frozen=True)
class Arch:
    name: str
    dim: int
    depth: int
    patch: int = 16
    mlp_ratio: float = 4.0
    in_chans: int = 3


ARCHS = {a.name: a for a in (Arch('vit_tiny', 192, 12), Arch('vit_small', 384, 12), Arch('vit_base', 768, 12),
                             Arch('vit_large', 1024, 24))}


@dataclass(frozen=True)
class Head:  # the iBOT head of the VisionFM recipe (launch/configs/visionfm_vitb16.flags)
    hidden: int = 2048
    bottleneck: int = 256
    out_dim: int = 8192


@dataclass(frozen=True)
class StepShape:
    batch: int  # images per GPU
    n_global: int = 2
    n_local: int = 0
    global_size: int = 224
    local_size: int = 96
    mask_fraction: float = 0.15  # of global-crop patches; VisionFM: none half the time, else U(0.1, 0.5)


RUN4_SHAPE = StepShape(batch=64, n_local=10, mask_fraction=0.3)


@dataclass(frozen=True)
class Links:
    gpus_per_node: int = 8
    nvlink_GBps: float = 450.0  # NVLink 4: 900 GB/s per GPU both directions together
    nvlink_hop_s: float = 3.4e-6  # NCCL tuning.cc, ring/Simple over NVLink
    node_GBps: float = 8 * 50.0  # 8 ConnectX-7 NICs per node, NDR 400 Gb/s = 50 GB/s each
    net_hop_s: float = 14.0e-6  # NCCL tuning.cc, ring/Simple over the network
    launch_s: float = 8.4e-6  # NCCL tuning.cc, base latency of ring/Simple

    def derated(self, efficiency):
        return Links(self.gpus_per_node, self.nvlink_GBps * efficiency, self.nvlink_hop_s,
                     self.node_GBps * efficiency, self.net_hop_s, self.launch_s)


# --- FLOPs (the count of trainer/flops.cc) ---

def tokens(arch, img_size):
    patches = (img_size // arch.patch) ** 2
    return patches, patches + 1


def block_forward_flops(arch, n):
    """qkv, attention core, proj, fc1, fc2 of one block on n tokens of one image, in forward order."""
    d, h = arch.dim, arch.mlp_ratio * arch.dim
    return [('qkv', 2 * n * d * 3 * d), ('attn', 4 * n * n * d), ('proj', 2 * n * d * d), ('fc1', 2 * n * d * h),
            ('fc2', 2 * n * h * d)]


def vit_forward_flops(arch, images, img_size):
    patches, n = tokens(arch, img_size)
    embed = 2 * patches * arch.in_chans * arch.patch ** 2 * arch.dim
    return images * (embed + arch.depth * sum(f for _, f in block_forward_flops(arch, n)))


def head_forward_flops(head, dim, rows):
    return 2.0 * rows * (dim * head.hidden + head.hidden ** 2 + head.hidden * head.bottleneck +
                         head.bottleneck * head.out_dim)


def student_head_rows(arch, s):
    masked = s.batch * s.n_global * tokens(arch, s.global_size)[0] * s.mask_fraction
    return s.batch * (s.n_global + s.n_local) + masked


def step_flops(arch, head, s):
    """Student forward+backward (3x forward) on all crops, teacher forward on the global crops."""
    globals_, locals_ = s.batch * s.n_global, s.batch * s.n_local
    student = (vit_forward_flops(arch, globals_, s.global_size) + vit_forward_flops(arch, locals_, s.local_size) +
               head_forward_flops(head, arch.dim, student_head_rows(arch, s)))
    teacher = (vit_forward_flops(arch, globals_, s.global_size) +
               head_forward_flops(head, arch.dim, globals_ * tokens(arch, s.global_size)[1]))
    return 3 * student + teacher


# --- The backward schedule and the buckets ---

def backward_ops(arch, head, s):
    """(backward FLOPs, [parameter sizes whose gradients it completes]) in the order backward runs."""
    d, h, k = arch.dim, int(arch.mlp_ratio * arch.dim), head
    crops = [(s.batch * s.n_global, s.global_size), (s.batch * s.n_local, s.local_size)]

    def per_block(name):
        return sum(images * dict(block_forward_flops(arch, tokens(arch, size)[1]))[name] for images, size in crops)

    head_bwd = 2 * head_forward_flops(head, d, student_head_rows(arch, s))
    ops = [(head_bwd, [k.out_dim * k.bottleneck, k.bottleneck, k.hidden * k.bottleneck, k.hidden, k.hidden ** 2,
                       k.hidden, d * k.hidden])]  # weight_v (weight_g is fixed), mlp.4, mlp.2, mlp.0
    ops.append((0, [d, d]))  # final norm
    for _ in range(arch.depth):  # each block, last first: fc2, fc1 (+ norm2), proj, attention, qkv (+ norm1)
        ops += [(2 * per_block('fc2'), [h * d, d]), (2 * per_block('fc1'), [d * h, h, d, d]),
                (2 * per_block('proj'), [d * d, d]), (2 * per_block('attn'), []),
                (2 * per_block('qkv'), [d * 3 * d, 3 * d, d, d])]
    patches = sum(images * tokens(arch, size)[0] for images, size in crops)
    conv = arch.in_chans * arch.patch ** 2 * d
    # masked_embed, pos_embed (sized for the global crops), cls_token, patch_embed's bias and weight
    ops.append((2 * 2 * patches * conv, [d, tokens(arch, s.global_size)[1] * d, d, d, conv]))
    return ops


def param_count(arch, head):
    return sum(sum(sizes) for _, sizes in backward_ops(arch, head, StepShape(batch=1)))


def buckets(ops, bucket_bytes, seconds_per_flop):
    """(bytes, ready time from the start of backward) per bucket, filled as GradBuckets fills them."""
    result, t, used, ready = [], 0.0, 0, 0.0
    for flops, sizes in ops:
        t += flops * seconds_per_flop
        for n in sizes:
            if used > 0 and (used + n) * 4 > bucket_bytes:
                result.append((used * 4, ready))
                used = 0
            used, ready = used + n, t
    if used:
        result.append((used * 4, ready))
    return result


# --- Communication ---

def ring_allreduce_s(nbytes, n, GBps, hop_s):
    """NCCL's ring: 2(n-1)/n of the bytes over each link (its busbw factor), 2(n-1) steps."""
    return 2 * (n - 1) / n * nbytes / (GBps * GB) + 2 * (n - 1) * hop_s if n > 1 else 0.0


def binomial_allreduce_s(nbytes, n, GBps, hop_s):
    """Open MPI's non-blocking all-reduce as vfm calls it (in place: libnbc picks a binomial reduce to rank 0
    and a binomial broadcast, bench/results/multihost.md): ceil(log2 n) rounds of the whole message each way."""
    rounds = math.ceil(math.log2(n)) if n > 1 else 0
    return 2 * rounds * (nbytes / (GBps * GB) + hop_s)


def allreduce_s(nbytes, ranks, links):
    """Hierarchical all-reduce of nbytes over `ranks` GPUs, `links.gpus_per_node` to a node."""
    if ranks <= 1:
        return 0.0
    g = min(ranks, links.gpus_per_node)
    m = ranks // g
    intra = (g - 1) / g * nbytes / (links.nvlink_GBps * GB) + (g - 1) * links.nvlink_hop_s
    inter = 0.0
    if m > 1:
        steps = min(2 * (m - 1), 2 * math.ceil(math.log2(m)))
        inter = 2 * (m - 1) / m * nbytes / (links.node_GBps * GB) + steps * links.net_hop_s
    return links.launch_s + 2 * intra + inter


def exposed_s(bucket_list, backward_s, comm_s):
    """Communication left after backward: buckets in order on one stream, each from when it is ready."""
    end = 0.0
    for nbytes, ready in bucket_list:
        end = max(end, ready) + comm_s(nbytes)
    return max(0.0, end - backward_s)


# --- Predictions ---

def predict(arch, ranks, shape, head=Head(), links=Links(), bucket_mb=25.0, measured_step_s=MEASURED_STEP_S):
    seconds_per_flop = measured_step_s / MEASURED_FLOPS
    compute = step_flops(arch, head, shape) * seconds_per_flop
    ops = backward_ops(arch, head, shape)
    backward = sum(f for f, _ in ops) * seconds_per_flop
    comm = lambda nbytes: allreduce_s(nbytes, ranks, links)  # noqa: E731
    exposed = exposed_s(buckets(ops, bucket_mb * 2 ** 20, seconds_per_flop), backward, comm)
    exposed += 2 * comm(head.out_dim * 4)  # the two centres, after the update
    step = compute + exposed
    images_per_s = ranks * shape.batch / step
    wall_h = VISIONFM_IMAGES * VISIONFM_EPOCHS / images_per_s / 3600
    return dict(arch=arch.name, ranks=ranks, nodes=max(1, ranks // links.gpus_per_node), compute_s=compute,
                backward_s=backward, exposed_s=exposed, step_s=step, efficiency=compute / step,
                images_per_s=images_per_s, wall_h=wall_h, gpu_h=wall_h * ranks,
                grad_bytes=4 * param_count(arch, head))


def table(rows):
    lines = ['| model | GPUs (nodes) | gradient MB | compute ms | step ms | exposed comm ms | efficiency | img/s | '
             'VisionFM wall time | GPU-hours |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    for r in rows:
        wall = f"{r['wall_h']:.1f} h" if r['wall_h'] < 48 else f"{r['wall_h'] / 24:.1f} d"
        lines.append(f"| {r['arch']} | {r['ranks']} ({r['nodes']}) | {r['grad_bytes'] / 1e6:.0f} | "
                     f"{r['compute_s'] * 1e3:.1f} | {r['step_s'] * 1e3:.1f} | {r['exposed_s'] * 1e3:.2f} | "
                     f"{r['efficiency'] * 100:.1f}% | {r['images_per_s']:,.0f} | {wall} | {r['gpu_h']:,.0f} |")
    return '\n'.join(lines)


# --- Validation against the network-namespace runs ---

VALIDATE_COLUMNS = ['link_mbit', 'latency_ms', 'ranks', 'hosts', 'grad_bytes', 'step_s', 'comm_exposed_s', 'model']


def validate_row(row, bucket_mb, shm_GBps, backward_fraction):
    """Predicted exposed communication of one measured run: (hierarchical, flat ring over the hosts' link,
    binomial reduce + broadcast as Open MPI's in-place iallreduce does over the hosts' link).

    The run's own compute (step_s - comm_exposed_s) sets the backward window (backward_fraction of it); its
    grad_bytes are cut into --bucket_mb buckets ready evenly over backward (the run's layer list is not in
    the CSV). Inside a host the ranks share memory (shm_GBps, no hop latency); between hosts the link is
    the tbf rate with the netem latency per hop.
    """
    ranks, hosts = int(row['ranks']), int(row['hosts'])
    link_GBps = float(row['link_mbit']) * 1e6 / 8 / GB
    hop_s = float(row['latency_ms']) / 1e3
    grad_bytes = float(row['grad_bytes'])
    backward = (float(row['step_s']) - float(row['comm_exposed_s'])) * backward_fraction
    n = max(1, math.ceil(grad_bytes / (bucket_mb * 2 ** 20)))
    schedule = [(grad_bytes / n, backward * (k + 1) / n) for k in range(n)]
    links = Links(gpus_per_node=ranks // hosts, nvlink_GBps=shm_GBps, nvlink_hop_s=0.0, node_GBps=link_GBps,
                  net_hop_s=hop_s, launch_s=0.0)
    hierarchical = exposed_s(schedule, backward, lambda b: allreduce_s(b, ranks, links))
    flat = exposed_s(schedule, backward, lambda b: ring_allreduce_s(b, ranks, link_GBps, hop_s))
    binomial = exposed_s(schedule, backward, lambda b: binomial_allreduce_s(b, ranks, link_GBps, hop_s))
    return hierarchical, flat, binomial


def validate(path, bucket_mb, shm_GBps, backward_fraction):
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    missing = [c for c in VALIDATE_COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise SystemExit(f'{path}: no rows, or missing columns {missing} (want {",".join(VALIDATE_COLUMNS)})')
    lines = ['| model | link Mbit/s | latency ms | ranks / hosts | gradient MB | step s | measured exposed s | '
             'predicted (hierarchical) | predicted (flat ring) | predicted (binomial, MPI) | measured / binomial |',
             '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    for row in rows:
        hier, flat, binomial = validate_row(row, bucket_mb, shm_GBps, backward_fraction)
        measured = float(row['comm_exposed_s'])
        ratio = f'{measured / binomial:.2f}' if binomial > 0 else '-'
        lines.append(f"| {row['model']} | {row['link_mbit']} | {row['latency_ms']} | {row['ranks']} / {row['hosts']} | "
                     f"{float(row['grad_bytes']) / 1e6:.1f} | {float(row['step_s']):.3f} | {measured:.3f} | "
                     f"{hier:.3f} | {flat:.3f} | {binomial:.3f} | {ratio} |")
    return '\n'.join(lines)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--gpus', default='1,8,64,512', help='GPU counts, comma-separated')
    p.add_argument('--archs', default='vit_base,vit_large', help=f'of {",".join(ARCHS)}')
    p.add_argument('--batch', type=int, default=64, help='images per GPU (run 4 measured 64)')
    p.add_argument('--local_crops', type=int, default=0, help='local crops per image (VisionFM: 0)')
    p.add_argument('--bucket_mb', type=float, default=25.0, help="the reducer's --bucket_mb")
    p.add_argument('--measured_step_ms', type=float, default=MEASURED_STEP_S * 1e3,
                   help="run 4's shape (ViT-B/16, batch 64, 2x224 + 10x96) measured on one H200")
    p.add_argument('--link_efficiency', type=float, default=1.0,
                   help='fraction of the published NVLink/IB rates that NCCL reaches (1: peak)')
    p.add_argument('--validate', metavar='CSV', help='compare with measured runs (columns: ' +
                   ','.join(VALIDATE_COLUMNS) + ')')
    p.add_argument('--shm_GBps', type=float, default=5.0, help='--validate: bandwidth between ranks of one host')
    p.add_argument('--backward_fraction', type=float, default=0.5,
                   help="--validate: backward's share of a run's compute (2 global crops, no local: ~0.5)")
    args = p.parse_args(argv)
    if args.validate:
        print(validate(args.validate, args.bucket_mb, args.shm_GBps, args.backward_fraction))
        return
    shape = StepShape(batch=args.batch, n_local=args.local_crops)
    links = Links().derated(args.link_efficiency)
    rows = [predict(ARCHS[a], int(n), shape, links=links, bucket_mb=args.bucket_mb,
                    measured_step_s=args.measured_step_ms / 1e3)
            for a in args.archs.split(',') for n in args.gpus.split(',')]
    print(table(rows))


if __name__ == '__main__':
    main(sys.argv[1:])
