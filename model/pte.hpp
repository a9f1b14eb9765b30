// model/pte.hpp — the x86-64 page-table entry format and its encode/decode cores.
//
// Synopsis
//   _PAGE_BIT_*, _PAGE_*           bit positions from arch/x86/include/asm/pgtable_types.h.
//   pte_is_leaf(e, level)          a PTE is always a leaf; a PMD or PUD is one when PS is set;
//                                  P4D and PGD never are.
//   pte_pfn_mask(leaf kind)        PFN field: bits 12..MAXPHYADDR-1 in a 4 KiB PTE or a table
//                                  entry, 21.. in a 2 MiB leaf, 30.. in a 1 GiB leaf.
//   pte_flags_mask(leaf kind)      the flag bits: 0..11 and 52..63; 0..12 and 52..63 in a huge
//                                  leaf, where bit 12 is PAT_LARGE and bit 7 is PS, not PAT.
//   pte_encode(pfn, flags, level)  pfn is the 4 KiB frame number of the (first) frame.
//   pte_decode(e, level)           pfn, flags, leaf, and whether any reserved bit is set.
//   pte_pfn_valid(pfn, leaf kind)  below 2^(MAXPHYADDR-12) and aligned to the leaf's size.
//   pte_wf(e, level)               the per-entry part of PT-WF.
//
// Reserved bits: MAXPHYADDR..51 in every present entry, 13..20 in a 2 MiB leaf, 13..29 in a
// 1 GiB leaf, and PS at P4D/PGD level (Intel SDM vol. 3A, tables 4-15 .. 4-20). A present
// entry with one of them set makes the walker fault with RSVD.
#pragma once

#include <cstdint>

#include "model/align.hpp"
#include "model/paging.hpp"
#include "model/word.hpp"

