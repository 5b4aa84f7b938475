#include "core/tokenizer/vocab.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string_view>

#include "core/gguf/gguf_file.h"

namespace emoe::tokenizer {

namespace {

constexpr const char* kKeyModel = "tokenizer.ggml.model";
constexpr const char* kKeyPre = "tokenizer.ggml.pre";
constexpr const char* kKeyTokens = "tokenizer.ggml.tokens";
constexpr const char* kKeyScores = "tokenizer.ggml.scores";
constexpr const char* kKeyTypes = "tokenizer.ggml.token_type";
constexpr const char* kKeyMerges = "tokenizer.ggml.merges";
constexpr const char* kKeyAddBos = "tokenizer.ggml.add_bos_token";
constexpr const char* kKeyAddEos = "tokenizer.ggml.add_eos_token";
constexpr const char* kKeyAddPrefix = "tokenizer.ggml.add_space_prefix";
constexpr const char* kKeyBos = "tokenizer.ggml.bos_token_id";
constexpr const char* kKeyEos = "tokenizer.ggml.eos_token_id";
constexpr const char* kKeyUnk = "tokenizer.ggml.unknown_token_id";
constexpr const char* kKeyPad = "tokenizer.ggml.padding_token_id";
constexpr const char* kKeyEot = "tokenizer.ggml.eot_token_id";

bool in_range(int32_t id, size_t n) { return id >= 0 && static_cast<size_t>(id) < n; }

// The special ids a file may name. Vocab keeps bos/eos/unk/pad/eot; the others only feed the
// end-of-generation set and the control retyping, as in llama.cpp.
struct SpecialIds {
  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, sep = -1, pad = -1, mask = -1;
  int32_t fim_pre = -1, fim_suf = -1, fim_mid = -1, fim_pad = -1, fim_rep = -1, fim_sep = -1;
};

// Defaults llama.cpp's loader uses for each tokenizer model when a key is absent.
struct ModelDefaults {
  SpecialIds ids;
  bool add_space_prefix = false, add_bos = false, add_eos = false, clean_spaces = false;
};

ModelDefaults defaults_for(const std::string& model, const std::string& pre) {
  ModelDefaults d;
  if (model == "llama") {  // SPM
    d.ids.bos = 1;
    d.ids.eos = 2;
    d.ids.unk = 0;
    d.add_space_prefix = true;
    d.add_bos = true;
  } else if (model == "gpt2") {  // BPE; the pre-tokenizer adjusts a few flags
    d.ids.bos = 11;
    d.ids.eos = 11;
    d.clean_spaces = true;
    static const std::set<std::string_view> kAddBos = {"llama3",  "llama-v3", "llama-bpe",
                                                       "falcon3", "tekken",   "chameleon"};
    static const std::set<std::string_view> kNoClean = {
        "deepseek-llm", "deepseek-coder", "deepseek-v3", "command-r", "qwen2",
        "poro-chat",    "viking",         "tekken",      "smollm",    "chameleon"};
    d.add_bos = kAddBos.count(pre) > 0;
    if (kNoClean.count(pre) > 0) d.clean_spaces = false;
    if (pre == "chatglm-bpe") d.ids.bos = -1;
  } else if (model == "bert") {  // WPM
    d.ids.bos = 101;
    d.ids.unk = 100;
    d.ids.sep = 102;
    d.ids.pad = 0;
    d.ids.mask = 103;
    d.clean_spaces = true;
    d.add_bos = true;
  } else if (model == "t5") {  // UGM
    d.ids.eos = 1;
    d.ids.unk = 2;
    d.ids.pad = 0;
    d.add_eos = true;
  }
  // "rwkv" and unknown models: no special ids, every flag off (Tokenizer::create refuses the
  // unknown ones with a list of what is supported).
  return d;
}

TokenType type_from_file(int64_t v) {
  // llama.cpp maps unknown values to UNDEFINED.
  if (v < 0 || v > static_cast<int64_t>(TokenType::Byte)) return TokenType::Undefined;
  return static_cast<TokenType>(v);
}

// Reads an optional token-id key into `id`. -1 in the file means "none"; anything else must be
// a valid id. (llama.cpp warns and keeps its default for an out-of-range id; a file like that is
// broken, so it is refused here with the key named.)
Status read_id(const gguf::GgufFile& f, const char* key, size_t n_tokens, int32_t& id) {
  if (f.find(key) == nullptr) return Status::ok();
  Result<int64_t> v = f.get_int(key);
  if (!v.ok()) return v.status();
  if (*v == -1) {
    id = -1;
    return Status::ok();
  }
  if (*v < 0 || static_cast<uint64_t>(*v) >= n_tokens) {
    return corrupt(std::string(key) + " = " + std::to_string(*v) +
                   " is out of range (the vocabulary has " + std::to_string(n_tokens) + " tokens)");
  }
  id = static_cast<int32_t>(*v);
  return Status::ok();
}

Status read_bool(const gguf::GgufFile& f, const char* key, bool& out) {
  if (f.find(key) == nullptr) return Status::ok();
  Result<bool> v = f.get_bool(key);
  if (!v.ok()) return v.status();
  out = *v;
  return Status::ok();
}

// llama.cpp's text-based detection of end-of-turn / FIM tokens and of the EOG set. It walks
// token_to_id in the map's iteration order; with the same std::unordered_map type filled in the
// same order as llama.cpp does, the first match (which matters when a vocabulary holds two
// candidates, e.g. Phi-3's <|endoftext|> and <|end|>) is the same one.
void apply_text_rules(Vocab& v, SpecialIds& ids) {
  auto retype_control = [&](int32_t id) { v.types[id] = TokenType::Control; };
  struct Rule {
    int32_t* slot;
    std::vector<std::string_view> texts;
  };
  const std::vector<Rule> rules = {
      {&ids.eot,
       {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
        "<\xef\xbd\x9c"
        "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"}},
      {&ids.eom, {"<|eom_id|>"}},
      {&ids.fim_pre,
       {"<|fim_prefix|>", "<fim-prefix>",
        "<\xef\xbd\x9c"
        "fim\xe2\x96\x81"
        "begin\xef\xbd\x9c>",
        "<PRE>"}},
      {&ids.fim_suf,
       {"<|fim_suffix|>", "<fim-suffix>",
        "<\xef\xbd\x9c"
        "fim\xe2\x96\x81hole\xef\xbd\x9c>",
        "<SUF>"}},
      {&ids.fim_mid,
       {"<|fim_middle|>", "<fim-middle>",
        "<\xef\xbd\x9c"
        "fim\xe2\x96\x81"
        "end\xef\xbd\x9c>",
        "<MID>"}},
      {&ids.fim_pad, {"<|fim_pad|>", "<fim-pad>", "<PAD>"}},
      {&ids.fim_rep, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"}},
      {&ids.fim_sep, {"<|file_sep|>"}},
  };
  for (const auto& [text, id] : v.token_to_id) {
    for (const Rule& r : rules) {
      if (*r.slot != -1) continue;
      if (std::find(r.texts.begin(), r.texts.end(), text) == r.texts.end()) continue;
      *r.slot = id;
      retype_control(id);
    }
  }

  std::set<int32_t> eog;
  for (int32_t id : {ids.fim_pad, ids.fim_rep, ids.fim_sep}) {
    if (id != -1) eog.insert(id);
  }
  static const std::array<std::string_view, 7> kEogTexts = {
      "<|eot_id|>",    "<|im_end|>", "<|end|>", "<end_of_turn>",
      "<|endoftext|>", "<|eom_id|>", "<EOT>"};
  for (const auto& [text, id] : v.token_to_id) {
    if (std::find(kEogTexts.begin(), kEogTexts.end(), text) != kEogTexts.end()) {
      eog.insert(id);
      retype_control(id);
    }
  }
  for (int32_t id : {ids.eos, ids.eot, ids.eom}) {
    if (id != -1) eog.insert(id);
  }
  v.eog_ids.assign(eog.begin(), eog.end());
}

// llama.cpp sets LSTRIP/RSTRIP by model or pre-tokenizer name (GGUF has no attribute key).
void apply_strip_rules(Vocab& v) {
  v.strip.assign(v.tokens.size(), kStripNone);
  auto set = [&](const char* text, uint8_t bit, bool on) {
    int32_t id = v.find(text);
    if (id < 0) return;  // llama.cpp would throw from token_to_id.at(); nothing to mark here
    v.strip[id] = on ? (v.strip[id] | bit) : (v.strip[id] & ~bit);
  };
  std::string name = v.name;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto contains = [](const std::string& s, std::initializer_list<std::string_view> subs) {
    return std::any_of(subs.begin(), subs.end(),
                       [&](std::string_view sub) { return s.find(sub) != std::string::npos; });
  };
  if (contains(v.pre, {"jina-v2-de", "jina-v2-es", "jina-v2-code"})) {
    set("<mask>", kStripLeft, true);
  } else if (contains(name, {"phi-3", "phi3"})) {
    for (int32_t id = 0; id < v.size(); ++id) {
      TokenType t = v.types[id];
      if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown) {
        v.strip[id] |= kStripRight;
      }
    }
    set("</s>", kStripRight, true);
    for (const char* t : {"<unk>", "<s>", "<|endoftext|>"}) set(t, kStripRight, false);
  }
}

}  // namespace

bool Vocab::is_control(int32_t id) const { return token_type(id) == TokenType::Control; }

TokenType Vocab::token_type(int32_t id) const {
  if (!in_range(id, tokens.size())) return TokenType::Undefined;
  return types.empty() ? TokenType::Normal : types[id];
}

float Vocab::score(int32_t id) const {
  if (scores.empty() || !in_range(id, scores.size())) return 0.0f;
  return scores[id];
}

uint8_t Vocab::strip_flags(int32_t id) const {
  if (strip.empty() || !in_range(id, strip.size())) return kStripNone;
  return strip[id];
}

bool Vocab::is_eog(int32_t id) const {
  return id >= 0 && std::binary_search(eog_ids.begin(), eog_ids.end(), id);
}

int32_t Vocab::find(const std::string& text) const {
  auto it = token_to_id.find(text);
  return it == token_to_id.end() ? -1 : it->second;
}

Status Vocab::build_index() {
  token_to_id.clear();
  // No reserve(): llama.cpp fills its map the same way, and apply_text_rules relies on
  // iterating in the same order.
  for (int32_t i = 0; i < size(); ++i) {
    auto [it, inserted] = token_to_id.emplace(tokens[i], i);
    if (!inserted) {
      return corrupt(std::string(kKeyTokens) + ": tokens " + std::to_string(it->second) + " and " +
                     std::to_string(i) + " have the same text '" + tokens[i] + "'");
    }
  }
  return Status::ok();
}

Status Vocab::validate() const {
  const size_t n = tokens.size();
  if (n == 0) return corrupt(std::string(kKeyTokens) + " is empty");
  if (n > static_cast<size_t>(INT32_MAX)) return corrupt(std::string(kKeyTokens) + " is too long");
  auto count_mismatch = [&](const char* key, size_t got) {
    return corrupt(std::string(key) + " has " + std::to_string(got) + " entries but " + kKeyTokens +
                   " has " + std::to_string(n));
  };
  if (!scores.empty() && scores.size() != n) return count_mismatch(kKeyScores, scores.size());
  if (!types.empty() && types.size() != n) return count_mismatch(kKeyTypes, types.size());
  if (!strip.empty() && strip.size() != n) return count_mismatch("strip attributes", strip.size());
  const std::pair<const char*, int32_t> ids[] = {
      {kKeyBos, bos}, {kKeyEos, eos}, {kKeyUnk, unk}, {kKeyPad, pad}, {kKeyEot, eot}};
  for (const auto& [key, id] : ids) {
    if (id != -1 && !in_range(id, n)) {
      return corrupt(std::string(key) + " = " + std::to_string(id) +
                     " is out of range (the vocabulary has " + std::to_string(n) + " tokens)");
    }
  }
  for (int32_t id : eog_ids) {
    if (!in_range(id, n)) {
      return corrupt("end-of-generation id " + std::to_string(id) + " is out of range");
    }
  }
  if (add_bos && bos == -1) {
    return corrupt(std::string(kKeyAddBos) + " is true but there is no " + kKeyBos);
  }
  if (add_eos && eos == -1) {
    return corrupt(std::string(kKeyAddEos) + " is true but there is no " + kKeyEos);
  }
  if (!token_to_id.empty() && token_to_id.size() != n) {
    return corrupt("token_to_id has " + std::to_string(token_to_id.size()) +
                   " entries but there are " + std::to_string(n) + " tokens");
  }
  return Status::ok();
}

Result<Vocab> Vocab::from_gguf(const gguf::GgufFile& f) {
  Vocab v;
  {
    Result<std::string> model = f.get_string(kKeyModel);
    if (!model.ok()) return model.status();
    v.model = std::move(*model);
  }
  v.pre = "default";
  if (f.find(kKeyPre) != nullptr) {
    Result<std::string> pre = f.get_string(kKeyPre);
    if (!pre.ok()) return pre.status();
    v.pre = std::move(*pre);
  }
  if (f.find("general.name") != nullptr) {
    Result<std::string> name = f.get_string("general.name");
    if (!name.ok()) return name.status();
    v.name = std::move(*name);
  }

  {
    Result<std::vector<std::string>> toks = f.get_string_array(kKeyTokens);
    if (!toks.ok()) return toks.status();
    v.tokens = std::move(*toks);
  }
  const size_t n = v.tokens.size();
  if (n == 0) return corrupt(std::string(kKeyTokens) + " is empty");
  if (n > static_cast<size_t>(INT32_MAX)) return corrupt(std::string(kKeyTokens) + " is too long");
  for (size_t i = 0; i < n; ++i) {
    // As llama.cpp: an empty text could never be matched, so it gets a unique placeholder.
    if (v.tokens[i].empty()) v.tokens[i] = "[EMPTY_" + std::to_string(i) + "]";
  }

  if (f.find(kKeyScores) != nullptr) {
    Result<std::vector<float>> s = f.get_float_array(kKeyScores);
    if (!s.ok()) return s.status();
    v.scores = std::move(*s);
  }
  if (f.find(kKeyTypes) != nullptr) {
    Result<std::vector<int64_t>> t = f.get_int_array(kKeyTypes);
    if (!t.ok()) return t.status();
    if (t->size() != n) {
      return corrupt(std::string(kKeyTypes) + " has " + std::to_string(t->size()) +
                     " entries but " + kKeyTokens + " has " + std::to_string(n));
    }
    v.types.reserve(n);
    for (int64_t x : *t) v.types.push_back(type_from_file(x));
  } else {
    v.types.assign(n, TokenType::Normal);
  }
  if (f.find(kKeyMerges) != nullptr) {
    Result<std::vector<std::string>> m = f.get_string_array(kKeyMerges);
    if (!m.ok()) return m.status();
    v.merges = std::move(*m);
  } else if (v.model == "gpt2") {
    return not_found(std::string(kKeyMerges) + " not found (required for tokenizer model gpt2)");
  }
  EMOE_RETURN_IF_ERROR(v.build_index());

  const ModelDefaults d = defaults_for(v.model, v.pre);
  SpecialIds ids = d.ids;
  // A default id that does not exist in a small vocabulary means "none".
  for (int32_t* id : {&ids.bos, &ids.eos, &ids.unk, &ids.sep, &ids.pad, &ids.mask}) {
    if (!in_range(*id, n)) *id = -1;
  }
  v.add_space_prefix = d.add_space_prefix;
  v.add_bos = d.add_bos;
  v.add_eos = d.add_eos;
  v.clean_spaces = d.clean_spaces;
  EMOE_RETURN_IF_ERROR(read_bool(f, kKeyAddPrefix, v.add_space_prefix));

  const std::pair<const char*, int32_t*> id_keys[] = {
      {kKeyBos, &ids.bos},
      {kKeyEos, &ids.eos},
      {kKeyEot, &ids.eot},
      {"tokenizer.ggml.eom_token_id", &ids.eom},
      {kKeyUnk, &ids.unk},
      {"tokenizer.ggml.seperator_token_id", &ids.sep},  // sic: the GGUF key is misspelt
      {kKeyPad, &ids.pad},
      {"tokenizer.ggml.mask_token_id", &ids.mask},
      {"tokenizer.ggml.fim_pre_token_id", &ids.fim_pre},
      {"tokenizer.ggml.fim_suf_token_id", &ids.fim_suf},
      {"tokenizer.ggml.fim_mid_token_id", &ids.fim_mid},
      {"tokenizer.ggml.fim_pad_token_id", &ids.fim_pad},
      {"tokenizer.ggml.fim_rep_token_id", &ids.fim_rep},
      {"tokenizer.ggml.fim_sep_token_id", &ids.fim_sep},
      {"tokenizer.ggml.prefix_token_id", &ids.fim_pre},  // deprecated spellings, read last
      {"tokenizer.ggml.suffix_token_id", &ids.fim_suf},
      {"tokenizer.ggml.middle_token_id", &ids.fim_mid},
  };
  for (const auto& [key, slot] : id_keys) EMOE_RETURN_IF_ERROR(read_id(f, key, n, *slot));
  EMOE_RETURN_IF_ERROR(read_bool(f, kKeyAddBos, v.add_bos));
  EMOE_RETURN_IF_ERROR(read_bool(f, kKeyAddEos, v.add_eos));

  apply_text_rules(v, ids);
  v.bos = ids.bos;
  v.eos = ids.eos;
  v.unk = ids.unk;
  v.pad = ids.pad;
  v.eot = ids.eot;
  apply_strip_rules(v);

  EMOE_RETURN_IF_ERROR(v.validate());
  return v;
}

}  // namespace emoe::tokenizer
