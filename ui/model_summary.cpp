#include "ui/model_summary.h"

#include <QFileInfo>
#include <QStringList>
#include <string>

#include "core/gguf/gguf_file.h"
#include "core/model/model.h"
#include "core/model/model_config.h"
#include "kernels/tensor_type.h"

namespace emoe::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

// Arrays longer than this are shown as "[32000 strings]" in the Model dock.
constexpr size_t kMaxShownItems = 16;
// Longer values (chat templates) are cut; the dock is a table, not a viewer.
constexpr int kMaxValueChars = 512;

QString display_value(const gguf::Value& v) {
  if (const gguf::Value::Array* a = v.as_array(); a && a->size() > kMaxShownItems) {
    return QStringLiteral("[%1 %2s]")
        .arg(a->size())
        .arg(qs(std::string(gguf::value_type_name(v.elem_type()))));
  }
  QString s = qs(v.to_display_string(kMaxShownItems));
  if (s.size() > kMaxValueChars) {
    const qsizetype n = s.size();
    s.truncate(kMaxValueChars);
    s += QStringLiteral("... (%1 characters)").arg(n);
  }
  return s;
}

}  // namespace

ModelSummary summarize_model(const model::Model& m, const QString& path) {
  const model::ModelConfig& c = m.config();
  const gguf::GgufFile& f = m.file();
  ModelSummary s;
  s.path = path;
  s.name = c.name.empty() ? QFileInfo(path).fileName() : qs(c.name);
  s.arch = qs(c.arch);
  s.file_bytes = f.file_size();
  s.n_layer = static_cast<int32_t>(c.n_layer);
  s.n_embd = static_cast<int32_t>(c.n_embd);
  s.n_head = static_cast<int32_t>(c.n_head);
  s.n_head_kv = static_cast<int32_t>(c.n_head_kv);
  s.n_vocab = static_cast<int32_t>(c.n_vocab);
  s.n_expert = static_cast<int32_t>(c.n_expert);
  s.n_expert_used = static_cast<int32_t>(c.n_expert_used);
  s.n_ff = static_cast<int32_t>(c.n_ff);
  s.n_ff_exp = static_cast<int32_t>(c.n_ff_exp);
  s.n_embd_head = static_cast<int32_t>(c.n_embd_head);
  s.n_ctx_train = c.n_ctx_train;
  s.dense_bytes = m.weights().dense_bytes;
  s.all_expert_bytes = m.weights().expert_bytes;
  s.expert_bytes_per_layer = c.is_moe() ? m.weights().bytes_per_expert(0) : 0;
  s.kv_bytes_per_token = 2ull * static_cast<uint64_t>(c.n_embd_kv()) *
                         static_cast<uint64_t>(c.n_layer) * sizeof(float);
  s.metadata.reserve(f.metadata().size());
  for (const auto& [key, value] : f.metadata())
    s.metadata.emplace_back(qs(key), display_value(value));
  s.tensors.reserve(f.tensors().size());
  for (const gguf::TensorInfo& t : f.tensors()) {
    TensorRow r;
    r.name = qs(t.name);
    r.type = qs(std::string(kernels::type_name(t.type)));
    QStringList dims;
    for (int64_t d : t.ne) dims << QString::number(d);
    r.shape = dims.join(QStringLiteral(" x "));
    r.bytes = t.n_bytes;
    r.expert = t.name.find("_exps") != std::string::npos;
    s.tensors.push_back(std::move(r));
  }
  return s;
}

}  // namespace emoe::ui
