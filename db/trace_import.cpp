#include "db/trace_import.h"

#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/common/json_writer.h"
#include "db/database.h"
#include "core/common/json_reader.h"
#include "db/schema.h"

namespace emoe::db {

namespace {

constexpr int64_t kMaxIndex = std::numeric_limits<int32_t>::max();

// Splits a file into lines ('\n', an optional '\r' before it dropped) without trusting their
// length: a line longer than the limit is an error, not an allocation.
class LineReader {
 public:
  LineReader(std::FILE* f, size_t max_line) : f_(f), max_line_(max_line) {}

  // Result<bool>: true with a line in *line, false at the end of the file.
  Result<bool> next(std::string& line) {
    line.clear();
    while (true) {
      if (pos_ == len_) {
        if (eof_) {
          if (line.empty() && !partial_) return false;
          partial_ = false;
          ++number_;
          strip_cr(line);
          return true;
        }
        len_ = std::fread(buf_, 1, sizeof buf_, f_);
        pos_ = 0;
        if (len_ < sizeof buf_) {
          if (std::ferror(f_)) return io_error("read failed: " + std::string(std::strerror(errno)));
          eof_ = true;
        }
        continue;
      }
      const char* start = buf_ + pos_;
      const void* nl = std::memchr(start, '\n', len_ - pos_);
      const size_t take =
          nl ? static_cast<size_t>(static_cast<const char*>(nl) - start) : len_ - pos_;
      if (line.size() + take > max_line_) {
        return corrupt("line " + std::to_string(number_ + 1) + " is longer than " +
                       std::to_string(max_line_) + " bytes");
      }
      line.append(start, take);
      pos_ += take;
      if (nl) {
        ++pos_;
        ++number_;
        partial_ = false;
        strip_cr(line);
        return true;
      }
      partial_ = true;
    }
  }

  int64_t line_number() const { return number_; }

