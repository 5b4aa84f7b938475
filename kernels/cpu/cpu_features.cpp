#include "kernels/cpu/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace emoe::kernels {
namespace {

struct Detected {
  Isa isa = Isa::Scalar;
  bool vnni = false;
  bool bf16 = false;
};

// __builtin_cpu_supports also checks XCR0 (the OS saves the YMM/ZMM state), not just CPUID.
Detected detect() {
  Detected d;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("f16c");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512dq");
  d.isa = avx512 ? Isa::Avx512 : (avx2 ? Isa::Avx2 : Isa::Scalar);
  d.vnni = avx512 && __builtin_cpu_supports("avx512vnni");
  d.bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
#endif
  return d;
}

const Detected& detected() {
  static const Detected d = detect();  // magic static: initialised once, thread-safe
  return d;
}

Isa clamp(Isa want) {
  const Isa best = detected().isa;
  return static_cast<int>(want) > static_cast<int>(best) ? best : want;
}

Isa initial_active() {
  Isa isa = detected().isa;
  if (const char* env = std::getenv("EMOE_ISA")) {
    if (std::strcmp(env, "scalar") == 0) isa = clamp(Isa::Scalar);
    if (std::strcmp(env, "avx2") == 0) isa = clamp(Isa::Avx2);
    if (std::strcmp(env, "avx512") == 0) isa = clamp(Isa::Avx512);
  }
  return isa;
}

std::atomic<int>& active_slot() {
  static std::atomic<int> slot{static_cast<int>(initial_active())};
  return slot;
}

}  // namespace

Isa detected_isa() { return detected().isa; }

Isa active_isa() { return static_cast<Isa>(active_slot().load(std::memory_order_relaxed)); }

void set_active_isa(Isa isa) {
  active_slot().store(static_cast<int>(clamp(isa)), std::memory_order_relaxed);
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar:
      return "scalar";
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512:
      return "avx512";
  }
  return "unknown";
}

bool cpu_has_avx512_vnni() { return detected().vnni; }
bool cpu_has_avx512_bf16() { return detected().bf16; }

}  // namespace emoe::kernels
