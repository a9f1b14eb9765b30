// model/hex.hpp — a word as the kernel prints addresses in messages: 0x, lower-case hex, no
// padding. The one formatter the reports, invariant messages and pictures share.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace mmref {

inline std::string hex(std::uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

}  // namespace mmref
