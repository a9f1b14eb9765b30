// impl/buddy/buddy_core.hpp — the buddy allocator's arithmetic cores, templated over the word
// type: the allocator runs them with cword, proofs/ runs the same templates over Z3.
//
// Synopsis
//   NR_PAGE_ORDERS, MAX_ORDER, MAX_PAGE_ORDER   orders 0..10 (6.1: MAX_ORDER = 11, exclusive)
//   pageblock_order, pageblock_nr_pages         9 and 512 on x86-64 (HUGETLB_PAGE_ORDER)
//   PAGE_ALLOC_COSTLY_ORDER                     3
//   __find_buddy_pfn(pfn, order)                pfn ^ (1 << order)          mm/internal.h
//   buddy_combined_pfn(pfn, buddy_pfn)          buddy_pfn & pfn             __free_one_page
//   pfn_aligned_to_order(pfn, order)            the VM_BUG_ON at the top of __free_one_page
//   expand_upper_half(pfn, high)                the piece expand() gives away at order `high`
//   block_in_zone(pfn, order, start, end)       [pfn, pfn + 2^order) inside [start, end)
//   wmark_min_reduced(mark, alloc_flags)        the reserve cuts of __zone_watermark_ok
//   __zone_watermark_unusable_free(...)         mm/page_alloc.c (6.1)
//   __zone_watermark_ok(wmark_args)             mm/page_alloc.c (6.1), exact: signed long
//                                               arithmetic, the strict comparison, the order > 0
//                                               free-list walk
//   zone_watermark_fast_order0(wmark_args)      the order-0 shortcut of zone_watermark_fast
//   gfp_zone(gfp) / gfp_zone_bad(gfp)           include/linux/gfp.h, GFP_ZONE_TABLE / GFP_ZONE_BAD
//
// All cores are branch-free; loops have concrete bounds. `long` arithmetic in the kernel is
// done here with the signed word operations (slt/sle, sdiv_pow2), and says so.
#pragma once

#include <cstdint>

#include "impl/buddy/gfp.hpp"
#include "model/word.hpp"

