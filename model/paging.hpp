// model/paging.hpp — x86-64 virtual-address cores: level shifts, index extraction, page
// offset, canonical check, and composing an address back from its indices.
//
// Synopsis
//   pt_level            1 = PTE, 2 = PMD, 3 = PUD, 4 = P4D (PGD with 4 levels), 5 = PGD.
//   level_shift(l)      PAGE_SHIFT 12, PMD_SHIFT 21, PUD_SHIFT 30, P4D_SHIFT 39, PGDIR_SHIFT 48/39.
//   va_bits(levels)     48 with 4-level paging, 57 with LA57.
//   pt_index(va, l)     pte_index / pmd_index / pud_index / p4d_index / pgd_index.
//   page_offset(va)     offset_in_page().
//   sign_extend(x, n)   bit n-1 copied into bits n..63.
//   is_canonical(va, levels)   bits 63..N-1 all equal (Documentation/arch/x86/x86_64/mm.rst).
//   compose_va(idx, off, levels) the address whose indices and offset these are.
//
// With 4-level paging the P4D is folded (PTRS_PER_P4D = 1): the top table is indexed by
// va[47:39] and called the PGD; the model numbers it level 4. With 5-level paging level 4 is
// the P4D and level 5 the PGD, indexed by va[56:48]. Sources: arch/x86/include/asm/
// pgtable_64_types.h, Intel SDM vol. 3A §4.5.
#pragma once

#include <array>
#include <cstdint>

#include "model/align.hpp"
#include "model/word.hpp"

namespace mmref {

inline constexpr unsigned PTRS_PER_TABLE = 512;           // PTRS_PER_PTE/PMD/PUD/P4D/PGD
inline constexpr unsigned PT_INDEX_BITS = 9;
inline constexpr unsigned PMD_SHIFT = 21;                 // pgtable_64_types.h
inline constexpr unsigned PUD_SHIFT = 30;
inline constexpr unsigned P4D_SHIFT = 39;
inline constexpr std::uint64_t PMD_SIZE = std::uint64_t{1} << PMD_SHIFT;
inline constexpr std::uint64_t PUD_SIZE = std::uint64_t{1} << PUD_SHIFT;
inline constexpr unsigned MAX_LEVELS = 5;

enum pt_level : unsigned { PT_PTE = 1, PT_PMD = 2, PT_PUD = 3, PT_P4D = 4, PT_PGD5 = 5 };

constexpr unsigned level_shift(unsigned level) { return PAGE_SHIFT + PT_INDEX_BITS * (level - 1); }
constexpr std::uint64_t level_size(unsigned level) { return std::uint64_t{1} << level_shift(level); }
constexpr unsigned va_bits(unsigned levels) { return PAGE_SHIFT + PT_INDEX_BITS * levels; }
constexpr const char* level_name(unsigned level, unsigned levels) {
  if (level == levels) return "PGD";
  switch (level) {
    case 1: return "PTE";
    case 2: return "PMD";
    case 3: return "PUD";
    default: return "P4D";
  }
}

// pte_index() / pmd_index() / pud_index() / p4d_index() / pgd_index()
template <word W>
constexpr W pt_index(W va, unsigned level) {
  return lshr(va, level_shift(level)) & W::lit(PTRS_PER_TABLE - 1);
}

// offset_in_page()
template <word W>
constexpr W page_offset(W va) {
  return va & W::lit(PAGE_SIZE - 1);
}

template <word W>
constexpr W sign_extend(W x, unsigned bits) {
  return ashr(shl(x, 64 - bits), 64 - bits);
}

// The hardware's canonical-address rule: the top 64 - N + 1 bits are one sign.
template <word W>
constexpr bool_t<W> is_canonical(W va, unsigned levels) {
  return eq(sign_extend(va, va_bits(levels)), va);
}

// The address whose level indices (idx[0] = PTE .. idx[levels-1] = PGD) and page offset are
// the given ones. Out-of-range index bits are masked off; the result is canonical.
template <word W>
constexpr W compose_va(const std::array<W, MAX_LEVELS>& idx, W offset, unsigned levels) {
  W va = offset & W::lit(PAGE_SIZE - 1);
  for (unsigned level = 1; level <= levels; ++level)
    va = va | shl(idx[level - 1] & W::lit(PTRS_PER_TABLE - 1), level_shift(level));
  return sign_extend(va, va_bits(levels));
}

template <word W>
constexpr std::array<W, MAX_LEVELS> decompose_va(W va, unsigned levels) {
  std::array<W, MAX_LEVELS> idx{W::lit(0), W::lit(0), W::lit(0), W::lit(0), W::lit(0)};
  for (unsigned level = 1; level <= levels; ++level) idx[level - 1] = pt_index(va, level);
  return idx;
}

// Plain-integer entry points.
constexpr unsigned pt_index(std::uint64_t va, unsigned level) {
  return static_cast<unsigned>(pt_index(cword{va}, level).v);
}
constexpr bool canonical(std::uint64_t va, unsigned levels) { return truth(is_canonical(cword{va}, levels)); }

}  // namespace mmref
