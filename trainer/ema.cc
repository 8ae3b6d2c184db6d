#include "trainer/ema.h"

#include <vector>

#include "kernels/cpu/adamw.h"
#include "kernels/cuda/adamw.h"

namespace vfm {

void EmaUpdate(const nn::NamedTensors& teacher, const nn::NamedTensors& student, double momentum) {
#if VFM_WITH_CUDA
  std::vector<cuda::EmaTensor> on_gpu;  // updated together at the end (batched launches)
#endif
  VFM_CHECK(teacher.size() == student.size()) << "EMA: teacher has " << teacher.size() << " parameters, student "
                                              << student.size();
  for (size_t i = 0; i < teacher.size(); ++i) {
    const auto& [tname, t] = teacher[i];
    const auto& [sname, s] = student[i];
    VFM_CHECK(tname == sname && t.shape() == s.shape()) << "EMA: teacher " << tname << " vs student " << sname;
    if (t.device().is_cpu()) {
      cpu::EmaUpdate(t.data<float>(), s.data<float>(), t.numel(), momentum);
      continue;
    }
#if VFM_WITH_CUDA
    VFM_CHECK(s.device() == t.device() && t.is_contiguous() && s.is_contiguous())
        << "EMA: teacher " << tname << " on " << t.device().ToString() << ", student on " << s.device().ToString()
        << " (both must be contiguous, on one device)";
    on_gpu.push_back({t.data<float>(), s.data<float>(), t.numel()});
#else
    VFM_CHECK(false) << "EMA: teacher " << tname << " on " << t.device().ToString() << " in a build without CUDA";
#endif
  }
#if VFM_WITH_CUDA
  if (!on_gpu.empty()) cuda::EmaUpdate(on_gpu.data(), int(on_gpu.size()), momentum);
#endif
}

}  // namespace vfm
