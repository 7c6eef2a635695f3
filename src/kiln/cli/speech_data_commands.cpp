// `kiln data speech` and `kiln data streams`: the synthetic speech sets for
// CPC pre-training and online keyword detection, made locally with espeak-ng.
#include <chrono>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "kiln/base/error.hpp"
#include "kiln/base/progress.hpp"
#include "kiln/cli/commands.hpp"
#include "kiln/data/keyword_stream.hpp"
#include "kiln/data/speech_corpus.hpp"
#include "kiln/data/wav.hpp"

namespace kiln::cli {

namespace fs = std::filesystem;

namespace {

uint64_t folder_bytes(const fs::path& folder) {
  uint64_t bytes = 0;
  for (const auto& entry : fs::recursive_directory_iterator(folder))
    if (entry.is_regular_file()) bytes += entry.file_size();
  return bytes;
}

std::string human_bytes(uint64_t bytes) {
  return bytes >= (1u << 20) ? fmt::format("{:.1f} MB", static_cast<double>(bytes) / (1 << 20))
                             : fmt::format("{:.1f} kB", static_cast<double>(bytes) / 1024);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double audio_seconds(const fs::path& file) {
  return static_cast<double>(data::read_wav(file).size()) / data::kSpeechSampleRate;
}

}  // namespace

void add_speech_data_commands(CLI::App& app) {
  CLI::App* data_cmd = app.get_subcommand("data");

  auto speech = std::make_shared<data::SpeechCorpusOptions>();
  speech->text = "data/kjv/train.txt";
  speech->out = "data/speech";
  CLI::App* speech_cmd = data_cmd->add_subcommand(
      "speech",
      "Synthesise a speech corpus with espeak-ng: verses read by distinct voices (voice, variant, pitch, speed), 16 kHz "
      "mono WAV, train/valid/test manifests with disjoint texts and every speaker in every split "
      "(docs/speech-data.md)");
  speech_cmd->add_option("--text", speech->text, "Text to read, one verse per line (scripts/prepare-kjv.sh)")
      ->capture_default_str();
  speech_cmd->add_option("--out", speech->out, "Output folder (replaced if it holds a set made before)")
      ->capture_default_str();
  speech_cmd->add_option("--speakers", speech->speakers, "Number of distinct speakers")->capture_default_str();
  speech_cmd->add_option("--utterances", speech->utterances_per_speaker,
                         "Utterances per speaker (10% valid, 20% test, at least one each)")
      ->capture_default_str();
  speech_cmd->add_option("--min-words", speech->min_words, "Shortest verse used, in words")->capture_default_str();
  speech_cmd->add_option("--max-words", speech->max_words, "Longest verse used, in words")->capture_default_str();
  speech_cmd->add_option("--seed", speech->seed, "Seed: the same seed and options give identical files")
      ->capture_default_str();
  speech_cmd->callback([speech] {
    const auto start = std::chrono::steady_clock::now();
    {
      ProgressBar bar("speech", speech->speakers * speech->utterances_per_speaker, "utt");
      data::synthesize_speech_corpus(*speech, [&](int64_t done, int64_t) { bar.update(done); });
      bar.finish();
    }
    const double elapsed = seconds_since(start);
    int64_t counts[3] = {0, 0, 0};
    double audio = 0;
    size_t speakers = 0;
    const char* const splits[3] = {"train", "valid", "test"};
    for (int s = 0; s < 3; ++s) {
      const data::SpeechSet set = data::read_speech_set(speech->out, splits[s]);
      counts[s] = static_cast<int64_t>(set.utterances.size());
      speakers = set.speakers.size();
      for (const data::Utterance& u : set.utterances) audio += audio_seconds(u.audio);
    }
    fmt::print("speech: {} speakers, {} utterances (train {}, valid {}, test {}), {:.1f} min of audio, {} in {} ({:.1f} s)\n",
               speakers, counts[0] + counts[1] + counts[2], counts[0], counts[1], counts[2], audio / 60,
               human_bytes(folder_bytes(speech->out)), speech->out.string(), elapsed);
  });

  auto streams = std::make_shared<data::KeywordStreamOptions>();
  streams->text = "data/kjv/train.txt";
  streams->out = "data/streams";
  CLI::App* streams_cmd = data_cmd->add_subcommand(
      "streams",
      "Synthesise keyword-detection streams with espeak-ng: spoken digits (zero … nine) among silence and KJV "
      "speech, low noise throughout, one class label per 10 ms frame (docs/speech-data.md)");
  streams_cmd->add_option("--text", streams->text, "Source of background words, one verse per line")
      ->capture_default_str();
  streams_cmd->add_option("--out", streams->out, "Output folder (replaced if it holds a set made before)")
      ->capture_default_str();
  auto train_streams = std::make_shared<int64_t>(streams->train_streams);
  streams_cmd->add_option("--streams", *train_streams,
                          "Train streams; valid and test get a sixth and a third as many (at least one each)")
      ->capture_default_str();
  streams_cmd->add_option("--seconds", streams->seconds, "Length of each stream in seconds")->capture_default_str();
  streams_cmd->add_option("--keyword-fraction", streams->keyword_fraction,
                          "Share of the inserted segments that are keywords (the rest is background speech)")
      ->capture_default_str();
  streams_cmd->add_option("--speakers", streams->speakers, "Number of distinct voices")->capture_default_str();
  streams_cmd->add_option("--seed", streams->seed, "Seed: the same seed and options give identical files")
      ->capture_default_str();
  streams_cmd->callback([streams, train_streams] {
    KILN_CHECK(*train_streams >= 1, "--streams must be at least 1, got {}", *train_streams);
    streams->train_streams = *train_streams;
    streams->valid_streams = std::max<int64_t>(1, (*train_streams + 5) / 6);
    streams->test_streams = std::max<int64_t>(1, (*train_streams + 2) / 3);
    const auto start = std::chrono::steady_clock::now();
    {
      ProgressBar bar("streams", streams->train_streams + streams->valid_streams + streams->test_streams, "stream");
      data::synthesize_keyword_streams(*streams, [&](int64_t done, int64_t) { bar.update(done); });
      bar.finish();
    }
    const double elapsed = seconds_since(start);
    int64_t counts[3] = {0, 0, 0}, frames = 0, keyword_frames = 0;
    const char* const splits[3] = {"train", "valid", "test"};
    for (int s = 0; s < 3; ++s) {
      const data::StreamSet set = data::read_stream_set(streams->out, splits[s]);
      counts[s] = static_cast<int64_t>(set.streams.size());
      for (const data::LabelledStream& stream : set.streams)
        for (int32_t label : stream.frame_labels) {
          ++frames;
          keyword_frames += label != 0;
        }
    }
    const double audio = static_cast<double>(frames * data::kStreamFrameHop) / data::kSpeechSampleRate;
    fmt::print("streams: {} streams (train {}, valid {}, test {}), {:.1f} min of audio, {:.1f}% keyword frames, {} in "
               "{} ({:.1f} s)\n",
               counts[0] + counts[1] + counts[2], counts[0], counts[1], counts[2], audio / 60,
               frames ? 100.0 * static_cast<double>(keyword_frames) / static_cast<double>(frames) : 0.0,
               human_bytes(folder_bytes(streams->out)), streams->out.string(), elapsed);
  });
}

}  // namespace kiln::cli