 private:
  static void strip_cr(std::string& line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
  }
  std::FILE* f_;
  size_t max_line_;
  char buf_[1 << 16];
  size_t pos_ = 0, len_ = 0;
  bool eof_ = false;
  bool partial_ = false;  // bytes after the last '\n' were read
  int64_t number_ = 0;
};

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; }

struct Header {
  std::optional<std::string> model;
  std::optional<int64_t> n_layer, n_expert, top_k;
};

// What an object member is, for messages: "a string", "-3", "1.5", ...
std::string shown(const JsonValue& v) {
  switch (v.type()) {
    case JsonValue::Type::Number: {
      if (v.is_integer()) return std::to_string(v.as_int());
      JsonWriter w;
      w.value(v.as_double());
      return w.str();
    }
    case JsonValue::Type::String: {
      const std::string& s = v.as_string();
      return JsonWriter::escape(s.size() > 40 ? s.substr(0, 40) + "..." : s);
    }
    default:
      return std::string("a") + (v.is_array() || v.is_object() ? "n " : " ") +
             JsonValue::type_name(v.type());
  }
}

// Optional fields: absent and null are the same.
const JsonValue* field(const JsonValue& obj, const char* key) {
  const JsonValue* v = obj.find(key);
  return v && !v->is_null() ? v : nullptr;
}

Result<int64_t> index_field(const JsonValue& v, const std::string& name, int64_t max) {
  if (!v.is_integer() || v.as_int() < 0 || v.as_int() > max) {
    return corrupt("\"" + name + "\" must be an integer from 0 to " + std::to_string(max) +
                   ", got " + shown(v));
  }
  return v.as_int();
}

Status parse_header(const JsonValue& h, Header& out) {
  const JsonValue* format = h.find("format");
  if (!format->is_string() || format->as_string() != "emoe-trace") {
    return corrupt("header \"format\" must be \"emoe-trace\", got " + shown(*format));
  }
  const JsonValue* version = h.find("version");
  if (!version) return corrupt("header has no \"version\"");
  if (!version->is_integer() || version->as_int() != 1) {
    return unsupported("header \"version\" " + shown(*version) +
                       " is not supported (this program reads version 1)");
  }
  if (const JsonValue* m = field(h, "model")) {
    if (!m->is_string()) return corrupt("header \"model\" must be a string, got " + shown(*m));
    out.model = m->as_string();
  }
  const std::pair<const char*, std::optional<int64_t>*> dims[] = {
      {"n_layer", &out.n_layer}, {"n_expert", &out.n_expert}, {"top_k", &out.top_k}};
  for (const auto& [name, dst] : dims) {
    const JsonValue* v = field(h, name);
    if (!v) continue;
    if (!v->is_integer() || v->as_int() < 1 || v->as_int() > kMaxIndex) {
      return corrupt(std::string("header \"") + name + "\" must be a positive integer, got " +
                     shown(*v));
    }
    *dst = v->as_int();
  }
  return Status::ok();
}

// A parsed, validated record.
struct Record {
  std::string request;  // canonical text of the external id
  int64_t pos = 0, layer = 0;
  std::vector<int64_t> experts, used;
  std::optional<std::vector<float>> weights, used_weights;
  std::optional<int64_t> token, time_us;
  int64_t phase = 0;
  std::optional<std::string> task, text;
};

Status expert_list(const JsonValue& v, const char* name, const Header& h,
                   std::vector<int64_t>& out) {
  if (!v.is_array()) {
    return corrupt(std::string("\"") + name + "\" must be an array of expert ids, got " + shown(v));
  }
  const int64_t max = h.n_expert ? *h.n_expert - 1 : kMaxIndex;
  for (size_t i = 0; i < v.items().size(); ++i) {
    const JsonValue& e = v.items()[i];
    const std::string where = std::string(name) + "[" + std::to_string(i) + "]";
    if (!e.is_integer() || e.as_int() < 0) {
      return corrupt("\"" + where + "\" must be an expert id (an integer >= 0), got " + shown(e));
    }
    if (e.as_int() > max) {
      return corrupt("\"" + where + "\" = " + std::to_string(e.as_int()) +
                     (h.n_expert
                          ? " is out of range (header n_expert " + std::to_string(*h.n_expert) + ")"
                          : " is out of range"));
    }
    for (int64_t prev : out) {
      if (prev == e.as_int()) {
        return corrupt(std::string("\"") + name + "\" lists expert " + std::to_string(e.as_int()) +
                       " twice");
      }
    }
    out.push_back(e.as_int());
  }
  return Status::ok();
}

Status weight_list(const JsonValue& v, const char* name, const char* experts_name, size_t expected,
                   std::optional<std::vector<float>>& out) {
  if (!v.is_array()) {
    return corrupt(std::string("\"") + name + "\" must be an array of numbers, got " + shown(v));
  }
  if (v.items().size() != expected) {
    return corrupt(std::string("\"") + name + "\" has " + std::to_string(v.items().size()) +
                   " entries but \"" + experts_name + "\" has " + std::to_string(expected));
  }
  out.emplace();
  for (size_t i = 0; i < v.items().size(); ++i) {
    const JsonValue& w = v.items()[i];
    if (!w.is_number() || !(std::fabs(w.as_double()) <= std::numeric_limits<float>::max())) {
      return corrupt(std::string("\"") + name + "[" + std::to_string(i) +
                     "]\" must be a number in float range, got " + shown(w));
    }
    out->push_back(static_cast<float>(w.as_double()));
  }
  return Status::ok();
}

Status parse_record(const JsonValue& o, const Header& h, Record& r) {
  if (!o.is_object()) return corrupt("a record must be a JSON object, got " + shown(o));
  if (o.find("format")) {
    return corrupt("a header (an object with \"format\") is only allowed on the first line");
  }
  const JsonValue* request = field(o, "request");
  if (!request) return corrupt("missing field \"request\"");
  if (request->is_string()) {
    r.request = request->as_string();
  } else if (request->is_integer()) {
    r.request = std::to_string(request->as_int());
  } else {
    return corrupt("\"request\" must be a string or an integer, got " + shown(*request));
  }
  const JsonValue* pos = field(o, "pos");
  if (!pos) return corrupt("missing field \"pos\"");
  auto p = index_field(*pos, "pos", kMaxIndex);
  if (!p.ok()) return p.status();
  r.pos = *p;
  const JsonValue* layer = field(o, "layer");
  if (!layer) return corrupt("missing field \"layer\"");
  auto l = index_field(*layer, "layer", kMaxIndex);
  if (!l.ok()) return l.status();
  r.layer = *l;
  if (h.n_layer && r.layer >= *h.n_layer) {
    return corrupt("\"layer\" " + std::to_string(r.layer) + " is out of range (header n_layer " +
                   std::to_string(*h.n_layer) + ")");
  }
  const JsonValue* experts = field(o, "experts");
  if (!experts) return corrupt("missing field \"experts\"");
  EMOE_RETURN_IF_ERROR(expert_list(*experts, "experts", h, r.experts));
  if (r.experts.empty()) return corrupt("\"experts\" is empty");
  if (h.top_k && static_cast<int64_t>(r.experts.size()) != *h.top_k) {
    return corrupt("\"experts\" has " + std::to_string(r.experts.size()) +
                   " entries but the header's top_k is " + std::to_string(*h.top_k));
  }
  if (const JsonValue* w = field(o, "weights")) {
    EMOE_RETURN_IF_ERROR(weight_list(*w, "weights", "experts", r.experts.size(), r.weights));
  }
  const JsonValue* used = field(o, "used_experts");
  if (used) {
    EMOE_RETURN_IF_ERROR(expert_list(*used, "used_experts", h, r.used));
    if (h.top_k && static_cast<int64_t>(r.used.size()) > *h.top_k) {
      return corrupt("\"used_experts\" has " + std::to_string(r.used.size()) +
                     " entries, more than the header's top_k " + std::to_string(*h.top_k));
    }
  } else {
    r.used = r.experts;
  }
  if (const JsonValue* uw = field(o, "used_weights")) {
    EMOE_RETURN_IF_ERROR(weight_list(*uw, "used_weights", used ? "used_experts" : "experts",
                                     r.used.size(), r.used_weights));
  } else if (!used) {
    r.used_weights = r.weights;  // nothing differs from the router's choice
  }
  if (const JsonValue* t = field(o, "token")) {
    auto tok = index_field(*t, "token", kMaxIndex);
    if (!tok.ok()) return tok.status();
    r.token = *tok;
  }
  if (const JsonValue* ph = field(o, "phase")) {
    if (ph->is_string() && ph->as_string() == "prefill") {
      r.phase = 0;
    } else if (ph->is_string() && ph->as_string() == "decode") {
      r.phase = 1;
    } else {
      return corrupt("\"phase\" must be \"prefill\" or \"decode\", got " + shown(*ph));
    }
  }
  if (const JsonValue* t = field(o, "time_us")) {
    if (!t->is_integer()) return corrupt("\"time_us\" must be an integer, got " + shown(*t));
    r.time_us = t->as_int();
  }
  const std::pair<const char*, std::optional<std::string>*> texts[] = {{"task", &r.task},
                                                                       {"text", &r.text}};
  for (const auto& [name, dst] : texts) {
    const JsonValue* v = field(o, name);
    if (!v) continue;
    if (!v->is_string()) {
      return corrupt(std::string("\"") + name + "\" must be a string, got " + shown(*v));
    }
    *dst = v->as_string();
  }
  return Status::ok();
}

struct RequestState {
  int64_t id = 0;
  bool has_task = false, has_text = false;
};

// What the tokens table holds for one (request, pos); token -1 and no time mean "not given".
struct TokenState {
  int64_t request_id = -1, pos = -1;
  int64_t token = -1, phase = 0;
  std::optional<int64_t> time_us;
};

class Importer {
 public:
  Importer(Database& db, const std::string& path, const ImportOptions& o)
      : db_(db), path_(path), o_(o) {}

