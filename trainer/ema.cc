#include "trainer/ema.h"

#include "kernels/cpu/adamw.h"
#include "kernels/cuda/adamw.h"

namespace vfm {

Tensor FlatParameters(const nn::NamedTensors& params) {
  VFM_CHECK(!params.empty()) << "flat parameters: none given";
  const Tensor& first = params[0].second;
  int64_t total = 0;
  bool at_home = true;  // each parameter where the previous one ends, in one storage
  for (const auto& [name, p] : params) {
    VFM_CHECK(p.dtype() == DType::kF32 && p.is_contiguous() && p.device() == first.device())
        << "flat parameters: " << name << " must be contiguous f32 on " << first.device().ToString();
    at_home = at_home && p.storage() == first.storage() && p.offset() == total;
    total += p.numel();
  }
  if (at_home && first.storage()->nbytes() == size_t(total) * sizeof(float)) return first.View({total}, {1}, 0);
  const Tensor flat = Tensor::Empty({total}, DType::kF32, first.device());
  int64_t offset = 0;
  for (auto [name, p] : params) {
    p.MoveInto(flat.View(p.shape(), ContiguousStrides(p.shape()), offset));
    offset += p.numel();
  }
  return flat;
}

void EmaUpdate(const nn::NamedTensors& teacher, const nn::NamedTensors& student, double momentum) {
  VFM_CHECK(teacher.size() == student.size()) << "EMA: teacher has " << teacher.size() << " parameters, student "
                                              << student.size();
  for (size_t i = 0; i < teacher.size(); ++i)
    VFM_CHECK(teacher[i].first == student[i].first && teacher[i].second.shape() == student[i].second.shape())
        << "EMA: teacher " << teacher[i].first << " vs student " << student[i].first;
  const Tensor t = FlatParameters(teacher), s = FlatParameters(student);
  VFM_CHECK(t.device() == s.device()) << "EMA: teacher on " << t.device().ToString() << ", student on "
                                      << s.device().ToString();
  if (t.device().is_cpu()) {
    cpu::EmaUpdate(t.data<float>(), s.data<float>(), t.numel(), momentum);
    return;
  }
#if VFM_WITH_CUDA
  const cuda::EmaTensor whole{t.data<float>(), s.data<float>(), t.numel()};
  cuda::EmaUpdate(&whole, 1, momentum);
#else
  VFM_CHECK(false) << "EMA: teacher on " << t.device().ToString() << " in a build without CUDA";
#endif
}

}  // namespace vfm
