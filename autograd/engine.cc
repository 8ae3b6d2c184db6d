#include "autograd/engine.h"

#include <unordered_map>

#include "autograd/ops.h"

namespace vfm {

namespace {
thread_local bool grad_enabled = true;

// acc += g, out of place: an op's backward may hand the same gradient tensor to several inputs
// (add does), so a received gradient is never modified.
void Accumulate(Tensor& acc, const Tensor& g) { acc = acc.defined() ? ops::Add(acc, g) : g; }

// The leaf's .grad once `g`, its complete gradient of this backward, is added (gradients accumulate
// across backward calls). A leaf's .grad is its own memory (optimizers and clipping change it in place,
// and g may be shared with other inputs): its home when it has one, written in place, else a new tensor.
Tensor LeafGrad(const Tensor& leaf, const Tensor& g) {
  const Tensor old = leaf.grad();
  Tensor home = leaf.grad_home();
  if (!home.defined()) return old.defined() ? ops::Add(old, g) : g.Clone();
  VFM_CHECK(g.dtype() == home.dtype() && g.device() == home.device())
      << "gradient of " << leaf.name() << " is " << DTypeName(g.dtype()) << " on " << g.device().ToString()
      << ", its home " << DTypeName(home.dtype()) << " on " << home.device().ToString();
  if (!old.defined()) {
    home.CopyFrom(g);
  } else {
    VFM_CHECK(old.impl() == home.impl()) << "gradient of " << leaf.name() << " was set outside its home";
    ops::AddInPlace(home, g);
  }
  return home;
}
}  // namespace

bool GradEnabled() { return grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(grad_enabled) { grad_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_enabled = previous_; }

bool AnyRequiresGrad(std::initializer_list<const Tensor*> inputs) {
  if (!grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool AnyRequiresGrad(const std::vector<Tensor>& inputs) {
  if (!grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void RecordOp(Tensor& out, const char* name, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!AnyRequiresGrad(inputs)) return;
  auto node = std::make_shared<Node>();
  node->op = name;
  node->needs.reserve(inputs.size());
  for (const Tensor& t : inputs) node->needs.push_back(t.defined() && t.requires_grad());
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  out.impl()->grad_fn = std::move(node);
  out.impl()->requires_grad = true;
}

void Tensor::Backward() const {
  VFM_CHECK(numel() == 1) << "Backward() needs a single-element tensor, got " << ShapeToString(shape());
  VFM_CHECK(requires_grad()) << "Backward() on a tensor that does not require grad";
  Tensor seed = Tensor::Full(shape(), 1.0, dtype(), device());

  // Count, for every node and leaf reachable from this one, how many gradients it will receive.
  std::unordered_map<Node*, int> pending_nodes;
  std::unordered_map<TensorImpl*, int> pending_leaves;
  std::vector<Node*> stack;
  if (grad_fn()) {
    pending_nodes[grad_fn().get()] = 0;
    stack.push_back(grad_fn().get());
  }
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      if (!node->needs[i]) continue;
      const Tensor& in = node->inputs[i];
      if (in.grad_fn()) {
        auto [it, inserted] = pending_nodes.try_emplace(in.grad_fn().get(), 0);
        if (inserted) stack.push_back(in.grad_fn().get());
        ++it->second;
      } else {
        ++pending_leaves[in.impl()];
      }
    }
  }

  std::unordered_map<TensorImpl*, Tensor> leaf_grads;
  auto deliver_to_leaf = [&](const Tensor& leaf, const Tensor& g) {
    Tensor& acc = leaf_grads[leaf.impl()];
    Accumulate(acc, g);
    if (--pending_leaves[leaf.impl()] > 0) return;
    // Complete: into .grad, then tell the hooks.
    const Tensor total = LeafGrad(leaf, acc);
    leaf.impl()->grad = total.impl_ptr();
    leaf_grads.erase(leaf.impl());
    for (const GradHook& hook : leaf.impl()->grad_ready_hooks) hook(total);
  };

  if (!grad_fn()) {  // the root is itself a leaf
    pending_leaves[impl()] = 1;
    deliver_to_leaf(*this, seed);
    return;
  }

  NoGradGuard no_grad;  // backward closures compute with plain ops
  std::unordered_map<Node*, Tensor> node_grads;
  node_grads[grad_fn().get()] = seed;
  std::vector<Node*> ready{grad_fn().get()};
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    Tensor g_out = std::move(node_grads[node]);
    node_grads.erase(node);
    VFM_CHECK(node->backward) << "backward through op '" << node->op << "' a second time";
    std::vector<Tensor> g_in = node->backward(g_out, node->needs);
    VFM_CHECK(g_in.size() == node->inputs.size()) << "op '" << node->op << "' returned "
                                                  << g_in.size() << " gradients";
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      if (!node->needs[i]) continue;
      const Tensor& in = node->inputs[i];
      VFM_CHECK(g_in[i].defined()) << "op '" << node->op << "' gave no gradient for input " << i;
      VFM_CHECK(g_in[i].shape() == in.shape())
          << "op '" << node->op << "' gradient " << i << " has shape " << ShapeToString(g_in[i].shape())
          << ", input has " << ShapeToString(in.shape());
      if (in.grad_fn()) {
        Node* next = in.grad_fn().get();
        Accumulate(node_grads[next], g_in[i]);
        if (--pending_nodes[next] == 0) ready.push_back(next);
      } else {
        deliver_to_leaf(in, g_in[i]);
      }
    }
    // Free what the node saved for backward: the graph is used once.
    node->backward = nullptr;
  }
}

}  // namespace vfm
