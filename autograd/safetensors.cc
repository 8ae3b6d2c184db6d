#include "autograd/safetensors.h"

#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace vfm {

namespace {
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
}  // namespace

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
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  const uint64_t n = json.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f.write(json.data(), std::streamsize(n));
  for (const Tensor& t : contiguous) f.write(static_cast<const char*>(t.raw_data()), std::streamsize(t.nbytes()));
  f.close();
  if (!f) return absl::InternalError(absl::StrCat("write to ", path, " failed: ", std::strerror(errno)));
  return absl::OkStatus();
}

absl::StatusOr<SafetensorsFile> LoadSafetensors(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  const uint64_t file_size = uint64_t(f.tellg());
  f.seekg(0);
  uint64_t n = 0;
  if (file_size < 8 || !f.read(reinterpret_cast<char*>(&n), 8) || n > file_size - 8)
    return absl::DataLossError(absl::StrCat(path, ": not a safetensors file (bad header length)"));
  std::string json(n, '\0');
  f.read(json.data(), std::streamsize(n));
  nlohmann::json header = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object())
    return absl::DataLossError(absl::StrCat(path, ": header is not a JSON object"));
  const uint64_t data_start = 8 + n, data_size = file_size - data_start;
  SafetensorsFile out;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      for (auto& [k, v] : entry.items())
        if (v.is_string()) out.metadata[k] = v.get<std::string>();
      continue;
    }
    DType dtype;
    if (!entry.contains("dtype") || !ParseDType(entry["dtype"].get<std::string>(), &dtype))
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor ", name, " has an unsupported dtype"));
    const Shape shape = entry["shape"].get<Shape>();
    const auto offsets = entry["data_offsets"].get<std::vector<uint64_t>>();
    Tensor t = Tensor::Empty(shape, dtype);
    if (offsets.size() != 2 || offsets[1] - offsets[0] != t.nbytes() || offsets[1] > data_size)
      return absl::DataLossError(absl::StrCat(path, ": tensor ", name, " has bad data offsets"));
    f.seekg(std::streamoff(data_start + offsets[0]));
    if (!f.read(static_cast<char*>(t.raw_data()), std::streamsize(t.nbytes())))
      return absl::DataLossError(absl::StrCat(path, ": truncated data for tensor ", name));
    out.tensors.emplace(name, t);
  }
  return out;
}

}  // namespace vfm
