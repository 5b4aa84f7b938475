#include "core/model/model.h"

namespace emoe::model {

Result<std::unique_ptr<Model>> Model::load(const std::string& path) {
  std::unique_ptr<Model> m(new Model());
  auto file = gguf::GgufFile::open(path);
  if (!file.ok()) return file.status();
  m->file_ = std::move(file).value();

  auto config = ModelConfig::from_gguf(*m->file_);
  if (!config.ok()) return config.status().with_context(path);
  m->config_ = std::move(config).value();

  auto tok = tokenizer::Tokenizer::from_gguf(*m->file_);
  if (!tok.ok()) return tok.status().with_context(path);
  m->tokenizer_ = std::move(tok).value();

  auto weights = ModelWeights::bind(*m->file_, m->config_);
  if (!weights.ok()) return weights.status().with_context(path);
  m->weights_ = std::move(weights).value();
  m->config_.n_vocab = m->weights_.token_embd.rows;
  return m;
}

}  // namespace emoe::model
