#include "data/shard_writer.h"

#include <cstdio>
#include <fstream>
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

absl::Status WriteStrings(hid_t file, const char* name, const std::vector<const char*>& strings) {
  H5Id type = VlenStringType();
  return WriteDataset(file, name, type.get(), strings.size(), strings.data());
}

absl::Status WriteAttributes(hid_t file, const std::vector<std::string>& modalities) {
  H5Id scalar(H5Screate(H5S_SCALAR), H5Sclose);
  const int version = kFormatVersion;
  H5Id a(H5Acreate2(file, "format_version", H5T_NATIVE_INT, scalar.get(), H5P_DEFAULT, H5P_DEFAULT),
         H5Aclose);
  if (!a.ok() || H5Awrite(a.get(), H5T_NATIVE_INT, &version) < 0)
    return absl::InternalError("cannot write attribute format_version");

  H5Id str = VlenStringType();
  const char* created_by = "vfm shard";
  H5Id c(H5Acreate2(file, "created_by", str.get(), scalar.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!c.ok() || H5Awrite(c.get(), str.get(), &created_by) < 0)
    return absl::InternalError("cannot write attribute created_by");

  std::vector<const char*> names;
  for (const std::string& m : modalities) names.push_back(m.c_str());
  hsize_t dims[1] = {names.size()};
  H5Id space(H5Screate_simple(1, dims, nullptr), H5Sclose);
  H5Id m(H5Acreate2(file, "modalities", str.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!m.ok() || (!names.empty() && H5Awrite(m.get(), str.get(), names.data()) < 0))
    return absl::InternalError("cannot write attribute modalities");
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteShardFile(const std::string& path, const ShardContent& shard,
                            const std::vector<std::string>& modalities) {
  SilenceHdf5Errors();
  H5Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) return absl::InternalError(absl::StrCat(path, ": cannot create HDF5 file"));
  const auto& m = shard.metas;
  std::vector<const char*> sources, subjects;
  for (const SampleMeta& s : m) {
    sources.push_back(s.source.c_str());
    subjects.push_back(s.subject.c_str());
  }
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
  if (status.ok()) status = WriteStrings(file.get(), "source", sources);
  if (status.ok()) status = WriteStrings(file.get(), "subject", subjects);
  if (status.ok()) status = WriteAttributes(file.get(), modalities);
  if (!status.ok()) return absl::InternalError(absl::StrCat(path, ": ", status.message()));
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> FileCrc32c(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::vector<char> chunk(1 << 20);
  uint32_t crc = 0;
  while (in) {
    in.read(chunk.data(), std::streamsize(chunk.size()));
    crc = Crc32c(crc, chunk.data(), size_t(in.gcount()));
  }
  return crc;
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
  if (absl::Status s = WriteShardFile(tmp, shard, index_.modalities); !s.ok()) return s;
  absl::StatusOr<uint32_t> crc = FileCrc32c(tmp);
  if (!crc.ok()) return crc.status();
  entry.crc32c = *crc;
  std::ifstream in(tmp, std::ios::binary | std::ios::ate);
  entry.bytes = int64_t(in.tellg());
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
