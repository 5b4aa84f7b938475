#include "tests/support/fixture_reader.h"

#include <QByteArray>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonValue>
#include <QString>
#include <cstring>

namespace emoe::test {

namespace {

Result<QJsonObject> read_json(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) {
    return io_error("cannot open " + path.toStdString() + ": " + f.errorString().toStdString());
  }
  QJsonParseError err{};
  const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &err);
  if (err.error != QJsonParseError::NoError || !doc.isObject()) {
    return corrupt(path.toStdString() + ": JSON error at offset " + std::to_string(err.offset) +
                   ": " + err.errorString().toStdString());
  }
  return doc.object();
}

// A headerless little-endian float32 file of exactly `expected` values (x86 is little-endian,
// which the fixtures and this project assume).
Result<std::vector<float>> read_f32(const QString& path, int64_t expected) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) {
    return io_error("cannot open " + path.toStdString() + ": " + f.errorString().toStdString());
  }
  const QByteArray bytes = f.readAll();
  if (bytes.size() != expected * static_cast<int64_t>(sizeof(float))) {
    return corrupt(path.toStdString() + ": " + std::to_string(bytes.size()) + " bytes, expected " +
                   std::to_string(expected * 4) + " (" + std::to_string(expected) + " float32)");
  }
  std::vector<float> v(static_cast<size_t>(expected));
  std::memcpy(v.data(), bytes.constData(), static_cast<size_t>(bytes.size()));
  return v;
}

std::vector<int32_t> ints(const QJsonValue& v) {
  std::vector<int32_t> out;
  for (const QJsonValue& x : v.toArray()) out.push_back(x.toInt());
  return out;
}

std::vector<int64_t> ints64(const QJsonValue& v) {
  std::vector<int64_t> out;
  for (const QJsonValue& x : v.toArray()) out.push_back(x.toInteger());
  return out;
}

std::vector<float> floats(const QJsonValue& v) {
  std::vector<float> out;
  for (const QJsonValue& x : v.toArray()) out.push_back(static_cast<float>(x.toDouble()));
  return out;
}

std::vector<double> doubles(const QJsonValue& v) {
  std::vector<double> out;
  for (const QJsonValue& x : v.toArray()) out.push_back(x.toDouble());
  return out;
}

std::vector<std::vector<int32_t>> ints2(const QJsonValue& v) {
  std::vector<std::vector<int32_t>> out;
  for (const QJsonValue& x : v.toArray()) out.push_back(ints(x));
  return out;
}

std::vector<std::vector<float>> floats2(const QJsonValue& v) {
  std::vector<std::vector<float>> out;
  for (const QJsonValue& x : v.toArray()) out.push_back(floats(x));
  return out;
}

// [[id, logit], ...]
std::vector<TopEntry> top_list(const QJsonValue& v) {
  std::vector<TopEntry> out;
  for (const QJsonValue& pair : v.toArray()) {
    const QJsonArray a = pair.toArray();
    out.push_back({a.at(0).toInt(), static_cast<float>(a.at(1).toDouble())});
  }
  return out;
}

std::string hex_text(const QJsonValue& v) {
  const QByteArray b = QByteArray::fromHex(v.toString().toLatin1());
  return std::string(b.constData(), static_cast<size_t>(b.size()));
}

Status check(bool ok, const std::string& what) { return ok ? Status::ok() : corrupt(what); }

Status load_prompt(const QDir& dir, const QJsonObject& p, Fixture& fx, PromptRef& out) {
  out.index = p.value("index").toInt();
  out.name = p.value("name").toString().toStdString();
  out.text = hex_text(p.value("text_hex"));
  out.n_tokens = p.value("n_tokens").toInteger();
  out.token_ids = ints(p.value("token_ids"));
  out.argmax = ints(p.value("argmax"));
  out.logsumexp = doubles(p.value("logsumexp"));
  for (const QJsonValue& row : p.value("top10").toArray()) out.top10.push_back(top_list(row));
  out.min_routing_margin = p.value("min_routing_margin").toDouble();

  const QJsonObject g = p.value("greedy").toObject();
  out.greedy.token_ids = ints(g.value("token_ids"));
  out.greedy.top1_top2_gap = floats(g.value("top1_top2_gap"));
  for (const QJsonValue& row : g.value("step_top10").toArray()) {
    out.greedy.step_top10.push_back(top_list(row));
  }
  out.greedy.step_logsumexp = doubles(g.value("step_logsumexp"));
  out.greedy.text = g.value("text").toString().toStdString();

  const std::string where = "prompt " + std::to_string(out.index) + ": ";
  const auto n = static_cast<size_t>(out.n_tokens);
  EMOE_RETURN_IF_ERROR(check(out.token_ids.size() == n && out.argmax.size() == n &&
                                 out.logsumexp.size() == n && out.top10.size() == n,
                             where + "per-position arrays do not have n_tokens entries"));
  for (const auto& row : out.top10) {
    EMOE_RETURN_IF_ERROR(check(row.size() == 10, where + "top10 row without 10 entries"));
  }
  const size_t n_gen = out.greedy.token_ids.size();
  EMOE_RETURN_IF_ERROR(check(n_gen > 0 && out.greedy.top1_top2_gap.size() == n_gen &&
                                 out.greedy.step_top10.size() == n_gen &&
                                 out.greedy.step_logsumexp.size() == n_gen,
                             where + "greedy arrays disagree in length"));

  const QJsonObject files = p.value("files").toObject();
  out.last3_positions = ints64(files.value("logits_last3_positions"));
  const auto R = static_cast<int64_t>(out.last3_positions.size());
  EMOE_RETURN_IF_ERROR(check(R >= 1 && R <= 3, where + "bad logits_last3_positions"));
  auto last3 = read_f32(dir.filePath(files.value("logits_last3").toString()), R * fx.n_vocab);
  if (!last3.ok()) return last3.status();
  out.logits_last3 = std::move(last3.value());
  auto sub =
      read_f32(dir.filePath(files.value("logits_sub").toString()), out.n_tokens * fx.n_sub());
  if (!sub.ok()) return sub.status();
  out.logits_sub = std::move(sub.value());
  auto hid = read_f32(dir.filePath(files.value("hidden").toString()),
                      fx.n_layer * out.n_tokens * fx.n_embd);
  if (!hid.ok()) return hid.status();
  out.hidden = std::move(hid.value());
  return Status::ok();
}

