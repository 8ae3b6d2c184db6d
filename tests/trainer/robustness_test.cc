// Bad input files, in process: hand-made bad safetensors files, and seeded bit flips of a valid
// safetensors file and of a small checkpoint. Every load ends in a clear absl error naming the file, or
// loads exactly what the bytes hold — never a crash, an exception, a hang or a huge allocation. And a
// write that fails midway (the file size limit standing in for a full disk) names the file and errno's
// text and leaves no temporary behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "autograd/safetensors.h"
#include "nlohmann/json.hpp"
#include "trainer/checkpoint.h"

namespace vfm {
namespace {

namespace fs = std::filesystem;

std::string ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

// A safetensors file: the 8-byte header length, the header, the data.
std::string Safetensors(const std::string& header, size_t data_bytes) {
  const uint64_t n = header.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + header + std::string(data_bytes, '\x01');
}

class RobustnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vfm_robustness_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

// What a loaded file must hold, read independently from its bytes: each tensor's dtype, shape and bytes
// at its offsets, and the metadata.
void ExpectHoldsWhatTheBytesSay(const std::string& bytes, const SafetensorsFile& file, const std::string& what) {
  const std::map<std::string, DType> kDTypes = {{"F32", DType::kF32}, {"F64", DType::kF64}, {"BF16", DType::kBF16},
                                                {"I32", DType::kI32}, {"I64", DType::kI64}, {"U8", DType::kU8}};
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  const nlohmann::json header = nlohmann::json::parse(bytes.substr(8, n));
  size_t tensors = 0;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      using Metadata = std::map<std::string, std::string>;
      EXPECT_EQ(entry.get<Metadata>(), file.metadata) << what;
      continue;
    }
    ++tensors;
    ASSERT_EQ(file.tensors.count(name), 1u) << what << ": " << name;
    const Tensor& t = file.tensors.at(name);
    EXPECT_EQ(int(t.dtype()), int(kDTypes.at(entry["dtype"].get<std::string>()))) << what;
    EXPECT_EQ(t.shape(), entry["shape"].get<Shape>()) << what;
    const uint64_t begin = entry["data_offsets"][0];
    EXPECT_EQ(std::string(static_cast<const char*>(t.raw_data()), t.nbytes()), bytes.substr(8 + n + begin, t.nbytes()))
        << what << ": " << name;
  }
  EXPECT_EQ(tensors, file.tensors.size()) << what;
}

