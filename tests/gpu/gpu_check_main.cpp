// gpu_check: runs every GPU check (tests/gpu/gpu_check.h) against CUDA device N, or against
// the host reference device with --reference, without Qt or SQLite, so a lent GPU machine can
// run it (bench/gpu_check.sh). One line per check, failures in full, a summary, and optionally
// a JSON report. Exit status: 0 all passed (or no GPU), 1 a check failed, 2 no GPU with
// --require-gpu, 3 bad arguments.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/gpu/gpu_check.h"
#include "tests/gpu/reference_device.h"

namespace {

using emoe::gpucheck::CheckContext;
using emoe::gpucheck::CheckResult;
using emoe::gpucheck::NamedCheck;
namespace gpu = emoe::kernels::gpu;

struct Options {
  bool reference = false;
  bool require_gpu = false;
  bool list = false;
  int device = 0;
  std::string filter;
  std::string data_dir = EMOE_GPU_CHECK_DATA_DIR;
  std::string json_path;
  std::string scratch_dir;  // empty: a fresh temporary directory, removed at exit
};

struct Outcome {
  std::string name;
  std::string status;  // PASS, FAIL, SKIP
  double ms = 0;
  CheckResult result;
};

void usage() {
  std::fprintf(stderr,
               "usage: gpu_check [--reference] [--device N] [--filter SUBSTRING] [--data DIR]\n"
               "                 [--scratch DIR] [--json FILE] [--require-gpu] [--list]\n");
}

bool parse(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--reference") {
      o->reference = true;
    } else if (a == "--require-gpu") {
      o->require_gpu = true;
    } else if (a == "--list") {
      o->list = true;
    } else if (a == "--device" && value(&v)) {
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 0 || n > 1024) return false;
      o->device = static_cast<int>(n);
    } else if (a == "--filter" && value(&v)) {
      o->filter = v;
    } else if (a == "--data" && value(&v)) {
      o->data_dir = v;
    } else if (a == "--json" && value(&v)) {
      o->json_path = v;
    } else if (a == "--scratch" && value(&v)) {
      o->scratch_dir = v;
    } else {
      return false;
    }
  }
  return true;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string json_strings(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", \"" : "\"") + json_escape(v[i]) + "\"";
  return out + "]";
}

