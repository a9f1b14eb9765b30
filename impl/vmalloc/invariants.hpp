// impl/vmalloc/invariants.hpp — VM-DISJOINT, VM-RANGE, VM-PARTITION, VM-LAZY-ACCT, VM-NO-REUSE,
// VM-PURGE, VM-MAP, VM-NONCONTIG, VM-NO-STRAY: each written once as a word template (proofs/
// runs them over Z3), and the checkers that apply them to a live vmap_state.
//
// Synopsis
//   vm_disjoint(a, b)                 VM-DISJOINT: two areas share no byte (guard included)
//   vm_range(va, align, vstart, vend) VM-RANGE: aligned and inside the range it was asked for
//   vm_partition_adjacent(e, s)       VM-PARTITION: in address order, each interval of busy ∪
//                                     lazy ∪ free starts where the previous one ends
//   vm_lazy_acct(counter, sum)        VM-LAZY-ACCT
//   vm_no_reuse(busy, lazy)           VM-NO-REUSE: a busy area never overlaps a lazy one
//   vm_purge_covers(flush, area)      VM-PURGE: the flushed range covers each purged area
//   vm_map_page(walk_ok, pfn, page)   VM-MAP: page i of an area translates to pages[i]
//   vm_no_stray(leaf, area, mapped)   VM-NO-STRAY: a leaf lies inside an area's mapped pages
//   check_vmalloc(vs)                 every VM-* but VM-PURGE, plus PT-WF, TLB-COHERENT and the
//                                     buddy invariants, on a live state
//   check_VM_PURGE(vs, purge)         VM-PURGE, judged right after a purge (vmap_state::on_purge)
//   vmalloc_report(v, vs)             violations followed by a dump of the state judged
//
// Part of the trusted base (docs/TRUSTED.md); every checker has a negative test.
#pragma once

#include <string>
#include <vector>

#include "impl/vmalloc/vmalloc.hpp"
#include "model/interval.hpp"
#include "model/invariants.hpp"
#include "model/word.hpp"

namespace mmref::vmalloc {

// The IDs (DESIGN.md), in their own namespace: VM_MAP is also the vm_struct flag.
namespace inv {
inline constexpr const char* VM_DISJOINT = "VM-DISJOINT";
inline constexpr const char* VM_RANGE = "VM-RANGE";
inline constexpr const char* VM_PARTITION = "VM-PARTITION";
inline constexpr const char* VM_LAZY_ACCT = "VM-LAZY-ACCT";
inline constexpr const char* VM_NO_REUSE = "VM-NO-REUSE";
inline constexpr const char* VM_PURGE = "VM-PURGE";
inline constexpr const char* VM_MAP = "VM-MAP";
inline constexpr const char* VM_NONCONTIG = "VM-NONCONTIG";
inline constexpr const char* VM_NO_STRAY = "VM-NO-STRAY";
}  // namespace inv

// VM-DISJOINT, pairwise: busy areas [a_start, a_end) and [b_start, b_end) share no byte.
template <word W>
constexpr bool_t<W> vm_disjoint(W a_start, W a_end, W b_start, W b_end) {
  return !overlaps(a_start, a_end, b_start, b_end);
}

// VM-RANGE: a busy area is non-empty, page aligned in size, aligned to its request's align and
// lies inside the [vstart, vend) it was asked for.
template <word W>
constexpr bool_t<W> vm_range(W va_start, W va_end, W align, W vstart, W vend) {
  return contains(vstart, vend, va_start, va_end) && IS_ALIGNED(va_start, align) &&
         IS_ALIGNED(va_end - va_start, W::lit(PAGE_SIZE));
}

// VM-PARTITION, one step of the address-ordered walk over busy ∪ lazy ∪ free.
template <word W>
constexpr bool_t<W> vm_partition_adjacent(W prev_end, W next_start) {
  return eq(prev_end, next_start);
}

// VM-LAZY-ACCT: vmap_lazy_nr equals the pages of the lazy areas (guard pages included).
template <word W>
constexpr bool_t<W> vm_lazy_acct(W counter, W lazy_pages) {
  return eq(counter, lazy_pages);
}

// VM-NO-REUSE, pairwise: a busy area does not overlap a lazily freed one.
template <word W>
constexpr bool_t<W> vm_no_reuse(W busy_start, W busy_end, W lazy_start, W lazy_end) {
  return !overlaps(busy_start, busy_end, lazy_start, lazy_end);
}

// VM-PURGE: the range the purge flushed covers a purged area.
template <word W>
constexpr bool_t<W> vm_purge_covers(W flush_start, W flush_end, W area_start, W area_end) {
  return contains(flush_start, flush_end, area_start, area_end);
}

// VM-MAP: the walk at page i of an area gives pages[i].
template <word W>
constexpr bool_t<W> vm_map_page(bool_t<W> walk_ok, W walk_pfn, W page_pfn) {
  return walk_ok && eq(walk_pfn, page_pfn);
}

// VM-NO-STRAY: a present leaf [leaf_start, leaf_end) lies inside an area's mapped part
// [area_start, mapped_end) (the guard page is not mapped).
template <word W>
constexpr bool_t<W> vm_no_stray(W leaf_start, W leaf_end, W area_start, W mapped_end) {
  return contains(area_start, mapped_end, leaf_start, leaf_end);
}

std::vector<violation> check_VM_DISJOINT(const vmap_state& vs);
std::vector<violation> check_VM_RANGE(const vmap_state& vs);
std::vector<violation> check_VM_PARTITION(const vmap_state& vs);
std::vector<violation> check_VM_LAZY_ACCT(const vmap_state& vs);
std::vector<violation> check_VM_NO_REUSE(const vmap_state& vs);
std::vector<violation> check_VM_MAP(const vmap_state& vs);
std::vector<violation> check_VM_NONCONTIG(const vmap_state& vs);
std::vector<violation> check_VM_NO_STRAY(const vmap_state& vs);
std::vector<violation> check_VM_PURGE(const vmap_state& vs, const purge_result& purge);
// All VM-* but VM-PURGE, PT-WF, TLB-COHERENT and BD-*.
std::vector<violation> check_vmalloc(const vmap_state& vs);

std::string dump_vmalloc(const vmap_state& vs, std::size_t max_lines = 48);
std::string vmalloc_report(const std::vector<violation>& v, const vmap_state& vs);

}  // namespace mmref::vmalloc
