#include "data/dataset_index.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "data/shard_format.h"
#include "nlohmann/json.hpp"

namespace vfm::data {
namespace {
using nlohmann::json;

constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
constexpr int64_t kMaxUint32 = std::numeric_limits<uint32_t>::max();
constexpr int64_t kMaxShards = 65535;  // the reader keeps a shard number in 16 bits

// A problem with one key of index.json; ReadDatasetIndex turns it into a one-line error naming the key.
struct KeyError {
  std::string key, problem;
};

const json& At(const json& object, const std::string& where, const std::string& key) {
  const std::string name = where.empty() ? key : absl::StrCat(where, ".", key);
  if (!object.is_object()) throw KeyError{where, "is not an object"};
  const auto it = object.find(key);
  if (it == object.end()) throw KeyError{name, "is missing"};
  return *it;
}

int64_t Integer(const json& value, const std::string& key, int64_t min, int64_t max) {
  // nlohmann keeps non-negative integers unsigned: one above int64's range must not wrap to a negative.
  const bool integer = value.is_number_integer() &&
                       !(value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(kMaxInt64));
  if (!integer || value.get<int64_t>() < min || value.get<int64_t>() > max)
    throw KeyError{key, absl::StrCat("is ", value.is_number() ? value.dump() : value.type_name(), ", expected an integer in [", min, ", ", max, "]")};
  return value.get<int64_t>();
}

std::string String(const json& value, const std::string& key) {
  if (!value.is_string()) throw KeyError{key, absl::StrCat("is ", value.type_name(), ", expected a string")};
  return value.get<std::string>();
}

std::vector<std::string> Strings(const json& value, const std::string& key) {
  if (!value.is_array()) throw KeyError{key, absl::StrCat("is ", value.type_name(), ", expected a list of strings")};
  std::vector<std::string> out;
  for (size_t i = 0; i < value.size(); ++i) out.push_back(String(value[i], absl::StrCat(key, "[", i, "]")));
  return out;
}

bool Bool(const json& value, const std::string& key) {
  if (!value.is_boolean()) throw KeyError{key, absl::StrCat("is ", value.type_name(), ", expected true or false")};
  return value.get<bool>();
}

// {"modality name": count >= 1, ...}, every name one of `modalities`.
std::map<std::string, int64_t> Counts(const json& value, const std::string& key,
                                      const std::vector<std::string>& modalities) {
  if (!value.is_object()) throw KeyError{key, absl::StrCat("is ", value.type_name(), ", expected an object")};
  std::map<std::string, int64_t> out;
  for (const auto& [name, count] : value.items()) {
    const std::string where = absl::StrCat(key, ".", name);
    if (std::find(modalities.begin(), modalities.end(), name) == modalities.end())
      throw KeyError{where, "is not one of the modalities"};
    out[name] = Integer(count, where, 1, kMaxInt64);
  }
  return out;
}

// {"images": n >= 1, "mean": [r, g, b], "std": [r, g, b]}, values in [0, 1].
ModalityStats Stats(const json& value, const std::string& key) {
  if (!value.is_object()) throw KeyError{key, absl::StrCat("is ", value.type_name(), ", expected an object")};
  ModalityStats stats;
  stats.images = Integer(At(value, key, "images"), key + ".images", 1, kMaxInt64);
  for (const char* name : {"mean", "std"}) {
    const std::string where = absl::StrCat(key, ".", name);
    const json& list = At(value, key, name);
    if (!list.is_array() || list.size() != 3) throw KeyError{where, "is not a list of 3 numbers"};
    for (size_t c = 0; c < 3; ++c) {
      if (!list[c].is_number() || !(list[c].get<double>() >= 0 && list[c].get<double>() <= 1))
        throw KeyError{absl::StrCat(where, "[", c, "]"), absl::StrCat("is ", list[c].dump(), ", expected a number in [0, 1]")};
      (name[0] == 'm' ? stats.mean : stats.std)[c] = list[c].get<double>();
    }
  }
  return stats;
}

// A shard file name must name a file directly inside the dataset folder: no folders, no "..", not absolute.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

ShardEntry ParseShard(const json& s, const std::string& where, const std::vector<std::string>& modalities) {
  ShardEntry e;
  e.file = String(At(s, where, "file"), where + ".file");
  if (!IsPlainFileName(e.file))
    throw KeyError{where + ".file", absl::StrCat("is \"", e.file, "\": not a plain file name inside the dataset folder")};
  e.samples = Integer(At(s, where, "samples"), where + ".samples", 1, kMaxInt32);
  e.bytes = Integer(At(s, where, "bytes"), where + ".bytes", 1, kMaxInt64);
  e.crc32c = uint32_t(Integer(At(s, where, "crc32c"), where + ".crc32c", 0, kMaxUint32));
  e.data_offset = uint64_t(Integer(At(s, where, "data_offset"), where + ".data_offset", 0, e.bytes - 1));
  e.data_bytes = uint64_t(Integer(At(s, where, "data_bytes"), where + ".data_bytes", 1,
                                  e.bytes - int64_t(e.data_offset)));
  e.meta_crc32c = uint32_t(Integer(At(s, where, "meta_crc32c"), where + ".meta_crc32c", 0, kMaxUint32));
  e.synthetic = Bool(At(s, where, "synthetic"), where + ".synthetic");
  e.modality_counts = Counts(At(s, where, "modality_counts"), where + ".modality_counts", modalities);
  int64_t total = 0;
  for (const auto& [name, count] : e.modality_counts) total += count;
  if (total != e.samples)
    throw KeyError{where + ".modality_counts", absl::StrCat("add up to ", total, ", the shard has ", e.samples, " samples")};
  return e;
}

DatasetIndex ParseIndex(const json& j) {
  DatasetIndex index;
  index.format_version = kFormatVersion;
  index.created_by = String(At(j, "", "created_by"), "created_by");
  index.modalities = Strings(At(j, "", "modalities"), "modalities");
  if (index.modalities.empty() || index.modalities.size() > 256)
    throw KeyError{"modalities", absl::StrCat("lists ", index.modalities.size(), " names, expected 1 to 256")};
  if (std::set<std::string>(index.modalities.begin(), index.modalities.end()).size() != index.modalities.size())
    throw KeyError{"modalities", "lists a name twice"};
  index.labels = Strings(At(j, "", "labels"), "labels");
  index.samples = Integer(At(j, "", "samples"), "samples", 1, kMaxInt64);
  index.modality_counts = Counts(At(j, "", "modality_counts"), "modality_counts", index.modalities);
  const json& shards = At(j, "", "shards");
  if (!shards.is_array() || shards.empty() || int64_t(shards.size()) > kMaxShards)
    throw KeyError{"shards", absl::StrCat("expected a list of 1 to ", kMaxShards, " shards")};
  std::set<std::string> files;
  std::map<std::string, int64_t> counts;
  int64_t samples = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string where = absl::StrCat("shards[", i, "]");
    ShardEntry e = ParseShard(shards[i], where, index.modalities);
    if (!files.insert(e.file).second) throw KeyError{where + ".file", absl::StrCat("\"", e.file, "\" is listed twice")};
    samples += e.samples;
    for (const auto& [name, count] : e.modality_counts) counts[name] += count;
    index.shards.push_back(std::move(e));
  }
  if (samples != index.samples)
    throw KeyError{"samples", absl::StrCat("is ", index.samples, ", the shards list ", samples)};
  if (counts != index.modality_counts) throw KeyError{"modality_counts", "differ from the shards' sums"};
  if (const auto it = j.find("modality_stats"); it != j.end()) {
    if (!it->is_object()) throw KeyError{"modality_stats", absl::StrCat("is ", it->type_name(), ", expected an object")};
    for (const auto& [name, stats] : it->items()) {
      const std::string where = absl::StrCat("modality_stats.", name);
      if (!index.modality_counts.count(name)) throw KeyError{where, "is not one of the modalities present"};
      index.modality_stats[name] = Stats(stats, where);
    }
  }
  return index;
}

}  // namespace

