#include "core/gguf/gguf_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "kernels/cpu/quantize.h"

namespace emoe::gguf {
namespace {

constexpr uint64_t kDefaultAlignment = 32;
// llama.cpp keeps tensor names in a 64-byte buffer including the terminator (GGML_MAX_NAME).
constexpr size_t kMaxTensorName = 63;

struct Shape {
  int64_t n_elements = 0;
  uint64_t n_bytes = 0;
};

Result<Shape> check_shape(const std::string& name, kernels::TensorType type,
                          const std::vector<int64_t>& ne) {
  const std::string ctx = "tensor '" + name + "'";
  const kernels::TypeTraits* tr = kernels::type_traits(type);
  if (!tr) {
    return invalid_argument(ctx + ": unknown type id " +
                            std::to_string(static_cast<uint32_t>(type)));
  }
  if (ne.empty() || ne.size() > 4) {
    return invalid_argument(ctx + ": " + std::to_string(ne.size()) +
                            " dimensions, GGUF allows 1..4");
  }
  uint64_t n = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] < 0) {
      return invalid_argument(ctx + ": ne[" + std::to_string(d) + "] = " + std::to_string(ne[d]) +
                              " is negative");
    }
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(ne[d]), &n) ||
        n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return invalid_argument(ctx + ": element count overflows int64");
    }
  }
  if (ne[0] % tr->block_size != 0) {
    return invalid_argument(ctx + ": ne[0] = " + std::to_string(ne[0]) +
                            " is not a multiple of the " + std::string(tr->name) + " block size " +
                            std::to_string(tr->block_size));
  }
  uint64_t rows = 1;
  for (size_t d = 1; d < ne.size(); ++d) rows *= static_cast<uint64_t>(ne[d]);  // <= n
  Shape s;
  s.n_elements = static_cast<int64_t>(n);
  uint64_t row = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(ne[0] / tr->block_size),
                             static_cast<uint64_t>(tr->type_size), &row) ||
      __builtin_mul_overflow(row, rows, &s.n_bytes)) {
    return invalid_argument(ctx + ": byte size overflows uint64");
  }
  return s;
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// general.alignment as the reader will see it: only a nonzero power-of-two uint32 counts.
bool valid_alignment(const Value& v, uint64_t& out) {
  if (v.type() != ValueType::UInt32) return false;
  const uint64_t a = *v.as_uint();
  if (a == 0 || (a & (a - 1)) != 0) return false;
  out = a;
  return true;
}

class Encoder {
 public:
  explicit Encoder(std::vector<uint8_t>& out) : out_(out) {}

  // resize + memcpy rather than vector::insert, which trips GCC 12's -Wstringop-overflow.
  template <typename T>
  void put(T v) {
    append(&v, sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    append(s.data(), s.size());
  }
  void append(const void* p, size_t n) {
    if (n == 0) return;
    const size_t at = out_.size();
    out_.resize(at + n);
    std::memcpy(out_.data() + at, p, n);
  }
  // The value's payload without its type id (the caller writes that where GGUF wants it).
  void put_value(const Value& v) {
    switch (v.type()) {
      case ValueType::UInt8:
        put(static_cast<uint8_t>(*v.as_uint()));
        break;
      case ValueType::Int8:
        put(static_cast<int8_t>(*v.as_int()));
        break;
      case ValueType::UInt16:
        put(static_cast<uint16_t>(*v.as_uint()));
        break;
      case ValueType::Int16:
        put(static_cast<int16_t>(*v.as_int()));
        break;
      case ValueType::UInt32:
        put(static_cast<uint32_t>(*v.as_uint()));
        break;
      case ValueType::Int32:
        put(static_cast<int32_t>(*v.as_int()));
        break;
      case ValueType::UInt64:
        put(*v.as_uint());
        break;
      case ValueType::Int64:
        put(*v.as_int());
        break;
      case ValueType::Float32:
        put(static_cast<float>(*v.as_double()));
        break;
      case ValueType::Float64:
        put(*v.as_double());
        break;
      case ValueType::Bool:
        put(static_cast<uint8_t>(*v.as_bool() ? 1 : 0));
        break;
      case ValueType::String:
        put_string(*v.as_string());
        break;
      case ValueType::Array:
        put(static_cast<uint32_t>(v.elem_type()));
        put<uint64_t>(v.as_array()->size());
        for (const Value& item : *v.as_array()) put_value(item);
        break;
    }
  }
  void pad_to(uint64_t alignment) {
    out_.resize(static_cast<size_t>(align_up(out_.size(), alignment)), 0);
  }

 private:
  std::vector<uint8_t>& out_;
};

// An array whose items disagree with its element type has no GGUF encoding.
Status check_value(const std::string& key, const Value& v) {
  if (v.type() != ValueType::Array) return Status::ok();
  for (const Value& item : *v.as_array()) {
    if (item.type() != v.elem_type()) {
      return invalid_argument("key '" + key + "': array of " +
                              std::string(value_type_name(v.elem_type())) + " holds a " +
                              std::string(value_type_name(item.type())) + " item");
    }
    EMOE_RETURN_IF_ERROR(check_value(key, item));
  }
  return Status::ok();
}

Status write_all(int fd, const uint8_t* p, size_t n, const std::string& where) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return io_error("write to " + where + " failed: " + std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::ok();
}

}  // namespace

void GgufWriter::set(const std::string& key, Value value) {
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(key, std::move(value));
}

