// proofs/spec.hpp — independent specifications the lemmas compare the cores against, written
// directly in Z3 terms (extract, concat, bit counts) so that a lemma is never a core compared
// with a copy of itself. Part of the trusted base (docs/TRUSTED.md).
#pragma once

#include <z3++.h>

#include <cstdint>
#include <string>

#include "proofs/registry.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs::spec {

inline z3::expr bv(std::uint64_t v) { return zscope::ctx().bv_val(static_cast<std::uint64_t>(v), 64); }

// Bits 63..n-1 are all equal (the definition in the Intel SDM and mm.rst).
inline z3::expr canonical(const z3::expr& va, unsigned n) {
  const z3::expr top = va.extract(63, n - 1);
  const unsigned w = 64 - (n - 1);
  return top == zscope::ctx().bv_val(0, w) || top == ~zscope::ctx().bv_val(0, w);
}

// The number of set bits, as a 7-bit sum of the 64 single-bit extracts.
inline z3::expr popcount(const z3::expr& x) {
  z3::expr sum = zscope::ctx().bv_val(0, 7);
  for (unsigned i = 0; i < 64; ++i) sum = sum + z3::zext(x.extract(i, i), 6);
  return sum;
}

// v is a multiple of 2^s (s < 64): shifting the low s bits out and back changes nothing.
inline z3::expr aligned_to_shift(const z3::expr& v, const z3::expr& s) {
  return z3::shl(z3::lshr(v, s), s) == v;
}

// Low `bits` bits are zero.
inline z3::expr low_bits_zero(const z3::expr& v, unsigned bits) {
  return v.extract(bits - 1, 0) == zscope::ctx().bv_val(0, bits);
}

// Builds a goal from zword/zbool pieces.
inline goal make(std::vector<std::pair<std::string, z3::expr>> pre, const z3::expr& claim,
                 std::vector<std::pair<std::string, z3::expr>> show) {
  return goal{std::move(pre), claim, std::move(show), nullptr};
}

}  // namespace mmref::proofs::spec
