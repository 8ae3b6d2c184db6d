#include "data/shard_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/crc32c.h"
#include "data/hdf5_util.h"

namespace vfm::data {
namespace {

// Writes a 1-D dataset of `n` elements of `type` from `data` (contiguous layout, no compression).
absl::Status WriteDataset(hid_t file, const char* name, hid_t type, size_t n, const void* data) {
  hsize_t dims[1] = {n};
  H5Id space(H5Screate_simple(1, dims, nullptr), H5Sclose);
  H5Id dset(H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  if (!dset.ok()) return absl::InternalError(absl::StrCat("cannot create dataset ", name));
  if (n > 0 && H5Dwrite(dset.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    return absl::InternalError(absl::StrCat("cannot write dataset ", name));
  return absl::OkStatus();
}

template <typename T, typename Field>
std::vector<T> Column(const std::vector<SampleMeta>& metas, Field field) {
  std::vector<T> out;
  out.reserve(metas.size());
  for (const SampleMeta& m : metas) out.push_back(T(field(m)));
  return out;
}

// A string per sample, stored like the images: `/NAME_bytes` (uint8, back to back) and `/NAME_offset` (N+1).
absl::Status WriteStrings(hid_t file, const std::string& name, const std::vector<SampleMeta>& metas,
                          std::string SampleMeta::*field) {
  std::string bytes;
  std::vector<uint64_t> offsets{0};
  for (const SampleMeta& m : metas) {
    bytes += m.*field;
    offsets.push_back(bytes.size());
  }
  absl::Status s = WriteDataset(file, (name + "_bytes").c_str(), H5T_NATIVE_UINT8, bytes.size(), bytes.data());
  if (s.ok()) s = WriteDataset(file, (name + "_offset").c_str(), H5T_NATIVE_UINT64, offsets.size(), offsets.data());
  return s;
}

// An attribute of fixed-length strings, NUL-padded to the longest (scalar: one string).
absl::Status WriteStringAttribute(hid_t file, const char* name, const std::vector<std::string>& values,
                                  bool scalar) {
  size_t width = 1;
  for (const std::string& v : values) width = std::max(width, v.size());
  std::string packed(values.size() * width, '\0');
  for (size_t i = 0; i < values.size(); ++i) packed.replace(i * width, values[i].size(), values[i]);
  H5Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), width);
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  hsize_t dims[1] = {values.size()};
  H5Id space(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, nullptr), H5Sclose);
  H5Id a(H5Acreate2(file, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.ok() || (!packed.empty() && H5Awrite(a.get(), type.get(), packed.data()) < 0))
    return absl::InternalError(absl::StrCat("cannot write attribute ", name));
  return absl::OkStatus();
}

absl::Status WriteAttributes(hid_t file, const std::vector<std::string>& modalities) {
  H5Id scalar(H5Screate(H5S_SCALAR), H5Sclose);
  const int version = kFormatVersion;
  H5Id a(H5Acreate2(file, "format_version", H5T_NATIVE_INT, scalar.get(), H5P_DEFAULT, H5P_DEFAULT),
         H5Aclose);
  if (!a.ok() || H5Awrite(a.get(), H5T_NATIVE_INT, &version) < 0)
    return absl::InternalError("cannot write attribute format_version");
  absl::Status s = WriteStringAttribute(file, "created_by", {"vfm shard"}, true);
  if (s.ok()) s = WriteStringAttribute(file, "modalities", modalities, false);
  return s;
}

}  // namespace

absl::StatusOr<uint64_t> WriteShardFile(const std::string& path, const ShardContent& shard,
                                        const std::vector<std::string>& modalities) {
  SilenceHdf5Errors();
  H5Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) return absl::InternalError(absl::StrCat(path, ": cannot create HDF5 file"));
  const auto& m = shard.metas;
  absl::Status status = WriteDataset(file.get(), "bytes", H5T_NATIVE_UINT8, shard.bytes.size(), shard.bytes.data());
  auto write = [&](const char* name, hid_t type, const auto& column) {
    if (status.ok()) status = WriteDataset(file.get(), name, type, column.size(), column.data());
  };
  write("offset", H5T_NATIVE_UINT64, shard.offsets);
  write("modality", H5T_NATIVE_UINT8, Column<uint8_t>(m, [](auto& s) { return s.modality; }));
  write("label", H5T_NATIVE_INT32, Column<int32_t>(m, [](auto& s) { return s.label; }));
  write("height", H5T_NATIVE_UINT32, Column<uint32_t>(m, [](auto& s) { return s.height; }));
  write("width", H5T_NATIVE_UINT32, Column<uint32_t>(m, [](auto& s) { return s.width; }));
  write("channels", H5T_NATIVE_UINT8, Column<uint8_t>(m, [](auto& s) { return s.channels; }));
  write("codec", H5T_NATIVE_UINT8, Column<uint8_t>(m, [](auto& s) { return uint8_t(s.codec); }));
  write("crc32c", H5T_NATIVE_UINT32, Column<uint32_t>(m, [](auto& s) { return s.crc32c; }));
  if (status.ok()) status = WriteStrings(file.get(), "source", m, &SampleMeta::source);
  if (status.ok()) status = WriteStrings(file.get(), "subject", m, &SampleMeta::subject);
  if (status.ok()) status = WriteAttributes(file.get(), modalities);
  if (!status.ok()) return absl::InternalError(absl::StrCat(path, ": ", status.message()));
  H5Id bytes(H5Dopen2(file.get(), "bytes", H5P_DEFAULT), H5Dclose);
  const haddr_t data_offset = bytes.ok() ? H5Dget_offset(bytes.get()) : HADDR_UNDEF;
  if (data_offset == HADDR_UNDEF) return absl::InternalError(absl::StrCat(path, ": /bytes has no file offset"));
  return uint64_t(data_offset);
}

absl::Status DescribeShardFile(const std::string& path, uint64_t data_offset, uint64_t data_bytes,
                               ShardEntry* entry) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  struct stat st;
  const bool sized = ::fstat(fd, &st) == 0;
  absl::StatusOr<uint32_t> crc, meta_crc;
  if (sized) {
    crc = FileRangeCrc32c(fd, 0, uint64_t(st.st_size));
    meta_crc = ShardMetaCrc32c(fd, uint64_t(st.st_size), data_offset, data_bytes);
  }
  ::close(fd);
  if (!sized) return absl::InternalError(absl::StrCat(path, ": cannot stat"));
  if (!crc.ok()) return absl::InternalError(absl::StrCat(path, ": ", crc.status().message()));
  if (!meta_crc.ok()) return absl::InternalError(absl::StrCat(path, ": ", meta_crc.status().message()));
  entry->bytes = int64_t(st.st_size);
  entry->crc32c = *crc;
  entry->data_offset = data_offset;
  entry->data_bytes = data_bytes;
  entry->meta_crc32c = *meta_crc;
  return absl::OkStatus();
}

