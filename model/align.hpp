// model/align.hpp — alignment and PFN arithmetic cores, templated over the word type.
//
// Synopsis
//   PAGE_SHIFT, PAGE_SIZE, PAGE_MASK                   asm/page_types.h
//   is_power_of_2(a)                                   include/linux/log2.h
//   ALIGN(x, a), ALIGN_DOWN(x, a), IS_ALIGNED(x, a)    include/linux/align.h (masks, no division)
//   PAGE_ALIGN(x)                                      include/linux/mm.h
//   align_up_checked(x, a) -> {value, overflow}        ALIGN plus the wrap the kernel leaves to
//                                                      its callers (e.g. __vmalloc_node_range
//                                                      checks `!size || size > totalram`).
//   PFN_PHYS(pfn), PHYS_PFN(pa)                        include/linux/pfn.h
//
// Every function here is branch-free: proofs/ runs the same templates over Z3 bit-vectors.
// `a` must be a power of two wherever an alignment is taken, as in the kernel.
#pragma once

#include <cstdint>

#include "model/word.hpp"

namespace mmref {

// asm/page_types.h
inline constexpr unsigned PAGE_SHIFT = 12;
inline constexpr std::uint64_t PAGE_SIZE = std::uint64_t{1} << PAGE_SHIFT;
inline constexpr std::uint64_t PAGE_MASK = ~(PAGE_SIZE - 1);

// is_power_of_2() — include/linux/log2.h
template <word W>
constexpr bool_t<W> is_power_of_2(W a) {
  return ne(a, W::lit(0)) && eq(a & (a - W::lit(1)), W::lit(0));
}

// ALIGN() / __ALIGN_KERNEL() — include/linux/align.h, uapi/linux/const.h
template <word W>
constexpr W ALIGN(W x, W a) {
  const W mask = a - W::lit(1);
  return (x + mask) & ~mask;
}

// ALIGN_DOWN() — include/linux/align.h
template <word W>
constexpr W ALIGN_DOWN(W x, W a) {
  return x & ~(a - W::lit(1));
}

// IS_ALIGNED() — include/linux/align.h
template <word W>
constexpr bool_t<W> IS_ALIGNED(W x, W a) {
  return eq(x & (a - W::lit(1)), W::lit(0));
}

// PAGE_ALIGN() — include/linux/mm.h
template <word W>
constexpr W PAGE_ALIGN(W x) {
  return ALIGN(x, W::lit(PAGE_SIZE));
}

template <word W>
struct aligned_t {
  W value;
  bool_t<W> overflow;  // no multiple of `a` at or above x fits in 64 bits; value has wrapped
};

// ALIGN with the wrap made visible. The largest multiple of a power of two `a` below 2^64 is
// ~(a - 1); any x above it has no aligned value above it, and ALIGN(x, a) wraps to 0.
template <word W>
constexpr aligned_t<W> align_up_checked(W x, W a) {
  return {ALIGN(x, a), ugt(x, ~(a - W::lit(1)))};
}

template <word W>
constexpr aligned_t<W> page_align_checked(W x) {
  return align_up_checked(x, W::lit(PAGE_SIZE));
}

// PFN_PHYS() / PHYS_PFN() — include/linux/pfn.h
template <word W>
constexpr W PFN_PHYS(W pfn) {
  return shl(pfn, PAGE_SHIFT);
}
template <word W>
constexpr W PHYS_PFN(W pa) {
  return lshr(pa, PAGE_SHIFT);
}

// Plain-integer entry points for the rest of the model.
constexpr std::uint64_t page_align(std::uint64_t x) { return PAGE_ALIGN(cword{x}).v; }
constexpr bool is_aligned(std::uint64_t x, std::uint64_t a) { return truth(IS_ALIGNED(cword{x}, cword{a})); }
constexpr bool is_pow2(std::uint64_t a) { return truth(is_power_of_2(cword{a})); }
constexpr std::uint64_t pfn_phys(std::uint64_t pfn) { return PFN_PHYS(cword{pfn}).v; }
constexpr std::uint64_t phys_pfn(std::uint64_t pa) { return PHYS_PFN(cword{pa}).v; }

}  // namespace mmref
