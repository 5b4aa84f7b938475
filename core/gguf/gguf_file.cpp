#include "core/gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <new>

#include "core/gguf/gguf_parser.h"

namespace emoe::gguf {
namespace {

constexpr std::align_val_t kBufferAlignment{64};

std::string quoted(std::string_view key) { return "metadata key '" + std::string(key) + "'"; }

std::string type_description(const Value& v) {
  std::string s(value_type_name(v.type()));
  if (v.type() == ValueType::Array) s += " of " + std::string(value_type_name(v.elem_type()));
  return s;
}

Status wrong_type(std::string_view key, const Value& v, std::string_view expected) {
  return invalid_argument(quoted(key) + " has type " + type_description(v) + ", expected " +
                          std::string(expected));
}

bool is_integer_type(ValueType t) {
  switch (t) {
    case ValueType::UInt8:
    case ValueType::Int8:
    case ValueType::UInt16:
    case ValueType::Int16:
    case ValueType::UInt32:
    case ValueType::Int32:
    case ValueType::UInt64:
    case ValueType::Int64:
      return true;
    default:
      return false;
  }
}

// Narrowing a float64 beyond float32's range is undefined behaviour in C++; IEEE's answer
// (infinity) is what a caller expects.
float to_float(double d) {
  if (d > std::numeric_limits<float>::max()) return std::numeric_limits<float>::infinity();
  if (d < -std::numeric_limits<float>::max()) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(d);
}

bool is_numeric_type(ValueType t) {
  return is_integer_type(t) || t == ValueType::Float32 || t == ValueType::Float64;
}

}  // namespace

void GgufFile::AlignedFree::operator()(uint8_t* p) const {
  ::operator delete[](p, kBufferAlignment);
}

GgufFile::~GgufFile() {
  if (mapping_) ::munmap(mapping_, static_cast<size_t>(size_));
}

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
  const std::string where = "'" + path + "'";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open " + where + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return io_error("cannot stat " + where + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return io_error(where + " is not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    return corrupt(where + ": not a GGUF file: the file is empty");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  // The mapping keeps the file alive; the descriptor is not needed any more.
  ::close(fd);
  if (m == MAP_FAILED) return io_error("cannot mmap " + where + ": " + std::strerror(map_err));

  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->mapping_ = m;
  f->base_ = static_cast<const uint8_t*>(m);
  f->size_ = size;
  Status s = Parser::run(*f);
  if (!s.is_ok()) return s.with_context(path);
  return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::from_bytes(std::span<const uint8_t> bytes) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  if (!bytes.empty()) {
    f->owned_.reset(static_cast<uint8_t*>(::operator new[](bytes.size(), kBufferAlignment)));
    std::memcpy(f->owned_.get(), bytes.data(), bytes.size());
  }
  f->base_ = f->owned_.get();
  f->size_ = bytes.size();
  Status s = Parser::run(*f);
  if (!s.is_ok()) return s;
  return f;
}

const Value* GgufFile::find(std::string_view key) const {
  for (const auto& [k, v] : metadata_) {
    if (k == key) return &v;
  }
  return nullptr;
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Result<uint64_t> GgufFile::get_uint(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found(quoted(key) + " not found");
  if (!is_integer_type(v->type())) return wrong_type(key, *v, "an unsigned integer");
  if (auto u = v->as_uint()) return *u;
  return invalid_argument(quoted(key) + " is " + v->to_display_string() +
                          ", expected a non-negative integer");
}

Result<int64_t> GgufFile::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found(quoted(key) + " not found");
  if (!is_integer_type(v->type())) return wrong_type(key, *v, "an integer");
  if (auto i = v->as_int()) return *i;
  return invalid_argument(quoted(key) + " is " + v->to_display_string() +
                          ", which does not fit in int64");
}

Result<double> GgufFile::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found(quoted(key) + " not found");
  if (!is_numeric_type(v->type())) return wrong_type(key, *v, "a number");
  return *v->as_double();
}

Result<bool> GgufFile::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found(quoted(key) + " not found");
  if (v->type() != ValueType::Bool) return wrong_type(key, *v, "bool");
  return *v->as_bool();
}

Result<std::string> GgufFile::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found(quoted(key) + " not found");
  if (v->type() != ValueType::String) return wrong_type(key, *v, "string");
  return *v->as_string();
}

Result<std::vector<std::string>> GgufFile::get_string_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found(quoted(key) + " not found");
  if (v->type() != ValueType::Array || v->elem_type() != ValueType::String) {
    return wrong_type(key, *v, "an array of string");
  }
  std::vector<std::string> out;
  out.reserve(v->as_array()->size());
  for (const Value& item : *v->as_array()) out.push_back(*item.as_string());
  return out;
}

Result<std::vector<float>> GgufFile::get_float_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found(quoted(key) + " not found");
  if (v->type() != ValueType::Array || !is_numeric_type(v->elem_type())) {
    return wrong_type(key, *v, "an array of numbers");
  }
  std::vector<float> out;
  out.reserve(v->as_array()->size());
  for (const Value& item : *v->as_array()) out.push_back(to_float(*item.as_double()));
  return out;
}

Result<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found(quoted(key) + " not found");
  if (v->type() != ValueType::Array || !is_integer_type(v->elem_type())) {
    return wrong_type(key, *v, "an array of integers");
  }
  const Value::Array& items = *v->as_array();
  std::vector<int64_t> out;
  out.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    auto x = items[i].as_int();
    if (!x) {
      return invalid_argument(quoted(key) + ": item " + std::to_string(i) + " = " +
                              items[i].to_display_string() + " does not fit in int64");
    }
    out.push_back(*x);
  }
  return out;
}

}  // namespace emoe::gguf
