#include "data/dataset.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "data/crc32c.h"
#include "data/decode.h"
#include "data/hdf5_util.h"

namespace vfm::data {
namespace {

// The HDF5 element type a column of T must have in the file.
template <typename T>
struct ColumnType;
template <>
struct ColumnType<uint8_t> {
  static hid_t id() { return H5T_NATIVE_UINT8; }
  static constexpr const char* kName = "uint8";
};
template <>
struct ColumnType<int32_t> {
  static hid_t id() { return H5T_NATIVE_INT32; }
  static constexpr const char* kName = "int32";
};
template <>
struct ColumnType<uint32_t> {
  static hid_t id() { return H5T_NATIVE_UINT32; }
  static constexpr const char* kName = "uint32";
};
template <>
struct ColumnType<uint64_t> {
  static hid_t id() { return H5T_NATIVE_UINT64; }
  static constexpr const char* kName = "uint64";
};

// Opens the 1-D dataset `name`; fails unless its elements are T and it has exactly `expected` of them.
template <typename T>
absl::StatusOr<H5Id> OpenColumn(hid_t file, const std::string& name, uint64_t expected) {
  H5Id dset(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dset.ok()) return absl::DataLossError(absl::StrCat("dataset /", name, " is missing"));
  H5Id type(H5Dget_type(dset.get()), H5Tclose);
  if (H5Tequal(type.get(), ColumnType<T>::id()) <= 0)
    return absl::DataLossError(absl::StrCat("dataset /", name, " is not ", ColumnType<T>::kName));
  H5Id space(H5Dget_space(dset.get()), H5Sclose);
  hsize_t n = 0;
  if (H5Sget_simple_extent_ndims(space.get()) != 1 || H5Sget_simple_extent_dims(space.get(), &n, nullptr) < 0)
    return absl::DataLossError(absl::StrCat("dataset /", name, " is not 1-D"));
  if (n != expected)
    return absl::DataLossError(absl::StrCat("dataset /", name, " has ", n, " entries, expected ", expected));
  return dset;
}

// Reads the whole 1-D dataset `name` of T into `out`; fails unless it has exactly `expected` elements.
template <typename T>
absl::Status ReadColumn(hid_t file, const std::string& name, uint64_t expected, std::vector<T>* out) {
  absl::StatusOr<H5Id> dset = OpenColumn<T>(file, name, expected);
  if (!dset.ok()) return dset.status();
  out->resize(expected);
  if (expected > 0 && H5Dread(dset->get(), ColumnType<T>::id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out->data()) < 0)
    return absl::DataLossError(absl::StrCat("cannot read dataset /", name));
  return absl::OkStatus();
}

// Checks that `offsets` (N+1) start at 0, never decrease and end at `total`; `name` is the column.
absl::Status CheckOffsets(const std::vector<uint64_t>& offsets, const std::string& name, uint64_t total) {
  if (offsets.front() != 0 || offsets.back() != total)
    return absl::DataLossError(absl::StrCat("/", name, " spans [", offsets.front(), ", ", offsets.back(),
                                            "), its data holds ", total, " bytes"));
  for (size_t i = 0; i + 1 < offsets.size(); ++i)
    if (offsets[i + 1] < offsets[i])
      return absl::DataLossError(absl::StrCat("/", name, " decreases at sample ", i));
  return absl::OkStatus();
}

// A string per sample stored as `/NAME_bytes` + `/NAME_offset` (N+1): appends them to `pool`, and each
// one's end (offset by the pool's size before) to `ends`.
absl::Status ReadStrings(hid_t file, const std::string& name, uint64_t n, std::string* pool,
                         std::vector<uint64_t>* ends) {
  std::vector<uint64_t> offsets;
  if (absl::Status s = ReadColumn(file, name + "_offset", n + 1, &offsets); !s.ok()) return s;
  absl::StatusOr<H5Id> bytes = OpenColumn<uint8_t>(file, name + "_bytes", offsets.back());
  if (!bytes.ok()) return bytes.status();
  if (absl::Status s = CheckOffsets(offsets, name + "_offset", offsets.back()); !s.ok()) return s;
  const uint64_t base = pool->size();
  pool->resize(base + offsets.back());
  if (offsets.back() > 0 &&
      H5Dread(bytes->get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, pool->data() + base) < 0)
    return absl::DataLossError(absl::StrCat("cannot read dataset /", name, "_bytes"));
  for (size_t i = 1; i < offsets.size(); ++i) ends->push_back(base + offsets[i]);
  return absl::OkStatus();
}

absl::StatusOr<int> ReadVersionAttribute(hid_t file) {
  H5Id attr(H5Aopen(file, "format_version", H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) return absl::DataLossError("attribute format_version is missing");
  H5Id type(H5Aget_type(attr.get()), H5Tclose);
  H5Id space(H5Aget_space(attr.get()), H5Sclose);
  int version = 0;
  if (H5Tget_class(type.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.get()) != 1 ||
      H5Aread(attr.get(), H5T_NATIVE_INT, &version) < 0)
    return absl::DataLossError("attribute format_version is not one integer");
  return version;
}

// An attribute holding fixed-length, NUL-padded strings (never variable-length ones).
absl::StatusOr<std::vector<std::string>> ReadNamesAttribute(hid_t file, const char* name) {
  H5Id attr(H5Aopen(file, name, H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) return absl::DataLossError(absl::StrCat("attribute ", name, " is missing"));
  H5Id type(H5Aget_type(attr.get()), H5Tclose);
  H5Id space(H5Aget_space(attr.get()), H5Sclose);
  const size_t width = H5Tget_size(type.get());
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) != 0 || width == 0 ||
      width > 4096 || n < 0 || n > 256)
    return absl::DataLossError(absl::StrCat("attribute ", name, " is not a list of up to 256 fixed-length strings"));
  H5Id memory(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(memory.get(), width);
  H5Tset_strpad(memory.get(), H5T_STR_NULLPAD);
  std::string packed(size_t(n) * width, '\0');
  if (n > 0 && H5Aread(attr.get(), memory.get(), packed.data()) < 0)
    return absl::DataLossError(absl::StrCat("cannot read attribute ", name));
  std::vector<std::string> names;
  for (size_t i = 0; i < size_t(n); ++i) {
    std::string s = packed.substr(i * width, width);
    s.erase(s.find_last_not_of('\0') + 1);
    names.push_back(std::move(s));
  }
  return names;
}

// The per-sample tables of one shard, as read.
struct Tables {
  std::vector<uint64_t> offsets;
  std::vector<uint8_t> modality, channels, codec;
  std::vector<int32_t> label;
  std::vector<uint32_t> height, width, crc;
};

absl::Status ReadTables(hid_t file, uint64_t n, Tables* t) {
  absl::Status s = ReadColumn(file, "offset", n + 1, &t->offsets);
  auto read = [&](const char* name, auto* column) {
    if (s.ok()) s = ReadColumn(file, name, n, column);
  };
  read("modality", &t->modality);
  read("label", &t->label);
  read("height", &t->height);
  read("width", &t->width);
  read("channels", &t->channels);
  read("codec", &t->codec);
  read("crc32c", &t->crc);
  return s;
}

// What is wrong with sample i's entries ("" if nothing).
std::string SampleProblem(const Tables& t, size_t i, const DatasetIndex& index) {
  const uint64_t size = t.offsets[i + 1] - t.offsets[i];
  if (size == 0 || size > UINT32_MAX) return absl::StrCat("size ", size, " bytes");
  if (t.modality[i] >= index.modalities.size()) return absl::StrCat("modality code ", t.modality[i], " has no name");
  const int64_t labels = int64_t(index.labels.size());
  if (t.label[i] < -1 || (labels > 0 && t.label[i] >= labels))
    return absl::StrCat("label ", t.label[i], " is not -1 or a class of index.json's ", labels);
  if (t.codec[i] >= kCodecs) return absl::StrCat("codec ", t.codec[i], " is unknown");
  if (t.channels[i] != 1 && t.channels[i] != 3) return absl::StrCat("channels ", t.channels[i], " (1 or 3)");
  const uint64_t pixels = uint64_t(t.height[i]) * t.width[i];
  if (pixels == 0 || pixels > uint64_t(kMaxPixels))
    return absl::StrCat("image size ", t.height[i], "x", t.width[i]);
  if (Codec(t.codec[i]) == Codec::kRaw && size != pixels * t.channels[i])
    return absl::StrCat("raw size ", size, " bytes is not ", t.height[i], "x", t.width[i], "x", t.channels[i]);
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<Dataset>> Dataset::Open(const std::string& folder, Options options) {
  SilenceHdf5Errors();
  absl::StatusOr<DatasetIndex> index = ReadDatasetIndex(folder);
  if (!index.ok()) return index.status();
  std::unique_ptr<Dataset> dataset(new Dataset());
  dataset->folder_ = folder;
  dataset->index_ = *std::move(index);
  std::set<std::pair<uint64_t, uint64_t>> files;
  for (const ShardEntry& entry : dataset->index_.shards)
    if (absl::Status s = dataset->OpenShard(entry, options, &files); !s.ok()) return s;
  return dataset;
}

absl::Status Dataset::OpenShard(const ShardEntry& entry, Options options,
                                std::set<std::pair<uint64_t, uint64_t>>* files) {
  const std::string path = folder_ + "/" + entry.file;
  auto error = [&](absl::string_view what) { return absl::DataLossError(absl::StrCat(path, ": ", what)); };
  // O_NONBLOCK: opening a FIFO put in a shard's place must not wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": listed in index.json but missing"));
  if (fd < 0) return error(std::strerror(errno));
  Shard shard;
  shard.fd = fd;
  shard.file = entry.file;
  shard.first_id = size();
  shard.synthetic = entry.synthetic;
  shards_.push_back(shard);  // from here on the destructor closes fd
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return error("not a regular file");
  if (int64_t(st.st_size) != entry.bytes)
    return error(absl::StrCat("size ", st.st_size, " bytes, index.json says ", entry.bytes, " (truncated or altered)"));
  if (!files->insert({uint64_t(st.st_dev), uint64_t(st.st_ino)}).second)
    return error("the same file as another shard in index.json");
  // Nothing corrupted reaches libhdf5: it may crash on damaged metadata rather than report it.
  absl::StatusOr<uint32_t> meta_crc = ShardMetaCrc32c(fd, uint64_t(st.st_size), entry.data_offset, entry.data_bytes);
  if (!meta_crc.ok()) return error(meta_crc.status().message());
  if (*meta_crc != entry.meta_crc32c)
    return error("metadata crc32c differs from index.json (damaged HDF5 metadata or per-sample tables)");
  if (options.verify_shard_checksums) {
    absl::StatusOr<uint32_t> crc = FileRangeCrc32c(fd, 0, uint64_t(st.st_size));
    if (!crc.ok()) return error(crc.status().message());
    if (*crc != entry.crc32c) return error("file crc32c differs from index.json");
  }

  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_file_locking(fapl.get(), false, true);
  H5Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!file.ok()) return error("not a readable HDF5 file");
  absl::StatusOr<int> version = ReadVersionAttribute(file.get());
  if (!version.ok()) return error(version.status().message());
  if (*version != kFormatVersion)
    return error(absl::StrCat("format_version ", *version, ", index.json says ", kFormatVersion));
  absl::StatusOr<std::vector<std::string>> modalities = ReadNamesAttribute(file.get(), "modalities");
  if (!modalities.ok()) return error(modalities.status().message());
  if (*modalities != index_.modalities) return error("modalities attribute differs from index.json");

  const uint64_t n = uint64_t(entry.samples);
  Tables t;
  if (absl::Status s = ReadTables(file.get(), n, &t); !s.ok())
    return error(absl::StrCat(s.message(), " (index.json says ", n, " samples)"));
  absl::StatusOr<H5Id> bytes = OpenColumn<uint8_t>(file.get(), "bytes", entry.data_bytes);
  if (!bytes.ok()) return error(bytes.status().message());
  if (H5Dget_offset(bytes->get()) != entry.data_offset)
    return error("/bytes is not stored contiguously at index.json's data_offset");
  if (absl::Status s = CheckOffsets(t.offsets, "offset", entry.data_bytes); !s.ok()) return error(s.message());
  std::map<std::string, int64_t> counts;
  for (size_t i = 0; i < n; ++i) {
    if (std::string problem = SampleProblem(t, i, index_); !problem.empty())
      return error(absl::StrCat("sample ", i, ": ", problem));
    ++counts[index_.modalities[t.modality[i]]];
  }
  if (counts != entry.modality_counts) return error("modality counts differ from index.json");
  if (absl::Status s = ReadStrings(file.get(), "source", n, &sources_, &source_ends_); !s.ok()) return error(s.message());
  if (absl::Status s = ReadStrings(file.get(), "subject", n, &subjects_, &subject_ends_); !s.ok())
    return error(s.message());
  shards_.back().bytes_file_offset = entry.data_offset;
  for (size_t i = 0; i < n; ++i)
    records_.push_back({t.offsets[i], uint32_t(t.offsets[i + 1] - t.offsets[i]), t.crc[i], t.height[i], t.width[i],
                        t.label[i], uint16_t(shards_.size() - 1), t.modality[i], t.channels[i], t.codec[i]});
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
  m.source = sources_.substr(source_ends_[id], source_ends_[id + 1] - source_ends_[id]);
  m.subject = subjects_.substr(subject_ends_[id], subject_ends_[id + 1] - subject_ends_[id]);
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
