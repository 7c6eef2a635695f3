// WordPiece: the hand-checked vectors of google-research/bert's
// tokenization_test.py, Unicode handling, [UNK] rules, vocabulary errors, and
// the vocabulary learner.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include <unistd.h>

#include "kiln/base/error.hpp"
#include "kiln/data/wordpiece.hpp"
#include "support/error_text.hpp"

namespace kiln::data {
namespace {

namespace fs = std::filesystem;
using Strings = std::vector<std::string>;

// tokenization_test.py's vocabulary (ids 0..10), plus the [MASK] kiln requires.
WordPieceTokenizer spec_tokenizer(WordPieceOptions options = {}) {
  return WordPieceTokenizer({"[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ",", "[MASK]"},
                            options);
}

WordPieceTokenizer basic(bool lowercase) {
  WordPieceOptions options;
  options.lowercase = lowercase;
  return spec_tokenizer(options);
}

class WordPieceFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kiln_wordpiece_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return dir_ / name;
  }
  fs::path dir_;
};

using kiln::testing::error_of;

TEST(WordPiece, FullTokenizerVector) {
  const WordPieceTokenizer t = spec_tokenizer();
  EXPECT_EQ(t.tokens("UNwant\u00E9d,running"), (Strings{"un", "##want", "##ed", ",", "runn", "##ing"}));
  EXPECT_EQ(t.encode("UNwant\u00E9d,running"), (std::vector<int32_t>{7, 4, 5, 10, 8, 9}));
  EXPECT_EQ(t.decode(std::vector<int32_t>{7, 4, 5, 10, 8, 9}), "unwanted , running");
  EXPECT_EQ(t.unk_id(), 0);
  EXPECT_EQ(t.cls_id(), 1);
  EXPECT_EQ(t.sep_id(), 2);
  EXPECT_EQ(t.mask_id(), 11);
  EXPECT_FALSE(t.pad_id().has_value());
}

TEST(WordPiece, WordpieceAloneVectors) {
  const WordPieceTokenizer t = spec_tokenizer();
  EXPECT_TRUE(t.word_pieces("").empty());
  EXPECT_EQ(t.word_pieces("unwanted running"), (Strings{"un", "##want", "##ed", "runn", "##ing"}));
  // No segmentation for the X: the whole word, not just its tail, is [UNK].
  EXPECT_EQ(t.word_pieces("unwantedX running"), (Strings{"[UNK]", "runn", "##ing"}));
}

TEST(WordPiece, BasicUncasedAndCased) {
  EXPECT_EQ(basic(true).basic_tokens(" \tHeLLo!how  \n Are yoU?  "), (Strings{"hello", "!", "how", "are", "you", "?"}));
  EXPECT_EQ(basic(true).basic_tokens("H\u00E9llo"), Strings{"hello"});
  EXPECT_EQ(basic(false).basic_tokens(" \tHeLLo!how  \n Are yoU?  "), (Strings{"HeLLo", "!", "how", "Are", "yoU", "?"}));
  // Cased keeps accents (BERT strips them only when lowercasing) unless asked.
  EXPECT_EQ(basic(false).basic_tokens("Caf\u00E9"), Strings{"Caf\u00E9"});
  WordPieceOptions strip_only;
  strip_only.lowercase = false;
  strip_only.strip_accents = true;
  EXPECT_EQ(spec_tokenizer(strip_only).basic_tokens("Caf\u00E9"), Strings{"Cafe"});
  // Already clean lowercase text comes back unchanged.
  const Strings clean = {"the", "quick", "brown", "fox", "!"};
  EXPECT_EQ(basic(true).basic_tokens("the quick brown fox !"), clean);
}

TEST(WordPiece, AccentsAndCaseBeyondAscii) {
  const WordPieceTokenizer t = basic(true);
  EXPECT_EQ(t.basic_tokens("\u00C5ngstr\u00F6m \u00C7a \u00D1and\u00FA \u1EA0\u1EB8"),
            (Strings{"angstrom", "ca", "nandu", "ae"}));
  EXPECT_EQ(t.basic_tokens("e\u0301te\u0301"), Strings{"ete"});                 // decomposed input
  EXPECT_EQ(t.basic_tokens("\u0386\u03BB\u03C6\u03B1"), Strings{"\u03B1\u03BB\u03C6\u03B1"});  // Άλφα → αλφα
  EXPECT_EQ(t.basic_tokens("\u039F\u0394\u039F\u03A3"), Strings{"\u03BF\u03B4\u03BF\u03C2"});  // ΟΔΟΣ → οδος (final ς)
  EXPECT_EQ(t.basic_tokens("\u03A3\u039F"), Strings{"\u03C3\u03BF"});                          // ΣΟ → σο
  EXPECT_EQ(t.basic_tokens("\u0419\u043E\u0434"), Strings{"\u0438\u043E\u0434"});             // Йод → иод
  EXPECT_EQ(t.basic_tokens("\u304C"), Strings{"\u304B"});                                     // が → か
  EXPECT_EQ(t.basic_tokens("\uD55C"), Strings{"\u1112\u1161\u11AB"});                         // 한 → jamo
  EXPECT_EQ(t.basic_tokens("\u212B\uFF21"), Strings{"a\uFF41"});  // Ångström sign, fullwidth A
  WordPieceOptions no_strip;
  no_strip.strip_accents = false;
  EXPECT_EQ(spec_tokenizer(no_strip).basic_tokens("\u0130"), Strings{"i\u0307"});  // Python's "İ".lower()
}

TEST(WordPiece, CjkIdeographsStandAlone) {
  EXPECT_EQ(basic(true).basic_tokens("ah\u535A\u63A8zz"), (Strings{"ah", "\u535A", "\u63A8", "zz"}));
  // Hiragana and Hangul are not in BERT's CJK ranges; 。 is punctuation.
  EXPECT_EQ(basic(false).basic_tokens("\u3053\u308C\u3002\uD55C\uAE00"), (Strings{"\u3053\u308C", "\u3002", "\uD55C\uAE00"}));
  WordPieceOptions keep_cjk;
  keep_cjk.split_cjk = false;
  EXPECT_EQ(spec_tokenizer(keep_cjk).basic_tokens("ah\u535A\u63A8zz"), Strings{"ah\u535A\u63A8zz"});
}

TEST(WordPiece, CharacterClasses) {
  const WordPieceTokenizer t = basic(false);
  for (const char* space : {" ", "\t", "\r", "\n", "\u00A0", "\u3000", "\u2028"})
    EXPECT_EQ(t.basic_tokens(std::string("a") + space + "b"), (Strings{"a", "b"})) << space;
  // Control characters, NUL, U+FFFD and invalid UTF-8 vanish without splitting.
  for (std::string control : {std::string("\u0005"), std::string(1, '\0'), std::string("\uFFFD"), std::string("\u200B"),
                              std::string("\xFF"), std::string("\xC0\xAF")})
    EXPECT_EQ(t.basic_tokens("a" + control + "b"), Strings{"ab"});
  EXPECT_EQ(t.basic_tokens("A\U0001F4A9"), Strings{"A\U0001F4A9"});  // So: neither control nor punctuation
  EXPECT_EQ(t.basic_tokens("a-b$c`d.e^f+g<h=i>j|k"),
            (Strings{"a", "-", "b", "$", "c", "`", "d", ".", "e", "^", "f", "+", "g", "<", "h", "=", "i", ">", "j", "|", "k"}));
  EXPECT_EQ(t.basic_tokens("\u00ABhi\u00BB \u201Cso\u2026\u201D"),
            (Strings{"\u00AB", "hi", "\u00BB", "\u201C", "so", "\u2026", "\u201D"}));
  EXPECT_EQ(t.basic_tokens("[CLS]"), (Strings{"[", "CLS", "]"}));  // special tokens in text are plain text
  EXPECT_EQ(t.basic_tokens("\u00A9x"), Strings{"\u00A9x"});         // © is So, not P
}

TEST(WordPiece, UnknownAndOverlongWords) {
  const WordPieceTokenizer t({"[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##a"});
  EXPECT_EQ(t.tokens("b"), Strings{"[UNK]"});
  EXPECT_EQ(t.tokens(std::string(100, 'a')).size(), 100u);
  EXPECT_EQ(t.tokens(std::string(101, 'a')), Strings{"[UNK]"});
  EXPECT_EQ(t.tokens(std::string(101, 'a') + " a"), (Strings{"[UNK]", "a"}));
  WordPieceOptions google;
  google.max_chars_per_word = 200;  // google-research/bert's limit
  const WordPieceTokenizer g(t.vocab(), google);
  EXPECT_EQ(g.tokens(std::string(200, 'a')).size(), 200u);
  EXPECT_EQ(g.tokens(std::string(201, 'a')), Strings{"[UNK]"});
  // The limit counts code points, not bytes.
  const WordPieceTokenizer e({"[UNK]", "[CLS]", "[SEP]", "[MASK]", "\u00E9", "##\u00E9"}, [] {
    WordPieceOptions o;
    o.lowercase = false;
    return o;
  }());
  std::string word;
  for (int i = 0; i < 100; ++i) word += "\u00E9";
  EXPECT_EQ(e.tokens(word).size(), 100u);
  EXPECT_EQ(e.decode(e.encode(word)), word);
}

TEST_F(WordPieceFiles, LoadsVocabTxtAndRefusesBadOnes) {
  const fs::path good = write("vocab.txt", "[PAD]\r\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n  hello \n##s\n");
  const WordPieceTokenizer t = WordPieceTokenizer::load(good);
  EXPECT_EQ(t.vocab_size(), 7);
  EXPECT_EQ(t.pad_id(), 0);
  EXPECT_EQ(t.encode("Hellos"), (std::vector<int32_t>{5, 6}));
  t.save(dir_ / "again.txt");
  EXPECT_EQ(WordPieceTokenizer::load(dir_ / "again.txt").vocab(), t.vocab());

  for (const char* missing : {"[CLS]", "[SEP]", "[MASK]", "[UNK]"}) {
    std::string text;
    for (const char* token : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"})
      if (std::string(token) != missing) text += std::string(token) + "\n";
    const fs::path path = write("missing.txt", text);
    const std::string message = error_of([&] { WordPieceTokenizer::load(path); });
    EXPECT_NE(message.find(missing), std::string::npos) << message;
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  const std::string blank = error_of([&] { WordPieceTokenizer::load(write("b.txt", "[UNK]\n\n[CLS]\n")); });
  EXPECT_NE(blank.find("line 2 is empty"), std::string::npos) << blank;
  const std::string twice = error_of([&] { WordPieceTokenizer::load(write("d.txt", "[UNK]\na\n[CLS]\na\n")); });
  EXPECT_NE(twice.find("repeats"), std::string::npos) << twice;
  EXPECT_NE(error_of([&] { WordPieceTokenizer::load(dir_ / "absent.txt"); }).find("cannot open"), std::string::npos);
  EXPECT_NE(error_of([&] { t.decode(std::vector<int32_t>{7}); }).find("id 7"), std::string::npos);
}

const Strings kCorpus = {
    "In the beginning God created the heaven and the earth.",
    "And the earth was without form, and void; and darkness was upon the face of the deep.",
    "And the Spirit of God moved upon the face of the waters.",
    "And God said, Let there be light: and there was light.",
    "Caf\u00E9 na\u00EFve \u535A\u63A8 \u00C5ngstr\u00F6m, unwanted unwanted unwanted running runner runs.",
};

TEST_F(WordPieceFiles, BuilderRoundTrip) {
  const Strings vocab = build_wordpiece_vocab(kCorpus, 120);
  EXPECT_EQ(vocab.size(), 120u);
  EXPECT_EQ(Strings(vocab.begin(), vocab.begin() + 5), (Strings{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}));
  EXPECT_EQ(build_wordpiece_vocab(kCorpus, 120), vocab);  // deterministic
  write_wordpiece_vocab(dir_ / "vocab.txt", vocab);
  const WordPieceTokenizer t = WordPieceTokenizer::load(dir_ / "vocab.txt");
  EXPECT_EQ(t.vocab(), vocab);
  bool merged = false;
  for (const std::string& line : kCorpus) {
    const std::vector<int32_t> ids = t.encode(line);
    for (int32_t id : ids) EXPECT_NE(id, t.unk_id()) << line;
    for (const std::string& word : t.basic_tokens(line)) merged |= t.word_pieces(word).size() < word.size();
    // Decoding rebuilds the basic tokens.
    std::string joined;
    for (const std::string& word : t.basic_tokens(line)) joined += (joined.empty() ? "" : " ") + word;
    EXPECT_EQ(t.decode(ids), joined);
  }
  EXPECT_TRUE(merged);
  EXPECT_FALSE(t.find("##\u00F6").has_value());  // uncased: accents were stripped before counting
  EXPECT_TRUE(t.find("\u535A").has_value());     // CJK ideographs are words of their own
}

TEST(WordPieceBuilder, MergesUntilEveryWordIsOnePiece) {
  // With room to spare, merging stops only when no word has two pieces left.
  const Strings vocab = build_wordpiece_vocab(kCorpus, 100000);
  const WordPieceTokenizer t(vocab);
  for (const std::string& line : kCorpus)
    for (const std::string& word : t.basic_tokens(line)) EXPECT_EQ(t.word_pieces(word), Strings{word});
  // Smaller than the alphabet: special tokens and characters are all kept.
  const Strings tiny = build_wordpiece_vocab(kCorpus, 8);
  EXPECT_GT(tiny.size(), 8u);
  const WordPieceTokenizer small(tiny);
  for (const std::string& line : kCorpus)
    for (int32_t id : small.encode(line)) EXPECT_NE(id, small.unk_id());
}

TEST(WordPieceBuilder, ScoreFavoursPairsOfRareParts) {
  // "qz" is seen 5 times and q, z only there; "th" 20 times but t and h are
  // everywhere: count(ab)/(count(a)count(b)) ranks qz first, frequency would not.
  Strings corpus;
  for (int i = 0; i < 5; ++i) corpus.push_back("qz");
  for (int i = 0; i < 20; ++i) corpus.push_back("th ht tt hh");
  WordPieceVocabOptions options;
  const Strings vocab = build_wordpiece_vocab(corpus, 5 + 6 + 1, options);  // specials, q t h ##z ##h ##t, one merge
  ASSERT_EQ(vocab.size(), 12u);
  EXPECT_EQ(vocab.back(), "qz");
}

}  // namespace
}  // namespace kiln::data
