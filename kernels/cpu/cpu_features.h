// Which SIMD path the CPU kernels use. Detected once; EMOE_ISA=scalar|avx2|avx512 in the
// environment or set_active_isa() overrides it (never above what the CPU supports).
#pragma once

#include <string_view>

namespace emoe::kernels {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

Isa detected_isa();        // best this CPU supports
Isa active_isa();          // what dispatch uses now
void set_active_isa(Isa);  // clamped to detected_isa()
std::string_view isa_name(Isa);

// Extensions the Avx512 kernels need for some types (whether the CPU and OS have them; the Avx512
// dispatch uses the Avx2 kernel of a type whose extension is missing).
bool cpu_has_avx512_vnni();
bool cpu_has_avx512_bf16();

}  // namespace emoe::kernels
