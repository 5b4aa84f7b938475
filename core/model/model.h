// A loaded model: the mapped file, its config, weights and tokenizer. Immutable and shareable
// by several engines; holds no global state.
#pragma once

#include <memory>
#include <string>

#include "core/common/status.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model_config.h"
#include "core/model/model_weights.h"
#include "core/tokenizer/tokenizer.h"

namespace emoe::model {

class Model {
 public:
  static Result<std::unique_ptr<Model>> load(const std::string& path);

  const gguf::GgufFile& file() const { return *file_; }
  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  Model() = default;
  std::unique_ptr<gguf::GgufFile> file_;
  ModelConfig config_;
  ModelWeights weights_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
};

}  // namespace emoe::model
