// libFuzzer: a shard file (data/dataset.h) from arbitrary bytes, with an index.json entry that matches it
// (size, whole-file and metadata checksums), so that every input reaches libhdf5 and the reader's checks of
// what it read: open the dataset, then read (and crc-check) every sample. The input is the shard's data range
// (two little-endian uint64: offset, bytes; run.sh prefixes the seed shard with its own) and then the file.
#include <cstdint>
#include <cstring>
#include <vector>

#include "data/dataset.h"
#include "data/dataset_index.h"
#include "data/shard_format.h"
#include "data/shard_writer.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vfm::data;
  uint64_t range[2];
  if (size < sizeof(range)) return 0;
  std::memcpy(range, data, sizeof(range));
  const std::string& dir = vfm::fuzz::ScratchDir();
  vfm::fuzz::WriteFile(dir + "/" + ShardFileName(0), data + sizeof(range), size - sizeof(range));
  DatasetIndex index;
  index.format_version = kFormatVersion;
  index.modalities = {"fundus", "oct"};
  ShardEntry shard;
  shard.file = ShardFileName(0);
  shard.samples = 4;  // the seed shards' count: other counts are refused before the samples are read
  if (!DescribeShardFile(dir + "/" + ShardFileName(0), range[0], range[1], &shard).ok()) return 0;
  index.shards = {shard};
  index.samples = shard.samples;
  if (!WriteDatasetIndex(dir, index).ok()) return 0;
  auto dataset = Dataset::Open(dir);
  if (!dataset.ok()) return 0;
  std::vector<uint8_t> bytes;
  for (int64_t id = 0; id < (*dataset)->size() && id < 64; ++id) (void)(*dataset)->Read(id, &bytes);
  return 0;
}
