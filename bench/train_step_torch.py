#!/usr/bin/env python3
"""PyTorch baseline for bench_train_step: the same iBOT training step, written the way iBOT's own code
runs it (head on every token, the loss loop over crop pairs), on the CPU.

Usage: train_step_torch.py '<json config>'   (keys as bench/train_step.cc passes them)
Prints one line: torch_step_ms=<median ms per step>.
"""
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "parity"))
import vit_ibot_reference as ref  # noqa: E402  (the parity test's PyTorch model and loss)


def main():
    c = dict(ref.CFG)
    c.update(json.loads(sys.argv[1]))
    torch.set_num_threads(c["threads"])
    student, teacher, globals_, locals_, masks, opt = ref.setup(c, 0.3)
    opt.param_groups[0]["weight_decay"], opt.param_groups[0]["lr"] = 0.04, 1e-4
    opt.param_groups[1]["lr"] = 1e-4
    params = student.named_flat()
    center, center2 = torch.zeros(1, c["out_dim"]), torch.zeros(1, 1, c["out_dim"])

    def step():
        nonlocal center, center2
        opt.zero_grad(set_to_none=True)
        if c["n_local"]:
            (loss, _, _), _, t_out = ref.forward(c, student, teacher, globals_, locals_, masks, center, center2)
        else:
            g_all = torch.cat(globals_)
            with torch.no_grad():
                t_out = teacher.head(teacher.backbone(g_all))
            s_out = student.head(student.backbone(g_all, torch.cat(masks)))
            loss, _, _ = ref.ibot_loss(c, s_out[:, 0], s_out[:, 1:], t_out[:, 0], t_out[:, 1:], masks, center,
                                       center2)
        loss.backward()
        for p in params.values():
            if p.grad is not None:
                coef = 3.0 / (p.grad.norm(2) + 1e-6)
                if coef < 1:
                    p.grad.mul_(coef)
        opt.step()
        with torch.no_grad():
            for ps, pt in zip(student.parameters(), teacher.parameters()):
                pt.mul_(0.996).add_(0.004 * ps.detach())
            center = center * 0.9 + t_out[:, 0].mean(0, keepdim=True) * 0.1
            center2 = center2 * 0.9 + t_out[:, 1:].mean(1).mean(0, keepdim=True) * 0.1

    for _ in range(c["warmup"]):
        step()
    times = []
    for _ in range(c["steps"]):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"torch_step_ms={statistics.median(times):.2f}")


if __name__ == "__main__":
    main()
