#include "autograd/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace vfm {

namespace {
// The reference implementation's limit on the JSON header.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

const char* SafetensorsDType(DType d) {
  switch (d) {
    case DType::kF32: return "F32";
    case DType::kF64: return "F64";
    case DType::kBF16: return "BF16";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
    case DType::kU8: return "U8";
  }
  return "?";
}

bool ParseDType(const std::string& s, DType* out) {
  static const std::map<std::string, DType> kNames = {{"F32", DType::kF32}, {"F64", DType::kF64},
                                                      {"BF16", DType::kBF16}, {"I32", DType::kI32},
                                                      {"I64", DType::kI64}, {"U8", DType::kU8}};
  auto it = kNames.find(s);
  if (it == kNames.end()) return false;
  *out = it->second;
  return true;
}

// A tensor's header entry, checked before anything is allocated for it.
struct Entry {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // in the data section
};

// What is wrong with `j` as the header entry of a tensor whose bytes must lie in a data section of
// `data_size` bytes; empty when nothing is.
std::string ParseEntry(const nlohmann::json& j, uint64_t data_size, Entry* e) {
  if (!j.is_object()) return "is not a JSON object";
  const auto dtype = j.find("dtype"), shape = j.find("shape"), offsets = j.find("data_offsets");
  if (dtype == j.end() || !dtype->is_string()) return "has no dtype string";
  if (!ParseDType(dtype->get<std::string>(), &e->dtype))
    return absl::StrCat("has the unsupported dtype ", dtype->dump(), " (F32, F64, BF16, I32, I64, U8)");
  if (shape == j.end() || !shape->is_array()) return "has no shape list";
  // Strides are products of dimensions: the product (zeros counted as ones) must fit in int64.
  uint64_t numel = 1, extent = 1;
  for (const nlohmann::json& d : *shape) {
    if (!d.is_number_integer()) return absl::StrCat("has the shape ", shape->dump(), ", not a list of integers");
    if (!d.is_number_unsigned()) return absl::StrCat("has a negative dimension in its shape ", shape->dump());
    const uint64_t n = d.get<uint64_t>();
    if (n > 1 && extent > uint64_t(std::numeric_limits<int64_t>::max()) / n)
      return absl::StrCat("has the shape ", shape->dump(), ", whose product overflows");
    extent *= std::max<uint64_t>(n, 1);
    numel *= n;
    e->shape.push_back(int64_t(n));
  }
  if (offsets == j.end() || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
      !(*offsets)[1].is_number_unsigned())
    return "has no data_offsets [begin, end]";
  e->begin = (*offsets)[0].get<uint64_t>();
  e->end = (*offsets)[1].get<uint64_t>();
  if (e->begin > e->end) return absl::StrCat("has data_offsets ", offsets->dump(), " that end before they begin");
  if (e->end > data_size)
    return absl::StrCat("has data_offsets ", offsets->dump(), " beyond the ", data_size, " bytes of data");
  const size_t item = ElementSize(e->dtype);
  if (numel > (e->end - e->begin) / item || numel * item != e->end - e->begin)
    return absl::StrCat("has data_offsets ", offsets->dump(), " that do not hold its shape ", shape->dump(), " of ",
                        dtype->get<std::string>());
  return "";
}
}  // namespace

absl::Status WriteFileAtomically(const std::string& path, const std::vector<std::string_view>& pieces) {
  const std::string tmp = absl::StrCat(path, ".tmp-", getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  // Keeps errno's text, then removes the temporary: a failed write leaves nothing behind.
  const auto fail = [&](const char* what) {
    const std::string error = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat(what, " ", path, ": ", error));
  };
  for (std::string_view piece : pieces) {
    for (size_t done = 0; done < piece.size();) {
      const ssize_t n = ::write(fd, piece.data() + done, piece.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return fail("cannot write");
      done += size_t(n);
    }
  }
  if (::fsync(fd) != 0) return fail("cannot write (fsync)");
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) return fail("cannot write (close)");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename the temporary file onto");
  return absl::OkStatus();
}

