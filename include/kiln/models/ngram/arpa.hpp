#pragma once
// ARPA text files as lmplz writes them and as KenLM's reader accepts them.
#include <filesystem>
#include <istream>
#include <string>

#include "kiln/models/ngram/model.hpp"

namespace kiln::ngram {

// Atomic: the file appears complete or not at all.
void write_arpa(const BackoffModel& model, const std::filesystem::path& path);
// Accepts comments before \data\, blank lines, entries in any order, a
// missing backoff column (0) and SRILM's −99 for <s>. Rejects wrong counts,
// missing sections, non-numeric fields, duplicate n-grams, positive log
// probabilities, backoffs on the highest order and trailing text after \end\,
// each as one error naming the file and line.
BackoffModel read_arpa(std::istream& in, const std::string& source);
BackoffModel read_arpa(const std::filesystem::path& path);

}  // namespace kiln::ngram