TEST_F(RobustnessTest, BadSafetensorsFilesAreRefusedNamingTheFileAndTheTensor) {
  const std::string f32x4 = R"("dtype": "F32", "shape": [4], "data_offsets": [0, 16])";
  auto tensor = [](const std::string& body) { return "{\"t\": {" + body + "}}"; };
  uint64_t huge = ~uint64_t{0};
  struct Case {
    std::string name, bytes, message;
  };
  const std::vector<Case> cases = {
      {"empty", "", "not a safetensors file (0 bytes)"},
      {"shorter than the header length", std::string("\x10\x00", 2), "not a safetensors file (2 bytes)"},
      {"header length beyond the file", Safetensors("{}", 0).replace(0, 1, "\x40"), "header length 64, file size 10"},
      {"header length 2^64 - 1", std::string(reinterpret_cast<const char*>(&huge), 8) + "{}",
       "header length 18446744073709551615"},
      {"malformed JSON", Safetensors("{\"t\": {", 0), "the header is not valid UTF-8 JSON (at byte"},
      {"not UTF-8", Safetensors("{\"t\xff\": {}}", 0), "the header is not valid UTF-8 JSON"},
      {"a JSON array", Safetensors("[1, 2]", 0), "the header is not a JSON object"},
      {"an entry that is not an object", Safetensors("{\"t\": 5}", 0), "tensor \"t\" is not a JSON object"},
      {"no dtype", Safetensors(tensor(R"("shape": [4], "data_offsets": [0, 16])"), 16), "tensor \"t\" has no dtype"},
      {"a dtype that is a number", Safetensors(tensor(R"("dtype": 5, "shape": [4], "data_offsets": [0, 16])"), 16),
       "tensor \"t\" has no dtype"},
      {"unknown dtype", Safetensors(tensor(R"("dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4])"), 4),
       "tensor \"t\" has the unsupported dtype \"F8_E4M3\""},
      {"no shape", Safetensors(tensor(R"("dtype": "F32", "data_offsets": [0, 16])"), 16), "tensor \"t\" has no shape"},
      {"a shape of reals", Safetensors(tensor(R"("dtype": "F32", "shape": [2.5], "data_offsets": [0, 16])"), 16),
       "not a list of integers"},
      {"a negative dimension", Safetensors(tensor(R"("dtype": "F32", "shape": [-1, 4], "data_offsets": [0, 16])"), 16),
       "tensor \"t\" has a negative dimension in its shape [-1,4]"},
      {"a huge dimension",
       Safetensors(tensor(R"("dtype": "F32", "shape": [1000000000000000000], "data_offsets": [0, 16])"), 16),
       "tensor \"t\" has data_offsets [0,16] that do not hold its shape [1000000000000000000]"},
      {"a shape product that overflows",
       Safetensors(tensor(R"("dtype": "U8", "shape": [4294967296, 4294967296], "data_offsets": [0, 16])"), 16),
       "whose product overflows"},
      {"an overflowing shape with a zero",
       Safetensors(tensor(R"("dtype": "U8", "shape": [0, 4611686018427387904, 4], "data_offsets": [0, 0])"), 0),
       "whose product overflows"},
      {"no data offsets", Safetensors(tensor(R"("dtype": "F32", "shape": [4])"), 16), "has no data_offsets"},
      {"negative data offsets", Safetensors(tensor(R"("dtype": "F32", "shape": [4], "data_offsets": [-16, 0])"), 16),
       "has no data_offsets"},
      {"data offsets beyond the file", Safetensors(tensor(f32x4), 8),
       "tensor \"t\" has data_offsets [0,16] beyond the 8 bytes of data"},
      {"data offsets past 2^63", Safetensors(tensor(R"("dtype": "F32", "shape": [4], "data_offsets": [18446744073709551600, 0])"), 16),
       "that end before they begin"},
      {"data offsets that do not hold the shape",
       Safetensors(tensor(R"("dtype": "F32", "shape": [4], "data_offsets": [0, 12])"), 12), "do not hold its shape"},
      {"overlapping tensors",
       Safetensors(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                       "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})", 24),
       "tensor \"b\"'s data [8, 24) overlaps tensor \"a\"'s"},
      {"a gap between tensors",
       Safetensors(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                       "b": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}})", 24),
       "tensor \"b\"'s data [16, 24) leaves a gap after byte 8"},
      {"bytes after the last tensor", Safetensors(tensor(f32x4), 20), "4 bytes after the last tensor's data"},
      {"a duplicate tensor name",
       Safetensors(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                       "a": {"dtype": "F32", "shape": [4], "data_offsets": [16, 32]}})", 32),
       "leaves a gap after byte 0"},
      {"metadata that is not an object", Safetensors(R"({"__metadata__": 5})", 0), "__metadata__ is not a JSON object"},
      {"metadata that is not strings", Safetensors(R"({"__metadata__": {"step": 5}})", 0),
       "__metadata__ entry \"step\" is not a string"},
  };
  for (const Case& c : cases) {
    const std::string path = dir_ + "/bad.safetensors";
    WriteBytes(path, c.bytes);
    auto file = LoadSafetensors(path);
    ASSERT_FALSE(file.ok()) << c.name;
    EXPECT_EQ(file.status().code(), absl::StatusCode::kDataLoss) << c.name;
    EXPECT_NE(file.status().message().find(path + ": "), std::string_view::npos) << c.name << ": " << file.status();
    EXPECT_NE(file.status().message().find(c.message), std::string_view::npos) << c.name << ": " << file.status();
    EXPECT_EQ(file.status().message().find('\n'), std::string_view::npos) << c.name;
  }
  // A header length past the format's 100 MB is refused before anything is read (a sparse file).
  const std::string big = dir_ + "/big.safetensors";
  WriteBytes(big, Safetensors("{}", 0).replace(0, 8, std::string("\x00\xe2\x04\x06\x00\x00\x00\x00", 8)));
  fs::resize_file(big, 110'000'000);
  auto file = LoadSafetensors(big);
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("header length 100983296, file size 110000000"), std::string_view::npos) << file.status();
  EXPECT_FALSE(LoadSafetensors(dir_ + "/none.safetensors").ok());
  EXPECT_FALSE(LoadSafetensors(dir_).ok());  // a folder
}

