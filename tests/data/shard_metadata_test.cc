// The reader verifies every piece of shard metadata it depends on, even behind valid checksums (a shard
// written by a buggy or foreign writer, with index.json resealed to match): shapes and element types,
// counts against index.json, offsets, codes, labels, image sizes, attributes, the /bytes layout.
#include <functional>

#include "data/crc32c.h"
#include "data/dataset.h"
#include "data/shard_writer.h"
#include "gtest/gtest.h"
#include "tests/data/fixtures.h"

namespace vfm::data {
namespace {
using testing::TempDir;

struct Fixture {
  TempDir dir;
  std::string folder = dir / "ds";
  std::vector<testing::Sample> samples = testing::MixedSamples(3);  // jpeg fundus, png oct, raw fundus
  Fixture() { testing::WriteDataset(folder, samples); }
  std::string Shard() const { return folder + "/" + ShardFileName(0); }

  ShardContent Content() const {
    ShardContent c;
    for (const testing::Sample& s : samples) {
      c.metas.push_back(s.meta);
      c.metas.back().crc32c = Crc32c(s.bytes.data(), s.bytes.size());
      c.bytes += s.bytes;
      c.offsets.push_back(c.bytes.size());
    }
    return c;
  }
  // Updates index.json's entry (after `edit`) so that every checksum matches the shard file as it is now.
  void Reseal(uint64_t data_offset, uint64_t data_bytes, const std::function<void(DatasetIndex&)>& edit) const {
    absl::StatusOr<DatasetIndex> index = ReadDatasetIndex(folder);
    ASSERT_TRUE(index.ok()) << index.status();
    ASSERT_TRUE(DescribeShardFile(Shard(), data_offset, data_bytes, &index->shards[0]).ok());
    if (edit) edit(*index);
    ASSERT_TRUE(WriteDatasetIndex(folder, *index).ok());
  }
  // Rewrites the shard from `content`, reseals, opens.
  absl::Status OpenRewritten(const ShardContent& content, const std::function<void(DatasetIndex&)>& edit = nullptr) {
    absl::StatusOr<uint64_t> data_offset = WriteShardFile(Shard(), content, {"fundus", "oct"});
    EXPECT_TRUE(data_offset.ok()) << data_offset.status();
    Reseal(*data_offset, content.bytes.size(), edit);
    return Dataset::Open(folder).status();
  }
  // Edits the shard with h5py (`code` sees the open file as `f`), reseals (keeping /bytes' place), opens.
  absl::Status OpenEditedWithH5py(const std::string& code) {
    absl::StatusOr<DatasetIndex> index = ReadDatasetIndex(folder);
    EXPECT_TRUE(index.ok());
    std::string output;
    EXPECT_EQ(testing::RunPython("import sys, h5py, numpy as np\nwith h5py.File(sys.argv[1], 'r+') as f:\n    " + code,
                                 {Shard()}, &output),
              0)
        << output;
    Reseal(index->shards[0].data_offset, index->shards[0].data_bytes, nullptr);
    return Dataset::Open(folder).status();
  }
};

void ExpectShardError(const absl::Status& s, const std::string& what) {
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find(ShardFileName(0) + ": "), std::string::npos) << s;
  EXPECT_NE(s.message().find(what), std::string::npos) << s;
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s;
}

TEST(ShardMetadata, ResealedUnchangedShardOpens) {
  Fixture f;
  EXPECT_TRUE(f.OpenRewritten(f.Content()).ok());
  EXPECT_TRUE(f.OpenEditedWithH5py("pass").ok());
}

TEST(ShardMetadata, BadPerSampleEntriesAreRefusedNamingTheSample) {
  struct Case {
    std::string what;
    std::function<void(ShardContent&)> change;
  };
  const std::vector<Case> cases = {
      {"/offset decreases at sample 1", [](ShardContent& c) { c.offsets[1] = c.offsets[2] + 1; }},
      {"/offset spans [0, ", [](ShardContent& c) { c.offsets[3] += 5; }},
      {"sample 1: modality code 2 has no name", [](ShardContent& c) { c.metas[1].modality = 2; }},
      {"sample 0: label 3 is not -1 or a class", [](ShardContent& c) { c.metas[0].label = 3; }},
      {"sample 0: label -2 is not -1 or a class", [](ShardContent& c) { c.metas[0].label = -2; }},
      {"sample 1: image size 0x", [](ShardContent& c) { c.metas[1].height = 0; }},
      {"sample 0: image size 65536x65536", [](ShardContent& c) { c.metas[0].height = c.metas[0].width = 65536; }},
      {"sample 0: channels 2", [](ShardContent& c) { c.metas[0].channels = 2; }},
      {"sample 1: codec 9 is unknown", [](ShardContent& c) { c.metas[1].codec = Codec(9); }},
      {"sample 2: raw size", [](ShardContent& c) { c.metas[2].height += 1; }},
      {"dataset /offset has 5 entries, expected 4 (index.json says 3 samples)",
       [](ShardContent& c) {
         c.metas.push_back(c.metas[0]);
         c.offsets.push_back(c.offsets.back());
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Fixture f;
    ShardContent content = f.Content();
    c.change(content);
    ExpectShardError(f.OpenRewritten(content), c.what);
  }
}

TEST(ShardMetadata, ModalityCountsMustMatchTheShard) {
  Fixture f;
  auto swap = [](std::map<std::string, int64_t>& counts) { std::swap(counts["fundus"], counts["oct"]); };
  ExpectShardError(f.OpenRewritten(f.Content(),
                                   [&](DatasetIndex& index) {
                                     swap(index.modality_counts);
                                     swap(index.shards[0].modality_counts);
                                   }),
                   "modality counts differ from index.json");
}

TEST(ShardMetadata, TypesShapesAttributesAndLayoutAreChecked) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"dataset /label is not int32", "d = f['label'][:]; del f['label']; f['label'] = d.astype('f4')"},
      {"dataset /crc32c is not uint32", "d = f['crc32c'][:]; del f['crc32c']; f['crc32c'] = d.astype('i8')"},
      {"dataset /height is not 1-D", "d = f['height'][:]; del f['height']; f['height'] = d.reshape(1, -1)"},
      {"dataset /crc32c is missing", "del f['crc32c']"},
      {"/source_offset decreases at sample 1", "f['source_offset'][1] = f['source_offset'][2] + 1"},
      {"dataset /subject_bytes has ", "d = f['subject_bytes'][:]; del f['subject_bytes']; f['subject_bytes'] = d[:-1]"},
      {"attribute modalities is not a list of up to 256 fixed-length strings",
       "f.attrs['modalities'] = ['fundus', 'oct']"},  // h5py writes str lists as variable-length strings
      {"attribute modalities is missing", "del f.attrs['modalities']"},
      {"modalities attribute differs from index.json", "f.attrs['modalities'] = np.array([b'oct', b'fundus'])"},
      {"format_version 1, index.json says 2", "f.attrs['format_version'] = 1"},
      {"/bytes is not stored contiguously",
       "d = f['bytes'][:]; del f['bytes']; f.create_dataset('bytes', data=d, chunks=(64,), compression='gzip')"},
  };
  for (const auto& [what, code] : cases) {
    SCOPED_TRACE(what);
    Fixture f;
    ExpectShardError(f.OpenEditedWithH5py(code), what);
  }
}

}  // namespace
}  // namespace vfm::data
