#include "data/convert.h"

#include <omp.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "data/decode.h"
#include "data/shard_writer.h"

namespace vfm::data {
namespace fs = std::filesystem;
namespace {

struct Input {
  std::string path, modality, subject;
  int32_t label = -1;
  bool synthetic = false;
};

// An input after reading and test-decoding: either its bytes and metadata, or why it was rejected.
struct Checked {
  std::string bytes, error;
  SampleMeta meta;
};

Checked Fail(absl::string_view why) {
  Checked c;
  c.error = std::string(why);
  return c;
}

Checked ReadAndCheck(const Input& input) {
  Checked c;
  std::ifstream in(input.path, std::ios::binary);
  if (!in) return Fail("cannot open");
  std::stringstream buffer;
  buffer << in.rdbuf();
  c.bytes = buffer.str();
  const auto* data = reinterpret_cast<const uint8_t*>(c.bytes.data());
  absl::StatusOr<Codec> codec = SniffCodec(data, c.bytes.size());
  if (!codec.ok()) return Fail(codec.status().message());
  absl::StatusOr<ImageHeader> header = ProbeImage(data, c.bytes.size(), *codec);
  if (!header.ok()) return Fail(header.status().message());
  // A full decode (JPEG at 1/8 scale: still reads every entropy-coded bit) catches truncated files.
  Image image;
  if (absl::Status s = DecodeImage(data, c.bytes.size(), *codec, {}, 8, &image); !s.ok())
    return Fail(s.message());
  c.meta.codec = *codec;
  c.meta.height = uint32_t(header->height);
  c.meta.width = uint32_t(header->width);
  c.meta.channels = uint8_t(header->channels);
  c.meta.label = input.label;
  c.meta.source = input.path;
  c.meta.subject = input.subject;
  return c;
}

absl::Status PrepareOutput(const std::string& output) {
  std::error_code ec;
  fs::create_directories(output, ec);
  if (ec) return absl::InternalError(absl::StrCat(output, ": cannot create folder: ", ec.message()));
  if (fs::exists(fs::path(output) / kIndexFile))
    return absl::AlreadyExistsError(absl::StrCat(output, ": already holds a dataset (index.json)"));
  return absl::OkStatus();
}

std::vector<std::string> SortedModalities(const std::vector<Input>& inputs) {
  std::set<std::string> names;
  for (const Input& in : inputs) names.insert(in.modality);
  return {names.begin(), names.end()};
}

ConvertReport Summarise(DatasetIndex index, std::vector<Rejected> rejected,
                        std::map<std::string, int64_t> bytes_per_modality) {
  ConvertReport report;
  report.index = std::move(index);
  report.rejected = std::move(rejected);
  report.bytes_per_modality = std::move(bytes_per_modality);
  for (const auto& [name, bytes] : report.bytes_per_modality) report.bytes += bytes;
  return report;
}

// Test-decodes inputs in parallel chunks and appends the good ones in input order.
absl::StatusOr<ConvertReport> WriteInputs(const std::vector<Input>& inputs, std::vector<Rejected> rejected,
                                          std::vector<std::string> labels, const ConvertOptions& options) {
  if (absl::Status s = PrepareOutput(options.output); !s.ok()) return s;
  const std::vector<std::string> modalities = SortedModalities(inputs);
  if (modalities.size() > 256) return absl::InvalidArgumentError("more than 256 modalities (codes are uint8)");
  DatasetWriter writer(options.output, modalities, std::move(labels), options.target_shard_bytes);
  std::map<std::string, int64_t> bytes_per_modality;
  int64_t accepted_bytes = 0;
  const int64_t total = int64_t(inputs.size()), chunk = 256;
  std::vector<Checked> checked(static_cast<size_t>(chunk));
  for (int64_t begin = 0; begin < total; begin += chunk) {
    const int64_t n = std::min(chunk, total - begin);
#pragma omp parallel for schedule(dynamic) num_threads(options.threads > 0 ? options.threads : omp_get_max_threads())
    for (int64_t i = 0; i < n; ++i) checked[size_t(i)] = ReadAndCheck(inputs[size_t(begin + i)]);
    for (int64_t i = 0; i < n; ++i) {
      const Input& input = inputs[size_t(begin + i)];
      Checked& c = checked[size_t(i)];
      if (!c.error.empty()) {
        rejected.push_back({input.path, c.error});
        continue;
      }
      c.meta.modality = uint8_t(std::lower_bound(modalities.begin(), modalities.end(), input.modality) -
                                modalities.begin());
      bytes_per_modality[input.modality] += int64_t(c.bytes.size());
      accepted_bytes += int64_t(c.bytes.size());
      if (absl::Status s = writer.Add(std::move(c.meta), c.bytes, input.synthetic); !s.ok()) return s;
      c = Checked();
    }
    if (options.progress) options.progress(begin + n, total, accepted_bytes);
  }
  absl::StatusOr<DatasetIndex> index = writer.Finish();
  if (!index.ok()) return index.status();
  return Summarise(*std::move(index), std::move(rejected), std::move(bytes_per_modality));
}

bool IsImageFile(const fs::path& path) {
  const std::string ext = absl::AsciiStrToLower(path.extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// Reads a whole file, gunzipping it if it is gzip-compressed (zlib reads plain files unchanged).
absl::StatusOr<std::string> ReadMaybeGzipped(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string out;
  char buffer[1 << 16];
  int got;
  while ((got = gzread(f, buffer, sizeof(buffer))) > 0) out.append(buffer, size_t(got));
  const bool failed = got < 0;
  gzclose(f);
  if (failed) return absl::DataLossError(absl::StrCat(path, ": corrupt gzip stream"));
  return out;
}

uint32_t BigEndian32(const std::string& s, size_t at) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data() + at);
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

}  // namespace

absl::StatusOr<ConvertReport> ConvertFolder(const std::string& root, const ConvertOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return absl::NotFoundError(absl::StrCat(root, ": not a folder"));
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->path().filename().string().rfind('.', 0) == 0) {  // hidden: skip (and do not descend)
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_directory()) files.push_back(it->path());
  }
  if (ec) return absl::InternalError(absl::StrCat(root, ": cannot list: ", ec.message()));
  std::sort(files.begin(), files.end());

