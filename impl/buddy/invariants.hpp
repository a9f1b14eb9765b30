// impl/buddy/invariants.hpp — BD-PARTITION, BD-ALIGN, BD-COALESCED, BD-ACCT, BD-WMARK, BD-REF:
// each written once as a word template (proofs/ runs them over Z3 in the bounded proofs), and
// the checker that applies them to a live allocator.
//
// Synopsis
//   bd_align(pfn, order, zstart, zend)        BD-ALIGN for one free block.
//   bd_disjoint(a, oa, b, ob)                 BD-PARTITION: two blocks share no frame.
//   bd_coalesced_pair(a, oa, b, ob, barrier)  BD-COALESCED: two free blocks are not mergeable
//                                             buddies unless a merge barrier stands between.
//   bd_acct(counted, nr_free) / bd_acct_total BD-ACCT: list lengths and page totals.
//   bd_wmark(...)                             BD-WMARK: after an allocation the check let
//                                             through, the zone still holds at least the
//                                             (reduced) mark plus the lowmem reserve.
//   bd_ref(is_free, is_alloc_head, refcount)  BD-REF.
//   check_buddy(pa)                           all six on a live allocator; `buddy_report`
//                                             renders violations with a dump of the state.
//
// Part of the trusted base (docs/TRUSTED.md); every checker has a negative test.
#pragma once

#include <string>
#include <vector>

#include "impl/buddy/buddy_core.hpp"
#include "impl/buddy/page_alloc.hpp"
#include "model/interval.hpp"
#include "model/invariants.hpp"
#include "model/word.hpp"

namespace mmref::buddy {

inline constexpr const char* BD_PARTITION = "BD-PARTITION";
inline constexpr const char* BD_ALIGN = "BD-ALIGN";
inline constexpr const char* BD_COALESCED = "BD-COALESCED";
inline constexpr const char* BD_ACCT = "BD-ACCT";
inline constexpr const char* BD_WMARK = "BD-WMARK";
inline constexpr const char* BD_REF = "BD-REF";

// BD-ALIGN: a free block of order k starts at a multiple of 2^k, k is a valid order, and the
// block lies inside its zone.
template <word W>
constexpr bool_t<W> bd_align(W pfn, W order, W zone_start, W zone_end) {
  return ule(order, W::lit(MAX_PAGE_ORDER)) && pfn_aligned_to_order(pfn, order) &&
         block_in_zone(pfn, order, zone_start, zone_end);
}

// BD-PARTITION, pairwise: blocks [a, a + 2^oa) and [b, b + 2^ob) share no frame.
template <word W>
constexpr bool_t<W> bd_disjoint(W a, W a_order, W b, W b_order) {
  return !overlaps(a, a + shl(W::lit(1), a_order), b, b + shl(W::lit(1), b_order));
}

// BD-COALESCED, pairwise: free blocks a and b of the same order below the largest are not
// each other's buddy, unless a merge barrier stands between them (another zone, or pageblock
// types that may not merge at order >= pageblock_order).
template <word W>
constexpr bool_t<W> bd_coalesced_pair(W a, W a_order, W b, W b_order, bool_t<W> barrier) {
  const bool_t<W> mergeable =
      eq(a_order, b_order) && ult(a_order, W::lit(MAX_PAGE_ORDER)) && eq(b, __find_buddy_pfn(a, a_order));
  return implies(mergeable, barrier);
}

// BD-ACCT: nr_free[k] equals the free blocks of order k found on the lists.
template <word W>
constexpr bool_t<W> bd_acct(W counted_blocks, W nr_free) {
  return eq(counted_blocks, nr_free);
}
// BD-ACCT: NR_FREE_PAGES equals the sum over orders of nr_free[k] * 2^k.
template <word W>
constexpr bool_t<W> bd_acct_total(W free_pages, W sum_of_blocks) {
  return eq(free_pages, sum_of_blocks);
}

// BD-WMARK: an allocation the watermark check let through leaves (signed) free pages, less the
// pages the request could not use, at or above the reduced mark plus the lowmem reserve:
// free - (2^k - 1) - unusable > min' + reserve before the allocation is
// free_after - unusable >= min' + reserve after it. ALLOC_NO_WATERMARKS is exempt.
template <word W>
constexpr bool_t<W> bd_wmark(W free_after, W unusable, W mark, W alloc_flags, W lowmem_reserve, bool_t<W> bypassed) {
  return bypassed || sge(free_after - unusable, wmark_min_reduced(mark, alloc_flags) + lowmem_reserve);
}

// BD-REF: a free frame has refcount 0; an allocated block's head has refcount >= 1.
template <word W>
constexpr bool_t<W> bd_ref(bool_t<W> is_free, bool_t<W> is_alloc_head, W refcount) {
  return implies(is_free, eq(refcount, W::lit(0))) && implies(is_alloc_head, sge(refcount, W::lit(1)));
}

std::vector<violation> check_BD_PARTITION(const page_alloc& pa);
std::vector<violation> check_BD_ALIGN(const page_alloc& pa);
std::vector<violation> check_BD_COALESCED(const page_alloc& pa);
std::vector<violation> check_BD_ACCT(const page_alloc& pa);
std::vector<violation> check_BD_WMARK(const page_alloc& pa);
std::vector<violation> check_BD_REF(const page_alloc& pa);
std::vector<violation> check_buddy(const page_alloc& pa);

std::string dump_buddy(const page_alloc& pa, std::size_t max_lines = 48);
std::string buddy_report(const std::vector<violation>& v, const page_alloc& pa);

}  // namespace mmref::buddy
