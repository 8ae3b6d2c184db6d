// The converter behind `vfm shard`: turns a folder tree of images, a CSV list, or MNIST-style IDX files
// into a dataset folder (shard_writer.h). JPEG and PNG files are stored as they are (not re-encoded) after
// a full test decode; TIFF files (recognised by their signature, tiff.h) are stored as their decoded 8-bit
// pixels (codec raw). A file that cannot be read or decoded is rejected with its reason, never a crash or
// a hang; a file that is not a regular file is never read.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/dataset_index.h"

namespace vfm::data {

struct ConvertOptions {
  std::string output;                    // dataset folder to create; must not hold an index.json yet
  int64_t target_shard_bytes = 1 << 30;  // a shard is closed once its images reach this size
  std::string modality;       // folder/IDX: modality of every input (folder: else the first folder level)
  bool folder_labels = false;  // folder: the next folder level names the class (sorted names -> labels)
  bool synthetic = false;      // tag every input as synthetic (CSV: else its optional 5th column)
  int threads = 0;             // test-decode threads; 0 = all cores
  // Called now and then with (inputs done, inputs total, image bytes accepted).
  std::function<void(int64_t, int64_t, int64_t)> progress;
};

struct Rejected {
  std::string input;
  std::string reason;
};

struct ConvertReport {
  DatasetIndex index;
  int64_t bytes = 0;  // encoded image bytes accepted
  std::map<std::string, int64_t> bytes_per_modality;
  std::vector<Rejected> rejected;  // inputs that are not readable images, with the reason
  std::vector<Rejected> skipped;   // folder entries that cannot be images: FIFOs, devices, symlink loops, ...
};

// Every .jpg/.jpeg/.png/.tif/.tiff under `root` (sorted by path; hidden entries ignored, other files rejected).
// Symlinks to files and folders are followed, each folder entered once (a symlink loop ends there and is
// listed in `skipped`, as are FIFOs, devices, sockets and broken symlinks: they are never opened).
absl::StatusOr<ConvertReport> ConvertFolder(const std::string& root, const ConvertOptions& options);
// A CSV (RFC 4180: fields in double quotes may hold commas, line breaks and "" for a quote; LF or CRLF
// line ends) with rows `path,modality,label,subject[,synthetic]` (an optional header row starting with
// "path", after an optional UTF-8 byte order mark; relative paths are relative to the CSV's folder; empty
// label = -1; unquoted fields are stripped of surrounding whitespace, quoted ones kept as they are).
// Folder and CSV: no readable image among the inputs is an error (never an empty dataset), as are names
// (modality, class) that are not UTF-8 (index.json is JSON): the inputs carrying them are rejected.
absl::StatusOr<ConvertReport> ConvertCsv(const std::string& csv, const ConvertOptions& options);
// IDX images (magic 0x803: n x rows x cols uint8) and labels (0x801), plain or gzip-compressed; stored raw.
absl::StatusOr<ConvertReport> ConvertIdx(const std::string& images, const std::string& labels,
                                         const ConvertOptions& options);

}  // namespace vfm::data
