#include "kiln/tensor/tensor.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "kiln/tensor/strided.hpp"
#include "kiln/tensor/visit.hpp"

namespace kiln {

Tensor::Tensor(std::shared_ptr<Storage> storage, Shape shape, Strides strides, int64_t offset, DType dtype)
    : storage_(std::move(storage)), shape_(std::move(shape)), strides_(std::move(strides)), offset_(offset),
      numel_(numel_of(shape_)), dtype_(dtype) {}

Tensor Tensor::with_geometry(Shape shape, Strides strides, int64_t offset) const {
  return Tensor(storage_, std::move(shape), std::move(strides), offset, dtype_);
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  for (int64_t s : shape) KILN_CHECK(s >= 0, "empty: negative size in shape {}", to_string(shape));
  auto storage = std::make_shared<Storage>(static_cast<size_t>(numel_of(shape)) * dtype_size(dtype));
  return Tensor(std::move(storage), shape, contiguous_strides(shape), 0, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.raw_data(), 0, static_cast<size_t>(t.numel()) * dtype_size(dtype));
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  t.fill_(value);
  return t;
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t = empty({n}, dtype);
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = from_double<T>(static_cast<double>(i));
  });
  return t;
}

template <typename T>
Tensor Tensor::from(std::span<const T> values, const Shape& shape) {
  KILN_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape), "from: {} values do not fill shape {}",
             values.size(), to_string(shape));
  Tensor t = empty(shape, dtype_v<T>);
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}
template Tensor Tensor::from<float>(std::span<const float>, const Shape&);
template Tensor Tensor::from<double>(std::span<const double>, const Shape&);
template Tensor Tensor::from<bf16>(std::span<const bf16>, const Shape&);
template Tensor Tensor::from<int32_t>(std::span<const int32_t>, const Shape&);
template Tensor Tensor::from<int64_t>(std::span<const int64_t>, const Shape&);
template Tensor Tensor::from<uint8_t>(std::span<const uint8_t>, const Shape&);

int64_t Tensor::size(int64_t d) const { return shape_[wrap_dim(d, dim(), "size")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined tensor";
  return fmt::format("{}{}", dtype_name(dtype_), to_string(shape_));
}

void* Tensor::raw_data() const {
  KILN_CHECK(defined(), "data access on an undefined tensor");
  return storage_->data() + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

void Tensor::check_dtype(DType expected) const {
  KILN_CHECK(defined(), "expected a {} tensor, got an undefined tensor", dtype_name(expected));
  KILN_CHECK(dtype_ == expected, "expected a {} tensor, got {}", dtype_name(expected), describe());
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = (dtype_ == dtype_v<T> ? *this : to(dtype_v<T>)).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<bf16> Tensor::to_vector<bf16>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

double Tensor::item() const {
  KILN_CHECK(numel() == 1, "item: expected a single element, got {}", describe());
  return visit_dtype(dtype_, [&](auto tag) { return to_double(*static_cast<const decltype(tag)*>(raw_data())); });
}

Tensor Tensor::view(const Shape& shape) const {
  Shape resolved = shape;
  int64_t known = 1, inferred = -1;
  for (size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      KILN_CHECK(inferred < 0, "view: more than one -1 in {}", to_string(shape));
      inferred = static_cast<int64_t>(i);
    } else {
      known *= resolved[i];
    }
  }
  if (inferred >= 0) {
    KILN_CHECK(known != 0 && numel() % known == 0, "view: cannot view {} as {}", describe(), to_string(shape));
    resolved[inferred] = numel() / known;
  }
  KILN_CHECK(numel_of(resolved) == numel(), "view: cannot view {} as {} (element counts differ)", describe(),
             to_string(shape));
  KILN_CHECK(is_contiguous(), "view: {} is not contiguous; use reshape", describe());
  return with_geometry(resolved, contiguous_strides(resolved), offset_);
}

Tensor Tensor::reshape(const Shape& shape) const { return is_contiguous() ? view(shape) : contiguous().view(shape); }

Tensor Tensor::permute(const std::vector<int64_t>& order) const {
  KILN_CHECK(static_cast<int64_t>(order.size()) == dim(), "permute: order has {} entries for {}", order.size(),
             describe());
  Shape shape(dim());
  Strides strides(dim());
  std::vector<bool> seen(dim(), false);
  for (int64_t i = 0; i < dim(); ++i) {
    const int64_t d = wrap_dim(order[i], dim(), "permute");
    KILN_CHECK(!seen[d], "permute: dimension {} repeated", d);
    seen[d] = true;
    shape[i] = shape_[d];
    strides[i] = strides_[d];
  }
  return with_geometry(shape, strides, offset_);
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  d0 = wrap_dim(d0, dim(), "transpose");
  d1 = wrap_dim(d1, dim(), "transpose");
  Shape shape = shape_;
  Strides strides = strides_;
  std::swap(shape[d0], shape[d1]);
  std::swap(strides[d0], strides[d1]);
  return with_geometry(shape, strides, offset_);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim(), "narrow");
  KILN_CHECK(start >= 0 && length >= 0 && start + length <= shape_[d],
             "narrow: range [{}, {}) is outside dimension {} of {}", start, start + length, d, describe());
  Shape shape = shape_;
  shape[d] = length;
  return with_geometry(shape, strides_, offset_ + start * strides_[d]);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  KILN_CHECK(index >= 0 && index < shape_[d], "select: index {} is outside dimension {} of {}", index, d, describe());
  Shape shape = shape_;
  Strides strides = strides_;
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  return with_geometry(shape, strides, offset_ + index * strides_[d]);
}

Tensor Tensor::expand(const Shape& shape) const {
  KILN_CHECK(shape.size() >= shape_.size(), "expand: cannot expand {} to {}", describe(), to_string(shape));
  const size_t lead = shape.size() - shape_.size();
  Strides strides(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) continue;
    const int64_t own = shape_[i - lead];
    KILN_CHECK(own == shape[i] || own == 1, "expand: cannot expand {} to {}", describe(), to_string(shape));
    strides[i] = own == shape[i] ? strides_[i - lead] : 0;
  }
  return with_geometry(shape, strides, offset_);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape shape = shape_;
  Strides strides = strides_;
  const int64_t stride = d < dim() ? strides_[d] * shape_[d] : 1;
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  return with_geometry(shape, strides, offset_);
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  KILN_CHECK(shape_[d] == 1, "squeeze: dimension {} of {} is not 1", d, describe());
  Shape shape = shape_;
  Strides strides = strides_;
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  return with_geometry(shape, strides, offset_);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape_, dtype_);
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor out = empty(shape_, dtype);
  out.copy_(*this);
  return out;
}