bool write_json(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  f.close();
  if (!f) {
    std::fprintf(stderr, "gpu_check: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

// Runs one check; exceptions (which no check should throw) become failures, so one broken
// check does not hide the others' results.
Outcome run_one(const NamedCheck& check, gpu::Device& device, bool is_reference, const Options& opt,
                const std::string& scratch_root) {
  Outcome out;
  out.name = check.name;
  std::error_code ec;
  const std::filesystem::path scratch = std::filesystem::path(scratch_root) / check.name;
  std::filesystem::create_directories(scratch, ec);
  const CheckContext ctx{device, is_reference, opt.data_dir, scratch.string()};
  const uint64_t bytes_before = device.allocated_bytes();
  const auto t0 = std::chrono::steady_clock::now();
  try {
    check.run(ctx, out.result);
  } catch (const std::exception& e) {
    out.result.expect(false, std::string("exception: ") + e.what());
  } catch (...) {
    out.result.expect(false, "unknown exception");
  }
  out.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t bytes_after = device.allocated_bytes();
  if (bytes_after > bytes_before) {
    // The reference device is fresh per check, so anything left is a leak; a real device may
    // keep scratch buffers that grow on demand, so there it is only worth a note.
    const std::string msg = "device allocations grew by " +
                            std::to_string(bytes_after - bytes_before) + " bytes during the check";
    if (is_reference) {
      out.result.expect(false, msg + " (leak)");
    } else {
      out.result.note(msg);
    }
  }
  out.status = !out.result.passed() ? "FAIL" : out.result.skipped() ? "SKIP" : "PASS";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse(argc, argv, &opt)) {
    usage();
    return 3;
  }
  std::vector<NamedCheck> checks;
  for (NamedCheck& c : emoe::gpucheck::all_checks()) {
    if (opt.filter.empty() || c.name.find(opt.filter) != std::string::npos) {
      checks.push_back(std::move(c));
    }
  }
  if (opt.list) {
    for (const NamedCheck& c : checks) std::printf("%s\n", c.name.c_str());
    return 0;
  }

  const gpu::RuntimeProbe probe = gpu::probe_runtime();
  std::shared_ptr<gpu::Device> cuda;
  if (!opt.reference) {
    gpu::OpenResult opened = gpu::open_device(opt.device);
    if (!opened.device) {
      const std::string reason =
          opened.status.message().empty() ? probe.message : opened.status.message();
      std::printf("SKIP: no usable GPU: %s\n", reason.c_str());
      if (!opt.json_path.empty()) {
        write_json(opt.json_path, "{\"skipped\": \"" + json_escape(reason) + "\"}\n");
      }
      return opt.require_gpu ? 2 : 0;
    }
    cuda = opened.device;
  }

  std::string scratch_root = opt.scratch_dir;
  bool remove_scratch = false;
  if (scratch_root.empty()) {
    std::error_code ec;
    std::filesystem::path tmp = std::filesystem::temp_directory_path(ec);
    if (ec) tmp = "/tmp";
    std::string pattern = (tmp / "gpu_check-XXXXXX").string();
    if (!mkdtemp(pattern.data())) {
      std::fprintf(stderr, "gpu_check: cannot create a scratch directory under %s\n", tmp.c_str());
      return 3;
    }
    scratch_root = pattern;
    remove_scratch = true;
  }

  std::string device_name;
  if (cuda) {
    const gpu::DeviceInfo& d = cuda->info();
    device_name = d.name;
    std::printf("device %d: %s, %.1f GiB, sm_%d%d, %d SMs (runtime %d, driver %d)\n", d.index,
                d.name.c_str(), static_cast<double>(d.total_bytes) / (1 << 30), d.cc_major,
                d.cc_minor, d.sm_count, probe.runtime_version, probe.driver_version);
  } else {
    device_name = emoe::gpucheck::make_reference_device()->info().name;
    std::printf("device: %s\n", device_name.c_str());
  }
  std::printf("%zu checks%s\n", checks.size(),
              opt.filter.empty() ? "" : (" matching \"" + opt.filter + "\"").c_str());
  std::fflush(stdout);

  std::vector<Outcome> outcomes;
  int passed = 0, failed = 0, skipped = 0;
  for (const NamedCheck& c : checks) {
    // A fresh reference device per check: no state leaks between checks, and any device
    // memory left at the end is the check's (or the code under test's) leak.
    std::shared_ptr<gpu::Device> dev = cuda ? cuda : emoe::gpucheck::make_reference_device();
    Outcome o = run_one(c, *dev, !cuda, opt, scratch_root);
    (o.status == "PASS" ? passed : o.status == "FAIL" ? failed : skipped)++;
    std::string line = o.status + "  " + o.name;
    char ms[32];
    std::snprintf(ms, sizeof ms, "  %.1f ms", o.ms);
    line += ms;
    if (o.result.skipped()) line += "  (" + o.result.skip_reason() + ")";
    for (const std::string& n : o.result.notes()) line += "  | " + n;
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    outcomes.push_back(std::move(o));
  }

  if (failed > 0) {
    std::printf("\nFailures:\n");
    for (const Outcome& o : outcomes) {
      if (o.status != "FAIL") continue;
      std::printf("%s:\n", o.name.c_str());
      for (const std::string& f : o.result.failures()) std::printf("  - %s\n", f.c_str());
    }
  }
  std::printf("\n%d passed, %d failed, %d skipped (%s)\n", passed, failed, skipped,
              device_name.c_str());

  bool json_ok = true;
  if (!opt.json_path.empty()) {
    std::string j = "{\n  \"device\": \"" + json_escape(device_name) +
                    "\",\n  \"reference\": " + (cuda ? "false" : "true") +
                    ",\n  \"passed\": " + std::to_string(passed) +
                    ",\n  \"failed\": " + std::to_string(failed) +
                    ",\n  \"skipped\": " + std::to_string(skipped) + ",\n  \"checks\": [";
    for (size_t i = 0; i < outcomes.size(); ++i) {
      const Outcome& o = outcomes[i];
      char ms[32];
      std::snprintf(ms, sizeof ms, "%.3f", o.ms);
      j += std::string(i ? "," : "") + "\n    {\"name\": \"" + json_escape(o.name) +
           "\", \"status\": \"" + o.status + "\", \"ms\": " + ms + ", \"skip_reason\": \"" +
           json_escape(o.result.skip_reason()) +
           "\", \"notes\": " + json_strings(o.result.notes()) +
           ", \"failures\": " + json_strings(o.result.failures()) + "}";
    }
    j += "\n  ]\n}\n";
    json_ok = write_json(opt.json_path, j);
  }
  if (remove_scratch) {
    std::error_code ec;
    std::filesystem::remove_all(scratch_root, ec);
  }
  return failed > 0 || !json_ok ? 1 : 0;
}