  std::vector<Input> inputs;
  std::vector<Rejected> rejected;
  std::vector<std::string> class_of_input;
  for (const fs::path& file : files) {
    if (!IsImageFile(file)) {
      rejected.push_back({file.string(), "not a .jpg/.jpeg/.png file"});
      continue;
    }
    std::vector<std::string> levels;
    for (const fs::path& part : fs::relative(file, root).parent_path()) levels.push_back(part.string());
    Input input;
    input.path = file.string();
    input.synthetic = options.synthetic;
    size_t next_level = 0;
    if (!options.modality.empty()) {
      input.modality = options.modality;
    } else if (!levels.empty()) {
      input.modality = levels[next_level++];
    } else {
      rejected.push_back({input.path, "not inside a modality folder and --modality is not set"});
      continue;
    }
    if (options.folder_labels) {
      if (next_level >= levels.size()) {
        rejected.push_back({input.path, "not inside a class folder (--folder_labels)"});
        continue;
      }
      class_of_input.push_back(levels[next_level]);
    }
    inputs.push_back(std::move(input));
  }
  std::vector<std::string> labels;
  if (options.folder_labels) {
    std::set<std::string> names(class_of_input.begin(), class_of_input.end());
    labels.assign(names.begin(), names.end());
    for (size_t i = 0; i < inputs.size(); ++i)
      inputs[i].label = int32_t(std::lower_bound(labels.begin(), labels.end(), class_of_input[i]) - labels.begin());
  }
  return WriteInputs(inputs, std::move(rejected), std::move(labels), options);
}