Status GgufWriter::add_tensor(const std::string& name, kernels::TensorType type,
                              std::vector<int64_t> ne, std::span<const uint8_t> data) {
  if (name.size() > kMaxTensorName) {
    return invalid_argument("tensor '" + name + "': name is longer than " +
                            std::to_string(kMaxTensorName) + " bytes (llama.cpp's limit)");
  }
  for (const Tensor& t : tensors_) {
    if (t.name == name) return invalid_argument("tensor '" + name + "' was already added");
  }
  Result<Shape> shape = check_shape(name, type, ne);
  if (!shape.ok()) return shape.status();
  if (data.size() != shape->n_bytes) {
    return invalid_argument("tensor '" + name + "': " + std::to_string(data.size()) +
                            " bytes of data given, type " + std::string(kernels::type_name(type)) +
                            " and this shape need " + std::to_string(shape->n_bytes));
  }
  Tensor t{name, type, std::move(ne), std::vector<uint8_t>(data.begin(), data.end())};
  tensors_.push_back(std::move(t));
  return Status::ok();
}

Status GgufWriter::add_tensor_f32(const std::string& name, kernels::TensorType type,
                                  std::vector<int64_t> ne, std::span<const float> values) {
  Result<Shape> shape = check_shape(name, type, ne);
  if (!shape.ok()) return shape.status();
  if (values.size() != static_cast<uint64_t>(shape->n_elements)) {
    return invalid_argument("tensor '" + name + "': " + std::to_string(values.size()) +
                            " values given, the shape holds " + std::to_string(shape->n_elements));
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(shape->n_bytes));
  const int64_t ne0 = ne[0];
  if (shape->n_elements > 0) {
    const int64_t n_rows = shape->n_elements / ne0;
    const uint64_t row = shape->n_bytes / static_cast<uint64_t>(n_rows);
    for (int64_t r = 0; r < n_rows; ++r) {
      if (!kernels::quantize_row(type, values.data() + r * ne0, bytes.data() + r * row, ne0)) {
        return unsupported("tensor '" + name + "': cannot quantize to " +
                           std::string(kernels::type_name(type)) +
                           "; writable types: " + std::string(kernels::supported_type_list()));
      }
    }
  }
  return add_tensor(name, type, std::move(ne), bytes);
}

std::vector<uint8_t> GgufWriter::header_bytes(uint64_t& alignment) const {
  alignment = kDefaultAlignment;
  for (const auto& [k, v] : metadata_) {
    if (k == "general.alignment") valid_alignment(v, alignment);
  }
  std::vector<uint8_t> out;
  Encoder e(out);
  e.put<uint32_t>(0x46554747);  // "GGUF"
  e.put<uint32_t>(3);
  e.put<uint64_t>(tensors_.size());
  e.put<uint64_t>(metadata_.size());
  for (const auto& [k, v] : metadata_) {
    e.put_string(k);
    e.put(static_cast<uint32_t>(v.type()));
    e.put_value(v);
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    e.put_string(t.name);
    e.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t n : t.ne) e.put<uint64_t>(static_cast<uint64_t>(n));
    e.put(static_cast<uint32_t>(t.type));
    e.put<uint64_t>(offset);
    offset = align_up(offset + t.data.size(), alignment);
  }
  e.pad_to(alignment);
  return out;
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  uint64_t alignment = 0;
  std::vector<uint8_t> out = header_bytes(alignment);
  for (const Tensor& t : tensors_) {
    out.insert(out.end(), t.data.begin(), t.data.end());
    out.resize(static_cast<size_t>(align_up(out.size(), alignment)), 0);
  }
  return out;
}

Status GgufWriter::write(const std::string& path) const {
  for (const auto& [k, v] : metadata_) {
    EMOE_RETURN_IF_ERROR(check_value(k, v));
    uint64_t a = 0;
    if (k == "general.alignment" && !valid_alignment(v, a)) {
      return invalid_argument(
          "key 'general.alignment' must be a nonzero power-of-two uint32, got " +
          std::string(value_type_name(v.type())) + " " + v.to_display_string());
    }
  }
  uint64_t alignment = 0;
  const std::vector<uint8_t> header = header_bytes(alignment);

  // A temporary file in the target's directory, so the final rename cannot cross file systems.
  std::string tmpl = path + ".tmp-XXXXXX";
  const int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) {
    return io_error("cannot create a temporary file next to '" + path +
                    "': " + std::strerror(errno));
  }
  const std::string tmp = tmpl;
  auto fail = [&](Status s) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  };
  // mkostemp creates 0600; a model file is meant to be shared like any other output.
  if (::fchmod(fd, 0644) != 0) {
    return fail(io_error("cannot chmod '" + tmp + "': " + std::strerror(errno)));
  }
  // Streamed tensor by tensor so a large model is not copied a second time in memory.
  const std::string where = "'" + tmp + "'";
  static const uint8_t kZeros[256] = {};
  Status s = write_all(fd, header.data(), header.size(), where);
  uint64_t pos = header.size();
  for (size_t i = 0; s.is_ok() && i < tensors_.size(); ++i) {
    const std::vector<uint8_t>& d = tensors_[i].data;
    s = write_all(fd, d.data(), d.size(), where);
    pos += d.size();
    uint64_t pad = align_up(pos, alignment) - pos;
    pos += pad;
    while (s.is_ok() && pad > 0) {
      const size_t n = pad < sizeof(kZeros) ? static_cast<size_t>(pad) : sizeof(kZeros);
      s = write_all(fd, kZeros, n, where);
      pad -= n;
    }
  }
  if (!s.is_ok()) return fail(s);
  if (::fsync(fd) != 0)
    return fail(io_error("fsync of '" + tmp + "' failed: " + std::strerror(errno)));
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return io_error("close of '" + tmp + "' failed: " + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return io_error("cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(err));
  }
  // Make the rename itself durable; failure here leaves a complete file, so it is ignored.
  const size_t slash = path.find_last_of('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::ok();
}

}  // namespace emoe::gguf
