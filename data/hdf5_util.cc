#include "data/hdf5_util.h"

#include <mutex>

namespace vfm::data {

void SilenceHdf5Errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

}  // namespace vfm::data