bool IsValidUtf8(const std::string& text) {
  try {
    (void)json(text).dump();  // the strict UTF-8 check index.json's writer applies
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

absl::StatusOr<DatasetIndex> ReadDatasetIndex(const std::string& folder) {
  const std::string path = folder + "/" + kIndexFile;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return absl::NotFoundError(absl::StrCat(path, ": cannot open (is this a vfm dataset folder?)"));
  if (!S_ISREG(st.st_mode) || st.st_size > (int64_t(1) << 30))
    return absl::DataLossError(absl::StrCat(path, ": not a regular file of at most 1 GiB"));
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::DataLossError(absl::StrCat(path, ": cannot read"));
  try {
    const json j = json::parse(text.str());
    if (!j.is_object()) return absl::DataLossError(absl::StrCat(path, ": not a JSON object"));
    const int64_t version = Integer(At(j, "", "format_version"), "format_version", 1, kMaxInt32);
    if (version == 1)
      return absl::FailedPreconditionError(absl::StrCat(
          folder, ": a version-1 dataset (strings stored as HDF5 variable-length strings, which this vfm no "
                  "longer reads); re-run `vfm shard` on the original images to rebuild it as version ",
          kFormatVersion));
    if (version != kFormatVersion)
      return absl::FailedPreconditionError(absl::StrCat(folder, ": dataset format version ", version,
                                                        ", this vfm reads version ", kFormatVersion));
    return ParseIndex(j);
  } catch (const KeyError& e) {
    return absl::DataLossError(absl::StrCat(path, ": key ", e.key, " ", e.problem));
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": not valid JSON: ", e.what()));
  }
}

