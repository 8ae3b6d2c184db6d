// ZeRO stage 1 (Rajbhandari et al. 2020): the optimizer state sharded across ranks. The gradient buckets
// are laid out with one block per rank (autograd/grad_buckets.h); the reducer reduce-scatters them in
// place, so rank r holds the averaged gradients of block r of every bucket; the one AdamW
// (trainer/adamw.h) clips and updates the parameters' spans in block r, with moments for those blocks
// only (1/world of the optimizer memory); then the parameters are all-gathered. Element by element this is
// the same update as AdamW over the whole averaged gradients. Here is the communication around that step.
#pragma once
#include <vector>

#include "autograd/grad_buckets.h"
#include "distributed/communicator.h"

namespace vfm::dist {

// After this rank's optimizer has updated its block of every bucket: every rank's updated elements to
// every rank. The gradient buffer carries them (its gradients are used): each rank writes its spans of
// the parameters into its block, the blocks are all-gathered in place and every parameter is copied from
// its slot. Every .grad is dropped (the buffer now holds parameter values). Collective.
absl::Status AllGatherParameters(const GradBuckets& grads, Communicator& comm);

// The whole of bucket-shaped state from every rank's block: blocks[b] is this rank's block of bucket b
// (e.g. AdamW's moments); returns one tensor per bucket, shaped like it. Collective.
absl::StatusOr<std::vector<Tensor>> GatherBlocks(const GradBuckets& grads, const std::vector<Tensor>& blocks,
                                                 Communicator& comm);

}  // namespace vfm::dist
