// emoe logits: one batched forward pass over the prompt; every position's logits go to a file
// as little-endian float32 [n_tokens][n_vocab], the token ids to stdout as JSON.
#include <algorithm>
#include <bit>
#include <cstdio>
#include <fstream>

#include "app/cli/cli_common.h"
#include "app/cli/cli_db.h"
#include "app/cli/commands.h"
#include "core/common/json_writer.h"

namespace emoe::cli {

static_assert(std::endian::native == std::endian::little, "logits files are little-endian");

void declare_logits(CommandSpec& spec) {
  spec.required_option("model", 'm', "MODEL", "GGUF model file")
      .required_option("prompt", 'p', "TEXT", "prompt text")
      .required_option("out", 'o', "FILE", "output file for float32 logits")
      .flag("special", "parse special-token texts such as <s> in the prompt");
  declare_engine_options(spec);
  declare_db_options(spec);
}

Status run_logits(const ParsedArgs& args) {
  auto eopts = engine_options(args);
  if (!eopts.ok()) return eopts.status();
  auto text = args.get_string("prompt");
  if (!text.ok()) return text.status();
  auto out_path = args.get_string("out");
  if (!out_path.ok()) return out_path.status();
  auto model = load_model(args);
  if (!model.ok()) return model.status();
  const std::vector<int32_t> ids = (*model)->tokenizer().encode(*text, true, args.flag("special"));
  if (ids.empty()) return invalid_argument("the prompt has no tokens");
  if (eopts->n_ctx == 0) eopts->n_ctx = std::max<int64_t>(static_cast<int64_t>(ids.size()), 1);
  auto engine = engine::Engine::create(**model, *eopts);
  if (!engine.ok()) return engine.status();
  auto seq = (*engine)->new_sequence();
  if (!seq.ok()) return seq.status();
  SessionConfig cfg = session_config(args, "logits");
  cfg.engine = &(*engine)->options();
  auto db = CliRecording::open(args, **model, session_config_json(cfg));
  if (!db.ok()) return db.status();
  int64_t request = 0;
  if (*db) {
    (*db)->attach(**engine, nullptr);
    auto id = (*db)->begin_request(*seq, *text);
    if (!id.ok()) return id.status();
    request = *id;
  }
  engine::Batch batch;
  for (size_t i = 0; i < ids.size(); ++i) {
    batch.push_back({ids[i], *seq, static_cast<int32_t>(i), true, engine::Phase::Prefill});
  }
  std::vector<float> logits;
  Status st = (*engine)->decode(batch, &logits);
  if (st.is_ok() && *db) {
    // Every position's logits arrive together: the first "token" is ready when they are.
    st = (*db)->first_token(request);
    if (st.is_ok()) {
      st = (*db)->finish_request(*seq, request, static_cast<int64_t>(ids.size()), 0);
    }
  }
  EMOE_RETURN_IF_ERROR(close_recording(db->get(), st));

  std::ofstream out(*out_path, std::ios::binary | std::ios::trunc);
  if (!out) return io_error("cannot create '" + *out_path + "'");
  out.write(reinterpret_cast<const char*>(logits.data()),
            static_cast<std::streamsize>(logits.size() * sizeof(float)));
  out.close();
  if (!out) return io_error("cannot write '" + *out_path + "'");
  JsonWriter j;
  j.begin_object().key("tokens").array(ids).key("n_vocab").value((*model)->config().n_vocab);
  if (*db) (*db)->write_json(j);
  j.end_object();
  std::printf("%s\n", j.str().c_str());
  return Status::ok();
}

}  // namespace emoe::cli