absl::Status WriteDatasetIndex(const std::string& folder, const DatasetIndex& index) {
  const std::string path = folder + "/" + kIndexFile, tmp = path + ".tmp";
  auto check = [&](const std::string& key, const std::vector<std::string>& names) {
    for (size_t i = 0; i < names.size(); ++i)
      if (!IsValidUtf8(names[i]))
        return absl::InvalidArgumentError(absl::StrCat(path, ": ", key, "[", i, "] is not valid UTF-8"));
    return absl::OkStatus();
  };
  if (absl::Status s = check("modalities", index.modalities); !s.ok()) return s;
  if (absl::Status s = check("labels", index.labels); !s.ok()) return s;
  if (absl::Status s = check("created_by", {index.created_by}); !s.ok()) return s;
  json j;
  j["format_version"] = index.format_version;
  j["created_by"] = index.created_by;
  j["modalities"] = index.modalities;
  j["labels"] = index.labels;
  j["samples"] = index.samples;
  j["modality_counts"] = index.modality_counts;
  if (!index.modality_stats.empty()) {
    json& stats = j["modality_stats"];
    for (const auto& [name, st] : index.modality_stats)
      stats[name] = {{"images", st.images}, {"mean", st.mean}, {"std", st.std}};
  }
  j["shards"] = json::array();
  for (const ShardEntry& e : index.shards) {
    j["shards"].push_back({{"file", e.file}, {"samples", e.samples}, {"bytes", e.bytes}, {"crc32c", e.crc32c},
                           {"data_offset", e.data_offset}, {"data_bytes", e.data_bytes},
                           {"meta_crc32c", e.meta_crc32c}, {"synthetic", e.synthetic},
                           {"modality_counts", e.modality_counts}});
  }
  std::string text;
  try {
    text = j.dump(1) + "\n";
  } catch (const json::exception& e) {  // a string that is not UTF-8 the checks above did not name
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot write: ", e.what()));
  }
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    if (!out.flush()) return absl::InternalError(absl::StrCat(tmp, ": write failed"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return absl::InternalError(absl::StrCat("rename ", tmp, " -> ", path, " failed"));
  return absl::OkStatus();
}

}  // namespace vfm::data
