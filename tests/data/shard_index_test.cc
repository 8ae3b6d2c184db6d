// index.json as untrusted input: shard names that leave the folder or repeat, keys missing or of the wrong
// type or range (one-line errors naming index.json and the key, never a wrapped huge number), checksums
// that catch an edited shard, and a version-1 dataset refused with what to do.
#include <filesystem>
#include <functional>

#include "data/dataset.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/data/fixtures.h"

namespace vfm::data {
namespace {
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;
namespace fs = std::filesystem;

struct Fixture {
  TempDir dir;
  std::string folder = dir / "ds";
  std::string original;
  Fixture() {
    testing::WriteDataset(folder, testing::MixedSamples(6), 1500);  // a few shards
    original = ReadFile(folder + "/index.json");
  }
  // Rewrites index.json changed by `change` and opens the dataset.
  absl::Status OpenEdited(const std::function<void(nlohmann::json&)>& change) const {
    nlohmann::json j = nlohmann::json::parse(original);
    change(j);
    WriteFile(folder + "/index.json", j.dump(1));
    return Dataset::Open(folder).status();
  }
  std::string Shard(int i) const { return folder + "/" + ShardFileName(i); }
};

// A one-line DataLoss error naming index.json and `key`.
void ExpectKeyError(const absl::Status& s, const std::string& key) {
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("index.json"), std::string::npos) << s;
  EXPECT_NE(s.message().find(key), std::string::npos) << s;
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s;
}

TEST(ShardIndex, ShardNamesMustStayInsideTheFolder) {
  Fixture f;
  ASSERT_GE(nlohmann::json::parse(f.original)["shards"].size(), 2u);
  // A real shard placed outside the folder, with the right size and checksums: still refused.
  fs::copy_file(f.Shard(0), f.dir / "outside.h5");
  fs::create_directories(f.folder + "/sub");
  fs::copy_file(f.Shard(0), f.folder + "/sub/inner.h5");
  for (const std::string& name : std::vector<std::string>{"../outside.h5", f.dir / "outside.h5", "sub/inner.h5", "", ".", ".."}) {
    SCOPED_TRACE(name);
    ExpectKeyError(f.OpenEdited([&](nlohmann::json& j) { j["shards"][0]["file"] = name; }), "shards[0].file");
  }
}

// Makes the totals (samples, modality_counts) agree with the list of shards again.
void Retotal(nlohmann::json& j) {
  int64_t samples = 0;
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& s : j["shards"]) {
    samples += s["samples"].get<int64_t>();
    for (const auto& [name, count] : s["modality_counts"].items())
      counts[name] = counts.value(name, int64_t(0)) + count.get<int64_t>();
  }
  j["samples"] = samples;
  j["modality_counts"] = counts;
}

TEST(ShardIndex, AShardListedTwiceIsRefused) {
  Fixture f;
  absl::Status by_name = f.OpenEdited([](nlohmann::json& j) {
    j["shards"][1] = j["shards"][0];
    Retotal(j);
  });
  ExpectKeyError(by_name, "shards[1].file");
  EXPECT_NE(by_name.message().find("listed twice"), std::string::npos) << by_name;

  // The same file under a second name (a symlink) is the same shard too.
  fs::create_symlink(ShardFileName(0), f.folder + "/alias.h5");
  absl::Status by_link = f.OpenEdited([](nlohmann::json& j) {
    j["shards"][1] = j["shards"][0];
    j["shards"][1]["file"] = "alias.h5";
    Retotal(j);
  });
  EXPECT_EQ(by_link.code(), absl::StatusCode::kDataLoss) << by_link;
  EXPECT_NE(by_link.message().find("alias.h5: the same file as another shard"), std::string::npos) << by_link;
}