TEST_F(RobustnessTest, BitFlipsOfASafetensorsFileAreRefusedOrLoadWhatTheBytesSay) {
  const std::string path = dir_ + "/valid.safetensors";
  Tensor ids = Tensor::Empty({3}, DType::kI64);
  for (int i = 0; i < 3; ++i) ids.data<int64_t>()[i] = 1000 + i;
  ASSERT_TRUE(SaveSafetensors(path, {{"a.weight", Tensor::Randn({2, 3}, 1)}, {"b.ids", ids},
                                     {"c.half", Tensor::Randn({5}, 2).To(DType::kBF16)}},
                              {{"format", "pt"}, {"step", "12"}})
                  .ok());
  const std::string original = ReadBytes(path);
  uint64_t n;
  std::memcpy(&n, original.data(), 8);
  // Every bit of the header length and of the header, and seeded bits of the data.
  std::vector<std::pair<size_t, int>> flips;
  for (size_t byte = 0; byte < 8 + n; ++byte)
    for (int bit = 0; bit < 8; ++bit) flips.push_back({byte, bit});
  std::mt19937_64 rng(20240611);
  for (int i = 0; i < 200; ++i) flips.push_back({8 + n + rng() % (original.size() - 8 - n), int(rng() % 8)});
  int refused[3] = {0, 0, 0}, loaded[3] = {0, 0, 0};  // header length, JSON header, data
  for (const auto& [byte, bit] : flips) {
    std::string bytes = original;
    bytes[byte] = char(bytes[byte] ^ (1 << bit));
    WriteBytes(path, bytes);
    const int where = byte < 8 ? 0 : byte < 8 + n ? 1 : 2;
    const std::string what = "bit " + std::to_string(bit) + " of byte " + std::to_string(byte);
    auto file = LoadSafetensors(path);
    if (!file.ok()) {
      ++refused[where];
      EXPECT_NE(file.status().message().find(path), std::string_view::npos) << what << ": " << file.status();
      continue;
    }
    ++loaded[where];
    ExpectHoldsWhatTheBytesSay(bytes, *file, what);
  }
  std::printf("safetensors bit flips refused / loaded as the bytes say: header length %d/%d, header %d/%d, data %d/%d\n",
              refused[0], loaded[0], refused[1], loaded[1], refused[2], loaded[2]);
  EXPECT_EQ(loaded[0], 0);   // any other length misplaces the data
  EXPECT_EQ(refused[2], 0);  // safetensors has no checksum: a data flip is that tensor's new value
}

