#include "app/cli/cli_common.h"

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/engine/compute_device.h"

namespace emoe::cli {

std::atomic<bool>& interrupt_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

namespace {
extern "C" void on_sigint(int) { interrupt_flag().store(true); }
}  // namespace

void install_interrupt_handler() { std::signal(SIGINT, on_sigint); }

void declare_engine_options(CommandSpec& spec) {
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  spec.option("threads", 't', "N", "CPU threads", std::to_string(hw))
      .option("ctx", 'c', "N", "context size in tokens (0: the model's, at most 4096)", "0")
      .option("kv-type", 0, "TYPE", "KV cache type: f32 or f16", "f32")
      .option("device", 0, "DEV", "compute device: cpu, cuda or cuda:N (no GPU: the CPU)", "cpu");
}

Result<std::shared_ptr<kernels::gpu::Device>> selected_device(const ParsedArgs& args) {
  if (!args.has("device")) return std::shared_ptr<kernels::gpu::Device>();
  static std::string chosen_spec;
  static std::shared_ptr<kernels::gpu::Device> chosen;
  auto spec = args.get_string("device");
  if (!spec.ok()) return spec.status();
  if (!chosen_spec.empty() && chosen_spec == *spec) return chosen;
  auto dev = engine::select_compute_device(*spec);
  if (!dev.ok()) return args.error("--device: " + dev.status().message());
  if (!dev->notice.empty()) std::fprintf(stderr, "emoe: %s\n", dev->notice.c_str());
  if (dev->gpu) std::fprintf(stderr, "emoe: computing on %s\n", dev->name.c_str());
  chosen_spec = *spec;
  chosen = dev->gpu;
  return chosen;
}

Result<engine::EngineOptions> engine_options(const ParsedArgs& args) {
  engine::EngineOptions o;
  auto threads = args.get_int("threads", 1, 512);
  if (!threads.ok()) return threads.status();
  auto ctx = args.get_int("ctx", 0, int64_t{1} << 22);
  if (!ctx.ok()) return ctx.status();
  auto kv = args.get_choice("kv-type", {"f32", "f16"});
  if (!kv.ok()) return kv.status();
  o.n_threads = static_cast<int>(*threads);
  o.n_ctx = *ctx;
  o.kv_type = *kv == "f16" ? kernels::TensorType::F16 : kernels::TensorType::F32;
  auto device = selected_device(args);
  if (!device.ok()) return device.status();
  o.device = *device;
  return o;
}

void declare_sampling_options(CommandSpec& spec) {
  spec.option("temp", 0, "T", "sampling temperature; 0 is greedy", "0")
      .option("top-k", 0, "K", "keep the K most likely tokens; 0 is off", "0")
      .option("top-p", 0, "P", "nucleus sampling mass in (0, 1]", "1")
      .option("repeat-penalty", 0, "R", "repetition penalty; 1 is off", "1")
      .option("repeat-last-n", 0, "N", "tokens the penalty looks back over", "64")
      .option("seed", 's', "S", "random seed", "0");
}

Result<engine::SamplerParams> sampling_options(const ParsedArgs& args) {
  engine::SamplerParams p;
  auto temp = args.get_float("temp", 0.0, 100.0);
  if (!temp.ok()) return temp.status();
  auto top_k = args.get_int("top-k", 0, 1 << 30);
  if (!top_k.ok()) return top_k.status();
  auto top_p = args.get_float("top-p", 1e-6, 1.0);
  if (!top_p.ok()) return top_p.status();
  auto rp = args.get_float("repeat-penalty", 1e-3, 100.0);
  if (!rp.ok()) return rp.status();
  auto last_n = args.get_int("repeat-last-n", -1, 1 << 30);
  if (!last_n.ok()) return last_n.status();
  auto seed = args.get_uint64("seed");
  if (!seed.ok()) return seed.status();
  p.temperature = static_cast<float>(*temp);
  p.top_k = static_cast<int>(*top_k);
  p.top_p = static_cast<float>(*top_p);
  p.repeat_penalty = static_cast<float>(*rp);
  p.repeat_last_n = static_cast<int>(*last_n);
  p.seed = *seed;
  return p;
}

Result<std::unique_ptr<model::Model>> load_model(const ParsedArgs& args) {
  auto path = args.get_string("model");
  if (!path.ok()) return path.status();
  return model::Model::load(*path);
}

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error("cannot read '" + path + "'");
  return ss.str();
}

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace emoe::cli
