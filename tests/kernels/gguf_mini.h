// A minimal read-only GGUF v2/v3 tensor directory for the kernel tests, independent of core's
// reader: it locates tensors in the llama.cpp fixture files so quantizers can be checked
// against bytes written by gguf-py.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace kernels_test {

struct MiniTensor {
  uint32_t type = 0;
  std::vector<uint64_t> ne;
  uint64_t offset = 0;  // from the start of the data section
};

class MiniGguf {
 public:
  explicit MiniGguf(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    bytes_.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    ok_ = parse();
  }
  bool ok() const { return ok_; }
  const MiniTensor* find(const std::string& name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
  }
  const unsigned char* data(const MiniTensor& t) const {
    return reinterpret_cast<const unsigned char*>(bytes_.data()) + data_start_ + t.offset;
  }

 private:
  template <typename T>
  T get() {
    T v{};
    if (pos_ + sizeof(T) > bytes_.size()) {
      bad_ = true;
      return v;
    }
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str() {
    const auto n = get<uint64_t>();
    if (bad_ || pos_ + n > bytes_.size()) {
      bad_ = true;
      return {};
    }
    std::string s(bytes_.data() + pos_, n);
    pos_ += n;
    return s;
  }
  void skip_value(uint32_t type) {
    static const size_t kSize[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
      str();
    } else if (type == 9) {
      const auto et = get<uint32_t>();
      const auto n = get<uint64_t>();
      for (uint64_t i = 0; i < n && !bad_; ++i) skip_value(et);
    } else if (type < 13) {
      pos_ += kSize[type];
    } else {
      bad_ = true;
    }
  }
  bool parse() {
    if (bytes_.size() < 24 || std::memcmp(bytes_.data(), "GGUF", 4) != 0) return false;
    pos_ = 4;
    get<uint32_t>();  // version
    const auto n_tensors = get<uint64_t>();
    const auto n_kv = get<uint64_t>();
    uint64_t alignment = 32;
    for (uint64_t i = 0; i < n_kv && !bad_; ++i) {
      const std::string key = str();
      const auto type = get<uint32_t>();
      if (key == "general.alignment" && type == 4) {
        alignment = get<uint32_t>();
      } else {
        skip_value(type);
      }
    }
    for (uint64_t i = 0; i < n_tensors && !bad_; ++i) {
      const std::string name = str();
      MiniTensor t;
      const auto n_dims = get<uint32_t>();
      for (uint32_t d = 0; d < n_dims; ++d) t.ne.push_back(get<uint64_t>());
      t.type = get<uint32_t>();
      t.offset = get<uint64_t>();
      tensors_[name] = t;
    }
    data_start_ = (pos_ + alignment - 1) / alignment * alignment;
    return !bad_ && data_start_ <= bytes_.size();
  }

  std::vector<char> bytes_;
  std::map<std::string, MiniTensor> tensors_;
  size_t pos_ = 0;
  size_t data_start_ = 0;
  bool bad_ = false;
  bool ok_ = false;
};

}  // namespace kernels_test