TEST(ShardIndex, MalformedJsonAndWrongTypesNameTheKey) {
  Fixture f;
  struct Case {
    std::string key;
    std::function<void(nlohmann::json&)> change;
  };
  const std::vector<Case> cases = {
      {"samples", [](nlohmann::json& j) { j["samples"] = "6"; }},
      {"samples", [](nlohmann::json& j) { j.erase("samples"); }},
      {"labels", [](nlohmann::json& j) { j.erase("labels"); }},
      {"created_by", [](nlohmann::json& j) { j["created_by"] = 3; }},
      {"modalities", [](nlohmann::json& j) { j["modalities"] = "fundus"; }},
      {"modalities[1]", [](nlohmann::json& j) { j["modalities"][1] = nullptr; }},
      {"modality_counts", [](nlohmann::json& j) { j["modality_counts"] = nlohmann::json::array(); }},
      {"shards", [](nlohmann::json& j) { j["shards"] = nlohmann::json::object(); }},
      {"shards", [](nlohmann::json& j) { j["shards"] = nlohmann::json::array(); }},
      {"shards[0]", [](nlohmann::json& j) { j["shards"][0] = 7; }},
      {"shards[0].crc32c", [](nlohmann::json& j) { j["shards"][0]["crc32c"] = -1; }},
      {"shards[0].crc32c", [](nlohmann::json& j) { j["shards"][0]["crc32c"] = uint64_t(1) << 32; }},
      {"shards[0].meta_crc32c", [](nlohmann::json& j) { j["shards"][0]["meta_crc32c"] = 1.5; }},
      {"shards[0].bytes", [](nlohmann::json& j) { j["shards"][0]["bytes"] = uint64_t(1) << 63; }},
      {"shards[0].data_offset", [](nlohmann::json& j) { j["shards"][0].erase("data_offset"); }},
      {"shards[0].synthetic", [](nlohmann::json& j) { j["shards"][0]["synthetic"] = 0; }},
      {"shards[0].synthetic", [](nlohmann::json& j) { j["shards"][0].erase("synthetic"); }},
      {"shards[0].modality_counts.ffa", [](nlohmann::json& j) { j["shards"][0]["modality_counts"]["ffa"] = 1; }},
      {"shards[0].modality_counts", [](nlohmann::json& j) { j["shards"][0]["modality_counts"]["oct"] = 99; }},
      {"format_version", [](nlohmann::json& j) { j["format_version"] = "2"; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key);
    ExpectKeyError(f.OpenEdited(c.change), c.key);
  }
  for (const std::string& text : std::vector<std::string>{"{ not json", "[1, 2]", "", "{\"format_version\": 2, \"x\": \"\xff\"}"}) {
    WriteFile(f.folder + "/index.json", text);
    absl::Status s = Dataset::Open(f.folder).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_NE(s.message().find("index.json"), std::string::npos) << s;
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s;
  }
}

// "modality_stats" is optional (older datasets have none) and checked when present.
TEST(ShardIndex, ModalityStatsAreOptionalAndChecked) {
  Fixture f;
  ASSERT_TRUE(f.OpenEdited([](nlohmann::json& j) { j.erase("modality_stats"); }).ok());
  const nlohmann::json good = {{"images", 3}, {"mean", {0.5, 0.25, 0.125}}, {"std", {0.1, 0.2, 0.3}}};
  ASSERT_TRUE(f.OpenEdited([&](nlohmann::json& j) { j["modality_stats"]["oct"] = good; }).ok());
  auto ds = Dataset::Open(f.folder);
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ((*ds)->index().modality_stats.count("oct"), 1u);
  EXPECT_EQ((*ds)->index().modality_stats.at("oct").mean[2], 0.125);
  EXPECT_EQ((*ds)->index().modality_stats.at("oct").std[1], 0.2);
  EXPECT_EQ((*ds)->index().modality_stats.at("oct").images, 3);
  struct Case {
    std::string key;
    std::function<void(nlohmann::json&)> change;
  };
  const std::vector<Case> cases = {
      {"modality_stats", [](nlohmann::json& j) { j["modality_stats"] = 1; }},
      {"modality_stats.ffa", [&](nlohmann::json& j) { j["modality_stats"]["ffa"] = good; }},
      {"modality_stats.oct.images", [&](nlohmann::json& j) { j["modality_stats"]["oct"] = good; j["modality_stats"]["oct"]["images"] = 0; }},
      {"modality_stats.oct.mean", [&](nlohmann::json& j) { j["modality_stats"]["oct"] = good; j["modality_stats"]["oct"]["mean"] = {0.5}; }},
      {"modality_stats.oct.std[2]", [&](nlohmann::json& j) { j["modality_stats"]["oct"] = good; j["modality_stats"]["oct"]["std"][2] = -0.1; }},
      {"modality_stats.oct.mean[0]", [&](nlohmann::json& j) { j["modality_stats"]["oct"] = good; j["modality_stats"]["oct"]["mean"][0] = "0.5"; }},
      {"modality_stats.oct.std", [&](nlohmann::json& j) { j["modality_stats"]["oct"] = good; j["modality_stats"]["oct"].erase("std"); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key);
    ExpectKeyError(f.OpenEdited(c.change), c.key);
  }
}

TEST(ShardIndex, NegativeCountsAreNamedNeverWrapped) {
  Fixture f;
  for (const char* key : {"samples", "bytes", "data_bytes"}) {
    SCOPED_TRACE(key);
    absl::Status s = f.OpenEdited([&](nlohmann::json& j) { j["shards"][0][key] = -3; });
    ExpectKeyError(s, std::string("shards[0].") + key);
    EXPECT_NE(s.message().find("-3"), std::string::npos) << s;
    EXPECT_EQ(s.message().find("18446744"), std::string::npos) << s;
  }
}

TEST(ShardIndex, ChecksumsCatchAnEditedShard) {
  Fixture f;
  // An edited /label (the per-sample tables lie outside /bytes): caught by the metadata checksum on every open.
  std::string output;
  ASSERT_EQ(testing::RunPython("import h5py, sys\n"
                               "with h5py.File(sys.argv[1], 'r+') as f: f['label'][0] = (f['label'][0] + 1) % 3\n",
                               {f.Shard(0)}, &output),
            0)
      << output;
  absl::Status label = Dataset::Open(f.folder).status();
  EXPECT_EQ(label.code(), absl::StatusCode::kDataLoss) << label;
  EXPECT_NE(label.message().find(ShardFileName(0) + ": metadata crc32c differs"), std::string::npos) << label;

  // A byte of /bytes: found when that sample is read, or at open with verify_shard_checksums.
  Fixture g;
  auto before = Dataset::Open(g.folder);
  ASSERT_TRUE(before.ok()) << before.status();
  std::vector<uint8_t> bytes;
  ASSERT_TRUE((*before)->Read(0, &bytes).ok());
  testing::CorruptSampleBytes(g.folder, bytes);
  auto plain = Dataset::Open(g.folder);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ((*plain)->Read(0, &bytes).code(), absl::StatusCode::kDataLoss);
  absl::Status full = Dataset::Open(g.folder, {.verify_shard_checksums = true}).status();
  EXPECT_EQ(full.code(), absl::StatusCode::kDataLoss) << full;
  EXPECT_NE(full.message().find(ShardFileName(0) + ": file crc32c differs"), std::string::npos) << full;
}

TEST(ShardIndex, AShardThatIsNotARegularFileIsRefused) {
  Fixture f;
  fs::remove(f.Shard(0));
  fs::create_directory(f.Shard(0));
  absl::Status s = Dataset::Open(f.folder).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find(ShardFileName(0) + ": not a regular file"), std::string::npos) << s;
}

TEST(ShardIndex, AVersionOneDatasetIsRefusedWithWhatToDo) {
  Fixture f;
  absl::Status s = f.OpenEdited([](nlohmann::json& j) { j["format_version"] = 1; });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find(f.folder + ": a version-1 dataset"), std::string::npos) << s;
  EXPECT_NE(s.message().find("re-run `vfm shard`"), std::string::npos) << s;
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s;
  absl::Status newer = f.OpenEdited([](nlohmann::json& j) { j["format_version"] = 3; });
  EXPECT_EQ(newer.code(), absl::StatusCode::kFailedPrecondition) << newer;
}

}  // namespace
}  // namespace vfm::data
