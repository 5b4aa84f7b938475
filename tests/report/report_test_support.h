// Shared by the tests/report tests: an independent reader for the PDFs the report writes (it
// follows the cross-reference table and the page tree the way a viewer does, and decodes the
// text shown with Tj), and synthetic experiment results with hand-picked numbers.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "core/experiment/experiment_matrix.h"
#include "core/experiment/experiment_result.h"

namespace report_test {

struct PdfPage {
  std::string content;             // the decoded content stream
  std::vector<std::string> texts;  // the WinAnsi bytes of every (...) Tj, in order
};

struct ParsedPdf {
  std::string error;  // empty: every structural check passed
  std::vector<PdfPage> pages;
  std::string info;  // the /Info dictionary's text
};

// The object "n 0 obj ... endobj" starting at offset, or "" when offset does not point at it.
inline std::string object_at(const std::string& pdf, size_t offset, int n) {
  const std::string head = std::to_string(n) + " 0 obj";
  if (offset >= pdf.size() || pdf.compare(offset, head.size(), head) != 0) return {};
  const size_t end = pdf.find("endobj", offset);
  if (end == std::string::npos) return {};
  return pdf.substr(offset, end - offset);
}

// The integer after key ("/Count 3" -> 3), or -1.
inline long long int_after(const std::string& s, const std::string& key) {
  const size_t at = s.find(key);
  if (at == std::string::npos) return -1;
  return std::strtoll(s.c_str() + at + key.size(), nullptr, 10);
}

// "k 0 R" references in order inside the first [...] after key.
inline std::vector<int> refs_in_array(const std::string& s, const std::string& key) {
  std::vector<int> out;
  const size_t at = s.find(key);
  if (at == std::string::npos) return out;
  const size_t open = s.find('[', at), close = s.find(']', at);
  if (open == std::string::npos || close == std::string::npos) return out;
  const std::string inner = s.substr(open + 1, close - open - 1);
  const char* p = inner.c_str();
  while (*p) {
    char* end = nullptr;
    const long v = std::strtol(p, &end, 10);
    if (end == p) {
      ++p;
      continue;
    }
    out.push_back(static_cast<int>(v));
    p = end;
    // skip the generation number and the R
    std::strtol(p, &end, 10);
    p = end;
    while (*p == ' ') ++p;
    if (*p == 'R') ++p;
  }
  return out;
}

// Every string literal followed by Tj, unescaped to bytes.
inline std::vector<std::string> shown_texts(const std::string& content) {
  std::vector<std::string> out;
  for (size_t i = 0; i < content.size(); ++i) {
    if (content[i] != '(') continue;
    std::string s;
    size_t j = i + 1;
    int depth = 1;
    for (; j < content.size(); ++j) {
      const char c = content[j];
      if (c == '\\' && j + 1 < content.size()) {
        const char e = content[++j];
        if (e >= '0' && e <= '7') {
          int v = 0, k = 0;
          while (k < 3 && j < content.size() && content[j] >= '0' && content[j] <= '7') {
            v = v * 8 + (content[j] - '0');
            ++j;
            ++k;
          }
          --j;
          s += static_cast<char>(v);
        } else {
          s += e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
        }
        continue;
      }
      if (c == '(') ++depth;
      if (c == ')' && --depth == 0) break;
      s += c;
    }
    if (content.compare(j + 1, 3, " Tj") == 0) out.push_back(s);
    i = j;
  }
  return out;
}

inline ParsedPdf parse_pdf(const std::string& pdf) {
  ParsedPdf r;
  const auto fail = [&](const std::string& why) {
    r.error = why;
    return r;
  };
  if (pdf.rfind("%PDF-1.4\n", 0) != 0) return fail("no %PDF-1.4 header");
  const size_t sx = pdf.rfind("startxref\n");
  if (sx == std::string::npos) return fail("no startxref");
  const size_t xref = std::strtoull(pdf.c_str() + sx + 10, nullptr, 10);
  if (pdf.compare(pdf.size() - 6, 6, "%%EOF\n") != 0) return fail("no %%EOF at the end");
  if (pdf.compare(xref, 5, "xref\n") != 0) return fail("startxref does not point at xref");
  const char* p = pdf.c_str() + xref + 5;
  char* end = nullptr;
  const long first = std::strtol(p, &end, 10);
  const long count = std::strtol(end, &end, 10);
  if (first != 0 || count < 2) return fail("bad xref subsection header");
  size_t entry = static_cast<size_t>(end - pdf.c_str()) + 1;  // after the newline
  std::vector<size_t> offsets(static_cast<size_t>(count), 0);
  for (long i = 0; i < count; ++i, entry += 20) {
    const std::string e = pdf.substr(entry, 20);
    if (e.size() != 20 || (e.substr(18) != " \n" && e.substr(18) != "\r\n")) {
      return fail("xref entry " + std::to_string(i) + " is not 20 bytes");
    }
    if (i == 0) {
      if (e.substr(0, 17) != "0000000000 65535 " || e[17] != 'f') return fail("bad free entry");
      continue;
    }
    if (e[17] != 'n') return fail("entry " + std::to_string(i) + " not in use");
    offsets[static_cast<size_t>(i)] = std::strtoull(e.c_str(), nullptr, 10);
    if (object_at(pdf, offsets[static_cast<size_t>(i)], static_cast<int>(i)).empty()) {
      return fail("xref offset of object " + std::to_string(i) + " does not point at it");
    }
  }
  if (pdf.compare(entry, 8, "trailer\n") != 0) return fail("no trailer after the xref table");
  const std::string trailer = pdf.substr(entry, sx - entry);
  if (int_after(trailer, "/Size ") != count) return fail("trailer /Size != xref count");
  const auto obj = [&](long long n) -> std::string {
    if (n <= 0 || n >= count) return {};
    return object_at(pdf, offsets[static_cast<size_t>(n)], static_cast<int>(n));
  };
  const std::string root = obj(int_after(trailer, "/Root "));
  if (root.find("/Type /Catalog") == std::string::npos) return fail("/Root is not a catalog");
  r.info = obj(int_after(trailer, "/Info "));
  const std::string pages = obj(int_after(root, "/Pages "));
  if (pages.find("/Type /Pages") == std::string::npos) return fail("no page tree");
  const std::vector<int> kids = refs_in_array(pages, "/Kids");
  if (static_cast<long long>(kids.size()) != int_after(pages, "/Count ")) {
    return fail("/Count != number of /Kids");
  }
  for (int kid : kids) {
    const std::string page = obj(kid);
    if (page.find("/Type /Page ") == std::string::npos) return fail("kid is not a page");
    if (page.find("/MediaBox [0 0 ") == std::string::npos) return fail("page without MediaBox");
    if (page.find("/F1 ") == std::string::npos) return fail("page without font resources");
    const std::string stream_obj = obj(int_after(page, "/Contents "));
    const long long length = int_after(stream_obj, "/Length ");
    const size_t s = stream_obj.find(">>\nstream\n");
    if (length < 0 || s == std::string::npos) return fail("content stream without /Length");
    const size_t data = s + 10;
    if (stream_obj.compare(data + static_cast<size_t>(length), 10, "\nendstream") != 0) {
      return fail("/Length does not end at endstream");
    }
    PdfPage pg;
    pg.content = stream_obj.substr(data, static_cast<size_t>(length));
    pg.texts = shown_texts(pg.content);
    r.pages.push_back(std::move(pg));
  }
  return r;
}

inline bool page_shows(const PdfPage& page, const std::string& text) {
  for (const std::string& t : page.texts) {
    if (t == text) return true;
  }
  return false;
}

inline bool page_shows_prefix(const PdfPage& page, const std::string& prefix) {
  for (const std::string& t : page.texts) {
    if (t.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

// The synthetic experiment: 2 budgets x 3 schedulers x 3 rates (one predictor, p, routing and
// seed), in expand_matrix order, with metrics that are simple functions of the point so tests
// can recompute every plotted value by hand.
inline const char* const kSchedulers[] = {"emoe", "fcfs", "sjf"};
inline const char* const kBudgets[] = {"100%", "60%"};
inline const double kRates[] = {1.0, 2.0, 4.0};

inline int index_of(const char* const* names, int n, const std::string& s) {
  for (int i = 0; i < n; ++i) {
    if (s == names[i]) return i;
  }
  return -1;
}

inline double mean_e2e(int sched, int budget, double rate) {
  return 100.0 * (sched + 1) + 10.0 * rate + 5.0 * budget;
}
inline double slo(int sched, int budget, double rate) {
  return 1.0 - 0.05 * sched - 0.02 * budget - 0.01 * rate;
}
inline double accuracy_of(int budget) { return budget == 0 ? 1.0 : 0.9; }
inline uint64_t peak_bytes(int budget, double rate) {
  return (budget == 0 ? 2'000'000'000ull : 1'400'000'000ull) +
         static_cast<uint64_t>(rate) * 1'000'000ull;
}

inline emoe::experiment::ExperimentResult synthetic_result() {
  using namespace emoe::experiment;
  ExperimentResult r;
  r.config.name = "synthetic";
  r.config.model = "demo";
  r.config.budgets = {"100%", "60%"};
  r.config.predictors = {"emoe-a"};
  r.config.intervals = {40};
  r.config.schedulers = {"emoe", "fcfs", "sjf"};
  r.config.arrival_rates = {1.0, 2.0, 4.0};
  r.model.name = "demo-moe";
  r.model.path = "demo";
  r.model.arch = "mixtral";
  r.model.n_layer = 2;
  r.model.n_expert = 8;
  r.model.n_expert_used = 2;
  r.machine.cpu = "Test CPU 9000";
  r.machine.cores = 16;
  r.machine.memory_bytes = 64'000'000'000ull;
  r.machine.os = "Linux test";
  r.started_at_us = 1'700'000'000'000'000;
  r.wall_seconds = 12.5;
  for (const ExperimentPoint& pt : expand_matrix(r.config)) {
    PointResult p;
    p.point = pt;
    const int s = index_of(kSchedulers, 3, pt.scheduler);
    const int b = index_of(kBudgets, 2, pt.budget);
    const double rate = pt.arrival_rate;
    p.run.requests = 10;
    p.run.completed = 10;
    p.run.slo_met = static_cast<int64_t>(std::lround(slo(s, b, rate) * 10));
    p.run.slo_attainment = slo(s, b, rate);
    p.run.mean_e2e_ms = mean_e2e(s, b, rate);
    p.run.p90_e2e_ms = mean_e2e(s, b, rate) * 1.5;
    p.run.p99_e2e_ms = mean_e2e(s, b, rate) * 2.0;
    p.run.mean_ttft_ms = 10.0 * (s + 1) + rate;
    p.run.throughput_tokens_per_s = 50.0 * rate - s;
    p.hit_rate = b == 0 ? 1.0 : 0.75;
    p.accuracy_measured = true;
    p.accuracy = accuracy_of(b);
    p.peak_total_bytes = peak_bytes(b, rate);
    p.loads = 7;
    p.bytes_moved = 3'500'000;
    p.run_id = 100 + pt.index;
    for (int i = 0; i < 5; ++i) {
      MemoryPoint m;
      m.time_ms = 250.0 * i;
      m.dense_bytes = 1'000'000'000;
      m.expert_bytes = 100'000'000ull * static_cast<uint64_t>(i + 1);
      p.memory.push_back(m);
    }
    RequestOutcome q;
    q.id = 0;
    q.task = "qa";
    q.state = "finished";
    q.timing.arrival_ms = 0;
    q.timing.finish_ms = p.run.mean_e2e_ms;
    q.metrics.e2e_ms = p.run.mean_e2e_ms;
    p.requests.push_back(q);
    r.points.push_back(std::move(p));
  }
  for (int i = 0; i < 2; ++i) {
    CapacityOutcome c;
    c.budget = kBudgets[i];
    c.max_batch = i == 0 ? 4 : 9;
    c.max_prompt = i == 0 ? 256 : 700;
    c.batch_run_ok = c.prompt_run_ok = true;
    r.capacity.push_back(c);
  }
  return r;
}

}  // namespace report_test