void Tensor::copy_(const Tensor& source) {
  KILN_CHECK(defined() && source.defined(), "copy_: undefined tensor");
  const Tensor src = source.shape() == shape_ ? source : source.expand(shape_);
  if (src.dtype() == dtype_ && src.is_contiguous() && is_contiguous()) {
    std::memmove(raw_data(), src.raw_data(), static_cast<size_t>(numel()) * dtype_size(dtype_));
    return;
  }
  visit_dtype(dtype_, [&](auto dst_tag) {
    using D = decltype(dst_tag);
    visit_dtype(src.dtype(), [&](auto src_tag) {
      using S = decltype(src_tag);
      D* d = static_cast<D*>(raw_data());
      const S* s = static_cast<const S*>(src.raw_data());
      for_each_strided<2>(shape_, {strides_, src.strides()},
                          [&](const std::array<int64_t, 2>& o) { d[o[0]] = convert_scalar<D>(s[o[1]]); });
    });
  });
}

void Tensor::fill_(double value) {
  visit_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    const T v = from_double<T>(value);
    T* d = static_cast<T*>(raw_data());
    if (is_contiguous()) {
      std::fill(d, d + numel(), v);
      return;
    }
    for_each_strided<1>(shape_, {strides_}, [&](const std::array<int64_t, 1>& o) { d[o[0]] = v; });
  });
}

bool Tensor::requires_grad() const { return meta_ && meta_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool enabled) {
  if (enabled) KILN_CHECK(is_floating(dtype_), "set_requires_grad: {} is not a floating-point tensor", describe());
  if (!meta_) meta_ = std::make_shared<AutogradMeta>();
  meta_->requires_grad = enabled;
  return *this;
}

Tensor Tensor::grad() const { return meta_ ? meta_->grad : Tensor(); }

void Tensor::set_grad(const Tensor& grad) const {
  KILN_CHECK(meta_ != nullptr, "set_grad: tensor {} does not track gradients", describe());
  meta_->grad = grad;
}

void Tensor::zero_grad() const {
  if (meta_) meta_->grad = Tensor();
}

Tensor Tensor::detach() const { return Tensor(storage_, shape_, strides_, offset_, dtype_); }

bool Tensor::is_leaf() const { return !meta_ || meta_->grad_fn == nullptr; }

void check_same_shape(const Tensor& a, const Tensor& b, const char* op_name) {
  KILN_CHECK(a.shape() == b.shape(), "{}: shapes {} and {} differ", op_name, a.describe(), b.describe());
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op_name) {
  KILN_CHECK(a.dtype() == b.dtype(), "{}: dtypes of {} and {} differ", op_name, a.describe(), b.describe());
}

}  // namespace kiln
