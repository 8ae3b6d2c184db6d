#include "data/convert.h"

#include <fcntl.h>
#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "data/decode.h"
#include "data/modality_stats.h"
#include "data/shard_writer.h"
#include "data/tiff.h"

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
  ImageMoments moments;  // of the decoded pixels, for the modality's statistics
};

Checked Fail(absl::string_view why) {
  Checked c;
  c.error = std::string(why);
  return c;
}

// What a file that is not a regular file is, as messages name it.
std::string KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Opens a regular file for reading. Anything else is refused before it is read (a FIFO would block,
// /dev/zero never ends); O_NONBLOCK makes even opening a FIFO return at once.
absl::StatusOr<int> OpenRegularFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot open: ", std::strerror(errno)));
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) return fd;
  const std::string kind = ::fstat(fd, &st) == 0 ? KindOf(st.st_mode) : std::strerror(errno);
  ::close(fd);
  return absl::InvalidArgumentError(absl::StrCat("not a regular file (", kind, ")"));
}

absl::StatusOr<std::string> ReadRegularFile(const std::string& path) {
  absl::StatusOr<int> fd = OpenRegularFile(path);
  if (!fd.ok()) return fd.status();
  std::string bytes;
  char buffer[1 << 16];
  ssize_t got;
  while ((got = ::read(*fd, buffer, sizeof(buffer))) != 0) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 || bytes.size() + size_t(got) > UINT32_MAX) break;
    bytes.append(buffer, size_t(got));
  }
  const int error = errno;
  ::close(*fd);
  if (got < 0) return absl::DataLossError(absl::StrCat("read failed: ", std::strerror(error)));
  if (got > 0) return absl::InvalidArgumentError("larger than 4 GiB (a sample's size is 32-bit)");
  return bytes;
}

Checked ReadAndCheck(const Input& input) {
  Checked c;
  absl::StatusOr<std::string> bytes = ReadRegularFile(input.path);
  if (!bytes.ok()) return Fail(bytes.status().message());
  c.bytes = *std::move(bytes);
  const auto* data = reinterpret_cast<const uint8_t*>(c.bytes.data());
  // A full decode catches truncated files and gives the pixels the modality statistics are taken over
  // (modality_stats.h: full size).
  Image image;
  if (IsTiff(data, c.bytes.size())) {  // not a shard codec: stored as its decoded pixels (tiff.h)
    if (absl::Status s = DecodeTiff(data, c.bytes.size(), &image); !s.ok()) return Fail(s.message());
    c.bytes.assign(image.pixels.begin(), image.pixels.end());
    c.meta.codec = Codec::kRaw;
  } else {
    absl::StatusOr<Codec> codec = SniffCodec(data, c.bytes.size());
    if (!codec.ok()) return Fail("not a JPEG, PNG or TIFF file");
    if (absl::Status s = DecodeImage(data, c.bytes.size(), *codec, {}, 1, &image); !s.ok())
      return Fail(s.message());
    c.meta.codec = *codec;
  }
  c.moments = MomentsOf(image.pixels.data(), int64_t(image.height) * image.width, image.channels);
  c.meta.height = uint32_t(image.height);
  c.meta.width = uint32_t(image.width);
  c.meta.channels = uint8_t(image.channels);
  c.meta.label = input.label;
  c.meta.source = input.path;
  c.meta.subject = input.subject;
  return c;
}

