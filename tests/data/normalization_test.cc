// --norm (data/normalization.h): the per-modality table from a dataset's statistics, ImageNet's where a
// modality has none (so a dataset without statistics trains exactly as before), given values, and the
// JSON form checkpoints and exports carry.
#include "data/normalization.h"

#include "gtest/gtest.h"

namespace vfm::data {
namespace {

DatasetIndex Index() {
  DatasetIndex index;
  index.modalities = {"fundus", "oct", "absent"};
  index.modality_counts = {{"fundus", 3}, {"oct", 2}};
  return index;
}

void ExpectImageNet(const Normalization& n) {
  const Normalization imagenet;
  EXPECT_EQ(n.mean, imagenet.mean);
  EXPECT_EQ(n.std, imagenet.std);
  EXPECT_EQ(n.mean[0], 0.485f);
  EXPECT_EQ(n.std[2], 0.225f);
}

TEST(Normalization, DatasetWithoutStatisticsIsImageNetExactly) {
  std::vector<std::string> notes;
  auto table = ResolveNormalization("dataset", Index(), &notes);
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->size(), 2u);  // the modalities present
  ExpectImageNet(table->at("fundus"));
  ExpectImageNet(table->at("oct"));
  EXPECT_EQ(notes.size(), 2u);
}

TEST(Normalization, DatasetStatisticsPerModality) {
  DatasetIndex index = Index();
  index.modality_stats["oct"] = {2, {0.25, 0.25, 0.25}, {0.125, 0.125, 0.125}};
  std::vector<std::string> notes;
  auto table = ResolveNormalization("dataset", index, &notes);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->at("oct").mean[1], 0.25f);
  EXPECT_EQ(table->at("oct").std[2], 0.125f);
  ExpectImageNet(table->at("fundus"));
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("fundus"), std::string::npos);
  index.modality_stats["oct"].std[0] = 0;  // constant images
  EXPECT_EQ(ResolveNormalization("dataset", index, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Normalization, ImageNetAndGivenValues) {
  DatasetIndex index = Index();
  index.modality_stats["oct"] = {2, {0.25, 0.25, 0.25}, {0.125, 0.125, 0.125}};
  auto imagenet = ResolveNormalization("imagenet", index, nullptr);
  ASSERT_TRUE(imagenet.ok());
  ExpectImageNet(imagenet->at("oct"));
  auto two = ResolveNormalization("0.5,0.25", index, nullptr);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->at("fundus").mean, (std::array<float, 3>{0.5f, 0.5f, 0.5f}));
  EXPECT_EQ(two->at("oct").std, (std::array<float, 3>{0.25f, 0.25f, 0.25f}));
  auto six = ResolveNormalization("0.1,0.2,0.3,0.4,0.5,0.6", index, nullptr);
  ASSERT_TRUE(six.ok()) << six.status();
  EXPECT_EQ(six->at("oct").mean, (std::array<float, 3>{0.1f, 0.2f, 0.3f}));
  EXPECT_EQ(six->at("oct").std, (std::array<float, 3>{0.4f, 0.5f, 0.6f}));
  for (const char* bad : {"", "imagenets", "0.5", "0.5,0.25,0.1", "0.5,x", "2,0.5", "0.5,0", "0.5,nan"}) {
    SCOPED_TRACE(bad);
    const absl::Status s = ResolveNormalization(bad, index, nullptr).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find("--norm"), std::string::npos) << s;
  }
}

TEST(Normalization, JsonRoundTrip) {
  auto table = ResolveNormalization("0.1,0.2,0.3,0.4,0.5,0.6", Index(), nullptr);
  ASSERT_TRUE(table.ok());
  auto back = NormalizationFromJson(NormalizationToJson(*table));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ(back->at("oct").std, table->at("oct").std);
  EXPECT_FALSE(NormalizationFromJson({{"oct", {{"mean", {0.5}}}}}).ok());
  EXPECT_FALSE(NormalizationFromJson({{"oct", {{"mean", {0.5, 0.5, 0.5}}, {"std", {0, 1, 1}}}}}).ok());
}

// Evaluation normalises as the checkpoint was trained: its table's entry for a modality, its "*" entry
// (checkpoints from before the table was recorded: ImageNet's) for every modality, else the eval data's own.
TEST(Normalization, AsTrained) {
  const NormalizationTable own = {{"fundus", {{0.1f, 0.1f, 0.1f}, {0.2f, 0.2f, 0.2f}}},
                                  {"oct", {{0.3f, 0.3f, 0.3f}, {0.4f, 0.4f, 0.4f}}}};
  const Normalization trained_oct{{0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}};
  const NormalizationTable some = AsTrained(own, {{"oct", trained_oct}});
  EXPECT_EQ(some.at("oct").mean, trained_oct.mean);
  EXPECT_EQ(some.at("fundus").mean, own.at("fundus").mean);
  EXPECT_EQ(some.at("fundus").std, own.at("fundus").std);
  const NormalizationTable legacy = AsTrained(own, {{"*", Normalization()}});
  ExpectImageNet(legacy.at("fundus"));
  ExpectImageNet(legacy.at("oct"));
}

}  // namespace
}  // namespace vfm::data