absl::Status SaveSafetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                             const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::vector<Tensor> contiguous;
  for (const auto& [name, t] : tensors) {
    if (header.contains(name)) return absl::InvalidArgumentError(absl::StrCat(path, ": duplicate tensor ", name));
    // GPU tensors are written from a host copy.
    contiguous.push_back(!t.device().is_cpu() ? t.ToDevice(Device::CPU()) : t.Contiguous());
    header[name] = {{"dtype", SafetensorsDType(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  // Bytes that are not UTF-8 (a folder name in the metadata) are replaced rather than thrown on.
  std::string json = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  json.append((8 - json.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  const uint64_t n = json.size();
  std::vector<std::string_view> pieces = {{reinterpret_cast<const char*>(&n), 8}, json};
  for (const Tensor& t : contiguous) pieces.emplace_back(static_cast<const char*>(t.raw_data()), t.nbytes());
  return WriteFileAtomically(path, pieces);
}

absl::StatusOr<SafetensorsFile> LoadSafetensors(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  const std::streamoff end = f.tellg();
  if (end < 0) return absl::DataLossError(absl::StrCat(path, ": not a readable file"));
  const uint64_t file_size = uint64_t(end);
  f.seekg(0);
  uint64_t n = 0;
  if (file_size < 8 || !f.read(reinterpret_cast<char*>(&n), 8))
    return absl::DataLossError(absl::StrCat(path, ": not a safetensors file (", file_size, " bytes)"));
  if (n > file_size - 8 || n > kMaxHeaderBytes)
    return absl::DataLossError(absl::StrCat(path, ": not a safetensors file (header length ", n, ", file size ",
                                            file_size, ")"));
  std::string text(n, '\0');
  if (!f.read(text.data(), std::streamsize(n))) return absl::DataLossError(absl::StrCat(path, ": cannot read the header"));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return absl::DataLossError(absl::StrCat(path, ": the header is not valid UTF-8 JSON (at byte ", e.byte, ")"));
  }
  if (!header.is_object()) return absl::DataLossError(absl::StrCat(path, ": the header is not a JSON object"));
  const uint64_t data_start = 8 + n, data_size = file_size - data_start;
  SafetensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) return absl::DataLossError(absl::StrCat(path, ": __metadata__ is not a JSON object"));
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string())
          return absl::DataLossError(absl::StrCat(path, ": __metadata__ entry ", nlohmann::json(k).dump(),
                                                  " is not a string"));
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    Entry e;
    e.name = name;
    if (const std::string error = ParseEntry(value, data_size, &e); !error.empty())
      return absl::DataLossError(absl::StrCat(path, ": tensor ", nlohmann::json(name).dump(), " ", error));
    entries.push_back(std::move(e));
  }
  // The tensors' bytes tile the data section in offset order: no overlap, no gap, nothing after.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.begin != expected)
      return absl::DataLossError(absl::StrCat(
          path, ": tensor ", nlohmann::json(e.name).dump(), "'s data [", e.begin, ", ", e.end, ") ",
          e.begin < expected ? absl::StrCat("overlaps tensor ", nlohmann::json(entries[i - 1].name).dump(), "'s")
                             : absl::StrCat("leaves a gap after byte ", expected)));
    expected = e.end;
  }
  if (expected != data_size)
    return absl::DataLossError(absl::StrCat(path, ": ", data_size - expected, " bytes after the last tensor's data"));
  f.seekg(std::streamoff(data_start));
  for (const Entry& e : entries) {
    Tensor t = Tensor::Empty(e.shape, e.dtype);
    if (!f.read(static_cast<char*>(t.raw_data()), std::streamsize(t.nbytes())))
      return absl::DataLossError(absl::StrCat(path, ": cannot read the data of tensor ", nlohmann::json(e.name).dump()));
    out.tensors.emplace(e.name, t);
  }
  return out;
}

}  // namespace vfm
