#include "data/dataset.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "data/crc32c.h"
#include "data/hdf5_util.h"
#include "data/shard_writer.h"

namespace vfm::data {
namespace {

// Reads a whole 1-D dataset of `mem_type` into `out`; fails unless it has exactly `expected` elements.
template <typename T>
absl::Status ReadColumn(hid_t file, const char* name, hid_t mem_type, size_t expected, std::vector<T>* out) {
  H5Id dset(H5Dopen2(file, name, H5P_DEFAULT), H5Dclose);
  if (!dset.ok()) return absl::DataLossError(absl::StrCat("dataset /", name, " is missing"));
  H5Id space(H5Dget_space(dset.get()), H5Sclose);
  hsize_t n = 0;
  if (H5Sget_simple_extent_ndims(space.get()) != 1 || H5Sget_simple_extent_dims(space.get(), &n, nullptr) < 0)
    return absl::DataLossError(absl::StrCat("dataset /", name, " is not 1-D"));
  if (n != expected)
    return absl::DataLossError(absl::StrCat("dataset /", name, " has ", n, " entries, expected ", expected));
  out->resize(n);
  if (n > 0 && H5Dread(dset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->data()) < 0)
    return absl::DataLossError(absl::StrCat("cannot read dataset /", name));
  return absl::OkStatus();
}

absl::Status ReadStrings(hid_t file, const char* name, size_t expected, std::vector<std::string>* out) {
  H5Id type = VlenStringType();
  std::vector<char*> raw;
  if (absl::Status s = ReadColumn(file, name, type.get(), expected, &raw); !s.ok()) return s;
  out->clear();
  for (char* p : raw) out->push_back(p ? p : "");
  hsize_t dims[1] = {raw.size()};
  H5Id space(H5Screate_simple(1, dims, nullptr), H5Sclose);
  if (!raw.empty()) H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, raw.data());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ReadModalitiesAttribute(hid_t file) {
  H5Id attr(H5Aopen(file, "modalities", H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) return absl::DataLossError("attribute modalities is missing");
  H5Id space(H5Aget_space(attr.get()), H5Sclose);
  hssize_t n = H5Sget_simple_extent_npoints(space.get());
  H5Id type = VlenStringType();
  std::vector<char*> raw(size_t(std::max<hssize_t>(n, 0)));
  if (n > 0 && H5Aread(attr.get(), type.get(), raw.data()) < 0)
    return absl::DataLossError("cannot read attribute modalities");
  std::vector<std::string> names(raw.begin(), raw.end());
  if (n > 0) H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, raw.data());
  return names;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Dataset>> Dataset::Open(const std::string& folder, Options options) {
  SilenceHdf5Errors();
  absl::StatusOr<DatasetIndex> index = ReadDatasetIndex(folder);
  if (!index.ok()) return index.status();
  std::unique_ptr<Dataset> dataset(new Dataset());
  dataset->index_ = *std::move(index);
  if (dataset->index_.shards.size() > 65535)
    return absl::InvalidArgumentError(absl::StrCat(folder, ": more than 65535 shards"));
  for (const ShardEntry& entry : dataset->index_.shards)
    if (absl::Status s = dataset->OpenShard(folder, entry, options); !s.ok()) return s;
  if (dataset->size() != dataset->index_.samples)
    return absl::DataLossError(absl::StrCat(folder, "/index.json: says ", dataset->index_.samples,
                                            " samples, its shards hold ", dataset->size()));
  return dataset;
}

absl::Status Dataset::OpenShard(const std::string& folder, const ShardEntry& entry, Options options) {
  const std::string path = folder + "/" + entry.file;
  auto error = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(path, ": ", what));
  };
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return absl::NotFoundError(absl::StrCat(path, ": listed in index.json but missing"));
  if (int64_t(st.st_size) != entry.bytes)
    return error(absl::StrCat("size ", st.st_size, " bytes, index.json says ", entry.bytes,
                              " (truncated or altered)"));
  if (options.verify_shard_checksums) {
    absl::StatusOr<uint32_t> crc = FileCrc32c(path);
    if (!crc.ok()) return crc.status();
    if (*crc != entry.crc32c) return error("file crc32c differs from index.json");
  }

  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_file_locking(fapl.get(), false, true);
  H5Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!file.ok()) return error("not a readable HDF5 file");

