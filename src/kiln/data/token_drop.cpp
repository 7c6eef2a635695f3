#include "kiln/data/token_drop.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "random_draws.hpp"

namespace kiln::data {

namespace {

// Streams are (tag, step); counters are (image, draw or token), 32 bits each.
constexpr uint64_t kRateStream = uint64_t{0x72} << 56;
constexpr uint64_t kKeyStream = uint64_t{0x6B} << 56;
constexpr uint64_t kStepMask = (uint64_t{1} << 56) - 1;

[[noreturn]] void bad_schedule(std::string_view text) {
  fail("vision.token_drop = \"{}\": expected none, const:ρ, uniform:ρmax, beta:a,b or by_size:ρ0,κ,ρmax "
       "(rates in [0, 1], a and b > 0)",
       text);
}

// The comma-separated numbers after "name:", exactly `count` of them.
std::vector<double> parameters(std::string_view text, std::string_view name, size_t count) {
  if (text.size() <= name.size()) bad_schedule(text);  // no ':'
  std::string_view rest = text.substr(name.size() + 1);
  std::vector<double> values;
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view field = rest.substr(0, comma);
    double value = 0;
    const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), value);
    if (field.empty() || error != std::errc() || end != field.data() + field.size() || !std::isfinite(value))
      bad_schedule(text);
    values.push_back(value);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (values.size() != count) bad_schedule(text);
  return values;
}

bool is_rate(double x) { return x >= 0 && x <= 1; }

uint64_t step_bits(const DropSite& site) {
  KILN_CHECK(site.step >= 0 && static_cast<uint64_t>(site.step) <= kStepMask && site.image >= 0 &&
                 site.image <= std::numeric_limits<int32_t>::max(),
             "token drop: step {} or image {} out of range", site.step, site.image);
  return static_cast<uint64_t>(site.step);
}

}  // namespace

TokenDropSchedule parse_token_drop(std::string_view text, int64_t reference_tokens) {
  using Kind = TokenDropSchedule::Kind;
  TokenDropSchedule s;
  const std::string_view name = text.substr(0, text.find(':'));
  if (text == "none") return s;
  if (name == "const") {
    const auto p = parameters(text, name, 1);
    s = {.kind = Kind::constant, .rate = p[0]};
    if (!is_rate(s.rate)) bad_schedule(text);
  } else if (name == "uniform") {
    const auto p = parameters(text, name, 1);
    s = {.kind = Kind::uniform, .max_rate = p[0]};
    if (!is_rate(s.max_rate)) bad_schedule(text);
  } else if (name == "beta") {
    const auto p = parameters(text, name, 2);
    s = {.kind = Kind::beta, .alpha = p[0], .beta = p[1]};
    if (!(s.alpha > 0 && s.beta > 0)) bad_schedule(text);
  } else if (name == "by_size") {
    const auto p = parameters(text, name, 3);
    s = {.kind = Kind::by_size, .rate = p[0], .max_rate = p[2], .slope = p[1], .reference_tokens = reference_tokens};
    if (!is_rate(s.rate) || !is_rate(s.max_rate)) bad_schedule(text);
    KILN_CHECK(reference_tokens >= 1, "vision.token_drop = \"{}\": by_size needs a reference token count ≥ 1, got {}",
               text, reference_tokens);
  } else {
    bad_schedule(text);
  }
  return s;
}

double drop_rate(const TokenDropSchedule& schedule, int64_t tokens, const DropSite& site) {
  using Kind = TokenDropSchedule::Kind;
  const uint64_t step = step_bits(site);
  PhiloxDraws draws({site.seed, kRateStream | step}, static_cast<uint64_t>(site.image) << 32);
  switch (schedule.kind) {
    case Kind::none: return 0;
    case Kind::constant: return schedule.rate;
    case Kind::uniform: return schedule.max_rate * draws.uniform();
    case Kind::beta: return draws.beta(schedule.alpha, schedule.beta);
    case Kind::by_size: {
      const double relative = static_cast<double>(tokens) / static_cast<double>(schedule.reference_tokens);
      return std::clamp(schedule.rate + schedule.slope * (relative - 1), 0.0, schedule.max_rate);
    }
  }
  return 0;
}

int64_t kept_token_count(int64_t tokens, double rate) {
  KILN_CHECK(tokens >= 1, "token drop: an image with {} tokens", tokens);
  KILN_CHECK(is_rate(rate), "token drop: rate {} outside [0, 1]", rate);
  const auto kept = static_cast<int64_t>(std::floor(static_cast<double>(tokens) * (1 - rate)));
  return std::max<int64_t>(1, kept);
}

std::vector<int32_t> kept_tokens(int64_t tokens, double rate, const DropSite& site) {
  KILN_CHECK(tokens <= std::numeric_limits<int32_t>::max(), "token drop: {} tokens in one image", tokens);
  const int64_t keep = kept_token_count(tokens, rate);
  std::vector<int32_t> order(static_cast<size_t>(tokens));
  std::iota(order.begin(), order.end(), 0);
  if (keep == tokens) return order;
  const PhiloxKey key{site.seed, kKeyStream | step_bits(site)};
  const uint64_t image = static_cast<uint64_t>(site.image) << 32;
  std::vector<uint64_t> keys(order.size());
  for (size_t t = 0; t < keys.size(); ++t) {
    const auto bits = philox_block(key, image | t);
    keys[t] = (uint64_t{bits[0]} << 32) | bits[1];
  }
  // The `keep` smallest keys (ties to the lower index), back in ascending index order.
  const auto smaller = [&](int32_t a, int32_t b) { return keys[a] != keys[b] ? keys[a] < keys[b] : a < b; };
  std::nth_element(order.begin(), order.begin() + keep, order.end(), smaller);
  order.resize(static_cast<size_t>(keep));
  std::sort(order.begin(), order.end());
  return order;
}

}  // namespace kiln::data
