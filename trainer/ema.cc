#include "trainer/ema.h"

#include "kernels/cpu/adamw.h"

namespace vfm {

void EmaUpdate(const nn::NamedTensors& teacher, const nn::NamedTensors& student, double momentum) {
  VFM_CHECK(teacher.size() == student.size()) << "EMA: teacher has " << teacher.size() << " parameters, student "
                                              << student.size();
  for (size_t i = 0; i < teacher.size(); ++i) {
    const auto& [tname, t] = teacher[i];
    const auto& [sname, s] = student[i];
    VFM_CHECK(tname == sname && t.shape() == s.shape()) << "EMA: teacher " << tname << " vs student " << sname;
    cpu::EmaUpdate(t.data<float>(), s.data<float>(), t.numel(), momentum);
  }
}

}  // namespace vfm
