#include "data/views_file.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "data/hdf5_util.h"

namespace vfm::data {
namespace {

// One array of the file: the shape of one batch's part and the bytes of all batches' parts.
struct Array {
  std::vector<hsize_t> shape;
  std::vector<uint8_t> bytes;
  void Append(std::vector<hsize_t> part_shape, const void* data, size_t size) {
    shape = std::move(part_shape);
    const auto* p = static_cast<const uint8_t*>(data);
    bytes.insert(bytes.end(), p, p + size);
  }
};

absl::Status WriteArray(hid_t file, const char* name, hid_t type, size_t batches, const Array& a) {
  std::vector<hsize_t> dims{hsize_t(batches)};
  dims.insert(dims.end(), a.shape.begin(), a.shape.end());
  H5Id space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
  H5Id dset(H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  if (!dset.ok() || H5Dwrite(dset.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.bytes.data()) < 0)
    return absl::InternalError(absl::StrCat("cannot write the dataset ", name));
  return absl::OkStatus();
}

absl::Status WriteFile(const std::vector<std::unique_ptr<Batch>>& batches, const std::string& path) {
  Array global, local, masks, ids;
  for (const auto& batch : batches) {
    const Batch& x = *batch;
    const hsize_t b = hsize_t(x.size), g = hsize_t(x.global.rows) / b, side = hsize_t(x.global.side);
    global.Append({g, b, 3, side, side}, x.global.pixels.data(), x.global.pixels.size());
    if (x.local.rows > 0) {
      const hsize_t l = hsize_t(x.local.rows) / b, local_side = hsize_t(x.local.side);
      local.Append({l, b, 3, local_side, local_side}, x.local.pixels.data(), x.local.pixels.size());
    }
    masks.Append({g, b, x.masks.size() / (g * b)}, x.masks.data(), x.masks.size());
    ids.Append({b}, x.ids.data(), x.ids.size() * sizeof(uint64_t));
  }
  SilenceHdf5Errors();
  H5Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) return absl::InvalidArgumentError(absl::StrCat("cannot create ", path));
  const size_t n = batches.size();
  for (absl::Status s : {WriteArray(file.get(), "global", H5T_NATIVE_UINT8, n, global),
                         local.bytes.empty() ? absl::OkStatus() : WriteArray(file.get(), "local", H5T_NATIVE_UINT8, n, local),
                         WriteArray(file.get(), "masks", H5T_NATIVE_UINT8, n, masks),
                         WriteArray(file.get(), "ids", H5T_NATIVE_UINT64, n, ids)})
    if (!s.ok()) return s;
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteViewsFile(const std::vector<std::unique_ptr<Batch>>& batches, const std::string& path) {
  const std::string temporary = path + ".tmp";
  absl::Status written = WriteFile(batches, temporary);
  std::error_code error;
  if (written.ok()) {
    std::filesystem::rename(temporary, path, error);
    if (error) written = absl::InternalError(absl::StrCat("cannot rename ", temporary, " to ", path, ": ", error.message()));
  }
  if (!written.ok()) std::filesystem::remove(temporary, error);
  return written;
}

}  // namespace vfm::data
