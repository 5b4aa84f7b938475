// emoe trace: the experts the router chose at every position and MoE layer, for the prompt and
// for N greedy decode steps.
#include <cstdio>
#include <map>

#include "app/cli/cli_common.h"
#include "app/cli/cli_db.h"
#include "app/cli/cli_paging.h"
#include "app/cli/commands.h"
#include "core/common/json_writer.h"
#include "core/engine/generator.h"

namespace emoe::cli {
namespace {

struct LayerRoute {
  std::vector<int32_t> used;  // experts computed with (differs from topk in fallback)
  std::vector<float> used_weights;
  std::vector<uint8_t> resident;  // per topk entry
  std::vector<int32_t> topk;
  std::vector<float> weights;  // renormalised (what multiplies the expert outputs)
  std::vector<float> probs;
};

struct PositionRoute {
  int32_t token = 0;
  engine::Phase phase = engine::Phase::Prefill;
  std::map<int32_t, LayerRoute> layers;
};

class TraceRecorder : public engine::ForwardObserver {
 public:
  void on_routing(const engine::RoutingEvent& ev) override {
    PositionRoute& p = positions[ev.pos];
    p.token = ev.token;
    p.phase = ev.phase;
    LayerRoute& l = p.layers[ev.layer];
    l.topk.assign(ev.topk.begin(), ev.topk.end());
    l.weights.assign(ev.weights.begin(), ev.weights.end());
    l.probs.assign(ev.probs.begin(), ev.probs.end());
    l.used.assign(ev.used.begin(), ev.used.end());
    l.used_weights.assign(ev.used_weights.begin(), ev.used_weights.end());
    l.resident.assign(ev.resident.begin(), ev.resident.end());
  }
  std::map<int32_t, PositionRoute> positions;
};

}  // namespace

void declare_trace(CommandSpec& spec) {
  spec.required_option("model", 'm', "MODEL", "GGUF model file")
      .required_option("prompt", 'p', "TEXT", "prompt text")
      .option("n-predict", 'n', "N", "greedy decode steps to trace after the prompt", "0")
      .flag("json", "print one JSON object");
  declare_engine_options(spec);
  declare_paging_options(spec);
  declare_db_options(spec);
}

Status run_trace(const ParsedArgs& args) {
  auto n_predict = args.get_int("n-predict", 0, 1 << 20);
  if (!n_predict.ok()) return n_predict.status();
  auto eopts = engine_options(args);
  if (!eopts.ok()) return eopts.status();
  auto text = args.get_string("prompt");
  if (!text.ok()) return text.status();
  auto model = load_model(args);
  if (!model.ok()) return model.status();
  if (!(*model)->config().is_moe()) return invalid_argument("the model has no experts to trace");
  auto paging = paging_setup(args, **model);
  if (!paging.ok()) return paging.status();
  eopts->experts = paging->access;
  auto engine = engine::Engine::create(**model, *eopts);
  if (!engine.ok()) return engine.status();
  auto seq = (*engine)->new_sequence();
  if (!seq.ok()) return seq.status();
  SessionConfig cfg = session_config(args, "trace");
  cfg.engine = &(*engine)->options();
  cfg.paging = &*paging;
  cfg.extra = [&](JsonWriter& j) { j.key("n_predict").value(*n_predict); };
  auto db = CliRecording::open(args, **model, session_config_json(cfg));
  if (!db.ok()) return db.status();
  const tokenizer::Tokenizer& tok = (*model)->tokenizer();
  const std::vector<int32_t> prompt = tok.encode(*text, true, false);
  int64_t request = 0;
  if (*db) {
    (*db)->attach(**engine, paging->cache.get());
    auto id = (*db)->begin_request(*seq, *text);
    if (!id.ok()) return id.status();
    request = *id;
  }

  TraceRecorder rec;
  metrics::RoutingCounters counters;
  (*engine)->add_observer(&rec);
  (*engine)->add_observer(&counters);
  engine::GenerateOptions g;
  // Tracing N decode steps feeds N sampled tokens back, so N + 1 are sampled; the last one
  // never runs through the model.
  g.max_new_tokens = *n_predict > 0 ? static_cast<int32_t>(*n_predict + 1) : 0;
  g.stop_at_eos = false;
  g.cancel = &interrupt_flag();
  Status record_status;
  bool first = true;
  auto on_token = [&](int32_t) {
    if (first && *db) record_status = (*db)->first_token(request);
    first = false;
    return true;
  };
  auto r = engine::generate(**engine, *seq, prompt, g, on_token);
  (*engine)->remove_observer(&rec);
  if (r.ok() && *db && record_status.is_ok()) {
    // The last sampled token never runs through the model, so it is not part of the trace.
    const int64_t fed = r->generated.empty() ? 0 : static_cast<int64_t>(r->generated.size()) - 1;
    record_status = (*db)->finish_request(*seq, request, static_cast<int64_t>(prompt.size()), fed);
  }
  EMOE_RETURN_IF_ERROR(close_recording(db->get(), r.ok() ? record_status : r.status()));

  if (args.flag("json")) {
    JsonWriter j;
    j.begin_object().key("prompt_tokens").array(prompt);
    std::vector<int32_t> fed(r->generated.begin(),
                             r->generated.end() - (r->generated.empty() ? 0 : 1));
    j.key("generated_tokens").array(fed);
    j.key("n_expert_used").value((*model)->config().n_expert_used);
    j.key("positions").begin_array();
    for (const auto& [pos, p] : rec.positions) {
      j.begin_object().key("pos").value(pos).key("token").value(p.token);
      j.key("phase").value(p.phase == engine::Phase::Prefill ? "prefill" : "decode");
      j.key("layers").begin_array();
      for (const auto& [layer, l] : p.layers) {
        j.begin_object().key("layer").value(layer).key("topk").array(l.topk);
        j.key("weights").array(l.weights).key("probs").array(l.probs);
        j.key("used").array(l.used).key("used_weights").array(l.used_weights);
        std::vector<int32_t> resident(l.resident.begin(), l.resident.end());
        j.key("resident").array(resident).end_object();
      }
      j.end_array().end_object();
    }
    j.end_array();
    write_paging_json(j, *paging, counters);
    if (*db) (*db)->write_json(j);
    j.end_object();
    std::printf("%s\n", j.str().c_str());
    return Status::ok();
  }
  for (const auto& [pos, p] : rec.positions) {
    std::printf("%5d %-7s %-16s", pos, p.phase == engine::Phase::Prefill ? "prefill" : "decode",
                JsonWriter::escape(tok.token_to_piece(p.token, true)).c_str());
    for (const auto& [layer, l] : p.layers) {
      std::printf(" | L%d", layer);
      for (size_t i = 0; i < l.topk.size(); ++i) {
        std::printf(" %d:%.2f%s", l.topk[i], l.weights[i], l.resident[i] ? "" : "(miss)");
      }
      if (l.used != l.topk) {
        std::printf(" ->");
        for (size_t i = 0; i < l.used.size(); ++i) {
          std::printf(" %d:%.2f", l.used[i], l.used_weights[i]);
        }
      }
    }
    std::printf("\n");
  }
  if (*db) (*db)->print_summary();
  return Status::ok();
}

}  // namespace emoe::cli
