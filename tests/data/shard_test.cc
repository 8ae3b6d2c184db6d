// The shard format end to end: converter (folder, CSV, IDX) -> shards + index.json -> reader, the bytes
// coming back unchanged, h5py reading the files, and each kind of bad data giving its documented error.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "data/convert.h"
#include "data/crc32c.h"
#include "data/dataset.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/data/fixtures.h"

namespace vfm::data {
namespace {
using testing::EncodeJpeg;
using testing::EncodePng;
using testing::EncodePng16;
using testing::Pattern;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;
namespace fs = std::filesystem;

TEST(Crc32c, KnownValues) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(Crc32c("", 0), 0u);
  const std::string text = "The quick brown fox jumps over the lazy dog, twice over.";
  EXPECT_EQ(Crc32c(Crc32c(text.data(), 10), text.data() + 10, text.size() - 10), Crc32c(text.data(), text.size()));
}

// fundus/: RGB JPEGs and an RGB PNG; oct/: 8- and 16-bit gray PNGs, a truncated JPEG; a stray text file.
struct FolderFixture {
  TempDir dir;
  std::string root = dir / "images";
  std::map<std::string, std::string> good;  // path -> bytes
  FolderFixture() {
    for (int i = 0; i < 6; ++i) Add("fundus/eye" + std::to_string(i) + ".jpg", EncodeJpeg(Pattern(60 + i, 80, 3, i)));
    Add("fundus/scan.PNG", EncodePng(Pattern(33, 47, 3, 7)));
    Add("oct/b8.png", EncodePng(Pattern(40, 30, 1, 3)));
    std::vector<uint16_t> v(20 * 10);
    for (size_t i = 0; i < v.size(); ++i) v[i] = uint16_t(i * 300);
    Add("oct/b16.png", EncodePng16(20, 10, v));
    WriteFile(root + "/oct/broken.jpg", ReadFile(testing::SkimageFile("truncated.jpg")));
    WriteFile(root + "/oct/notes.txt", "not an image");
    WriteFile(root + "/loose.jpg", EncodeJpeg(Pattern(8, 8, 3)));
  }
  void Add(const std::string& rel, const std::string& bytes) {
    WriteFile(root + "/" + rel, bytes);
    good[root + "/" + rel] = bytes;
  }
};

ConvertOptions Options(const std::string& output, int64_t shard_bytes = 1 << 30) {
  ConvertOptions o;
  o.output = output;
  o.target_shard_bytes = shard_bytes;
  o.threads = 2;
  return o;
}

TEST(ShardConvert, FolderRoundTripsBytesAndMetadata) {
  FolderFixture f;
  const std::string out = f.dir / "ds";
  absl::StatusOr<ConvertReport> report = ConvertFolder(f.root, Options(out, 4000));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->index.samples, int64_t(f.good.size()));
  EXPECT_GT(report->index.shards.size(), 1u);  // small target size: several shards
  EXPECT_EQ(report->index.modalities, (std::vector<std::string>{"fundus", "oct"}));
  EXPECT_EQ(report->index.modality_counts.at("fundus"), 7);
  EXPECT_EQ(report->index.modality_counts.at("oct"), 2);
  std::map<std::string, std::string> rejected;
  for (const Rejected& r : report->rejected) rejected[fs::path(r.input).filename().string()] = r.reason;
  EXPECT_EQ(rejected.size(), 3u);
  EXPECT_TRUE(rejected.count("broken.jpg"));
  EXPECT_TRUE(rejected.count("notes.txt"));
  EXPECT_TRUE(rejected.count("loose.jpg"));  // no modality folder and no --modality
  for (const auto& entry : fs::directory_iterator(out))
    EXPECT_EQ(entry.path().extension(), entry.path().filename() == "index.json" ? ".json" : ".h5");

  absl::StatusOr<std::unique_ptr<Dataset>> ds = Dataset::Open(out, {.verify_shard_checksums = true});
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ((*ds)->size(), int64_t(f.good.size()));
  std::vector<uint8_t> bytes;
  for (int64_t id = 0; id < (*ds)->size(); ++id) {
    SampleMeta m = (*ds)->meta(id);
    ASSERT_TRUE((*ds)->Read(id, &bytes).ok());
    ASSERT_TRUE(f.good.count(m.source)) << m.source;
    EXPECT_EQ(std::string(bytes.begin(), bytes.end()), f.good[m.source]) << m.source;
    const bool oct = m.source.find("/oct/") != std::string::npos;
    EXPECT_EQ((*ds)->index().modalities[m.modality], oct ? "oct" : "fundus");
    EXPECT_EQ(m.channels, oct ? 1 : 3);
    EXPECT_EQ(m.label, -1);
    if (m.source.find("b16.png") != std::string::npos) {
      EXPECT_EQ(m.height * 100 + m.width, 2010u);
    }
    if (m.source.find("eye3.jpg") != std::string::npos) {
      EXPECT_EQ(m.height * 100 + m.width, 6380u);
    }
  }
}