absl::StatusOr<ConvertReport> ConvertCsv(const std::string& csv, const ConvertOptions& options) {
  std::ifstream in(csv);
  if (!in) return absl::NotFoundError(absl::StrCat(csv, ": cannot open"));
  const fs::path base = fs::path(csv).parent_path();
  std::vector<Input> inputs;
  std::vector<Rejected> rejected;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || (line_no == 1 && absl::StartsWithIgnoreCase(text, "path"))) continue;
    std::vector<std::string> f = absl::StrSplit(text, ',');
    for (std::string& field : f) field = std::string(absl::StripAsciiWhitespace(field));
    const std::string where = absl::StrCat(csv, ":", line_no);
    if (f.size() < 2 || f.size() > 5 || f[0].empty() || f[1].empty()) {
      rejected.push_back({where, "expected path,modality[,label[,subject[,synthetic]]]"});
      continue;
    }
    Input input;
    input.path = fs::path(f[0]).is_absolute() ? f[0] : (base / f[0]).string();
    input.modality = f[1];
    input.synthetic = options.synthetic;
    if (f.size() > 2 && !f[2].empty() && !absl::SimpleAtoi(f[2], &input.label)) {
      rejected.push_back({where, absl::StrCat("label '", f[2], "' is not an integer")});
      continue;
    }
    if (f.size() > 3) input.subject = f[3];
    if (f.size() > 4) input.synthetic = f[4] == "1" || absl::EqualsIgnoreCase(f[4], "true");
    inputs.push_back(std::move(input));
  }
  return WriteInputs(inputs, std::move(rejected), {}, options);
}

absl::StatusOr<ConvertReport> ConvertIdx(const std::string& images, const std::string& labels,
                                         const ConvertOptions& options) {
  absl::StatusOr<std::string> image_bytes = ReadMaybeGzipped(images);
  if (!image_bytes.ok()) return image_bytes.status();
  absl::StatusOr<std::string> label_bytes = ReadMaybeGzipped(labels);
  if (!label_bytes.ok()) return label_bytes.status();
  if (image_bytes->size() < 16 || BigEndian32(*image_bytes, 0) != 0x803)
    return absl::InvalidArgumentError(absl::StrCat(images, ": not an IDX image file (magic 0x803)"));
  if (label_bytes->size() < 8 || BigEndian32(*label_bytes, 0) != 0x801)
    return absl::InvalidArgumentError(absl::StrCat(labels, ": not an IDX label file (magic 0x801)"));
  const uint32_t n = BigEndian32(*image_bytes, 4), rows = BigEndian32(*image_bytes, 8),
                 cols = BigEndian32(*image_bytes, 12);
  const size_t pixels = size_t(rows) * cols;
  if (pixels == 0) return absl::InvalidArgumentError(absl::StrCat(images, ": images of ", rows, "x", cols));
  if (image_bytes->size() != 16 + size_t(n) * pixels)
    return absl::DataLossError(absl::StrCat(images, ": ", image_bytes->size(), " bytes, header implies ",
                                            16 + size_t(n) * pixels));
  if (BigEndian32(*label_bytes, 4) != n || label_bytes->size() != 8 + size_t(n))
    return absl::DataLossError(absl::StrCat(labels, ": label count differs from ", images, "'s ", n));
  if (absl::Status s = PrepareOutput(options.output); !s.ok()) return s;

  const std::string modality = options.modality.empty() ? "idx" : options.modality;
  DatasetWriter writer(options.output, {modality}, {}, options.target_shard_bytes);
  const std::string name = fs::path(images).filename().string();
  for (uint32_t i = 0; i < n; ++i) {
    SampleMeta meta;
    meta.label = int32_t(uint8_t((*label_bytes)[8 + i]));
    meta.height = rows;
    meta.width = cols;
    meta.channels = 1;
    meta.codec = Codec::kRaw;
    meta.source = absl::StrCat(name, "#", i);
    std::string_view bytes(image_bytes->data() + 16 + size_t(i) * pixels, pixels);
    if (absl::Status s = writer.Add(std::move(meta), bytes, options.synthetic); !s.ok()) return s;
    if (options.progress && ((i + 1) % 10000 == 0 || i + 1 == n))
      options.progress(i + 1, n, int64_t(i + 1) * int64_t(pixels));
  }
  absl::StatusOr<DatasetIndex> index = writer.Finish();
  if (!index.ok()) return index.status();
  return Summarise(*std::move(index), {}, {{modality, int64_t(n) * int64_t(pixels)}});
}

}  // namespace vfm::data