Status load_routing(const QJsonObject& prompt_routing, const Fixture& fx, PromptRef& out) {
  const std::string where = "routing.json prompt " + std::to_string(out.index) + ": ";
  EMOE_RETURN_IF_ERROR(check(prompt_routing.value("n_prompt").toInteger() == out.n_tokens,
                             where + "n_prompt differs from index.json"));
  out.routing_positions = ints64(prompt_routing.value("positions"));
  const size_t n_pos = out.routing_positions.size();
  for (size_t i = 0; i < n_pos; ++i) {
    EMOE_RETURN_IF_ERROR(check(out.routing_positions[i] == static_cast<int64_t>(i),
                               where + "positions are not 0..n_pos-1"));
  }
  for (const QJsonValue& lv : prompt_routing.value("layers").toArray()) {
    const QJsonObject l = lv.toObject();
    LayerRoutingRef r;
    r.layer = l.value("layer").toInt();
    r.topk = ints2(l.value("topk"));
    r.weights = floats2(l.value("weights"));
    r.weights_norm = floats2(l.value("weights_norm"));
    r.router_logits = floats2(l.value("router_logits"));
    r.probs = floats2(l.value("probs"));
    r.margin = floats(l.value("margin"));
    const std::string lw = where + "layer " + std::to_string(r.layer) + ": ";
    EMOE_RETURN_IF_ERROR(check(
        r.topk.size() == n_pos && r.weights.size() == n_pos && r.weights_norm.size() == n_pos &&
            r.router_logits.size() == n_pos && r.probs.size() == n_pos && r.margin.size() == n_pos,
        lw + "arrays do not cover every position"));
    for (size_t i = 0; i < n_pos; ++i) {
      EMOE_RETURN_IF_ERROR(check(static_cast<int64_t>(r.topk[i].size()) == fx.n_expert_used &&
                                     static_cast<int64_t>(r.probs[i].size()) == fx.n_expert &&
                                     static_cast<int64_t>(r.router_logits[i].size()) == fx.n_expert,
                                 lw + "bad entry width at position " + std::to_string(i)));
    }
    out.routing.push_back(std::move(r));
  }
  EMOE_RETURN_IF_ERROR(check(static_cast<int64_t>(out.routing.size()) == fx.n_layer,
                             where + "not one entry per layer"));
  for (int64_t L = 0; L < fx.n_layer; ++L) {
    EMOE_RETURN_IF_ERROR(check(out.routing[L].layer == L, where + "layers out of order"));
  }
  return Status::ok();
}

VariantRef load_variant(const QJsonObject& v) {
  VariantRef r;
  r.description = v.value("description").toString().toStdString();
  r.max_abs_prompt = v.value("max_abs_prompt").toDouble();
  r.max_abs_gen = v.value("max_abs_gen").toDouble();
  r.max_abs_probs = v.value("max_abs_probs").toDouble();
  r.max_abs_lout = v.value("max_abs_lout").toDouble();
  r.argmax_mismatch = v.value("argmax_mismatch").toInteger();
  r.topk_set_mismatch = v.value("topk_set_mismatch").toInteger();
  r.greedy_equal = v.value("greedy_equal").toBool();
  return r;
}

}  // namespace

const float* PromptRef::full_row(int64_t pos, int64_t n_vocab) const {
  for (size_t r = 0; r < last3_positions.size(); ++r) {
    if (last3_positions[r] == pos) return logits_last3.data() + static_cast<int64_t>(r) * n_vocab;
  }
  return nullptr;
}

