#pragma once
// The estimate of estimate.hpp as passes over sorted files on disk, for
// counts that do not fit in memory (lmplz's streaming pipeline): adjusting
// counts, discounting, normalising per context and interpolating each read
// and write files in a temporary folder, with at most the memory budget held
// in sort buffers; the ARPA file is written from the final files. Its bytes
// are those of estimate_kneser_ney followed by write_arpa.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>
#include <vector>

#include "kiln/models/ngram/counting.hpp"
#include "kiln/models/ngram/estimate.hpp"

namespace kiln::ngram {

struct OutOfCoreOptions {
  uint64_t memory_bytes = uint64_t{1} << 30;
  std::filesystem::path temp_dir = std::filesystem::temp_directory_path();
  // Called as each stage advances: records done of total (0 = unknown).
  std::function<void(std::string_view stage, uint64_t done, uint64_t total)> progress;
};

// Both return the number of n-grams written per order. The temporary files
// are removed on return and on error; the ARPA file appears only complete.
std::vector<uint64_t> estimate_to_arpa_out_of_core(const SpilledCounts& counts, const Vocabulary& vocab,
                                                   const EstimateOptions& options, const OutOfCoreOptions& out_of_core,
                                                   const std::filesystem::path& arpa, EstimateReport* report = nullptr);
// From counts in memory, freed once they are on disk.
std::vector<uint64_t> estimate_to_arpa_out_of_core(NgramCounts counts, const Vocabulary& vocab,
                                                   const EstimateOptions& options, const OutOfCoreOptions& out_of_core,
                                                   const std::filesystem::path& arpa, EstimateReport* report = nullptr);

}  // namespace kiln::ngram
