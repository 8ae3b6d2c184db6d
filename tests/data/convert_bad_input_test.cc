// `vfm shard`'s converter on hostile inputs: FIFOs, devices, symlink loops and symlinked folders inside an
// input folder (never a hang or a crash; skipped and listed, or followed), names that are not UTF-8,
// CSVs that are random bytes, folders or empty, a UTF-8 byte order mark, missing IDX paths. No input
// that yields zero samples may produce a dataset.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>

#include "data/convert.h"
#include "data/dataset.h"
#include "gtest/gtest.h"
#include "tests/data/fixtures.h"

namespace vfm::data {
namespace {
using testing::EncodeJpeg;
using testing::EncodePng;
using testing::Pattern;
using testing::TempDir;
using testing::WriteFile;
namespace fs = std::filesystem;

ConvertOptions Options(const std::string& output) {
  ConvertOptions o;
  o.output = output;
  o.threads = 2;
  return o;
}

std::map<std::string, std::string> ByName(const std::vector<Rejected>& list) {
  std::map<std::string, std::string> out;
  for (const Rejected& r : list) out[fs::path(r.input).filename().string()] = r.reason;
  return out;
}

// An error that is one line, names `what` and never an empty path.
void ExpectClearError(const absl::Status& s, const std::string& what) {
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(what), std::string::npos) << s;
  EXPECT_EQ(s.message().find("''"), std::string::npos) << s;
  EXPECT_NE(s.message().substr(0, 1), ":") << s;
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s;
}

TEST(ConvertBadInput, SpecialFilesAndSymlinksInAFolderAreSkippedOrFollowed) {
  TempDir dir;
  const std::string in = dir / "in";
  WriteFile(in + "/fundus/a.jpg", EncodeJpeg(Pattern(16, 16, 3)));
  ASSERT_EQ(::mkfifo((in + "/fundus/pipe.jpg").c_str(), 0600), 0);  // reading it would block forever
  fs::create_symlink("/dev/zero", in + "/fundus/zero.png");          // reading it would never end
  fs::create_symlink("self.jpg", in + "/fundus/self.jpg");           // ELOOP
  fs::create_symlink("gone.jpg", in + "/fundus/broken.jpg");
  fs::create_symlink("..", in + "/fundus/up");                       // a loop back to the input folder
  WriteFile(dir / "elsewhere/oct/b.png", EncodePng(Pattern(10, 12, 1)));
  fs::create_symlink(dir / "elsewhere/oct", in + "/oct");            // a symlinked modality folder
  WriteFile(dir / "elsewhere/c.png", EncodePng(Pattern(9, 9, 1, 3)));
  fs::create_symlink(dir / "elsewhere/c.png", in + "/oct-file.png");  // a symlinked file (no modality folder)
  fs::create_symlink(dir / "elsewhere/c.png", in + "/fundus/c.png");

  absl::StatusOr<ConvertReport> report = ConvertFolder(in, Options(dir / "ds"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->index.samples, 3);  // a.jpg, fundus/c.png through its symlink, oct/b.png
  EXPECT_EQ(report->index.modality_counts.at("oct"), 1);
  EXPECT_EQ(report->index.modality_counts.at("fundus"), 2);
  const auto skipped = ByName(report->skipped);
  EXPECT_EQ(skipped.size(), 5u);
  EXPECT_EQ(skipped.at("pipe.jpg"), "a FIFO");
  EXPECT_EQ(skipped.at("zero.png"), "a character device");
  EXPECT_EQ(skipped.at("self.jpg"), "a symlink loop");
  EXPECT_EQ(skipped.at("broken.jpg"), "a broken symlink");
  EXPECT_NE(skipped.at("up").find("a folder already listed"), std::string::npos);
  const auto rejected = ByName(report->rejected);
  EXPECT_EQ(rejected.size(), 1u);
  EXPECT_TRUE(rejected.count("oct-file.png"));  // no modality folder
}

TEST(ConvertBadInput, CsvRowsNamingSpecialFilesAreRejectedWithoutReading) {
  TempDir dir;
  WriteFile(dir / "a.jpg", EncodeJpeg(Pattern(16, 16, 3)));
  ASSERT_EQ(::mkfifo((dir / "pipe.jpg").c_str(), 0600), 0);
  WriteFile(dir / "list.csv", "a.jpg,fundus\npipe.jpg,fundus\n/dev/zero,fundus\n" + dir.path() + ",fundus\n");
  absl::StatusOr<ConvertReport> report = ConvertCsv(dir / "list.csv", Options(dir / "ds"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->index.samples, 1);
  const auto rejected = ByName(report->rejected);
  EXPECT_EQ(rejected.at("pipe.jpg"), "not a regular file (a FIFO)");
  EXPECT_EQ(rejected.at("zero"), "not a regular file (a character device)");
  EXPECT_EQ(rejected.at(fs::path(dir.path()).filename().string()), "not a regular file (a folder)");
}

TEST(ConvertBadInput, NamesThatAreNotUtf8AreRejectedNotACrash) {
  TempDir dir;
  const std::string in = dir / "in";
  WriteFile(in + "/fundus/a.jpg", EncodeJpeg(Pattern(16, 16, 3)));
  WriteFile(in + "/bad\xff\xfe/b.jpg", EncodeJpeg(Pattern(16, 16, 3, 1)));
  absl::StatusOr<ConvertReport> report = ConvertFolder(in, Options(dir / "ds"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->index.samples, 1);
  EXPECT_EQ(report->index.modalities, std::vector<std::string>{"fundus"});
  EXPECT_EQ(ByName(report->rejected).at("b.jpg"), "its modality folder's name is not valid UTF-8");
  EXPECT_TRUE(Dataset::Open(dir / "ds").ok());

  WriteFile(in + "/fundus/cat/c.jpg", EncodeJpeg(Pattern(16, 16, 3, 2)));
  WriteFile(in + "/fundus/\xc3/d.jpg", EncodeJpeg(Pattern(16, 16, 3, 3)));
  ConvertOptions labelled = Options(dir / "ds-labels");
  labelled.folder_labels = true;
  report = ConvertFolder(in, labelled);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->index.labels, std::vector<std::string>{"cat"});
  EXPECT_EQ(ByName(report->rejected).at("d.jpg"), "its class folder's name is not valid UTF-8");

  WriteFile(dir / "list.csv", "in/fundus/a.jpg,fundus\nin/fundus/a.jpg,\xff\n");
  report = ConvertCsv(dir / "list.csv", Options(dir / "ds-csv"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->index.samples, 1);
  EXPECT_EQ(report->rejected.size(), 1u);

  ConvertOptions named = Options(dir / "ds-named");
  named.modality = "\xff";
  ExpectClearError(ConvertFolder(in, named).status(), "not valid UTF-8");
}

TEST(ConvertBadInput, InputsWithoutAnyImageAreAnErrorNotAnEmptyDataset) {
  TempDir dir;
  std::mt19937_64 rng(7);
  std::string noise(4096, '\0');
  for (char& c : noise) c = char(rng());
  noise[100] = ',';  // some rows that split into fields
  noise[300] = '\n';
  noise[305] = ',';
  WriteFile(dir / "noise.csv", noise);
  WriteFile(dir / "empty.csv", "");
  WriteFile(dir / "header.csv", "path,modality,label\n");
  fs::create_directories(dir / "empty-folder");
  WriteFile(dir / "broken/fundus/x.jpg", "not a jpeg");
  const std::vector<std::pair<std::string, absl::Status>> cases = {
      {"noise.csv", ConvertCsv(dir / "noise.csv", Options(dir / "o1")).status()},
      {"empty.csv", ConvertCsv(dir / "empty.csv", Options(dir / "o2")).status()},
      {"header.csv", ConvertCsv(dir / "header.csv", Options(dir / "o3")).status()},
      {"empty-folder", ConvertFolder(dir / "empty-folder", Options(dir / "o4")).status()},
      {"broken", ConvertFolder(dir / "broken", Options(dir / "o5")).status()},
      {"not a regular file (a folder)", ConvertCsv(dir / "empty-folder", Options(dir / "o6")).status()},
  };
  int i = 1;
  for (const auto& [what, status] : cases) {
    SCOPED_TRACE(what);
    ExpectClearError(status, what);
    EXPECT_FALSE(fs::exists(dir / ("o" + std::to_string(i++)) + "/index.json"));
  }
}

TEST(ConvertBadInput, CsvWithAByteOrderMark) {
  TempDir dir;
  WriteFile(dir / "img/a.jpg", EncodeJpeg(Pattern(16, 16, 3)));
  WriteFile(dir / "list.csv", "\xEF\xBB\xBFpath,modality,label\nimg/a.jpg,fundus,1\n");
  absl::StatusOr<ConvertReport> report = ConvertCsv(dir / "list.csv", Options(dir / "ds"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->index.samples, 1);
  EXPECT_EQ(report->index.modalities, std::vector<std::string>{"fundus"});  // the header was seen as one
  EXPECT_TRUE(report->rejected.empty());
}

TEST(ConvertBadInput, MissingPathsAreNamedNeverEmpty) {
  TempDir dir;
  const std::string fm = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  ExpectClearError(ConvertIdx(fm, "", Options(dir / "ds")).status(), "no IDX labels file given");
  ExpectClearError(ConvertIdx("", fm, Options(dir / "ds")).status(), "no IDX images file given");
  ExpectClearError(ConvertIdx(fm, "/dev/zero", Options(dir / "ds")).status(), "not a regular file (a character device)");
  ExpectClearError(ConvertCsv("", Options(dir / "ds")).status(), "no CSV file given");
  ExpectClearError(ConvertFolder("", Options(dir / "ds")).status(), "no input folder given");
  WriteFile(dir / "in/fundus/a.jpg", EncodeJpeg(Pattern(16, 16, 3)));
  ExpectClearError(ConvertFolder(dir / "in", Options("")).status(), "no output folder given");
}

}  // namespace
}  // namespace vfm::data