absl::Status PrepareOutput(const std::string& output) {
  if (output.empty()) return absl::InvalidArgumentError("no output folder given");
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

// " (N rejected, the first: PATH: REASON)", or "" when nothing was rejected.
std::string RejectedSummary(const std::vector<Rejected>& rejected) {
  if (rejected.empty()) return "";
  return absl::StrCat(" (", rejected.size(), " rejected, the first: ", rejected[0].input, ": ", rejected[0].reason, ")");
}

// Test-decodes inputs in parallel chunks and appends the good ones in input order. `source` names what the
// inputs came from, for the error when none of them is an image.
absl::StatusOr<ConvertReport> WriteInputs(const std::string& source, const std::vector<Input>& inputs,
                                          ConvertReport report, std::vector<std::string> labels,
                                          const ConvertOptions& options) {
  if (inputs.empty())
    return absl::InvalidArgumentError(absl::StrCat(source, ": no image inputs found", RejectedSummary(report.rejected)));
  if (absl::Status s = PrepareOutput(options.output); !s.ok()) return s;
  const std::vector<std::string> modalities = SortedModalities(inputs);
  if (modalities.size() > 256)
    return absl::InvalidArgumentError(absl::StrCat(source, ": more than 256 modalities (codes are uint8)"));
  DatasetWriter writer(options.output, modalities, std::move(labels), options.target_shard_bytes);
  std::map<std::string, StatsAccumulator> stats;
  int64_t accepted = 0;
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
        report.rejected.push_back({input.path, c.error});
        continue;
      }
      c.meta.modality = uint8_t(std::lower_bound(modalities.begin(), modalities.end(), input.modality) -
                                modalities.begin());
      report.bytes_per_modality[input.modality] += int64_t(c.bytes.size());
      report.bytes += int64_t(c.bytes.size());
      stats[input.modality].Add(c.moments);
      ++accepted;
      if (absl::Status s = writer.Add(std::move(c.meta), c.bytes, input.synthetic); !s.ok()) return s;
      c = Checked();
    }
    if (options.progress) options.progress(begin + n, total, report.bytes);
  }
  if (accepted == 0)  // nothing was written yet: a shard is only written once it holds samples
    return absl::InvalidArgumentError(absl::StrCat(source, ": none of the ", total, " inputs is a readable image",
                                                   RejectedSummary(report.rejected)));
  std::map<std::string, ModalityStats> results;
  for (const auto& [name, sum] : stats) results[name] = sum.Result();
  writer.set_modality_stats(std::move(results));
  absl::StatusOr<DatasetIndex> index = writer.Finish();
  if (!index.ok()) return index.status();
  report.index = *std::move(index);
  return report;
}

bool IsImageFile(const fs::path& path) {
  const std::string ext = absl::AsciiStrToLower(path.extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".tif" || ext == ".tiff";
}

// Lists the files under root/dir (paths relative to root, hidden entries ignored), following symlinks to
// files and folders but entering each folder once (`seen`: device and inode), so a symlink loop ends.
// What cannot hold an image (FIFOs, devices, sockets, broken or looping symlinks) goes to `skipped`.
absl::Status ListFiles(const fs::path& root, const fs::path& dir, std::set<std::pair<dev_t, ino_t>>* seen,
                       std::vector<fs::path>* files, std::vector<Rejected>* skipped) {
  std::error_code ec;
  std::vector<fs::path> names;
  for (fs::directory_iterator it(root / dir, ec), end; !ec && it != end; it.increment(ec))
    names.push_back(it->path().filename());
  if (ec) return absl::InternalError(absl::StrCat((root / dir).string(), ": cannot list: ", ec.message()));
  std::sort(names.begin(), names.end());
  for (const fs::path& name : names) {
    if (name.string().rfind('.', 0) == 0) continue;  // hidden
    const fs::path path = root / dir / name;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      const int error = errno;
      skipped->push_back({path.string(), error == ELOOP    ? "a symlink loop"
                                         : error == ENOENT ? "a broken symlink"
                                                           : std::strerror(error)});
    } else if (S_ISDIR(st.st_mode)) {
      if (!seen->insert({st.st_dev, st.st_ino}).second) {
        skipped->push_back({path.string(), "a folder already listed: a symlink back to it"});
      } else if (absl::Status s = ListFiles(root, dir / name, seen, files, skipped); !s.ok()) {
        return s;
      }
    } else if (S_ISREG(st.st_mode)) {
      files->push_back(dir / name);
    } else {
      skipped->push_back({path.string(), KindOf(st.st_mode)});
    }
  }
  return absl::OkStatus();
}

