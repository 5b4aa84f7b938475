// emoe generate: stream a continuation of a prompt and report prefill/decode speed.
#include <cstdio>

#include "app/cli/cli_common.h"
#include "app/cli/cli_db.h"
#include "app/cli/cli_paging.h"
#include "app/cli/commands.h"
#include "core/common/json_writer.h"
#include "core/engine/generator.h"
#include "core/metrics/routing_counters.h"

namespace emoe::cli {

void declare_generate(CommandSpec& spec) {
  spec.required_option("model", 'm', "MODEL", "GGUF model file")
      .required_option("prompt", 'p', "TEXT", "prompt text")
      .option("n-predict", 'n', "N", "tokens to generate", "64")
      .flag("ignore-eos", "keep generating after the end-of-sequence token")
      .flag("special", "parse special-token texts such as <s> in the prompt")
      .flag("json", "print one JSON object instead of streaming");
  declare_engine_options(spec);
  declare_sampling_options(spec);
  declare_paging_options(spec);
  declare_db_options(spec);
}

Status run_generate(const ParsedArgs& args) {
  auto n_predict = args.get_int("n-predict", 0, 1 << 24);
  if (!n_predict.ok()) return n_predict.status();
  auto eopts = engine_options(args);
  if (!eopts.ok()) return eopts.status();
  auto sampling = sampling_options(args);
  if (!sampling.ok()) return sampling.status();
  auto prompt_text = args.get_string("prompt");
  if (!prompt_text.ok()) return prompt_text.status();
  auto model = load_model(args);
  if (!model.ok()) return model.status();
  auto paging = paging_setup(args, **model);
  if (!paging.ok()) return paging.status();
  eopts->experts = paging->access;
  auto engine = engine::Engine::create(**model, *eopts);
  if (!engine.ok()) return engine.status();
  auto seq = (*engine)->new_sequence();
  if (!seq.ok()) return seq.status();

  const tokenizer::Tokenizer& tok = (*model)->tokenizer();
  const std::vector<int32_t> prompt = tok.encode(*prompt_text, true, args.flag("special"));
  const bool json = args.flag("json");

  SessionConfig cfg = session_config(args, "generate");
  cfg.engine = &(*engine)->options();
  cfg.paging = &*paging;
  cfg.sampling = &*sampling;
  cfg.extra = [&](JsonWriter& j) {
    j.key("n_predict").value(*n_predict).key("ignore_eos").value(args.flag("ignore-eos"));
  };
  auto rec = CliRecording::open(args, **model, session_config_json(cfg));
  if (!rec.ok()) return rec.status();
  int64_t request = 0;
  if (*rec) {
    (*rec)->attach(**engine, paging->cache.get());
    auto id = (*rec)->begin_request(*seq, *prompt_text);
    if (!id.ok()) return id.status();
    request = *id;
  }
  Status record_status;
  engine::GenerateOptions gopts;
  gopts.max_new_tokens = static_cast<int32_t>(*n_predict);
  gopts.sampling = *sampling;
  gopts.stop_at_eos = !args.flag("ignore-eos");
  gopts.cancel = &interrupt_flag();
  if (!json) {
    std::fputs(prompt_text->c_str(), stdout);
    std::fflush(stdout);
  }
  bool first = true;
  auto on_token = [&](int32_t id) {
    if (first && *rec) record_status = (*rec)->first_token(request);
    first = false;
    if (!json) {
      std::fputs(tok.token_to_piece(id, false).c_str(), stdout);
      std::fflush(stdout);
    }
    return true;
  };
  metrics::RoutingCounters counters;
  (*engine)->add_observer(&counters);
  auto r = engine::generate(**engine, *seq, prompt, gopts, on_token);
  if (r.ok() && *rec && record_status.is_ok()) {
    record_status = (*rec)->finish_request(*seq, request, static_cast<int64_t>(prompt.size()),
                                           static_cast<int64_t>(r->generated.size()));
  }
  EMOE_RETURN_IF_ERROR(close_recording(rec->get(), r.ok() ? record_status : r.status()));

  const double prefill_tok_s = r->prefill_seconds > 0 ? r->prompt_tokens / r->prefill_seconds : 0;
  const double decode_tok_s = r->decode_seconds > 0 ? r->decode_steps / r->decode_seconds : 0;
  if (json) {
    JsonWriter j;
    j.begin_object().key("prompt_tokens").array(prompt);
    j.key("generated_tokens").array(r->generated);
    j.key("text").value(tok.decode(r->generated, true, false));
    j.key("stop").value(engine::stop_reason_name(r->stop));
    j.key("prefill_tok_s").value(prefill_tok_s).key("decode_tok_s").value(decode_tok_s);
    write_paging_json(j, *paging, counters);
    if (*rec) (*rec)->write_json(j);
    j.end_object();
    std::printf("%s\n", j.str().c_str());
  } else {
    std::printf("\n");
    std::fprintf(stderr,
                 "\nprompt: %lld tokens, %.1f tok/s | decode: %lld steps, %.1f tok/s | stop: %s\n",
                 (long long)r->prompt_tokens, prefill_tok_s, (long long)r->decode_steps,
                 decode_tok_s, engine::stop_reason_name(r->stop));
    if (paging->cache) {
      const experts::CacheStats st = paging->cache->stats();
      std::fprintf(stderr,
                   "paging: %s, budget %s | top-k hits %llu, misses %llu | loads %llu (%s), "
                   "stall %.1f ms, peak %s\n",
                   std::string(engine::routing_mode_name(paging->access.mode)).c_str(),
                   human_bytes(paging->cache->budget_bytes()).c_str(),
                   (unsigned long long)counters.hits, (unsigned long long)counters.misses,
                   (unsigned long long)st.loads, human_bytes(st.bytes_loaded).c_str(),
                   st.stall_micros / 1000.0, human_bytes(st.peak_bytes).c_str());
    }
    if (*rec) (*rec)->print_summary();
  }
  return Status::ok();
}

}  // namespace emoe::cli
