#!/usr/bin/env python3
"""PyTorch baseline for vfm's fused attention (issue 7): F.scaled_dot_product_attention, one backend at a time.

For each sequence length S in --seqs (default 37, 197, 257, 785, 1025: ViT-B/16 at 96, 224, 256, 448, 512 px),
head dim 64, 12 heads, batch 128 (batch * heads = 1536), bf16, no mask, no dropout, and each backend forced with
torch.nn.attention.sdpa_kernel (CUDNN_ATTENTION, FLASH_ATTENTION, EFFICIENT_ATTENTION, MATH), it times
  fwd     the training forward (inputs require grad, so the kernel also keeps its softmax statistics),
  bwd     torch.autograd.grad of that output for q, k, v (graph retained, so only the backward kernel runs),
  fwdbwd  both,
as the median over --reps repetitions of a loop of calls lasting about --min_ms (CUDA events), and reports ms,
TFLOP/s counting 4*B*H*S*S*D for the forward and 2.5x that for the backward, and TB/s of the q, k, v, o tensors
(B*H*S*D*2 bytes each; forward reads q, k, v and writes o: 4; backward reads q, k, v, o, dO and writes dq, dk, dv:
8; softmax statistics not counted); this last is the figure that matters for S=37. A backend that refuses a
shape is recorded with its error and reasons. Layouts: bhsd (contiguous q, k, v of shape (B, H, S, D)) and bshd
(views of one packed (B, S, 3, H, D) qkv tensor, as timm's ViT passes them). fwd_max_diff is the largest
difference of the output from the MATH backend's. Prints one JSON object on the last line of stdout.
CPU smoke run: --device cpu --batch 2 --heads 2 --seqs 37,197 --reps 2
"""
import argparse
import json
import statistics
import time
import warnings

import torch

BACKENDS = ("CUDNN_ATTENTION", "FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH")


def timed(fn, dev, reps, min_ms):
    """Median ms per call of fn: after a warm-up call, --reps loops of enough calls to last about min_ms."""
    def clock(n):
        if dev.type != "cuda":
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            return (time.perf_counter() - t0) * 1e3 / n
        ev = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        ev[0].record()
        for _ in range(n):
            fn()
        ev[1].record()
        ev[1].synchronize()
        return ev[0].elapsed_time(ev[1]) / n

    fn()
    n = max(1, int(min_ms / max(clock(2), 1e-3)))
    return statistics.median(clock(n) for _ in range(reps))


def make_qkv(a, dev, s, layout):
    shape = (a.batch, s, 3, a.heads, a.head_dim) if layout == "bshd" else (3, a.batch, a.heads, s, a.head_dim)
    x = torch.randn(shape, device=dev, dtype=getattr(torch, a.dtype), requires_grad=True)
    return x.permute(2, 0, 3, 1, 4).unbind(0) if layout == "bshd" else x.unbind(0)


def attempt(fn):
    """fn() or, when the backend refuses, {"error": its message | the reasons torch warned about}."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            return fn()
        except Exception as e:  # noqa: BLE001  (a refused shape is a result)
            why = "; ".join(sorted({str(x.message).split("\n")[0] for x in w}))
            return {"error": (str(e).split("\n")[0] + (" | " + why if why else ""))[:1500]}


def bench_backend(a, dev, backend, q, k, v, ref):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    sdpa = torch.nn.functional.scaled_dot_product_attention
    if not hasattr(SDPBackend, backend):
        return {"error": f"SDPBackend.{backend} not in this torch"}
    s = q.shape[2]
    flops_fwd = 4 * a.batch * a.heads * s * s * a.head_dim
    tensor_bytes = a.batch * a.heads * s * a.head_dim * q.element_size()
    with sdpa_kernel([getattr(SDPBackend, backend)]):
        o = attempt(lambda: sdpa(q, k, v))
        if isinstance(o, dict):
            return o
        do = torch.randn_like(o)
        out = {"fwd_max_diff": (o.float() - ref).abs().max().item()}
        calls = {"fwd": lambda: sdpa(q, k, v),
                 "bwd": lambda: torch.autograd.grad(o, (q, k, v), do, retain_graph=True),
                 "fwdbwd": lambda: torch.autograd.grad(sdpa(q, k, v), (q, k, v), do)}
        for name, flops, n_tensors in (("fwd", 1.0, 4), ("bwd", 2.5, 8), ("fwdbwd", 3.5, 12)):
            def measure():
                ms = timed(calls[name], dev, a.reps, a.min_ms)
                return dict(ms=ms, tflops=flops * flops_fwd / ms / 1e9, tb_s=n_tensors * tensor_bytes / ms / 1e9)
            out[name] = attempt(measure)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seqs", default="37,197,257,785,1025")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--head_dim", type=int, default=64)
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--layouts", default="bhsd,bshd")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--min_ms", type=float, default=20.0, help="length of one timed loop of calls")
    p.add_argument("--device", default="cuda")
    a = p.parse_args()
    out = {"torch_version": torch.__version__, "config": vars(a)}
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # SDPA came in torch 2.0, torch.nn.attention.sdpa_kernel in 2.3
        out["error"] = f"no SDPA (torch.nn.attention.sdpa_kernel) in torch {torch.__version__}"
        print(json.dumps(out))
        return
    dev = torch.device(a.device)
    if dev.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(dev)
        out["cudnn_version"] = torch.backends.cudnn.version()
    results = []
    for layout in a.layouts.split(","):
        for s in map(int, a.seqs.split(",")):
            torch.manual_seed(0)
            q, k, v = make_qkv(a, dev, s, layout)
            with torch.no_grad(), sdpa_kernel([SDPBackend.MATH]):
                ref = torch.nn.functional.scaled_dot_product_attention(q.float(), k.float(), v.float())
            row = {"layout": layout, "S": s, "B": a.batch, "H": a.heads, "D": a.head_dim,
                   "fwd_gflop": 4 * a.batch * a.heads * s * s * a.head_dim / 1e9}
            for backend in a.backends.split(","):
                row[backend] = bench_backend(a, dev, backend, q, k, v, ref)
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
            results.append(row)
            del q, k, v, ref
    out["results"] = results
    print(json.dumps(out))


if __name__ == "__main__":
    main()
