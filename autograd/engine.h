// Reverse-mode autograd. Each op that may need a gradient records a Node on its output: the inputs
// and a closure that maps the output's gradient to the inputs' gradients. Backward walks the nodes
// reachable from the loss in dependency order (a node runs once all its consumers have given it
// their gradient), accumulates into leaves' .grad, and fires a leaf's gradient-ready hooks as soon as
// its last consumer has run.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/tensor.h"

namespace vfm {

// Gradients for `inputs` given the output gradient; needs[i] says whether input i wants one
// (entries for inputs that do not may be left undefined).
using BackwardFn =
    std::function<std::vector<Tensor>(const Tensor& grad_out, const std::vector<bool>& needs)>;

struct Node {
  std::string op;
  std::vector<Tensor> inputs;
  std::vector<bool> needs;
  BackwardFn backward;
};

// Grad mode is per thread; NoGradGuard turns recording off in a scope (the teacher's forward,
// evaluation, optimizer updates).
bool GradEnabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and some input requires a gradient: only then does an op record a node
// (so the graph holds just what reaches trainable leaves).
bool AnyRequiresGrad(std::initializer_list<const Tensor*> inputs);
bool AnyRequiresGrad(const std::vector<Tensor>& inputs);

// Makes `out` the result of op `name` over `inputs` (a no-op when nothing requires a gradient).
void RecordOp(Tensor& out, const char* name, std::vector<Tensor> inputs, BackwardFn backward);

}  // namespace vfm
