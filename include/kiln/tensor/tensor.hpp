#pragma once
// Tensor: a typed, strided view of a shared Storage, plus optional autograd
// metadata. Copying a Tensor copies the handle (like torch.Tensor); use
// clone() for a deep copy. Views (reshape, permute, transpose, narrow, expand)
// share storage. The methods here do not record gradients; the differentiable
// versions live in kiln/autograd/ops.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kiln/base/error.hpp"
#include "kiln/tensor/dtype.hpp"
#include "kiln/tensor/shape.hpp"
#include "kiln/tensor/storage.hpp"

namespace kiln {

namespace autograd {
class Node;
}

struct AutogradMeta;

class Tensor {
 public:
  Tensor() = default;

  // Factories -------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::f32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32);
  static Tensor ones(const Shape& shape, DType dtype = DType::f32) { return full(shape, 1.0, dtype); }
  static Tensor scalar(double value, DType dtype = DType::f32) { return full({}, value, dtype); }
  static Tensor arange(int64_t n, DType dtype = DType::i64);
  template <typename T>
  static Tensor from(std::span<const T> values, const Shape& shape);
  template <typename T>
  static Tensor from(const std::vector<T>& values, const Shape& shape) {
    return from(std::span<const T>(values), shape);
  }
  static Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
  static Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype()); }

  // Metadata --------------------------------------------------------------
  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  int64_t offset() const { return offset_; }
  bool is_contiguous() const;
  std::string describe() const;  // "f32[2, 3]"
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Data access: typed pointer to element 0 (offset applied); checks dtype.
  template <typename T>
  T* data() const {
    check_dtype(dtype_v<T>);
    return reinterpret_cast<T*>(raw_data());
  }
  void* raw_data() const;
  template <typename T>
  std::vector<T> to_vector() const;  // in logical (row-major) order
  double item() const;               // single-element tensors of any dtype

  // Views and copies ------------------------------------------------------
  Tensor view(const Shape& shape) const;  // requires compatible strides
  Tensor reshape(const Shape& shape) const;  // view when possible, else copy
  Tensor permute(const std::vector<int64_t>& order) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops `dim`
  Tensor expand(const Shape& shape) const;          // broadcast view (stride 0)
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor contiguous() const;  // this if already contiguous
  Tensor clone() const;       // always a fresh contiguous copy
  Tensor to(DType dtype) const;
  void copy_(const Tensor& source);  // same shape (or broadcastable into this)
  void fill_(double value);
  void zero_() { fill_(0.0); }

  // Autograd handles (behaviour lives in kiln/autograd) --------------------
  bool requires_grad() const;
  Tensor& set_requires_grad(bool enabled);
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  void zero_grad() const;
  const std::shared_ptr<AutogradMeta>& autograd_meta() const { return meta_; }
  std::shared_ptr<AutogradMeta>& mutable_autograd_meta() { return meta_; }
  Tensor detach() const;  // same data, no autograd history
  bool is_leaf() const;

  void check_dtype(DType expected) const;
  bool same_data(const Tensor& other) const { return storage_ == other.storage_ && offset_ == other.offset_; }

 private:
  Tensor(std::shared_ptr<Storage> storage, Shape shape, Strides strides, int64_t offset, DType dtype);
  Tensor with_geometry(Shape shape, Strides strides, int64_t offset) const;

  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Strides strides_;
  int64_t offset_ = 0;
  int64_t numel_ = 1;  // cached: element loops test it on every iteration
  DType dtype_ = DType::f32;
  std::shared_ptr<AutogradMeta> meta_;
};

// Autograd metadata of a tensor. grad_fn is the node that produced it (null
// for leaves); accumulator caches the leaf's AccumulateGrad node while a graph
// that uses it is alive.
struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<autograd::Node> grad_fn;
  int output_nr = 0;
  std::weak_ptr<autograd::Node> accumulator;
  // Called each time a backward pass has added into `grad` (data-parallel
  // training starts reducing a gradient as soon as it is final).
  std::function<void()> on_grad_accumulated;
};

// Errors that name both shapes, e.g. "add: shapes f32[2, 3] and f32[4] do not broadcast".
void check_same_shape(const Tensor& a, const Tensor& b, const char* op_name);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op_name);

// Calls fn(offset_a, offset_b, ...) style iteration is in strided.hpp.
}  // namespace kiln