// Reads a whole regular file, gunzipping it if it is gzip-compressed (zlib reads plain files unchanged).
// `what` names the file's role for errors.
absl::StatusOr<std::string> ReadMaybeGzipped(const std::string& path, const std::string& what) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("no ", what, " given"));
  absl::StatusOr<int> fd = OpenRegularFile(path);
  if (!fd.ok()) return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": ", fd.status().message()));
  gzFile f = gzdopen(*fd, "rb");  // owns fd from here
  if (!f) {
    ::close(*fd);
    return absl::InternalError(absl::StrCat(what, " ", path, ": cannot read"));
  }
  std::string out;
  char buffer[1 << 16];
  int got;
  while ((got = gzread(f, buffer, sizeof(buffer))) > 0) out.append(buffer, size_t(got));
  const bool failed = got < 0;
  gzclose(f);
  if (failed) return absl::DataLossError(absl::StrCat(what, " ", path, ": corrupt gzip stream"));
  return out;
}

uint32_t BigEndian32(const std::string& s, size_t at) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data() + at);
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

struct CsvField {
  std::string text;
  bool quoted = false;
};

// Takes one RFC 4180 record off the front of `text`: fields separated by commas, the record ended by LF or
// CRLF (or the end of the text). A field in double quotes keeps everything up to the closing quote as is
// (commas, line breaks, spaces; "" is one quote); an unquoted field is taken with surrounding whitespace
// stripped. `line` counts the line breaks consumed. Text after a closing quote is an error (the rest of
// the line is consumed), as is an unterminated quote (the rest of the text is).
absl::StatusOr<std::vector<CsvField>> NextCsvRecord(absl::string_view* text, int* line) {
  std::vector<CsvField> fields(1);
  absl::string_view& t = *text;
  size_t i = 0;
  while (true) {
    CsvField& field = fields.back();
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t')) ++i;
    if (i < t.size() && t[i] == '"') {
      field.quoted = true;
      for (++i;; ++i) {
        if (i == t.size()) {
          t = {};
          return absl::InvalidArgumentError("a quoted field has no closing quote");
        }
        if (t[i] == '"' && i + 1 < t.size() && t[i + 1] == '"') {
          field.text += '"';
          ++i;
        } else if (t[i] == '"') {
          break;
        } else {
          if (t[i] == '\n') ++*line;
          field.text += t[i];
        }
      }
      for (++i; i < t.size() && (t[i] == ' ' || t[i] == '\t'); ++i) {
      }
      if (i < t.size() && t[i] != ',' && t[i] != '\n' && t[i] != '\r') {  // skip the rest of the line
        const size_t end = t.find('\n', i);
        t.remove_prefix(end == absl::string_view::npos ? t.size() : end + 1);
        ++*line;
        return absl::InvalidArgumentError("text after a quoted field's closing quote");
      }
    } else {
      const size_t begin = i;
      while (i < t.size() && t[i] != ',' && t[i] != '\n') ++i;
      field.text = std::string(absl::StripAsciiWhitespace(t.substr(begin, i - begin)));  // also a CR before LF
    }
    if (i < t.size() && t[i] == ',') {
      ++i;
      fields.emplace_back();
      continue;
    }
    while (i < t.size() && t[i] == '\r') ++i;
    if (i < t.size() && t[i] == '\n') ++i;
    ++*line;
    t.remove_prefix(i);
    return fields;
  }
}