  Result<ImportResult> run();

 private:
  Status prepare();
  Status start_session(const Header& h);
  Status add_record(const Record& r);
  Status merge_token(int64_t request_id, const Record& r);
  Status finish();

  Database& db_;
  const std::string& path_;
  const ImportOptions& o_;
  Statement add_request_, set_task_, set_text_, add_token_, get_token_, set_token_, add_routing_;
  ImportResult result_;
  std::unordered_map<std::string, RequestState> requests_;
  TokenState last_;
  std::optional<int64_t> min_time_;
};

Status Importer::prepare() {
  struct Prep {
    Statement* st;
    const char* sql;
  };
  const Prep preps[] = {
      {&add_request_, "INSERT INTO requests(session_id, task, text) VALUES (?1,?2,?3)"},
      {&set_task_, "UPDATE requests SET task=?2 WHERE id=?1"},
      {&set_text_, "UPDATE requests SET text=?2 WHERE id=?1"},
      {&add_token_,
       "INSERT INTO tokens(request_id, pos, token_id, phase, time_us) VALUES (?1,?2,?3,?4,?5) "
       "ON CONFLICT(request_id, pos) DO NOTHING"},
      {&get_token_, "SELECT token_id, phase, time_us FROM tokens WHERE request_id=?1 AND pos=?2"},
      {&set_token_, "UPDATE tokens SET token_id=?3, time_us=?4 WHERE request_id=?1 AND pos=?2"},
      {&add_routing_,
       "INSERT INTO routing(request_id, pos, layer, rank, router_expert, router_weight, "
       "used_expert, used_weight) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)"},
  };
  for (const Prep& p : preps) {
    auto st = db_.prepare(p.sql);
    if (!st.ok()) return st.status();
    *p.st = std::move(*st);
  }
  return Status::ok();
}

Status Importer::start_session(const Header& h) {
  std::string model = o_.model_name;
  if (model.empty()) model = h.model.value_or("");
  if (model.empty()) model = std::filesystem::path(path_).filename().string();
  JsonWriter hp;
  hp.begin_object();
  if (h.n_layer) hp.key("n_layer").value(*h.n_layer);
  if (h.n_expert) hp.key("n_expert").value(*h.n_expert);
  if (h.top_k) hp.key("n_expert_used").value(*h.top_k);
  hp.end_object();
  auto add_model =
      db_.prepare("INSERT INTO models(path, arch, hparams) VALUES (?1, 'external', ?2)");
  if (!add_model.ok()) return add_model.status();
  EMOE_RETURN_IF_ERROR(add_model->bind_text(1, model));
  EMOE_RETURN_IF_ERROR(add_model->bind_text(2, hp.str()));
  EMOE_RETURN_IF_ERROR(add_model->run());
  const int64_t model_id = db_.last_insert_rowid();
  JsonWriter cfg;
  cfg.begin_object().key("source").value("import").key("format").value("emoe-trace");
  cfg.key("file").value(path_).key("model").value(model).end_object();
  auto add_session =
      db_.prepare("INSERT INTO sessions(model_id, started_at, config) VALUES (?1, 0, ?2)");
  if (!add_session.ok()) return add_session.status();
  EMOE_RETURN_IF_ERROR(add_session->bind_int(1, model_id));
  EMOE_RETURN_IF_ERROR(add_session->bind_text(2, cfg.str()));
  EMOE_RETURN_IF_ERROR(add_session->run());
  result_.session_id = db_.last_insert_rowid();
  return Status::ok();
}

Status Importer::merge_token(int64_t request_id, const Record& r) {
  const int64_t token = r.token.value_or(-1);
  if (last_.request_id != request_id || last_.pos != r.pos) {
    Statement& add = add_token_;
    EMOE_RETURN_IF_ERROR(add.bind_int(1, request_id));
    EMOE_RETURN_IF_ERROR(add.bind_int(2, r.pos));
    EMOE_RETURN_IF_ERROR(add.bind_int(3, token));
    EMOE_RETURN_IF_ERROR(add.bind_int(4, r.phase));
    EMOE_RETURN_IF_ERROR(r.time_us ? add.bind_int(5, *r.time_us) : add.bind_null(5));
    EMOE_RETURN_IF_ERROR(add.run());
    last_ = TokenState{request_id, r.pos, token, r.phase, r.time_us};
    if (sqlite3_changes(db_.handle()) > 0) return Status::ok();
    // The position was seen before, on a line further back: compare with what it stored.
    Statement& get = get_token_;
    EMOE_RETURN_IF_ERROR(get.bind_int(1, request_id));
    EMOE_RETURN_IF_ERROR(get.bind_int(2, r.pos));
    auto row = get.step();
    if (!row.ok()) return row.status();
    if (!*row) return internal_error("token row vanished during the import");
    last_.token = get.column_int(0);
    last_.phase = get.column_int(1);
    last_.time_us.reset();
    if (!get.column_is_null(2)) last_.time_us = get.column_int(2);
    get.reset();
  }
  const std::string where = " (request " + r.request + " pos " + std::to_string(r.pos) + " has ";
  if (r.phase != last_.phase) {
    return corrupt(std::string("\"phase\" ") + (r.phase ? "decode" : "prefill") +
                   " differs from an earlier record of the same position" + where +
                   (last_.phase ? "decode" : "prefill") + ")");
  }
  if (r.token && last_.token >= 0 && *r.token != last_.token) {
    return corrupt("\"token\" " + std::to_string(*r.token) +
                   " differs from an earlier record of the same position" + where + "token " +
                   std::to_string(last_.token) + ")");
  }
  if (r.time_us && last_.time_us && *r.time_us != *last_.time_us) {
    return corrupt("\"time_us\" " + std::to_string(*r.time_us) +
                   " differs from an earlier record of the same position" + where + "time_us " +
                   std::to_string(*last_.time_us) + ")");
  }
  // A token or time given only on a later record of the position fills the gap.
  if ((r.token && last_.token < 0) || (r.time_us && !last_.time_us)) {
    if (r.token) last_.token = *r.token;
    if (r.time_us) last_.time_us = r.time_us;
    Statement& set = set_token_;
    EMOE_RETURN_IF_ERROR(set.bind_int(1, request_id));
    EMOE_RETURN_IF_ERROR(set.bind_int(2, r.pos));
    EMOE_RETURN_IF_ERROR(set.bind_int(3, last_.token));
    EMOE_RETURN_IF_ERROR(last_.time_us ? set.bind_int(4, *last_.time_us) : set.bind_null(4));
    EMOE_RETURN_IF_ERROR(set.run());
  }
  return Status::ok();
}

Status Importer::add_record(const Record& r) {
  auto [it, inserted] = requests_.try_emplace(r.request);
  RequestState& rq = it->second;
  if (inserted) {
    Statement& add = add_request_;
    EMOE_RETURN_IF_ERROR(add.bind_int(1, result_.session_id));
    EMOE_RETURN_IF_ERROR(r.task ? add.bind_text(2, *r.task) : add.bind_null(2));
    EMOE_RETURN_IF_ERROR(r.text ? add.bind_text(3, *r.text) : add.bind_null(3));
    EMOE_RETURN_IF_ERROR(add.run());
    rq.id = db_.last_insert_rowid();
    rq.has_task = r.task.has_value();
    rq.has_text = r.text.has_value();
    ++result_.requests;
  } else {
    // task and text come from the first record that has them.
    if (r.task && !rq.has_task) {
      EMOE_RETURN_IF_ERROR(set_task_.bind_int(1, rq.id));
      EMOE_RETURN_IF_ERROR(set_task_.bind_text(2, *r.task));
      EMOE_RETURN_IF_ERROR(set_task_.run());
      rq.has_task = true;
    }
    if (r.text && !rq.has_text) {
      EMOE_RETURN_IF_ERROR(set_text_.bind_int(1, rq.id));
      EMOE_RETURN_IF_ERROR(set_text_.bind_text(2, *r.text));
      EMOE_RETURN_IF_ERROR(set_text_.run());
      rq.has_text = true;
    }
  }
  EMOE_RETURN_IF_ERROR(merge_token(rq.id, r));
  if (r.time_us) min_time_ = std::min(min_time_.value_or(*r.time_us), *r.time_us);

  const size_t ranks = std::max(r.experts.size(), r.used.size());
  Statement& st = add_routing_;
  for (size_t k = 0; k < ranks; ++k) {
    EMOE_RETURN_IF_ERROR(st.bind_int(1, rq.id));
    EMOE_RETURN_IF_ERROR(st.bind_int(2, r.pos));
    EMOE_RETURN_IF_ERROR(st.bind_int(3, r.layer));
    EMOE_RETURN_IF_ERROR(st.bind_int(4, static_cast<int64_t>(k)));
    const bool has_router = k < r.experts.size(), has_used = k < r.used.size();
    EMOE_RETURN_IF_ERROR(has_router ? st.bind_int(5, r.experts[k]) : st.bind_null(5));
    EMOE_RETURN_IF_ERROR(has_router && r.weights ? st.bind_double(6, (*r.weights)[k])
                                                 : st.bind_null(6));
    EMOE_RETURN_IF_ERROR(has_used ? st.bind_int(7, r.used[k]) : st.bind_null(7));
    EMOE_RETURN_IF_ERROR(has_used && r.used_weights ? st.bind_double(8, (*r.used_weights)[k])
                                                    : st.bind_null(8));
    Status s = st.run();
    if (!s.is_ok()) {
      const int code = sqlite3_extended_errcode(db_.handle());
      if (code == SQLITE_CONSTRAINT_PRIMARYKEY ||
          s.message().find("UNIQUE constraint failed") != std::string::npos) {
        return corrupt("duplicate record: an earlier line already has request " + r.request +
                       " pos " + std::to_string(r.pos) + " layer " + std::to_string(r.layer));
      }
      return s;
    }
  }
  ++result_.records;
  return Status::ok();
}

Status Importer::finish() {
  if (result_.records == 0) return corrupt("the trace holds no routing records");
  // Prompt and generated lengths follow from the phases of the imported positions.
  auto counts = db_.prepare(
      "UPDATE requests SET "
      "prompt_tokens=(SELECT count(*) FROM tokens t WHERE t.request_id=requests.id AND "
      "t.phase=0), "
      "generated_tokens=(SELECT count(*) FROM tokens t WHERE t.request_id=requests.id AND "
      "t.phase=1) WHERE session_id=?1");
  if (!counts.ok()) return counts.status();
  EMOE_RETURN_IF_ERROR(counts->bind_int(1, result_.session_id));
  EMOE_RETURN_IF_ERROR(counts->run());
  if (min_time_) {
    auto started = db_.prepare("UPDATE sessions SET started_at=?2 WHERE id=?1");
    if (!started.ok()) return started.status();
    EMOE_RETURN_IF_ERROR(started->bind_int(1, result_.session_id));
    EMOE_RETURN_IF_ERROR(started->bind_int(2, *min_time_));
    EMOE_RETURN_IF_ERROR(started->run());
  }
  return Status::ok();
}

Result<ImportResult> Importer::run() {
  std::FILE* f = std::fopen(path_.c_str(), "rb");
  if (!f) {
    const int e = errno;
    const std::string m = "cannot open: " + std::string(std::strerror(e));
    return e == ENOENT ? not_found(m) : io_error(m);
  }
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  auto reader = std::make_unique<LineReader>(f, o_.max_line_bytes);
  EMOE_RETURN_IF_ERROR(prepare());

  int64_t line_no = 0;
  auto at_line = [&](const Status& s) { return s.with_context("line " + std::to_string(line_no)); };
  JsonParseOptions jo;
  jo.max_depth = 16;        // records are flat; a deeper line is malformed anyway
  jo.max_values = 1 << 16;  // top-k lists are short; bounds the tree one long line can build
  Header header;
  bool first = true;
  std::string line;
  Record rec;
  while (true) {
    if (o_.cancel && o_.cancel->load(std::memory_order_relaxed)) {
      return cancelled("import cancelled after " + std::to_string(line_no) + " lines");
    }
    auto more = reader->next(line);
    if (!more.ok()) return more.status();
    if (!*more) break;
    line_no = reader->line_number();
    if (o_.progress && o_.progress_every > 0 && line_no % o_.progress_every == 0) {
      o_.progress(line_no);
    }
    std::string_view text = line;
    if (line_no == 1 && text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // BOM
    if (blank(text)) continue;
    auto value = parse_json(text, jo);
    if (!value.ok()) return at_line(value.status().with_context("invalid JSON"));
    if (first) {
      first = false;
      if (value->is_object() && value->find("format")) {
        EMOE_RETURN_IF_ERROR(at_line(parse_header(*value, header)));
        EMOE_RETURN_IF_ERROR(start_session(header));
        continue;
      }
      EMOE_RETURN_IF_ERROR(start_session(header));
    }
    rec = Record{};
    EMOE_RETURN_IF_ERROR(at_line(parse_record(*value, header, rec)));
    EMOE_RETURN_IF_ERROR(at_line(add_record(rec)));
  }
  if (first) return corrupt("the trace holds no routing records (the file is empty)");
  EMOE_RETURN_IF_ERROR(finish());
  if (o_.progress) o_.progress(line_no);
  return result_;
}

}  // namespace

Result<ImportResult> import_trace_jsonl(Database& db, const std::string& trace_path,
                                        const ImportOptions& options) {
  const std::string context = "importing trace '" + trace_path + "'";
  if (sqlite3_get_autocommit(db.handle()) == 0) {
    return invalid_argument(context + ": the store connection is inside a transaction");
  }
  EMOE_RETURN_IF_ERROR(db.begin().with_context(context));
  Importer importer(db, trace_path, options);
  auto r = importer.run();
  if (!r.ok()) {
    (void)db.rollback();
    return r.status().with_context(context);
  }
  Status c = db.commit();
  if (!c.is_ok()) {
    (void)db.rollback();
    return c.with_context(context);
  }
  return r;
}

Result<ImportResult> import_trace_jsonl(const std::string& store_path,
                                        const std::string& trace_path,
                                        const ImportOptions& options) {
  auto db = open_store(store_path);
  if (!db.ok()) return db.status();
  return import_trace_jsonl(**db, trace_path, options);
}

}  // namespace emoe::db