  const size_t n = size_t(entry.samples);
  std::vector<uint64_t> offsets;
  std::vector<uint8_t> modality, channels, codec;
  std::vector<int32_t> label;
  std::vector<uint32_t> height, width, crc;
  std::vector<std::string> sources, subjects;
  absl::Status s = ReadColumn(file.get(), "offset", H5T_NATIVE_UINT64, n + 1, &offsets);
  auto read = [&](const char* name, hid_t type, auto* column) {
    if (s.ok()) s = ReadColumn(file.get(), name, type, n, column);
  };
  read("modality", H5T_NATIVE_UINT8, &modality);
  read("label", H5T_NATIVE_INT32, &label);
  read("height", H5T_NATIVE_UINT32, &height);
  read("width", H5T_NATIVE_UINT32, &width);
  read("channels", H5T_NATIVE_UINT8, &channels);
  read("codec", H5T_NATIVE_UINT8, &codec);
  read("crc32c", H5T_NATIVE_UINT32, &crc);
  if (s.ok()) s = ReadStrings(file.get(), "source", n, &sources);
  if (s.ok()) s = ReadStrings(file.get(), "subject", n, &subjects);
  if (!s.ok()) return error(absl::StrCat(s.message(), " (index.json says ", n, " samples)"));

  absl::StatusOr<std::vector<std::string>> modalities = ReadModalitiesAttribute(file.get());
  if (!modalities.ok()) return error(modalities.status().message());
  if (*modalities != index_.modalities) return error("modalities attribute differs from index.json");

  H5Id bytes(H5Dopen2(file.get(), "bytes", H5P_DEFAULT), H5Dclose);
  if (!bytes.ok()) return error("dataset /bytes is missing");
  H5Id space(H5Dget_space(bytes.get()), H5Sclose);
  hsize_t total = 0;
  H5Sget_simple_extent_dims(space.get(), &total, nullptr);
  if (offsets.front() != 0 || offsets.back() != total)
    return error(absl::StrCat("/offset spans [", offsets.front(), ", ", offsets.back(), "), /bytes holds ", total));
  Shard shard;
  shard.file = entry.file;
  shard.first_id = size();
  shard.synthetic = entry.synthetic;
  if (total > 0) {
    haddr_t at = H5Dget_offset(bytes.get());
    if (at == HADDR_UNDEF) return error("/bytes is not contiguous");
    if (at + total > uint64_t(st.st_size)) return error("/bytes runs past the end of the file");
    shard.bytes_file_offset = at;
  }
  for (size_t i = 0; i < n; ++i) {
    if (offsets[i + 1] < offsets[i] || offsets[i + 1] - offsets[i] > UINT32_MAX)
      return error(absl::StrCat("/offset is not increasing at sample ", i));
    if (modality[i] >= index_.modalities.size())
      return error(absl::StrCat("sample ", i, " has modality code ", modality[i], " with no name"));
    records_.push_back({offsets[i], uint32_t(offsets[i + 1] - offsets[i]), crc[i], height[i], width[i],
                        label[i], uint16_t(shards_.size()), modality[i], channels[i], codec[i]});
    string_pool_ += sources[i];
    string_ends_.push_back(string_pool_.size());
    string_pool_ += subjects[i];
    string_ends_.push_back(string_pool_.size());
  }
  shard.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (shard.fd < 0) return error(std::strerror(errno));
  shards_.push_back(std::move(shard));
  return absl::OkStatus();
}

Dataset::~Dataset() {
  for (Shard& shard : shards_) ::close(shard.fd);
}

SampleMeta Dataset::meta(int64_t id) const {
  const Record& r = records_[id];
  SampleMeta m;
  m.modality = r.modality;
  m.label = r.label;
  m.height = r.height;
  m.width = r.width;
  m.channels = r.channels;
  m.codec = Codec(r.codec);
  m.crc32c = r.crc32c;
  m.source = string_pool_.substr(string_ends_[2 * id], string_ends_[2 * id + 1] - string_ends_[2 * id]);
  m.subject = string_pool_.substr(string_ends_[2 * id + 1], string_ends_[2 * id + 2] - string_ends_[2 * id + 1]);
  return m;
}

std::string Dataset::Describe(int64_t id) const {
  const Shard& shard = shards_[records_[id].shard];
  return absl::StrCat(shard.file, " sample ", id - shard.first_id, " (source ", meta(id).source, ")");
}

absl::Status Dataset::Read(int64_t id, std::vector<uint8_t>* out) const {
  const Record& r = records_[id];
  const Shard& shard = shards_[r.shard];
  out->resize(r.size);
  size_t done = 0;
  while (done < r.size) {
    ssize_t got = ::pread(shard.fd, out->data() + done, r.size - done,
                          off_t(shard.bytes_file_offset + r.offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return absl::DataLossError(absl::StrCat(Describe(id), ": short read"));
    done += size_t(got);
  }
  if (Crc32c(out->data(), out->size()) != r.crc32c)
    return absl::DataLossError(absl::StrCat(Describe(id), ": crc32c mismatch (corrupt bytes)"));
  return absl::OkStatus();
}

}  // namespace vfm::data
