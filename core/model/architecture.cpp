#include "core/model/architecture.h"

namespace emoe::model {

// Defined in arch_<name>.cpp, one file per architecture.
extern const ArchTraits kArchDeepseek;
extern const ArchTraits kArchDeepseek2;
extern const ArchTraits kArchLlama;
extern const ArchTraits kArchOlmoe;
extern const ArchTraits kArchQwen2Moe;
extern const ArchTraits kArchQwen3Moe;

namespace {

// Ordered by name, so lists in messages read alphabetically.
const ArchTraits* const kArchitectures[] = {&kArchDeepseek, &kArchDeepseek2, &kArchLlama,
                                            &kArchOlmoe,    &kArchQwen2Moe,  &kArchQwen3Moe};

}  // namespace

const ArchTraits* find_architecture(std::string_view name) {
  for (const ArchTraits* a : kArchitectures) {
    if (a->name == name) return a;
  }
  return nullptr;
}

std::span<const ArchTraits* const> architectures() { return kArchitectures; }

std::string supported_architectures() {
  std::string s;
  for (const ArchTraits* a : kArchitectures) {
    if (!s.empty()) s += ", ";
    s += a->name;
  }
  return s;
}

}  // namespace emoe::model
