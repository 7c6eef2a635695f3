#include "kiln/tensor/storage.hpp"
#include "kiln/tensor/tensor.hpp"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(Tensor, ViewsShareStorageAndContiguousCopies) {
  Tensor t = Tensor::from<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor tt = t.transpose(0, 1);
  EXPECT_EQ(tt.shape(), (Shape{3, 2}));
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.contiguous().to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor row = t.narrow(1, 1, 2);
  EXPECT_EQ(row.to_vector<float>(), (std::vector<float>{1, 2, 4, 5}));
  row.fill_(9);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 9, 9, 3, 9, 9}));
}

TEST(Tensor, ExpandPermuteReshape) {
  Tensor t = Tensor::from<float>({1, 2, 3}, {3, 1});
  Tensor e = t.expand({2, 3, 4});
  EXPECT_EQ(e.strides(), (Strides{0, 1, 0}));
  EXPECT_EQ(e.contiguous().to_vector<float>()[5], 2.0f);
  Tensor p = Tensor::arange(24, DType::f32).view({2, 3, 4}).permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.reshape({4, 6}).to_vector<float>()[1], 4.0f);
  EXPECT_EQ(Tensor::arange(6).view({-1, 2}).shape(), (Shape{3, 2}));
}

TEST(Tensor, DtypeConversions) {
  Tensor t = Tensor::from<float>({1.5f, -2.25f, 3.0f}, {3});
  EXPECT_EQ(t.to(DType::bf16).to(DType::f32).to_vector<float>(), t.to_vector<float>());
  EXPECT_EQ(t.to(DType::i64).to_vector<int64_t>(), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_DOUBLE_EQ(t.to(DType::f64).select(0, 1).item(), -2.25);
  EXPECT_EQ(bf16(1.00390625f).bits, bf16(1.0f).bits);  // ties round to even
}

TEST(Tensor, ErrorsNameBothShapes) {
  Tensor a = Tensor::zeros({2, 3});
  Tensor b = Tensor::zeros({4});
  try {
    check_same_shape(a, b, "add");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f32[2, 3]"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("f32[4]"), std::string::npos);
  }
  EXPECT_THROW(a.view({5}), Error);
  EXPECT_THROW(a.narrow(1, 2, 2), Error);
  EXPECT_THROW(a.data<double>(), Error);
  EXPECT_THROW(broadcast_shapes({2, 3}, {4}, "add"), Error);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

TEST(Storage, ReusesFreedBlocksAndTracksPeak) {
  release_cached_memory();
  { Tensor warm = Tensor::empty({1 << 20}); }
  const MemoryStats before = memory_stats();
  reset_peak_memory();
  for (int step = 0; step < 5; ++step) {
    Tensor a = Tensor::empty({1 << 20});
    Tensor b = Tensor::empty({1 << 10});
    (void)a;
    (void)b;
  }
  const MemoryStats after = memory_stats();
  EXPECT_EQ(after.fresh_allocations - before.fresh_allocations, 1) << "only the small block is new";
  EXPECT_EQ(after.live_bytes, before.live_bytes);
  EXPECT_GE(after.peak_bytes - before.live_bytes, int64_t{4} << 20);
  release_cached_memory();
  EXPECT_EQ(memory_stats().cached_bytes, 0);
}

}  // namespace
}  // namespace kiln