namespace mmref::buddy {

// include/linux/mmzone.h (6.1): MAX_ORDER is exclusive, so orders are 0..MAX_ORDER-1 = 0..10.
// 6.4 made MAX_ORDER inclusive (10) and 6.8 renamed it MAX_PAGE_ORDER; the model names the
// largest order MAX_PAGE_ORDER and the array size NR_PAGE_ORDERS, as 6.8+ does.
inline constexpr unsigned MAX_ORDER = 11;
inline constexpr unsigned MAX_PAGE_ORDER = MAX_ORDER - 1;
inline constexpr unsigned NR_PAGE_ORDERS = MAX_ORDER;
inline constexpr std::uint64_t MAX_ORDER_NR_PAGES = std::uint64_t{1} << MAX_PAGE_ORDER;
// include/linux/pageblock-flags.h: pageblock_order = HUGETLB_PAGE_ORDER = 21 - 12 on x86-64.
inline constexpr unsigned pageblock_order = 9;
inline constexpr std::uint64_t pageblock_nr_pages = std::uint64_t{1} << pageblock_order;
// include/linux/mmzone.h
inline constexpr unsigned PAGE_ALLOC_COSTLY_ORDER = 3;

// __find_buddy_pfn() — mm/internal.h. Example from its comment: pfn 8, order 1 -> 10.
template <word W>
constexpr W __find_buddy_pfn(W pfn, W order) {
  return pfn ^ shl(W::lit(1), order);
}

// The head of the merged block: `combined_pfn = buddy_pfn & pfn` in __free_one_page.
template <word W>
constexpr W buddy_combined_pfn(W pfn, W buddy_pfn) {
  return buddy_pfn & pfn;
}

// VM_BUG_ON_PAGE(pfn & ((1 << order) - 1), page) in __free_one_page: a block's head is aligned.
template <word W>
constexpr bool_t<W> pfn_aligned_to_order(W pfn, W order) {
  return eq(pfn & (shl(W::lit(1), order) - W::lit(1)), W::lit(0));
}

// expand(): with `high` already decremented, the upper half &page[1 << high] goes to
// free_area[high]; the caller keeps the lower half.
template <word W>
constexpr W expand_upper_half(W pfn, W high) {
  return pfn + shl(W::lit(1), high);
}

// [pfn, pfn + 2^order) lies inside [start, end) (bad_range() in DEBUG_VM kernels, and the
// zone check page_is_buddy makes through page_zone_id). Written without the overflowing sum.
template <word W>
constexpr bool_t<W> block_in_zone(W pfn, W order, W start, W end) {
  const W size = shl(W::lit(1), order);
  return ule(start, pfn) && ult(pfn, end) && ule(size, end - pfn);
}

// C's signed division by 2^k (truncation toward zero) on a `long`: shift, after adding 2^k - 1
// to a negative dividend. The kernel writes `min / 2` and `min / 4` on a long.
template <word W>
constexpr W sdiv_pow2(W x, unsigned k) {
  const W bias = lshr(ashr(x, 63u), 64u - k);  // 2^k - 1 when x < 0, else 0
  return ashr(x + bias, k);
}

// The reserve cuts of __zone_watermark_ok (6.1), on `long min = mark`:
//   ALLOC_HIGH: min -= min / 2;  then ALLOC_OOM: min -= min / 2, else ALLOC_HARDER: min -= min / 4.
template <word W>
constexpr W wmark_min_reduced(W mark, W alloc_flags) {
  const W zero = W::lit(0);
  const bool_t<W> high = ne(alloc_flags & W::lit(ALLOC_HIGH), zero);
  const bool_t<W> oom = ne(alloc_flags & W::lit(ALLOC_OOM), zero);
  const bool_t<W> harder = ne(alloc_flags & W::lit(ALLOC_HARDER | ALLOC_OOM), zero);
  const W m1 = select(high, mark - sdiv_pow2(mark, 1), mark);
  const W cut = select(oom, sdiv_pow2(m1, 1), sdiv_pow2(m1, 2));
  return select(harder, m1 - cut, m1);
}

// What __zone_watermark_ok needs from the zone, as words. Masks have bit o set when a list at
// order o is non-empty (only bits 0..MAX_ORDER-1 count).
template <word W>
struct wmark_args {
  W free_pages;              // long: NR_FREE_PAGES (or the caller's estimate)
  W order;                   // 0..MAX_ORDER-1
  W mark;                    // unsigned long: wmark_pages(z, alloc_flags & ALLOC_WMARK_MASK)
  W lowmem_reserve;          // long: z->lowmem_reserve[highest_zoneidx]
  W alloc_flags;
  W nr_reserved_highatomic;  // z->nr_reserved_highatomic
  W free_cma;                // NR_FREE_CMA_PAGES (0: the model has no CMA area)
  W usable_lists;            // bit o: some free_list[mt < MIGRATE_PCPTYPES] at order o non-empty
  W highatomic_lists;        // bit o: free_list[MIGRATE_HIGHATOMIC] at order o non-empty
};

// __zone_watermark_unusable_free() — mm/page_alloc.c (6.1).
template <word W>
constexpr W __zone_watermark_unusable_free(const wmark_args<W>& a) {
  const W zero = W::lit(0);
  const bool_t<W> harder = ne(a.alloc_flags & W::lit(ALLOC_HARDER | ALLOC_OOM), zero);
  const bool_t<W> cma = ne(a.alloc_flags & W::lit(ALLOC_CMA), zero);
  return (shl(W::lit(1), a.order) - W::lit(1)) + select(harder, zero, a.nr_reserved_highatomic) +
         select(cma, zero, a.free_cma);
}

// __zone_watermark_ok() — mm/page_alloc.c (6.1). All arithmetic is `long`, so the comparison is
// signed and strict: free_pages == min + reserve fails (the "off-by-two" fix of 2011 and the
// signedness fix of 2012 are both about this line). Order > 0 additionally needs a free block
// of at least that order on a list the request may use: the three PCP types always, the
// HIGHATOMIC list only with ALLOC_HARDER or ALLOC_OOM.
template <word W>
constexpr bool_t<W> __zone_watermark_ok(const wmark_args<W>& a) {
  const W zero = W::lit(0);
  const W free_pages = a.free_pages - __zone_watermark_unusable_free(a);
  const W min = wmark_min_reduced(a.mark, a.alloc_flags);
  const bool_t<W> above = sgt(free_pages, min + a.lowmem_reserve);
  const bool_t<W> harder = ne(a.alloc_flags & W::lit(ALLOC_HARDER | ALLOC_OOM), zero);
  const W orders_mask = W::lit((std::uint64_t{1} << MAX_ORDER) - 1);
  const W lists = (a.usable_lists | select(harder, a.highatomic_lists, zero)) & orders_mask;
  const bool_t<W> block_at_or_above = ne(lshr(lists, a.order), zero);
  return above && (eq(a.order, zero) || block_at_or_above);
}

// The order-0 shortcut at the top of zone_watermark_fast() (6.1): usable_free = free_pages -
// min(free_pages, reserved), both long; `usable_free > mark + lowmem_reserve` mixes a long with
// an unsigned long sum, so C compares unsigned.
template <word W>
constexpr bool_t<W> zone_watermark_fast_order0(const wmark_args<W>& a) {
  wmark_args<W> a0 = a;
  a0.order = W::lit(0);
  const W reserved = __zone_watermark_unusable_free(a0);
  const W usable = a.free_pages - select(slt(a.free_pages, reserved), a.free_pages, reserved);
  return ugt(usable, a.mark + a.lowmem_reserve);
}

// GFP_ZONE_TABLE / GFP_ZONE_BAD — include/linux/gfp.h, for x86-64 (OPT_ZONE_HIGHMEM = NORMAL,
// GFP_ZONES_SHIFT = 2), built from the macro's own terms.
inline constexpr unsigned GFP_ZONES_SHIFT = 2;
inline constexpr std::uint64_t gfp_zone_entry(gfp_t bits, zone_type z) {
  return std::uint64_t{z} << (bits * GFP_ZONES_SHIFT);
}
inline constexpr std::uint64_t GFP_ZONE_TABLE =
    gfp_zone_entry(0, ZONE_NORMAL) | gfp_zone_entry(__GFP_DMA, ZONE_DMA) | gfp_zone_entry(__GFP_HIGHMEM, ZONE_NORMAL) |
    gfp_zone_entry(__GFP_DMA32, ZONE_DMA32) | gfp_zone_entry(__GFP_MOVABLE, ZONE_NORMAL) |
    gfp_zone_entry(__GFP_MOVABLE | __GFP_DMA, ZONE_DMA) | gfp_zone_entry(__GFP_MOVABLE | __GFP_HIGHMEM, ZONE_MOVABLE) |
    gfp_zone_entry(__GFP_MOVABLE | __GFP_DMA32, ZONE_DMA32);
inline constexpr std::uint64_t GFP_ZONE_BAD =
    (1u << (__GFP_DMA | __GFP_HIGHMEM)) | (1u << (__GFP_DMA | __GFP_DMA32)) | (1u << (__GFP_DMA32 | __GFP_HIGHMEM)) |
    (1u << (__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM)) | (1u << (__GFP_MOVABLE | __GFP_HIGHMEM | __GFP_DMA)) |
    (1u << (__GFP_MOVABLE | __GFP_DMA32 | __GFP_DMA)) | (1u << (__GFP_MOVABLE | __GFP_DMA32 | __GFP_HIGHMEM)) |
    (1u << (__GFP_MOVABLE | __GFP_DMA32 | __GFP_DMA | __GFP_HIGHMEM));
static_assert(GFP_ZONE_TABLE == 0x01320122 && GFP_ZONE_BAD == 0xE8E8);

// gfp_zone() — include/linux/gfp.h.
template <word W>
constexpr W gfp_zone(W gfp) {
  const W bit = gfp & W::lit(GFP_ZONEMASK);
  return lshr(W::lit(GFP_ZONE_TABLE), bit * W::lit(GFP_ZONES_SHIFT)) & W::lit((1u << GFP_ZONES_SHIFT) - 1);
}
// The VM_BUG_ON in gfp_zone(): two of DMA, HIGHMEM, DMA32 at once.
template <word W>
constexpr bool_t<W> gfp_zone_bad(W gfp) {
  const W bit = gfp & W::lit(GFP_ZONEMASK);
  return ne(lshr(W::lit(GFP_ZONE_BAD), bit) & W::lit(1), W::lit(0));
}

// Plain entry points.
constexpr std::uint64_t find_buddy_pfn(std::uint64_t pfn, unsigned order) {
  return __find_buddy_pfn(cword{pfn}, cword{order}).v;
}
constexpr zone_type gfp_zone(gfp_t gfp) { return static_cast<zone_type>(gfp_zone(cword{gfp}).v); }
constexpr bool gfp_zone_bad(gfp_t gfp) { return truth(gfp_zone_bad(cword{gfp})); }

}  // namespace mmref::buddy