std::string fixture_ref_dir(const std::string& model_folder) {
  return std::string(EMOE_TEST_DATA_DIR) + "/" + model_folder + "/ref";
}

Result<Fixture> Fixture::load(const std::string& ref_dir) {
  Fixture fx;
  fx.ref_dir = ref_dir;
  const QDir dir(QString::fromStdString(ref_dir));
  auto index = read_json(dir.filePath("index.json"));
  if (!index.ok()) return index.status();
  const QJsonObject& idx = index.value();

  fx.model_name = idx.value("model_name").toString().toStdString();
  fx.model_path =
      QFileInfo(dir.filePath(idx.value("model_file").toString())).absoluteFilePath().toStdString();
  const QJsonObject hp = idx.value("hparams").toObject();
  fx.n_layer = hp.value("n_layer").toInteger();
  fx.n_embd = hp.value("n_embd").toInteger();
  fx.n_head = hp.value("n_head").toInteger();
  fx.n_head_kv = hp.value("n_head_kv").toInteger();
  fx.n_ff = hp.value("n_ff").toInteger();
  fx.n_expert = hp.value("n_expert").toInteger();
  fx.n_expert_used = hp.value("n_expert_used").toInteger();
  fx.rms_eps = hp.value("rms_eps").toDouble();
  fx.rope_freq_base = hp.value("rope_freq_base").toDouble();
  fx.n_vocab = idx.value("n_vocab").toInteger();
  fx.sub_vocab_ids = ints(idx.value("sub_vocab_ids"));
  fx.min_greedy_gap = idx.value("min_greedy_gap").toDouble();
  fx.min_routing_margin = idx.value("min_routing_margin").toDouble();
  if (fx.n_layer <= 0 || fx.n_embd <= 0 || fx.n_vocab <= 0 || fx.sub_vocab_ids.empty()) {
    return corrupt(ref_dir + "/index.json: missing hparams, n_vocab or sub_vocab_ids");
  }

  for (const QJsonValue& pv : idx.value("prompts").toArray()) {
    PromptRef p;
    EMOE_RETURN_IF_ERROR(load_prompt(dir, pv.toObject(), fx, p).with_context(ref_dir));
    fx.prompts.push_back(std::move(p));
  }
  for (size_t i = 0; i < fx.prompts.size(); ++i) {
    if (fx.prompts[i].index != static_cast<int>(i)) {
      return corrupt(ref_dir + "/index.json: prompts are not in index order");
    }
  }

  const QJsonObject variants = idx.value("variants_vs_this_reference").toObject();
  for (auto it = variants.begin(); it != variants.end(); ++it) {
    const QJsonObject v = it.value().toObject();
    fx.variants[it.key().toStdString()] = load_variant(v);
    if (it.key() == "kv16" && v.contains("reference")) {
      const QJsonObject r = v.value("reference").toObject();
      Kv16Ref k;
      k.greedy = ints2(r.value("greedy"));
      k.argmax = ints2(r.value("argmax"));
      for (const QJsonValue& pv : r.value("topk").toArray()) {
        std::vector<std::vector<std::vector<int32_t>>> per_layer;
        for (const QJsonValue& lv : pv.toArray()) per_layer.push_back(ints2(lv));
        k.topk.push_back(std::move(per_layer));
      }
      if (k.greedy.size() != fx.prompts.size() || k.argmax.size() != fx.prompts.size() ||
          k.topk.size() != fx.prompts.size()) {
        return corrupt(ref_dir + "/index.json: kv16.reference is not per prompt");
      }
      fx.kv16 = std::move(k);
    }
  }

  auto routing = read_json(dir.filePath("routing.json"));
  if (!routing.ok()) return routing.status();
  const QJsonObject& rj = routing.value();
  fx.topk_weights_renormalized = rj.value("topk_weights_renormalized").toBool(true);
  if (rj.value("n_layer").toInteger() != fx.n_layer ||
      rj.value("n_expert").toInteger() != fx.n_expert ||
      rj.value("n_expert_used").toInteger() != fx.n_expert_used) {
    return corrupt(ref_dir +
                   "/routing.json: n_layer/n_expert/n_expert_used differ from index.json");
  }
  const QJsonArray rprompts = rj.value("prompts").toArray();
  if (static_cast<size_t>(rprompts.size()) != fx.prompts.size()) {
    return corrupt(ref_dir + "/routing.json: prompt count differs from index.json");
  }
  for (const QJsonValue& pv : rprompts) {
    const QJsonObject po = pv.toObject();
    const int i = po.value("index").toInt(-1);
    if (i < 0 || static_cast<size_t>(i) >= fx.prompts.size()) {
      return corrupt(ref_dir + "/routing.json: bad prompt index");
    }
    EMOE_RETURN_IF_ERROR(load_routing(po, fx, fx.prompts[static_cast<size_t>(i)]));
  }
  return fx;
}

}  // namespace emoe::test
