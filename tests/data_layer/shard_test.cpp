// Token shards and `kiln data prepare`: round trip, the split, and clean
// errors for corrupt shards and bad JSONL.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "kiln/base/error.hpp"
#include "kiln/data/prepare.hpp"
#include "kiln/data/shard.hpp"

namespace kiln::data {
namespace {

namespace fs = std::filesystem;

class Shards : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kiln_shards_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(Shards, RoundTripBothWidths) {
  for (int64_t vocab : {300, 100000}) {
    const std::vector<int32_t> tokens = {5, 7, 2, 299, 2, 1, 2};
    write_shard(dir_ / "s.bin", tokens, {0, 3, 5, 7}, vocab);
    const TokenShard shard = TokenShard::open(dir_ / "s.bin");
    EXPECT_EQ(shard.all_tokens(), tokens);
    EXPECT_EQ(shard.documents(), 3u);
  }
}

TEST_F(Shards, CorruptShardsAreRefused) {
  write_shard(dir_ / "s.bin", {1, 2, 3}, {0, 3}, 300);
  std::ifstream in(dir_ / "s.bin", std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(in), {});
  for (const std::string& bad : {bytes.substr(0, bytes.size() - 1), bytes.substr(0, 12), "KILNXXX" + bytes.substr(7)}) {
    std::ofstream(dir_ / "bad.bin", std::ios::binary) << bad;
    EXPECT_THROW(TokenShard::open(dir_ / "bad.bin"), Error);
  }
}

TEST_F(Shards, PrepareSplitsDocumentsAndNamesBadLines) {
  const Tokenizer bytes = Tokenizer::bytes();
  std::ofstream(dir_ / "docs.txt") << "first document\n\nsecond one\nthird\n";
  const PrepareReport r = prepare_shards(dir_ / "docs.txt", bytes, dir_ / "out", {.valid_fraction = 0.5, .seed = 3});
  EXPECT_EQ(r.documents, 3u);
  const TokenShard train = TokenShard::open(dir_ / "out/train.bin"), valid = TokenShard::open(dir_ / "out/valid.bin");
  EXPECT_EQ(train.tokens() + valid.tokens(), std::string("first document").size() + std::string("second one").size() +
                                                 std::string("third").size() + 3);
  EXPECT_EQ(train.documents() + valid.documents(), 3u);
  std::ofstream(dir_ / "bad.jsonl") << "{\"text\": \"ok\"}\n{\"txt\": \"no\"}\n";
  try {
    prepare_shards(dir_ / "bad.jsonl", bytes, dir_ / "out2", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "out2/train.bin"));
  std::ofstream(dir_ / "empty.txt") << "\n \n";
  EXPECT_THROW(prepare_shards(dir_ / "empty.txt", bytes, dir_ / "out3", {}), Error);
}

}  // namespace
}  // namespace kiln::data
