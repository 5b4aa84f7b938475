// What the `emoe` commands share: option declarations, loading a model with a readable error,
// engine options from flags, Ctrl-C cancellation.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "app/cli/cli_args.h"
#include "core/engine/engine.h"
#include "core/engine/sampler.h"
#include "core/model/model.h"

namespace emoe::cli {

// Set by SIGINT; commands check it between steps and stop cleanly.
std::atomic<bool>& interrupt_flag();
void install_interrupt_handler();

// --threads, --ctx, --kv-type, --device
void declare_engine_options(CommandSpec& spec);
Result<engine::EngineOptions> engine_options(const ParsedArgs& args);
// The GPU that --device selected (null: the CPU), opened once per process so the engine and
// the expert tier share it; a missing GPU is reported once on stderr and gives the CPU.
Result<std::shared_ptr<kernels::gpu::Device>> selected_device(const ParsedArgs& args);
// --temp, --top-k, --top-p, --repeat-penalty, --repeat-last-n, --seed
void declare_sampling_options(CommandSpec& spec);
Result<engine::SamplerParams> sampling_options(const ParsedArgs& args);

Result<std::unique_ptr<model::Model>> load_model(const ParsedArgs& args);  // -m MODEL
Result<std::string> read_text_file(const std::string& path);

// Formats a byte count as "12.3 MiB".
std::string human_bytes(uint64_t bytes);

}  // namespace emoe::cli