namespace mmref {

// arch/x86/include/asm/pgtable_types.h
inline constexpr unsigned _PAGE_BIT_PRESENT = 0;
inline constexpr unsigned _PAGE_BIT_RW = 1;
inline constexpr unsigned _PAGE_BIT_USER = 2;
inline constexpr unsigned _PAGE_BIT_PWT = 3;
inline constexpr unsigned _PAGE_BIT_PCD = 4;
inline constexpr unsigned _PAGE_BIT_ACCESSED = 5;
inline constexpr unsigned _PAGE_BIT_DIRTY = 6;
inline constexpr unsigned _PAGE_BIT_PSE = 7;   // PS at PMD/PUD level
inline constexpr unsigned _PAGE_BIT_PAT = 7;   // PAT in a 4 KiB PTE
inline constexpr unsigned _PAGE_BIT_GLOBAL = 8;
inline constexpr unsigned _PAGE_BIT_SOFTW1 = 9;
inline constexpr unsigned _PAGE_BIT_SOFTW2 = 10;
inline constexpr unsigned _PAGE_BIT_SOFTW3 = 11;
inline constexpr unsigned _PAGE_BIT_PAT_LARGE = 12;
inline constexpr unsigned _PAGE_BIT_NX = 63;

inline constexpr std::uint64_t _PAGE_PRESENT = std::uint64_t{1} << _PAGE_BIT_PRESENT;
inline constexpr std::uint64_t _PAGE_RW = std::uint64_t{1} << _PAGE_BIT_RW;
inline constexpr std::uint64_t _PAGE_USER = std::uint64_t{1} << _PAGE_BIT_USER;
inline constexpr std::uint64_t _PAGE_PWT = std::uint64_t{1} << _PAGE_BIT_PWT;
inline constexpr std::uint64_t _PAGE_PCD = std::uint64_t{1} << _PAGE_BIT_PCD;
inline constexpr std::uint64_t _PAGE_ACCESSED = std::uint64_t{1} << _PAGE_BIT_ACCESSED;
inline constexpr std::uint64_t _PAGE_DIRTY = std::uint64_t{1} << _PAGE_BIT_DIRTY;
inline constexpr std::uint64_t _PAGE_PSE = std::uint64_t{1} << _PAGE_BIT_PSE;
inline constexpr std::uint64_t _PAGE_PAT = std::uint64_t{1} << _PAGE_BIT_PAT;
inline constexpr std::uint64_t _PAGE_GLOBAL = std::uint64_t{1} << _PAGE_BIT_GLOBAL;
inline constexpr std::uint64_t _PAGE_PAT_LARGE = std::uint64_t{1} << _PAGE_BIT_PAT_LARGE;
inline constexpr std::uint64_t _PAGE_NX = std::uint64_t{1} << _PAGE_BIT_NX;

// _KERNPG_TABLE: what intermediate kernel table entries get (0x63).
inline constexpr std::uint64_t _KERNPG_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY;
// __PAGE_KERNEL_EXEC (0x163) and __PAGE_KERNEL = PAGE_KERNEL, the default vmalloc prot.
inline constexpr std::uint64_t __PAGE_KERNEL_EXEC =
    _PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED | _PAGE_GLOBAL;
inline constexpr std::uint64_t PAGE_KERNEL = __PAGE_KERNEL_EXEC | _PAGE_NX;
inline constexpr std::uint64_t PAGE_KERNEL_LARGE = PAGE_KERNEL | _PAGE_PSE;

// __PHYSICAL_MASK_SHIFT: the PFN field never extends past bit 51.
inline constexpr unsigned PHYSICAL_MASK_SHIFT = 52;
// The model's default MAXPHYADDR (QEMU's default x86-64 CPU reports 40; real parts 39..52).
inline constexpr unsigned DEFAULT_MAXPHYADDR = 46;

enum class leaf_kind : unsigned { page_4k, pmd_2m, pud_1g, table };

constexpr unsigned leaf_shift(leaf_kind k) {
  return k == leaf_kind::pmd_2m ? PMD_SHIFT : k == leaf_kind::pud_1g ? PUD_SHIFT : PAGE_SHIFT;
}
// The PFN field as address bits.
constexpr std::uint64_t pte_pfn_mask(leaf_kind k, unsigned maxphyaddr) {
  return bit_range(maxphyaddr - 1, leaf_shift(k));
}
// The architectural flag bits (everything outside bits 12/13..51); MAXPHYADDR does not move
// them, the parameter keeps the three mask functions interchangeable.
constexpr std::uint64_t pte_flags_mask(leaf_kind k, unsigned /*maxphyaddr*/ = 0) {
  const unsigned lo = (k == leaf_kind::pmd_2m || k == leaf_kind::pud_1g) ? 13 : 12;
  return ~bit_range(PHYSICAL_MASK_SHIFT - 1, lo);
}
// Bits that must be zero in a present entry of this kind.
constexpr std::uint64_t pte_reserved_mask(leaf_kind k, unsigned maxphyaddr) {
  const std::uint64_t above_maxphy =
      maxphyaddr < PHYSICAL_MASK_SHIFT ? bit_range(PHYSICAL_MASK_SHIFT - 1, maxphyaddr) : 0;
  const unsigned shift = leaf_shift(k);
  const std::uint64_t below_pfn = shift > 13 ? bit_range(shift - 1, 13) : 0;
  return above_maxphy | below_pfn;
}

template <word W>
struct pte_fields {
  W pfn;            // 4 KiB frame number of the first frame mapped or of the next table
  W flags;          // pte & pte_flags_mask(kind)
  bool_t<W> present;
  bool_t<W> leaf;
  bool_t<W> reserved_clear;  // no reserved bit set
};

// Whether an entry at `level` maps memory itself (pte_leaf / pmd_leaf / pud_leaf).
template <word W>
constexpr bool_t<W> pte_is_leaf(W entry, unsigned level) {
  using B = bool_t<W>;
  if (level == PT_PTE) return B::lit(true);
  if (level == PT_PMD || level == PT_PUD) return ne(entry & W::lit(_PAGE_PSE), W::lit(0));
  return B::lit(false);
}

// A mask chosen between the huge-leaf and the table layout by the entry's PS bit.
template <word W>
constexpr W by_kind(bool_t<W> huge, unsigned level, std::uint64_t (*mask)(leaf_kind, unsigned),
                    unsigned maxphyaddr) {
  const leaf_kind big = level == PT_PUD ? leaf_kind::pud_1g : leaf_kind::pmd_2m;
  const leaf_kind small = level == PT_PTE ? leaf_kind::page_4k : leaf_kind::table;
  return select(huge, W::lit(mask(big, maxphyaddr)), W::lit(mask(small, maxphyaddr)));
}

// The entry's huge-leaf bit as the layout sees it: PS at PMD/PUD only.
template <word W>
constexpr bool_t<W> pte_huge(W entry, unsigned level) {
  using B = bool_t<W>;
  return (level == PT_PMD || level == PT_PUD) ? pte_is_leaf(entry, level) : B::lit(false);
}

// pte_pfn() / pmd_pfn() / pud_pfn() and pte_flags() with the level's layout.
template <word W>
constexpr pte_fields<W> pte_decode(W entry, unsigned level, unsigned maxphyaddr) {
  const bool_t<W> huge = pte_huge(entry, level);
  const W pfn_mask = by_kind<W>(huge, level, pte_pfn_mask, maxphyaddr);
  const W flags_mask = by_kind<W>(huge, level, pte_flags_mask, maxphyaddr);
  const W reserved = by_kind<W>(huge, level, pte_reserved_mask, maxphyaddr);
  // PS at P4D/PGD level is reserved.
  const W ps_reserved = W::lit(level >= PT_P4D ? _PAGE_PSE : 0);
  return {PHYS_PFN(entry & pfn_mask), entry & flags_mask,
          ne(entry & W::lit(_PAGE_PRESENT), W::lit(0)), pte_is_leaf(entry, level),
          eq(entry & (reserved | ps_reserved), W::lit(0))};
}

// pfn_pte() / pfn_pmd() / pfn_pud(): place the frame number and the flags. Flags outside the
// layout's flag mask are dropped, so no flag can reach the PFN field.
template <word W>
constexpr W pte_encode(W pfn, W flags, unsigned level, unsigned maxphyaddr) {
  const bool_t<W> huge = pte_huge(flags, level);
  const W pfn_mask = by_kind<W>(huge, level, pte_pfn_mask, maxphyaddr);
  const W flags_mask = by_kind<W>(huge, level, pte_flags_mask, maxphyaddr);
  return (PFN_PHYS(pfn) & pfn_mask) | (flags & flags_mask);
}

// A frame number the entry can hold: inside MAXPHYADDR and aligned to the leaf size.
template <word W>
constexpr bool_t<W> pte_pfn_valid(W pfn, bool_t<W> huge, unsigned level, unsigned maxphyaddr) {
  const W limit = W::lit(std::uint64_t{1} << (maxphyaddr - PAGE_SHIFT));
  const W align = select(huge, W::lit(std::uint64_t{1} << (leaf_shift(level == PT_PUD ? leaf_kind::pud_1g
                                                                                      : leaf_kind::pmd_2m) -
                                                           PAGE_SHIFT)),
                         W::lit(1));
  return ult(pfn, limit) && IS_ALIGNED(pfn, align);
}

// PT-WF, per entry: a present entry has no reserved bit set; in particular the huge-page bit
// appears only at PMD/PUD level.
template <word W>
constexpr bool_t<W> pte_wf(W entry, unsigned level, unsigned maxphyaddr) {
  const pte_fields<W> f = pte_decode(entry, level, maxphyaddr);
  return implies(f.present, f.reserved_clear);
}

}  // namespace mmref
