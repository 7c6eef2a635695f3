// The RoPE slot table against PyTorch ports of Qwen2-VL's 2-D vision RoPE and
// M-RoPE (tests/reference/rope_slots.py), and the invariants of SPEC-VLM §2.1
// and §5.3: 2-D scores depend only on relative positions, M-RoPE with
// t = h = w is 1-D RoPE, and 1-D RoPE through the slot table is the classic op.
#include <gtest/gtest.h>

#include <random>

#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/rope.hpp"
#include "kiln/base/error.hpp"
#include "kiln/kernels/cpu/patchify.hpp"
#include "support/reference.hpp"

namespace kiln {
namespace {

using autograd::TensorList;

Tensor random_tensor(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<double> values(static_cast<size_t>(numel_of(shape)));
  for (double& v : values) v = normal(rng);
  return Tensor::from(values, shape);
}

struct SlotCase {
  std::string name;
  cpu::RopeSlots slots;
};

std::vector<SlotCase> slot_cases() {
  return {{"vision_2x4", cpu::vision_rope_slots(16, 10000.0)},
          {"vision_6x10", cpu::vision_rope_slots(16, 10000.0)},
          {"mrope", cpu::mrope_slots(32, 10000.0, {4, 6, 6}, false)},
          {"mrope_interleaved", cpu::mrope_slots(32, 10000.0, {6, 5, 5}, true)}};
}

class RopeSlotsParity : public ::testing::TestWithParam<SlotCase> {};

TEST_P(RopeSlotsParity, MatchesQwenReference) {
  const io::TensorMap ref = testing::load_reference("rope_slots");
  const Tensor positions = testing::at(ref, GetParam().name + ".pos");
  const cpu::RopeSlots slots = GetParam().slots;
  testing::expect_matches_reference(ref, GetParam().name, 1,
                                    [&](const TensorList& x) { return ops::rope(x[0], positions, slots); },
                                    {1e-12, 1e-12, 1e-12, 1e-12});
}

INSTANTIATE_TEST_SUITE_P(All, RopeSlotsParity, ::testing::ValuesIn(slot_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(RopeSlots, VisionPositionsAreQwensMergeOrder) {
  const io::TensorMap ref = testing::load_reference("rope_slots");
  const Tensor expected = testing::at(ref, "vision_6x10.pos");
  std::vector<int32_t> rows(60), cols(60);
  cpu::merge_order_positions(6, 10, 2, rows.data(), cols.data());
  const auto e = expected.to_vector<int64_t>();
  for (size_t k = 0; k < 60; ++k) {
    EXPECT_EQ(rows[k], e[k]) << k;
    EXPECT_EQ(cols[k], e[60 + k]) << k;
  }
}

// ⟨R(r1,c1)q, R(r2,c2)k⟩ depends only on (r1 − r2, c1 − c2).
TEST(RopeSlots, VisionScoresDependOnlyOnRelativePositions) {
  const cpu::RopeSlots slots = cpu::vision_rope_slots(16, 10000.0);
  const Tensor q = random_tensor({5, 1, 16}, 1), k = random_tensor({5, 1, 16}, 2);
  const Tensor at = Tensor::from(std::vector<int64_t>{0, 3, 7, 2, 11, 5, 1, 9, 4, 6}, {2, 5});
  const Tensor shifted = Tensor::from(std::vector<int64_t>{13, 16, 20, 15, 24, 42, 38, 46, 41, 43}, {2, 5});
  const auto scores = [&](const Tensor& pos) {
    return ops::matmul(ops::rope(q, pos, slots).reshape({5, 16}), ops::rope(k, pos, slots).reshape({5, 16}), false,
                       true);
  };
  EXPECT_TRUE(testing::all_close(scores(shifted), scores(at), 1e-12, 1e-12));
  // and a shift along one axis only changes nothing either, while swapping the axes does
  const Tensor swapped = Tensor::from(std::vector<int64_t>{5, 1, 9, 4, 6, 0, 3, 7, 2, 11}, {2, 5});
  EXPECT_FALSE(testing::all_close(scores(swapped), scores(at), 1e-6, 1e-6));
}

TEST(RopeSlots, MropeWithEqualComponentsIsOneDimensionalRope) {
  const Tensor x = random_tensor({9, 2, 32}, 3);
  std::vector<int64_t> ids{0, 1, 2, 5, 8, 13, 21, 34, 55};
  std::vector<int64_t> three;
  for (int axis = 0; axis < 3; ++axis) three.insert(three.end(), ids.begin(), ids.end());
  for (bool interleaved : {false, true}) {
    const cpu::RopeSlots slots = cpu::mrope_slots(32, 10000.0, interleaved ? std::array<int64_t, 3>{6, 5, 5}
                                                                            : std::array<int64_t, 3>{4, 6, 6},
                                                  interleaved);
    const Tensor m = ops::rope(x, Tensor::from(three, {3, 9}), slots);
    const Tensor one = ops::rope(x, Tensor::from(ids, {9}), 10000.0, false);
    EXPECT_TRUE(testing::all_close(m, one, 0, 1e-15)) << "interleaved sections " << interleaved;
  }
}

TEST(RopeSlots, TextSlotsAreTheClassicRopeWithPerRowPositions) {
  const Tensor x = random_tensor({2, 4, 3, 8}, 4);
  const Tensor per_row = Tensor::from(std::vector<int64_t>{0, 1, 2, 3, 7, 8, 9, 10}, {2, 4});
  for (bool interleaved : {false, true}) {
    const Tensor classic = ops::rope(x, per_row, 500.0, interleaved);
    const Tensor slots = ops::rope(x, per_row.reshape({1, 2, 4}), cpu::text_rope_slots(8, 500.0, interleaved));
    EXPECT_TRUE(testing::all_close(slots, classic, 0, 0));
  }
}

TEST(RopeSlots, BadTablesAndPositionsAreErrors) {
  EXPECT_THROW(cpu::vision_rope_slots(18, 10000.0), Error);
  EXPECT_THROW(cpu::mrope_slots(32, 10000.0, {4, 6, 5}, false), Error);
  const Tensor x = random_tensor({4, 1, 16}, 5);
  EXPECT_THROW(ops::rope(x, Tensor::zeros({3, 4}, DType::i64), cpu::vision_rope_slots(16, 1e4)), Error);
  EXPECT_THROW(ops::rope(x, Tensor::zeros({2, 4}, DType::i64), cpu::vision_rope_slots(8, 1e4)), Error);
  EXPECT_THROW(ops::rope(x, Tensor::zeros({2, 4}), cpu::vision_rope_slots(16, 1e4)), Error);
  try {
    cpu::mrope_slots(32, 10000.0, {4, 6, 5}, false);
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "model.mrope_section sums to 15, expected head_dim/2 = 16");
  }
}

}  // namespace
}  // namespace kiln
