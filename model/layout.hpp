// model/layout.hpp — the kernel's virtual-address layout on x86-64, for 4- and 5-level paging.
//
// Synopsis
//   kernel_layout          the bases and ends a model instance uses; KASLR bases are fields.
//   kernel_layout::for_levels(levels)   the defaults before KASLR (mm.rst, pgtable_64_types.h).
//   is_vmalloc_addr(va)    include/linux/mm.h: VMALLOC_START <= va < VMALLOC_END.
//   __va(pa), __pa(va)     the direct map is arithmetic, not page-table entries.
//
// Note on ends: the kernel's VMALLOC_END is an *inclusive* last byte
// (VMALLOC_START + (VMALLOC_SIZE_TB << 40) - 1) while generic code treats it as exclusive
// (`addr < VMALLOC_END`, `addr + size <= vend`). The model keeps the kernel's value in
// `vmalloc_end` and uses it exclusively, exactly as generic mm code does: the top page of the
// 32 TiB window is never allocated. MODULES_END is exclusive in the kernel too.
#pragma once

#include <cstdint>
#include <string>

#include "model/word.hpp"

namespace mmref {

// arch/x86/include/asm/pgtable_64_types.h (5.x/6.x names)
inline constexpr std::uint64_t __PAGE_OFFSET_BASE_L4 = 0xffff888000000000ull;
inline constexpr std::uint64_t __PAGE_OFFSET_BASE_L5 = 0xff11000000000000ull;
inline constexpr std::uint64_t __VMALLOC_BASE_L4 = 0xffffc90000000000ull;
inline constexpr std::uint64_t __VMALLOC_BASE_L5 = 0xffa0000000000000ull;
inline constexpr std::uint64_t VMALLOC_SIZE_TB_L4 = 32;
inline constexpr std::uint64_t VMALLOC_SIZE_TB_L5 = 12800;
inline constexpr std::uint64_t __VMEMMAP_BASE_L4 = 0xffffea0000000000ull;
inline constexpr std::uint64_t __VMEMMAP_BASE_L5 = 0xffd4000000000000ull;
// Direct-map sizes from Documentation/arch/x86/x86_64/mm.rst: 64 TB (4-level), 32 PB (5-level).
inline constexpr std::uint64_t DIRECT_MAP_SIZE_L4 = std::uint64_t{64} << 40;
inline constexpr std::uint64_t DIRECT_MAP_SIZE_L5 = std::uint64_t{32} << 50;
// vmemmap (mm.rst): ffffea0000000000-ffffeaffffffffff, 1 TB (4-level);
// ffd4000000000000-ffd5ffffffffffff, 512 TB (5-level).
inline constexpr std::uint64_t VMEMMAP_SIZE_L4 = std::uint64_t{1} << 40;
inline constexpr std::uint64_t VMEMMAP_SIZE_L5 = std::uint64_t{1} << 49;
// arch/x86/include/asm/page_64_types.h: __START_KERNEL_map; KERNEL_IMAGE_SIZE is 1 GiB with
// CONFIG_RANDOMIZE_BASE (Debian's config), so MODULES_VADDR = 0xffffffffc0000000 — the value
// the shipped Debian 6.1 traces show. MODULES_END from pgtable_64_types.h.
inline constexpr std::uint64_t __START_KERNEL_map = 0xffffffff80000000ull;
inline constexpr std::uint64_t KERNEL_IMAGE_SIZE = std::uint64_t{1} << 30;
inline constexpr std::uint64_t MODULES_VADDR = __START_KERNEL_map + KERNEL_IMAGE_SIZE;
inline constexpr std::uint64_t MODULES_END = 0xffffffffff000000ull;

struct kernel_layout {
  unsigned levels = 4;                                   // 4, or 5 with LA57
  std::uint64_t page_offset = __PAGE_OFFSET_BASE_L4;     // page_offset_base
  std::uint64_t direct_map_size = DIRECT_MAP_SIZE_L4;
  std::uint64_t vmalloc_start = __VMALLOC_BASE_L4;       // VMALLOC_START = vmalloc_base
  std::uint64_t vmalloc_end = __VMALLOC_BASE_L4 + (VMALLOC_SIZE_TB_L4 << 40) - 1;  // inclusive
  std::uint64_t vmemmap_start = __VMEMMAP_BASE_L4;       // vmemmap_base
  std::uint64_t vmemmap_size = VMEMMAP_SIZE_L4;
  std::uint64_t modules_vaddr = MODULES_VADDR;
  std::uint64_t modules_end = MODULES_END;               // exclusive

  // The defaults before KASLR for the given paging depth.
  static kernel_layout for_levels(unsigned levels);
  // Moves the direct map, vmalloc and vmemmap bases as CONFIG_RANDOMIZE_MEMORY does; each
  // offset must keep the region 1 GiB aligned, in order, and canonical. Returns an error text
  // or "" on success (and leaves *this unchanged on error).
  std::string randomize(std::uint64_t direct_off, std::uint64_t vmalloc_off, std::uint64_t vmemmap_off);
  // Structural checks: ordering, alignment, canonical bounds. "" when sound.
  std::string validate() const;

  // is_vmalloc_addr() — include/linux/mm.h (VMALLOC_END used exclusively)
  bool is_vmalloc_addr(std::uint64_t va) const { return va >= vmalloc_start && va < vmalloc_end; }
  bool is_module_addr(std::uint64_t va) const { return va >= modules_vaddr && va < modules_end; }
  bool in_direct_map(std::uint64_t va) const { return va - page_offset < direct_map_size; }
};

// __va() / __pa() for the direct map — arch/x86/include/asm/page.h, page_64.h.
template <word W>
constexpr W direct_map_va(W pa, W page_offset) {
  return pa + page_offset;
}
template <word W>
constexpr W direct_map_pa(W va, W page_offset) {
  return va - page_offset;
}

}  // namespace mmref