DatasetWriter::DatasetWriter(std::string folder, std::vector<std::string> modalities,
                             std::vector<std::string> labels, int64_t target_shard_bytes)
    : folder_(std::move(folder)), target_shard_bytes_(target_shard_bytes) {
  index_.format_version = kFormatVersion;
  index_.created_by = "vfm shard";
  index_.modalities = std::move(modalities);
  index_.labels = std::move(labels);
}

absl::Status DatasetWriter::Add(SampleMeta meta, std::string_view bytes, bool synthetic) {
  if (meta.modality >= index_.modalities.size())
    return absl::InvalidArgumentError(absl::StrCat(meta.source, ": modality code ", meta.modality,
                                                   " has no name"));
  meta.crc32c = Crc32c(bytes.data(), bytes.size());
  ShardContent& shard = open_[synthetic];
  shard.bytes.append(bytes);
  shard.offsets.push_back(shard.bytes.size());
  shard.metas.push_back(std::move(meta));
  if (int64_t(shard.bytes.size()) >= target_shard_bytes_) return Flush(synthetic);
  return absl::OkStatus();
}

absl::Status DatasetWriter::Flush(bool synthetic) {
  ShardContent& shard = open_[synthetic];
  if (shard.metas.empty()) return absl::OkStatus();
  ShardEntry entry;
  entry.file = ShardFileName(int(index_.shards.size()));
  entry.samples = int64_t(shard.metas.size());
  entry.synthetic = synthetic;
  for (const SampleMeta& m : shard.metas) {
    const std::string& name = index_.modalities[m.modality];
    ++entry.modality_counts[name];
    ++index_.modality_counts[name];
  }
  const std::string path = folder_ + "/" + entry.file, tmp = path + ".tmp";
  absl::StatusOr<uint64_t> data_offset = WriteShardFile(tmp, shard, index_.modalities);
  if (!data_offset.ok()) return data_offset.status();
  if (absl::Status s = DescribeShardFile(tmp, *data_offset, shard.bytes.size(), &entry); !s.ok()) return s;
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return absl::InternalError(absl::StrCat("rename ", tmp, " -> ", path, " failed"));
  index_.samples += entry.samples;
  index_.shards.push_back(std::move(entry));
  shard = ShardContent();
  return absl::OkStatus();
}

absl::StatusOr<DatasetIndex> DatasetWriter::Finish() {
  for (bool synthetic : {false, true})
    if (absl::Status s = Flush(synthetic); !s.ok()) return s;
  if (absl::Status s = WriteDatasetIndex(folder_, index_); !s.ok()) return s;
  return index_;
}

}  // namespace vfm::data
