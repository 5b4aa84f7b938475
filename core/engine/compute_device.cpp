#include "core/engine/compute_device.h"

#include <charconv>
#include <cstdio>

#include "kernels/gpu/gpu_device.h"

namespace emoe::engine {
namespace {

std::string describe(const kernels::gpu::DeviceInfo& info) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "cuda:%d (%s, %.1f GiB)", info.index, info.name.c_str(),
                static_cast<double>(info.total_bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

}  // namespace

Result<ComputeDevice> select_compute_device(std::string_view spec) {
  ComputeDevice out;
  out.name = "cpu";
  if (spec == "cpu") return out;
  int index = 0;
  if (spec.starts_with("cuda:")) {
    const std::string_view digits = spec.substr(5);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || index < 0) {
      return invalid_argument("device '" + std::string(spec) +
                              "': expected cpu, cuda or cuda:N with N a GPU index");
    }
  } else if (spec != "cuda") {
    return invalid_argument("device '" + std::string(spec) + "': expected cpu, cuda or cuda:N");
  }

  const kernels::gpu::RuntimeProbe probe = kernels::gpu::probe_runtime();
  if (probe.devices.empty()) {
    out.notice = "CUDA is not available (" + probe.message + "); running on the CPU";
    return out;
  }
  if (index >= static_cast<int>(probe.devices.size())) {
    return invalid_argument("device '" + std::string(spec) + "': this machine has " +
                            std::to_string(probe.devices.size()) +
                            " GPU(s), cuda:0 to cuda:" + std::to_string(probe.devices.size() - 1));
  }
  kernels::gpu::OpenResult opened = kernels::gpu::open_device(index);
  if (!opened.device) {
    return device_error("cannot open " + std::string(spec) + ": " + opened.status.message());
  }
  out.name = describe(opened.device->info());
  out.gpu = std::move(opened.device);
  return out;
}

}  // namespace emoe::engine