TEST(ShardFormat, ManyThreadsReadAtOnce) {
  TempDir dir;
  const std::string root = "/usr/share/datasets/fashion-mnist/";
  ConvertOptions o = Options(dir / "ds", 1 << 20);
  ASSERT_TRUE(ConvertIdx(root + "t10k-images-idx3-ubyte.gz", root + "t10k-labels-idx1-ubyte.gz", o).ok());
  auto ds = Dataset::Open(dir / "ds");
  ASSERT_TRUE(ds.ok());
  const Dataset& dataset = **ds;
  std::vector<uint32_t> serial(size_t(dataset.size())), parallel(serial.size());
  std::vector<uint8_t> bytes;
  for (int64_t id = 0; id < dataset.size(); ++id) {
    ASSERT_TRUE(dataset.Read(id, &bytes).ok());
    serial[size_t(id)] = Crc32c(bytes.data(), bytes.size()) ^ uint32_t(bytes.size());
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<uint8_t> mine;
      for (int64_t id = t; id < dataset.size(); id += 4) {
        if (!dataset.Read(id, &mine).ok()) ++failures;
        parallel[size_t(id)] = Crc32c(mine.data(), mine.size()) ^ uint32_t(mine.size());
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(serial, parallel);
}

TEST(ShardConvert, FolderLabelsAndModalityFlag) {
  TempDir dir;
  WriteFile(dir / "in/cat/a.png", EncodePng(Pattern(9, 9, 1)));
  WriteFile(dir / "in/dog/b.png", EncodePng(Pattern(9, 9, 1, 1)));
  WriteFile(dir / "in/dog/c.png", EncodePng(Pattern(9, 9, 1, 2)));
  ConvertOptions o = Options(dir / "ds");
  o.modality = "pets";
  o.folder_labels = true;
  absl::StatusOr<ConvertReport> report = ConvertFolder(dir / "in", o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->index.labels, (std::vector<std::string>{"cat", "dog"}));
  auto ds = Dataset::Open(dir / "ds");
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ((*ds)->label(0), 0);
  EXPECT_EQ((*ds)->label(2), 1);
  EXPECT_EQ((*ds)->index().modalities, (std::vector<std::string>{"pets"}));
}

TEST(ShardConvert, CsvListWithLabelsSubjectsAndSyntheticTag) {
  TempDir dir;
  WriteFile(dir / "img/a.jpg", EncodeJpeg(Pattern(20, 20, 3)));
  WriteFile(dir / "img/b.png", EncodePng(Pattern(20, 20, 1)));
  WriteFile(dir / "img/c.jpg", EncodeJpeg(Pattern(20, 20, 3, 5)));
  WriteFile(dir / "list.csv",
            "path,modality,label,subject,synthetic\n"
            "img/a.jpg,fundus,3,patient-1\n"
            "img/b.png,oct,,patient-2\n"
            "img/c.jpg,fundus,1,,1\n"
            "img/missing.jpg,fundus,0,p\n"
            "img/a.jpg,fundus,notanumber,p\n");
  absl::StatusOr<ConvertReport> report = ConvertCsv(dir / "list.csv", Options(dir / "ds"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->index.samples, 3);
  ASSERT_EQ(report->rejected.size(), 2u);
  EXPECT_NE(report->rejected[0].input.find("list.csv:6"), std::string::npos);  // parse errors come first
  EXPECT_NE(report->rejected[1].input.find("missing.jpg"), std::string::npos);
  auto ds = Dataset::Open(dir / "ds");
  ASSERT_TRUE(ds.ok()) << ds.status();
  int synthetic = 0;
  for (int64_t id = 0; id < (*ds)->size(); ++id) {
    SampleMeta m = (*ds)->meta(id);
    synthetic += (*ds)->synthetic(id);
    if (m.source.find("a.jpg") != std::string::npos) {
      EXPECT_EQ(m.label, 3);
      EXPECT_EQ(m.subject, "patient-1");
    }
    if (m.source.find("b.png") != std::string::npos) {
      EXPECT_EQ(m.label, -1);
    }
    if (m.source.find("c.jpg") != std::string::npos) {
      EXPECT_TRUE((*ds)->synthetic(id));
    }
  }
  EXPECT_EQ(synthetic, 1);
}

TEST(ShardConvert, IdxFashionMnist) {
  TempDir dir;
  const std::string root = "/usr/share/datasets/fashion-mnist/";
  ConvertOptions o = Options(dir / "ds", 2 << 20);
  o.modality = "fashion";
  absl::StatusOr<ConvertReport> report =
      ConvertIdx(root + "t10k-images-idx3-ubyte.gz", root + "t10k-labels-idx1-ubyte.gz", o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->index.samples, 10000);
  EXPECT_EQ(report->index.shards.size(), 4u);  // 7.84 MB in 2 MiB shards
  auto ds = Dataset::Open(dir / "ds");
  ASSERT_TRUE(ds.ok()) << ds.status();
  std::map<int, int> per_label;
  std::vector<uint8_t> bytes;
  for (int64_t id = 0; id < (*ds)->size(); ++id) {
    ++per_label[(*ds)->label(id)];
    ASSERT_TRUE((*ds)->Read(id, &bytes).ok());
    ASSERT_EQ(bytes.size(), 784u);
  }
  EXPECT_EQ(per_label.size(), 10u);
  for (auto [label, count] : per_label) EXPECT_EQ(count, 1000) << label;  // the test set is balanced
  SampleMeta m = (*ds)->meta(0);
  EXPECT_EQ(m.codec, Codec::kRaw);
  EXPECT_EQ(m.source, "t10k-images-idx3-ubyte.gz#0");
  EXPECT_EQ(m.label, 9);  // the first test image is an ankle boot
}

TEST(ShardConvert, RefusesToOverwriteADataset) {
  FolderFixture f;
  ASSERT_TRUE(ConvertFolder(f.root, Options(f.dir / "ds")).ok());
  EXPECT_EQ(ConvertFolder(f.root, Options(f.dir / "ds")).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST(ShardFormat, ReadableByH5py) {
  FolderFixture f;
  const std::string out = f.dir / "ds";
  ASSERT_TRUE(ConvertFolder(f.root, Options(out, 4000)).ok());
  const std::string script = R"PY(
import json, sys, io
import h5py, numpy as np
from PIL import Image
folder = sys.argv[1]
index = json.load(open(folder + "/index.json"))
seen = 0
for entry in index["shards"]:
    with h5py.File(folder + "/" + entry["file"], "r") as f:
        n = entry["samples"]
        assert f.attrs["format_version"] == 2
        mods = [m.decode() for m in f.attrs["modalities"]]
        assert mods == index["modalities"], mods
        # No variable-length strings anywhere (libhdf5 crashes on a damaged global heap).
        for name, value in list(f.items()) + list(f.attrs.items()):
            dtype = value.dtype
            info = h5py.check_string_dtype(dtype)
            assert dtype.kind != "O" and (info is None or info.length is not None), name
        assert f["bytes"].dtype == np.uint8 and f["bytes"].chunks is None and f["bytes"].compression is None
        assert f["bytes"].id.get_offset() == entry["data_offset"] and f["bytes"].shape[0] == entry["data_bytes"]
        off = f["offset"][:]
        assert off.dtype == np.uint64 and len(off) == n + 1 and off[-1] == f["bytes"].shape[0]
        for name, dt in [("modality", np.uint8), ("label", np.int32), ("height", np.uint32),
                         ("width", np.uint32), ("channels", np.uint8), ("codec", np.uint8), ("crc32c", np.uint32),
                         ("source_offset", np.uint64), ("subject_offset", np.uint64)]:
            assert f[name].dtype == dt and f[name].shape == (n + 1 if name.endswith("_offset") else n,), name
        data = f["bytes"][:]
        sources, source_off = f["source_bytes"][:].tobytes(), f["source_offset"][:]
        for i in range(n):
            source = sources[source_off[i]:source_off[i + 1]].decode()
            blob = data[off[i]:off[i + 1]].tobytes()
            assert blob == open(source, "rb").read(), source
            im = Image.open(io.BytesIO(blob))
            assert im.size == (f["width"][i], f["height"][i]), (source, im.size)
            seen += 1
assert seen == index["samples"]
print("ok", seen)
)PY";
  std::string output;
  EXPECT_EQ(testing::RunPython(script, {out}, &output), 0) << output;
  EXPECT_NE(output.find("ok 9"), std::string::npos) << output;
}

// --- Bad data: each gives its documented behaviour (dataset.h). ---

struct SmallDataset {
  FolderFixture f;
  std::string out = f.dir / "ds";
  SmallDataset() {
    absl::StatusOr<ConvertReport> r = ConvertFolder(f.root, Options(out, 4000));
    if (!r.ok()) throw std::runtime_error(std::string(r.status().message()));
  }
  std::string Shard(int i) const { return out + "/" + ShardFileName(i); }
};

TEST(ShardBadData, CorruptSampleBytesAreReportedAndOthersStillRead) {
  SmallDataset d;
  auto before = Dataset::Open(d.out);
  ASSERT_TRUE(before.ok());
  // Flip a byte in the middle of sample 0's bytes (found through h5py-independent means: its bytes are
  // unique in the file).
  std::string shard = ReadFile(d.Shard(0));
  std::vector<uint8_t> sample0;
  ASSERT_TRUE((*before)->Read(0, &sample0).ok());
  size_t at = shard.find(std::string(sample0.begin(), sample0.end()));
  ASSERT_NE(at, std::string::npos);
  shard[at + sample0.size() / 2] ^= 0x5A;
  WriteFile(d.Shard(0), shard);

  auto ds = Dataset::Open(d.out);
  ASSERT_TRUE(ds.ok()) << ds.status();  // sizes still agree; the damage shows on reading
  std::vector<uint8_t> bytes;
  absl::Status s = (*ds)->Read(0, &bytes);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("shard-00000.h5 sample 0"), std::string::npos) << s;
  EXPECT_NE(s.message().find((*ds)->meta(0).source), std::string::npos) << s;
  EXPECT_NE(s.message().find("crc32c"), std::string::npos) << s;
  for (int64_t id = 1; id < (*ds)->size(); ++id) EXPECT_TRUE((*ds)->Read(id, &bytes).ok()) << id;
  // A full checksum pass notices the shard no longer matches index.json.
  EXPECT_EQ(Dataset::Open(d.out, {.verify_shard_checksums = true}).status().code(), absl::StatusCode::kDataLoss);
}

TEST(ShardBadData, TruncatedShardFailsOpenNamingIt) {
  SmallDataset d;
  fs::resize_file(d.Shard(1), fs::file_size(d.Shard(1)) - 100);
  absl::Status s = Dataset::Open(d.out).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("shard-00001.h5"), std::string::npos) << s;
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s;
}

TEST(ShardBadData, MissingShardFailsOpenNamingIt) {
  SmallDataset d;
  fs::remove(d.Shard(1));
  absl::Status s = Dataset::Open(d.out).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("shard-00001.h5"), std::string::npos) << s;
  EXPECT_NE(s.message().find("missing"), std::string::npos) << s;
}

TEST(ShardBadData, IndexDisagreeingWithShardsFailsOpen) {
  SmallDataset d;
  const std::string original = ReadFile(d.out + "/index.json");
  auto edit = [&](auto change) {
    nlohmann::json j = nlohmann::json::parse(original);
    change(j);
    WriteFile(d.out + "/index.json", j.dump());
    return Dataset::Open(d.out).status();
  };
  absl::Status count = edit([](nlohmann::json& j) { j["shards"][0]["samples"] = j["shards"][0]["samples"].get<int>() + 1; });
  EXPECT_EQ(count.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(count.message().find("shards[0]"), std::string::npos) << count;
  absl::Status total = edit([](nlohmann::json& j) { j["samples"] = 1000; });
  EXPECT_EQ(total.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(total.message().find("1000"), std::string::npos) << total;
  absl::Status size = edit([](nlohmann::json& j) { j["shards"][1]["bytes"] = 12; });
  EXPECT_EQ(size.code(), absl::StatusCode::kDataLoss);
  absl::Status names = edit([](nlohmann::json& j) { j["modalities"][0] = "ffa"; });
  EXPECT_EQ(names.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(names.message().find("modalities"), std::string::npos) << names;
  WriteFile(d.out + "/index.json", "{ not json");
  EXPECT_EQ(Dataset::Open(d.out).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace vfm::data
