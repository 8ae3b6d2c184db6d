#include "bench/gpu/kernel_profile.h"

#include <cupti.h>
#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "absl/strings/str_format.h"

namespace vfm::bench {
namespace {

struct Totals {
  int64_t calls = 0;
  uint64_t ns = 0;
};
std::mutex mutex;
std::map<std::string, Totals> totals;

void Check(CUptiResult r, const char* what) {
  if (r == CUPTI_SUCCESS) return;
  const char* msg = nullptr;
  cuptiGetResultString(r, &msg);
  throw std::runtime_error(absl::StrFormat("CUPTI %s: %s", what, msg ? msg : "?"));
}

// "void vfm::cuda::(anonymous namespace)::LayerNormForwardKernel<float>(...)"
//   -> "vfm::cuda::LayerNormForwardKernel<float>" (no return type, namespaces kept, no parameters).
std::string ShortName(const char* mangled) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && demangled ? demangled : mangled;
  std::free(demangled);
  const std::string anonymous = "(anonymous namespace)::";
  for (size_t at; (at = name.find(anonymous)) != std::string::npos;) name.erase(at, anonymous.size());
  const size_t paren = name.find('(');
  if (paren != std::string::npos) name.resize(paren);
  if (name.rfind("void ", 0) == 0) name = name.substr(5);
  return name.size() > 110 ? name.substr(0, 110) : name;
}

void CUPTIAPI BufferRequested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *size = 16 << 20;
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, *size));
  *max_records = 0;
}

void CUPTIAPI BufferCompleted(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  CUpti_Activity* record = nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
    if (record->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) {
      const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
      Totals& t = totals[ShortName(k->name)];
      ++t.calls;
      t.ns += k->end - k->start;
    } else if (record->kind == CUPTI_ACTIVITY_KIND_MEMCPY) {
      const auto* m = reinterpret_cast<const CUpti_ActivityMemcpy6*>(record);
      Totals& t = totals["[memcpy]"];
      ++t.calls;
      t.ns += m->end - m->start;
    } else if (record->kind == CUPTI_ACTIVITY_KIND_MEMSET) {
      const auto* m = reinterpret_cast<const CUpti_ActivityMemset4*>(record);
      Totals& t = totals["[memset]"];
      ++t.calls;
      t.ns += m->end - m->start;
    }
  }
  std::free(buffer);
}

}  // namespace

void StartKernelProfile() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    totals.clear();
  }
  Check(cuptiActivityRegisterCallbacks(BufferRequested, BufferCompleted), "register callbacks");
  Check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL), "enable kernels");
  Check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMCPY), "enable memcpy");
  Check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMSET), "enable memset");
}

std::string StopKernelProfile(int top) {
  Check(cuptiActivityFlushAll(1), "flush");
  cuptiActivityDisable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  cuptiActivityDisable(CUPTI_ACTIVITY_KIND_MEMCPY);
  cuptiActivityDisable(CUPTI_ACTIVITY_KIND_MEMSET);
  std::lock_guard<std::mutex> lock(mutex);
  std::vector<std::pair<std::string, Totals>> rows(totals.begin(), totals.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ns > b.second.ns; });
  uint64_t all = 0;
  int64_t calls = 0;
  for (const auto& [name, t] : rows) {
    all += t.ns;
    calls += t.calls;
  }
  std::string out = absl::StrFormat("GPU busy %.2f ms in %d kernels/copies\n%10s %8s %7s  %s\n", all / 1e6, calls,
                                    "total ms", "calls", "share", "kernel");
  for (size_t i = 0; i < rows.size() && int(i) < top; ++i)
    out += absl::StrFormat("%10.3f %8d %6.1f%%  %s\n", rows[i].second.ns / 1e6, rows[i].second.calls,
                           100.0 * double(rows[i].second.ns) / double(std::max<uint64_t>(all, 1)), rows[i].first);
  return out;
}

}  // namespace vfm::bench