// A model config no ViT has (a hand-edited state.json with its checksum redone) is refused before it sizes a
// tensor or divides by the patch size; the config of a real model is accepted.
TEST(ModelConfigFromJsonTest, ImpossibleConfigsAreRefused) {
  ModelConfig config;
  config.vit.dim = 192, config.vit.heads = 3, config.vit.patch = 7, config.vit.img_size = 28, config.vit.depth = 2;
  const nlohmann::json good = ModelConfigToJson(config);
  ASSERT_TRUE(ModelConfigFromJson(good).ok());
  for (const auto& [field, value] : std::vector<std::pair<std::string, int>>{
           {"patch", 0}, {"heads", 5}, {"heads", 0}, {"dim", -192}, {"img_size", 30}, {"depth", 0}, {"in_chans", 0},
           {"out_dim", 0}, {"head_hidden", -1}, {"head_bottleneck", 0}}) {
    nlohmann::json bad = good;
    bad[field] = value;
    const auto loaded = ModelConfigFromJson(bad);
    EXPECT_FALSE(loaded.ok()) << field << " " << value;
    EXPECT_NE(loaded.status().message().find("bad model config"), std::string::npos) << loaded.status();
  }
}

// A checkpoint of a tiny model with optimizer state and centres, and its bytes flipped one bit at a time:
// the checksums catch every flip, so each load must fail cleanly (or, were a flip harmless, load the same).
TEST_F(RobustnessTest, BitFlipsOfACheckpointAreRefused) {
  ModelConfig config;
  config.vit.dim = 8, config.vit.depth = 1, config.vit.heads = 2, config.vit.patch = 4, config.vit.img_size = 8;
  config.head.hidden = 8, config.head.bottleneck = 4, config.head.out_dim = 6;
  nn::IBotNetwork student(config.vit, config.head, 1), teacher(config.vit, config.head, 2);
  AdamW::States optimizer;  // the whole state by name, as a checkpoint holds it
  uint64_t seed = 3;
  for (const auto& [name, p] : student.NamedParameters())
    optimizer[name] = AdamW::State{Tensor::Randn(p.shape(), seed), Tensor::Randn(p.shape(), seed + 1), 7}, seed += 2;
  IBotLoss loss(config.head.out_dim, 2, 0);
  loss.center.CopyFrom(Tensor::Randn(loss.center.shape(), 100));
  TrainingState state;
  state.step = 7;
  state.model = ModelConfigToJson(config);
  ASSERT_TRUE(SaveCheckpoint(dir_, {&student, &teacher, &optimizer, &loss}, state, 1).ok());
  const std::string ckpt = dir_ + "/ckpt-00000007";

  // Loads the checkpoint both ways it is read (eval/export/inspect, and resume) and compares with the saved.
  auto load_and_compare = [&](const std::string& what) -> std::string {
    auto nets = LoadNetworks(ckpt);
    if (!nets.ok()) return std::string(nets.status().message());
    nn::IBotNetwork s2(config.vit, config.head, 9), t2(config.vit, config.head, 9);
    AdamW::States o2;
    IBotLoss l2(config.head.out_dim, 2, 0);
    TrainingState st2;
    if (absl::Status s = LoadCheckpoint(ckpt, {&s2, &t2, &o2, &l2}, &st2); !s.ok()) return std::string(s.message());
    auto params = [](const nn::Module& m) {
      std::vector<std::vector<float>> v;
      for (const auto& [name, p] : m.NamedParameters()) v.push_back(p.ToVector());
      return v;
    };
    EXPECT_EQ(params(*nets->student), params(student)) << what;
    EXPECT_EQ(params(t2), params(teacher)) << what;
    EXPECT_EQ(l2.center.ToVector(), loss.center.ToVector()) << what;
    EXPECT_EQ(st2.step, 7) << what;
    EXPECT_EQ(o2.size(), optimizer.size()) << what;
    for (auto& [name, s] : o2) EXPECT_EQ(s.m.ToVector(), optimizer.at(name).m.ToVector()) << what;
    return "";
  };
  ASSERT_EQ(load_and_compare("the saved checkpoint"), "");

  std::mt19937_64 rng(7);
  int files = 0, refused = 0, loaded = 0;
  for (const auto& entry : fs::directory_iterator(ckpt)) {
    const std::string path = entry.path().string(), original = ReadBytes(path);
    ++files;
    // Safetensors: all 8 length bytes, then seeded positions in the header and in the data; JSON files:
    // seeded positions anywhere. 400 flips per file.
    uint64_t n = 0;
    const bool safetensors = path.size() > 12 && path.substr(path.size() - 12) == ".safetensors";
    if (safetensors) std::memcpy(&n, original.data(), 8);
    std::vector<size_t> positions;
    if (safetensors)
      for (size_t i = 0; i < 8; ++i) positions.push_back(i);
    while (positions.size() < 400) {
      const size_t header = safetensors ? 8 + n : original.size();
      positions.push_back(positions.size() % 2 || header == original.size() ? rng() % header
                                                                             : header + rng() % (original.size() - header));
    }
    for (size_t byte : positions) {
      std::string bytes = original;
      const int bit = int(rng() % 8);
      bytes[byte] = char(bytes[byte] ^ (1 << bit));
      WriteBytes(path, bytes);
      const std::string what = path + ": bit " + std::to_string(bit) + " of byte " + std::to_string(byte);
      const std::string error = load_and_compare(what);
      if (error.empty()) {
        ++loaded;
      } else {
        ++refused;
        EXPECT_NE(error.find(ckpt), std::string::npos) << what << ": " << error;
      }
    }
    WriteBytes(path, original);
  }
  std::printf("checkpoint bit flips: %d refused, %d loaded unchanged\n", refused, loaded);
  EXPECT_EQ(files, 6);  // student, teacher, optimizer, loss, state.json, MANIFEST.json
  EXPECT_EQ(refused + loaded, files * 400);
}

