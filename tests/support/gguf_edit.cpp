#include "tests/support/gguf_edit.h"

#include <algorithm>
#include <optional>
#include <span>

#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_writer.h"

namespace emoe::test {

Status copy_gguf_edited(const std::string& src, const std::string& dst, const GgufEdit& edit) {
  auto in = gguf::GgufFile::open(src);
  if (!in.ok()) return in.status();
  const auto listed = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  gguf::GgufWriter w;
  for (const auto& [key, value] : in.value()->metadata()) {
    if (!listed(edit.drop_keys, key)) w.set(key, value);
  }
  for (const auto& [key, value] : edit.set_keys) w.set(key, value);
  for (const gguf::TensorInfo& t : in.value()->tensors()) {
    if (listed(edit.drop_tensors, t.name)) continue;
    auto re = std::find_if(edit.retype.begin(), edit.retype.end(),
                           [&](const GgufEdit::Retype& r) { return r.name == t.name; });
    if (re == edit.retype.end()) {
      EMOE_RETURN_IF_ERROR(w.add_tensor(t.name, t.type, t.ne, std::span(t.data, t.n_bytes)));
      continue;
    }
    const std::optional<uint64_t> row = kernels::row_bytes(re->type, re->ne.at(0));
    if (!row) return invalid_argument("copy_gguf_edited: no row size for " + t.name);
    uint64_t bytes = *row;
    for (size_t i = 1; i < re->ne.size(); ++i) bytes *= static_cast<uint64_t>(re->ne[i]);
    const std::vector<uint8_t> zeros(static_cast<size_t>(bytes), 0);
    EMOE_RETURN_IF_ERROR(w.add_tensor(t.name, re->type, re->ne, zeros));
  }
  return w.write(dst);
}

}  // namespace emoe::test
