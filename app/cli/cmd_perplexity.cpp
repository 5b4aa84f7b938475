// emoe perplexity: perplexity of a model over a text file, chunk by chunk with progress.
#include <algorithm>
#include <cstdio>

#include "app/cli/cli_common.h"
#include "app/cli/commands.h"
#include "core/engine/perplexity.h"

namespace emoe::cli {

void declare_perplexity(CommandSpec& spec) {
  spec.required_option("model", 'm', "MODEL", "GGUF model file")
      .required_option("file", 'f', "TEXTFILE", "UTF-8 text to score");
  declare_engine_options(spec);
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
  std::fprintf(stderr, "perplexity: %zu tokens, chunks of %lld\n", tokens.size(),
               static_cast<long long>(eopts->n_ctx));
  auto progress = [](int64_t done, int64_t total) {
    std::fprintf(stderr, "\r  chunk %lld/%lld", static_cast<long long>(done),
                 static_cast<long long>(total));
    return !interrupt_flag().load();
  };
  auto r = engine::perplexity(**engine, tokens, eopts->n_ctx, progress);
  std::fprintf(stderr, "\n");
  if (!r.ok()) return r.status();
  std::printf("perplexity %.4f over %lld tokens in %lld chunks (mean NLL %.5f nats)\n",
              r->perplexity, static_cast<long long>(r->scored_tokens),
              static_cast<long long>(r->chunks), r->mean_nll);
  return Status::ok();
}

}  // namespace emoe::cli