// RLIMIT_FSIZE makes a write fail midway with EFBIG, as a full disk does with ENOSPC.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    signal(SIGXFSZ, SIG_IGN);  // the write returns EFBIG instead of the signal ending the process
    getrlimit(RLIMIT_FSIZE, &saved_);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() { setrlimit(RLIMIT_FSIZE, &saved_); }

 private:
  rlimit saved_;
};

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST_F(RobustnessTest, AFailedWriteNamesTheFileAndErrnoAndLeavesNoTemporary) {
  const std::string path = dir_ + "/x.safetensors";
  ASSERT_TRUE(SaveSafetensors(path, {{"small", Tensor::Zeros({4})}}).ok());
  const std::string before = ReadBytes(path);
  const std::string too_large = std::strerror(EFBIG);
  {
    FileSizeLimit limit(4096);
    const absl::Status s = SaveSafetensors(path, {{"big", Tensor::Zeros({100000})}});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.message(), "cannot write " + path + ": " + too_large);
  }
  EXPECT_EQ(ReadBytes(path), before);  // the previous file is untouched
  EXPECT_EQ(Entries(dir_), std::vector<std::string>{"x.safetensors"});

  const absl::Status missing = SaveSafetensors(dir_ + "/no/such/folder.safetensors", {{"a", Tensor::Zeros({1})}});
  EXPECT_EQ(missing.message(), "cannot write " + dir_ + "/no/such/folder.safetensors: " + std::strerror(ENOENT));

  ModelConfig config;
  config.vit.dim = 8, config.vit.depth = 1, config.vit.heads = 2, config.vit.patch = 4, config.vit.img_size = 8;
  config.head.hidden = 8, config.head.bottleneck = 4, config.head.out_dim = 6;
  nn::IBotNetwork student(config.vit, config.head, 1), teacher(config.vit, config.head, 2);
  TrainingState state;
  state.step = 3;
  state.model = ModelConfigToJson(config);
  const std::string run = dir_ + "/run";
  {
    FileSizeLimit limit(1024);
    const absl::Status s = SaveCheckpoint(run, {&student, &teacher, nullptr, nullptr}, state, 1);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("/student.safetensors: " + too_large), std::string_view::npos) << s;
  }
  EXPECT_TRUE(Entries(run).empty());  // no .tmp-ckpt-* folder, no checkpoint
}

}  // namespace
}  // namespace vfm