absl::Status CheckModalityOption(const ConvertOptions& options) {
  if (!IsValidUtf8(options.modality))
    return absl::InvalidArgumentError(absl::StrCat("modality name '", options.modality, "' is not valid UTF-8"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ConvertReport> ConvertFolder(const std::string& root, const ConvertOptions& options) {
  if (root.empty()) return absl::InvalidArgumentError("no input folder given");
  if (absl::Status s = CheckModalityOption(options); !s.ok()) return s;
  struct stat st;
  if (::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return absl::NotFoundError(absl::StrCat(root, ": not a folder"));
  std::set<std::pair<dev_t, ino_t>> seen{{st.st_dev, st.st_ino}};
  std::vector<fs::path> files;
  ConvertReport report;
  if (absl::Status s = ListFiles(root, "", &seen, &files, &report.skipped); !s.ok()) return s;

  std::vector<Input> inputs;
  std::vector<std::string> class_of_input;
  for (const fs::path& file : files) {
    Input input;
    input.path = (fs::path(root) / file).string();
    if (!IsImageFile(file)) {
      report.rejected.push_back({input.path, "not a .jpg/.jpeg/.png/.tif/.tiff file"});
      continue;
    }
    std::vector<std::string> levels;
    for (const fs::path& part : file.parent_path()) levels.push_back(part.string());
    input.synthetic = options.synthetic;
    size_t next_level = 0;
    if (!options.modality.empty()) {
      input.modality = options.modality;
    } else if (!levels.empty()) {
      input.modality = levels[next_level++];
    } else {
      report.rejected.push_back({input.path, "not inside a modality folder and --modality is not set"});
      continue;
    }
    if (!IsValidUtf8(input.modality)) {
      report.rejected.push_back({input.path, "its modality folder's name is not valid UTF-8"});
      continue;
    }
    if (options.folder_labels) {
      if (next_level >= levels.size()) {
        report.rejected.push_back({input.path, "not inside a class folder (--folder_labels)"});
        continue;
      }
      if (!IsValidUtf8(levels[next_level])) {
        report.rejected.push_back({input.path, "its class folder's name is not valid UTF-8"});
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
  return WriteInputs(root, inputs, std::move(report), std::move(labels), options);
}

absl::StatusOr<ConvertReport> ConvertCsv(const std::string& csv, const ConvertOptions& options) {
  if (csv.empty()) return absl::InvalidArgumentError("no CSV file given");
  struct stat st;
  if (::stat(csv.c_str(), &st) != 0)
    return absl::NotFoundError(absl::StrCat(csv, ": cannot open: ", std::strerror(errno)));
  if (!S_ISREG(st.st_mode))
    return absl::InvalidArgumentError(absl::StrCat(csv, ": not a regular file (", KindOf(st.st_mode), ")"));
  absl::StatusOr<std::string> text = ReadRegularFile(csv);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(csv, ": ", text.status().message()));
  const fs::path base = fs::path(csv).parent_path();
  std::vector<Input> inputs;
  ConvertReport report;
  absl::string_view rest = *text;
  if (absl::StartsWith(rest, "\xEF\xBB\xBF")) rest.remove_prefix(3);  // a UTF-8 byte order mark
  bool first = true;
  for (int line_no = 1; !rest.empty(); first = false) {
    const std::string where = absl::StrCat(csv, ":", line_no);
    absl::StatusOr<std::vector<CsvField>> record = NextCsvRecord(&rest, &line_no);
    if (!record.ok()) {  // the rest of its line is skipped (of the file: an unterminated quote)
      report.rejected.push_back({where, std::string(record.status().message())});
      continue;
    }
    std::vector<CsvField>& f = *record;
    if (f.size() == 1 && f[0].text.empty() && !f[0].quoted) continue;  // a blank line
    if (first && !f[0].quoted && absl::StartsWithIgnoreCase(f[0].text, "path")) continue;  // the header
    if (f.size() < 2 || f.size() > 5 || f[0].text.empty() || f[1].text.empty()) {
      report.rejected.push_back({where, "expected path,modality[,label[,subject[,synthetic]]]"});
      continue;
    }
    if (!IsValidUtf8(f[1].text)) {
      report.rejected.push_back({where, "the modality is not valid UTF-8"});
      continue;
    }
    Input input;
    input.path = fs::path(f[0].text).is_absolute() ? f[0].text : (base / f[0].text).string();
    input.modality = f[1].text;
    input.synthetic = options.synthetic;
    if (f.size() > 2 && !f[2].text.empty() && (!absl::SimpleAtoi(f[2].text, &input.label) || input.label < -1)) {
      report.rejected.push_back({where, absl::StrCat("label '", f[2].text, "' is not an integer >= -1")});
      continue;
    }
    if (f.size() > 3) input.subject = f[3].text;
    if (f.size() > 4) input.synthetic = f[4].text == "1" || absl::EqualsIgnoreCase(f[4].text, "true");
    inputs.push_back(std::move(input));
  }
  return WriteInputs(csv, inputs, std::move(report), {}, options);
}

absl::StatusOr<ConvertReport> ConvertIdx(const std::string& images, const std::string& labels,
                                         const ConvertOptions& options) {
  if (absl::Status s = CheckModalityOption(options); !s.ok()) return s;
  absl::StatusOr<std::string> image_bytes = ReadMaybeGzipped(images, "IDX images file");
  if (!image_bytes.ok()) return image_bytes.status();
  absl::StatusOr<std::string> label_bytes = ReadMaybeGzipped(labels, "IDX labels file");
  if (!label_bytes.ok()) return label_bytes.status();
  if (image_bytes->size() < 16 || BigEndian32(*image_bytes, 0) != 0x803)
    return absl::InvalidArgumentError(absl::StrCat(images, ": not an IDX image file (magic 0x803)"));
  if (label_bytes->size() < 8 || BigEndian32(*label_bytes, 0) != 0x801)
    return absl::InvalidArgumentError(absl::StrCat(labels, ": not an IDX label file (magic 0x801)"));
  const uint32_t n = BigEndian32(*image_bytes, 4), rows = BigEndian32(*image_bytes, 8),
                 cols = BigEndian32(*image_bytes, 12);
  const uint64_t pixels = uint64_t(rows) * cols;
  if (pixels == 0 || pixels > uint64_t(kMaxPixels))
    return absl::InvalidArgumentError(absl::StrCat(images, ": images of ", rows, "x", cols));
  // Compared by division: n * pixels may not fit in 64 bits.
  const uint64_t payload = image_bytes->size() - 16;
  if (payload % pixels != 0 || payload / pixels != n)
    return absl::DataLossError(absl::StrCat(images, ": ", image_bytes->size(), " bytes, not 16 + ", n, " images of ",
                                            rows, "x", cols));
  if (BigEndian32(*label_bytes, 4) != n || label_bytes->size() != 8 + size_t(n))
    return absl::DataLossError(absl::StrCat(labels, ": label count differs from ", images, "'s ", n));
  if (n == 0) return absl::InvalidArgumentError(absl::StrCat(images, ": holds no images"));
  if (absl::Status s = PrepareOutput(options.output); !s.ok()) return s;

  const std::string modality = options.modality.empty() ? "idx" : options.modality;
  DatasetWriter writer(options.output, {modality}, {}, options.target_shard_bytes);
  StatsAccumulator stats;
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
    stats.Add(MomentsOf(reinterpret_cast<const uint8_t*>(bytes.data()), int64_t(pixels), 1));
    if (absl::Status s = writer.Add(std::move(meta), bytes, options.synthetic); !s.ok()) return s;
    if (options.progress && ((i + 1) % 10000 == 0 || i + 1 == n))
      options.progress(i + 1, n, int64_t(i + 1) * int64_t(pixels));
  }
  writer.set_modality_stats({{modality, stats.Result()}});
  absl::StatusOr<DatasetIndex> index = writer.Finish();
  if (!index.ok()) return index.status();
  ConvertReport report;
  report.index = *std::move(index);
  report.bytes = int64_t(n) * int64_t(pixels);
  report.bytes_per_modality[modality] = report.bytes;
  return report;
}

}  // namespace vfm::data
