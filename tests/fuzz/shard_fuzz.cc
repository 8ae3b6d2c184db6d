// libFuzzer: a shard file (data/dataset.h) from arbitrary bytes, with an index.json that matches its size
// and checksum, so that every input reaches libhdf5 and the reader's checks of what it read: open the
// dataset, then read (and crc-check) every sample.
#include <cstdint>
#include <vector>

#include "data/crc32c.h"
#include "data/dataset.h"
#include "data/dataset_index.h"
#include "data/shard_format.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vfm::data;
  const std::string& dir = vfm::fuzz::ScratchDir();
  vfm::fuzz::WriteFile(dir + "/" + ShardFileName(0), data, size);
  DatasetIndex index;
  index.format_version = kFormatVersion;
  index.modalities = {"fundus", "oct"};
  ShardEntry shard;
  shard.file = ShardFileName(0);
  shard.samples = 4;  // the seed shards' count: other counts are refused before the samples are read
  shard.bytes = int64_t(size);
  shard.crc32c = Crc32c(data, size);
  index.shards = {shard};
  index.samples = shard.samples;
  if (!WriteDatasetIndex(dir, index).ok()) return 0;
  auto dataset = Dataset::Open(dir);
  if (!dataset.ok()) return 0;
  std::vector<uint8_t> bytes;
  for (int64_t id = 0; id < (*dataset)->size() && id < 64; ++id) (void)(*dataset)->Read(id, &bytes);
  return 0;
}
