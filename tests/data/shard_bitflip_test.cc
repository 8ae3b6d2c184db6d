// A sweep of single-bit flips (a seeded bit in every byte) over a small dataset (one shard of JPEG, PNG and raw samples, and its
// index.json), covering every class of byte: the HDF5 superblock, the rest of its metadata (object headers,
// heaps, B-trees), the data of /bytes and of each per-sample dataset, and index.json. For each flip,
// opening the dataset and reading every sample must give identical results (a bit nothing depends on), a
// clear one-line error naming the file, or a named skip of exactly the damaged sample; never a crash, a
// hang or a silently different sample. This runs in-process: the reader checks the shard's metadata
// checksum before libhdf5 reads anything, so libhdf5 never sees damaged metadata.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <sstream>
#include <stdexcept>

#include "data/dataset.h"
#include "gtest/gtest.h"
#include "tests/data/fixtures.h"

namespace vfm::data {
namespace {
using testing::ReadFile;
using testing::TempDir;

// Everything a reader gets from the dataset, per sample.
struct Seen {
  SampleMeta meta;
  std::string modality;
  bool synthetic = false;
  std::vector<uint8_t> bytes;
  bool operator==(const Seen& o) const {
    const SampleMeta& a = meta;
    const SampleMeta& b = o.meta;
    return a.modality == b.modality && a.label == b.label && a.height == b.height && a.width == b.width &&
           a.channels == b.channels && a.codec == b.codec && a.crc32c == b.crc32c && a.source == b.source &&
           a.subject == b.subject && modality == o.modality && synthetic == o.synthetic && bytes == o.bytes;
  }
};

enum class Outcome { kIdentical, kError, kSkip };

// Opens `folder` and reads every sample, checking each against `expected`. A failed read must be DataLoss
// naming the sample; its id goes to `skipped`.
Outcome OpenAndRead(const std::string& folder, const std::vector<Seen>& expected, std::string* error,
                    std::vector<int64_t>* skipped) {
  absl::StatusOr<std::unique_ptr<Dataset>> ds = Dataset::Open(folder);
  if (!ds.ok()) {
    *error = std::string(ds.status().message());
    EXPECT_NE(ds.status().code(), absl::StatusCode::kOk);
    EXPECT_EQ(error->find('\n'), std::string::npos) << *error;
    EXPECT_NE(error->find(folder), std::string::npos) << *error;
    return Outcome::kError;
  }
  EXPECT_EQ((*ds)->size(), int64_t(expected.size()));
  for (int64_t id = 0; id < std::min<int64_t>((*ds)->size(), int64_t(expected.size())); ++id) {
    Seen seen{(*ds)->meta(id), (*ds)->index().modalities[(*ds)->modality(id)], (*ds)->synthetic(id), {}};
    absl::Status s = (*ds)->Read(id, &seen.bytes);
    if (!s.ok()) {
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
      EXPECT_NE(s.message().find((*ds)->Describe(id)), std::string::npos) << s;
      skipped->push_back(id);
      seen.bytes = expected[size_t(id)].bytes;  // the metadata must still be right
    }
    EXPECT_TRUE(seen == expected[size_t(id)]) << "sample " << id << " differs silently";
  }
  return skipped->empty() ? Outcome::kIdentical : Outcome::kSkip;
}

// Flips bit `bit` of byte `at` of the file in place.
void FlipBit(const std::string& path, uint64_t at, int bit) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  char c = 0;
  file.seekg(std::streamoff(at));
  file.get(c);
  file.seekp(std::streamoff(at));
  file.put(char(c ^ (1 << bit)));
  if (!file.flush()) throw std::runtime_error("cannot flip a bit of " + path);
}

TEST(ShardBitFlips, EveryFlipIsHarmlessAClearErrorOrANamedSkip) {
  TempDir dir;
  const std::string folder = dir / "ds";
  testing::WriteDataset(folder, testing::MixedSamples(6));  // one shard
  const std::string shard_path = folder + "/" + ShardFileName(0), index_path = folder + "/index.json";
  const std::string shard = ReadFile(shard_path), index = ReadFile(index_path);
  std::vector<Seen> expected;
  {
    auto ds = Dataset::Open(folder);
    ASSERT_TRUE(ds.ok()) << ds.status();
    for (int64_t id = 0; id < (*ds)->size(); ++id) {
      expected.push_back({(*ds)->meta(id), (*ds)->index().modalities[(*ds)->modality(id)], (*ds)->synthetic(id), {}});
      ASSERT_TRUE((*ds)->Read(id, &expected.back().bytes).ok());
    }
  }
  std::vector<uint64_t> sample_ends;  // where each sample's bytes end within /bytes
  {
    uint64_t end = 0;
    for (const Seen& s : expected) sample_ends.push_back(end += s.bytes.size());
  }

  // The class of each byte of the shard: the dataset whose data holds it (h5py tells where each lies),
  // else the superblock (its first 96 bytes) or the rest of the HDF5 metadata.
  std::string layout;
  ASSERT_EQ(testing::RunPython("import sys, h5py\n"
                               "with h5py.File(sys.argv[1], 'r') as f:\n"
                               "    for name, d in f.items():\n"
                               "        if d.id.get_storage_size(): print(name, d.id.get_offset(), d.id.get_storage_size())\n",
                               {shard_path}, &layout),
            0)
      << layout;
  std::vector<std::string> byte_class(shard.size(), "HDF5 metadata");
  std::fill(byte_class.begin(), byte_class.begin() + 96, "superblock");
  std::istringstream lines(layout);
  std::string name;
  uint64_t offset, size, bytes_begin = 0;
  int datasets = 0;
  while (lines >> name >> offset >> size) {
    std::fill(byte_class.begin() + long(offset), byte_class.begin() + long(offset + size), "/" + name);
    if (name == "bytes") bytes_begin = offset;
    ++datasets;
  }
  ASSERT_EQ(datasets, 13) << layout;  // /bytes and 12 per-sample datasets (/subject_bytes is not empty)

  std::mt19937_64 rng(20240607);
  std::map<std::string, std::map<Outcome, int>> tally;
  auto flip = [&](const std::string& class_name, bool in_index, uint64_t at) {
    const int bit = int(rng() % 8);
    const std::string& path = in_index ? index_path : shard_path;
    FlipBit(path, at, bit);
    SCOPED_TRACE(class_name + " byte " + std::to_string(at) + " bit " + std::to_string(bit));
    std::string error;
    std::vector<int64_t> skipped;
    const Outcome outcome = OpenAndRead(folder, expected, &error, &skipped);
    FlipBit(path, at, bit);  // back
    ++tally[class_name][outcome];
    if (in_index) return;  // identical or an error naming the folder (checked above)
    if (class_name != "/bytes") {  // the metadata checksum covers it: an error naming the shard
      EXPECT_EQ(outcome, Outcome::kError);
      EXPECT_NE(error.find(ShardFileName(0) + ": "), std::string::npos) << error;
      return;
    }
    const int64_t holder = std::upper_bound(sample_ends.begin(), sample_ends.end(), at - bytes_begin) - sample_ends.begin();
    EXPECT_EQ(skipped, std::vector<int64_t>{holder});  // exactly the sample holding the byte
  };
  // Every byte of both files, each with one seeded bit.
  for (uint64_t at = 0; at < shard.size(); ++at) flip(byte_class[at], false, at);
  for (uint64_t at = 0; at < index.size(); ++at) flip("index.json", true, at);

  for (const auto& [class_name, counts] : tally) {
    std::printf("%-16s identical %4d  error %4d  skip %4d\n", class_name.c_str(), counts.count(Outcome::kIdentical) ? counts.at(Outcome::kIdentical) : 0,
                counts.count(Outcome::kError) ? counts.at(Outcome::kError) : 0,
                counts.count(Outcome::kSkip) ? counts.at(Outcome::kSkip) : 0);
  }
}

}  // namespace
}  // namespace vfm::data
