// emoe perplexity: perplexity of a model over a text file, chunk by chunk with progress.
#include <algorithm>
#include <cstdio>

#include "app/cli/cli_common.h"
#include "app/cli/cli_db.h"
#include "app/cli/commands.h"
#include "core/engine/perplexity.h"

namespace emoe::cli {

void declare_perplexity(CommandSpec& spec) {
  spec.required_option("model", 'm', "MODEL", "GGUF model file")
      .required_option("file", 'f', "TEXTFILE", "UTF-8 text to score");
  declare_engine_options(spec);
  declare_db_options(spec);
  // The chunk length defaults to the context size (--ctx), like llama.cpp's perplexity tool.
}

Status run_perplexity(const ParsedArgs& args) {
  auto eopts = engine_options(args);
  if (!eopts.ok()) return eopts.status();
  auto path = args.get_string("file");
  if (!path.ok()) return path.status();
  auto text = read_text_file(*path);
  if (!text.ok()) return text.status();
  auto model = load_model(args);
  if (!model.ok()) return model.status();
  if (eopts->n_ctx == 0) eopts->n_ctx = std::min<int64_t>((*model)->config().n_ctx_train, 512);
  auto engine = engine::Engine::create(**model, *eopts);
  if (!engine.ok()) return engine.status();
  const std::vector<int32_t> tokens = (*model)->tokenizer().encode(*text, true, false);
  const int64_t n_ctx = eopts->n_ctx;

  SessionConfig cfg = session_config(args, "perplexity");
  cfg.engine = &(*engine)->options();
  cfg.extra = [&](JsonWriter& j) {
    j.key("file").value(*path).key("tokens").value(static_cast<int64_t>(tokens.size()));
  };
  auto db = CliRecording::open(args, **model, session_config_json(cfg));
  if (!db.ok()) return db.status();
  // One request per chunk: engine::perplexity() runs every chunk in a fresh sequence, and with
  // one sequence allowed that is always sequence 0, so the request bound to it changes between
  // chunks (in the progress callback).
  constexpr int32_t kSeq = 0;
  const int64_t n_chunks = n_ctx > 0 ? static_cast<int64_t>(tokens.size()) / n_ctx : 0;
  Status record_status;
  int64_t request = 0;
  auto begin_chunk = [&](int64_t c) -> Status {
    if (!*db || c >= n_chunks) return Status::ok();
    const auto first = tokens.begin() + static_cast<std::ptrdiff_t>(c * n_ctx);
    const std::vector<int32_t> chunk(first, first + static_cast<std::ptrdiff_t>(n_ctx));
    auto id = (*db)->begin_request(kSeq, (*model)->tokenizer().decode(chunk, true, false));
    if (!id.ok()) return id.status();
    request = *id;
    return Status::ok();
  };
  if (*db) {
    (*db)->attach(**engine, nullptr);
    EMOE_RETURN_IF_ERROR(begin_chunk(0));
  }

  std::fprintf(stderr, "perplexity: %zu tokens, chunks of %lld\n", tokens.size(),
               static_cast<long long>(n_ctx));
  auto progress = [&](int64_t done, int64_t total) {
    std::fprintf(stderr, "\r  chunk %lld/%lld", static_cast<long long>(done),
                 static_cast<long long>(total));
    const bool go_on = !interrupt_flag().load();
    if (*db && record_status.is_ok()) {
      // The chunk's logits are all there at once: its "first token" is its end.
      record_status = (*db)->first_token(request);
      if (record_status.is_ok()) record_status = (*db)->finish_request(kSeq, request, n_ctx, 0);
      if (record_status.is_ok() && go_on) record_status = begin_chunk(done);
    }
    return go_on;
  };
  auto r = engine::perplexity(**engine, tokens, n_ctx, progress);
  std::fprintf(stderr, "\n");
  EMOE_RETURN_IF_ERROR(close_recording(db->get(), r.ok() ? record_status : r.status()));
  std::printf("perplexity %.4f over %lld tokens in %lld chunks (mean NLL %.5f nats)\n",
              r->perplexity, static_cast<long long>(r->scored_tokens),
              static_cast<long long>(r->chunks), r->mean_nll);
  if (*db) (*db)->print_summary();
  return Status::ok();
}

}  // namespace emoe::cli
