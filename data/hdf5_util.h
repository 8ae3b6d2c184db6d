// Small helpers over the HDF5 C API shared by the shard writer and reader: an owning handle, and error
// reporting through absl::Status instead of HDF5's default of printing its error stack to stderr.
#pragma once
#include <hdf5.h>

#include <string>
#include <utility>

namespace vfm::data {

// Closes an HDF5 id (file, dataset, dataspace, type, attribute, property list) when it goes out of scope.
class H5Id {
 public:
  H5Id() = default;
  H5Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  H5Id(H5Id&& other) noexcept { *this = std::move(other); }
  H5Id& operator=(H5Id&& other) noexcept {
    std::swap(id_, other.id_);
    std::swap(close_, other.close_);
    return *this;
  }
  ~H5Id() {
    if (id_ >= 0 && close_) close_(id_);
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// Turns off HDF5's automatic error-stack printing (once per process); callers report errors themselves.
void SilenceHdf5Errors();

}  // namespace vfm::data
