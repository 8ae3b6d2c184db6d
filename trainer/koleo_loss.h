// DINOv2's KoLeo regulariser (Oquab et al. 2023, after Sablayrolles et al. 2019): on the L2-normalised rows
// x_i of a batch, with j(i) the nearest other row (largest dot product),
//   L_koleo = -1/n sum_i log(|| x_i - x_j(i) + eps || + eps),   eps = 1e-8 (torch's pairwise_distance)
// It grows as rows crowd together, so adding it spreads the student's [CLS] features over the sphere: the
// cure for the dimensional collapse a small iBOT model shows on small images (bench/results/main_job_recipe.md:
// teacher features of effective rank 7 of 192). DINOv2 computes it per global crop over each GPU's batch,
// as vfm does per rank (so with it the run depends on the per-rank batch, not the global one alone).
#pragma once
#include "autograd/ops.h"

namespace vfm {

// x [n, D] (n >= 2, any float dtype, on any device) -> the scalar L_koleo, differentiable in x. The
// neighbours are chosen without gradient (as argmax is) and picked by a one-hot matmul, whose backward
// sums deterministically where one row is the neighbour of several.
Tensor KoLeoLoss(const Tensor& x);

}  // namespace vfm
