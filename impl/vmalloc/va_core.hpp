// impl/vmalloc/va_core.hpp — the KVA allocator's arithmetic cores, templated over the word type:
// the allocators run them with cword, proofs/ runs the same templates over Z3 bit-vectors.
//
// Synopsis
//   fit_type                              NOTHING_FIT, FL, LE, RE, NE      mm/vmalloc.c
//   va_nva_start(va_start, vstart, align) the candidate start: ALIGN(max(va_start, vstart), align)
//                                         (is_within_this_va and __alloc_vmap_area step 3)
//   is_within_this_va(...)                mm/vmalloc.c: the request fits this free block, no wrap
//   va_search_length(size, align, adj)    find_vmap_lowest_match's pruning length
//   va_adjust_search_size(...)            __alloc_vmap_area's choice of `adjust_search_size`
//   va_fits_vend(nva, size, vend)         __alloc_vmap_area: `nva_start_addr + size > vend` fails
//   classify_va_fit_type(s, e, nva, size) mm/vmalloc.c
//   va_clip(s, e, nva, size)              adjust_va_to_fit_type's arithmetic: what remains of
//                                         the free block [s, e) on each side of the allocation
//   va_can_merge(a_end, b_start)          __merge_or_add_vmap_area: neighbours that touch
//   lazy_max_pages(ncpus)                 fls(num_online_cpus()) * (32 MiB >> PAGE_SHIFT)
//
// All cores are branch-free (select only); loops have concrete bounds. Addresses are byte
// addresses; a VA interval is half-open [va_start, va_end), as the kernel's vmap_area is.
#pragma once

#include <cstdint>

#include "model/align.hpp"
#include "model/word.hpp"

namespace mmref::vmalloc {

// enum fit_type — mm/vmalloc.c (5.2+)
enum fit_type : std::uint64_t {
  NOTHING_FIT = 0,
  FL_FIT_TYPE = 1,  // full fit: the request is the whole free block
  LE_FIT_TYPE = 2,  // left edge fit: starts at the block's start
  RE_FIT_TYPE = 3,  // right edge fit: ends at the block's end
  NE_FIT_TYPE = 4,  // no edge fit: strictly inside, the block splits in two
};

// The start candidate: `va->va_start > vstart ? ALIGN(va->va_start) : ALIGN(vstart)` as written
// in is_within_this_va() and __alloc_vmap_area() (later kernels: va_alloc()).
template <word W>
constexpr W va_nva_start(W va_start, W vstart, W align) {
  return ALIGN(select(ugt(va_start, vstart), va_start, vstart), align);
}

// is_within_this_va() — mm/vmalloc.c: false when the aligned start wraps (nva < vstart) or the
// end wraps, else whether [nva, nva + size) ends inside the block.
template <word W>
constexpr bool_t<W> is_within_this_va(W va_start, W va_end, W size, W align, W vstart) {
  const W nva = va_nva_start(va_start, vstart, align);
  const bool_t<W> wraps = ult(nva + size, nva) || ult(nva, vstart);
  return !wraps && ule(nva + size, va_end);
}

// find_vmap_lowest_match(): `length = adjust_search_size ? size + align - 1 : size` — the
// worst-case alignment waste, used only to prune subtrees (visited nodes are tested exactly).
template <word W>
constexpr W va_search_length(W size, W align, bool_t<W> adjust_search_size) {
  return select(adjust_search_size, size + align - W::lit(1), size);
}

// __alloc_vmap_area() (5.18+, commit 9333fe98d0a6): the adjustment is off when align <= PAGE_SIZE
// (every free block starts page aligned) and for an exact-size window, which could otherwise
// never be found.
template <word W>
constexpr bool_t<W> va_adjust_search_size(W size, W align, W vstart, W vend) {
  const bool_t<W> small_align = ule(align, W::lit(PAGE_SIZE));
  const bool_t<W> exact_window = ugt(align, W::lit(PAGE_SIZE)) && eq(vend - vstart, size);
  return !(small_align || exact_window);
}

// __alloc_vmap_area(): vend is checked only after the lowest fit is found:
// `if (nva_start_addr + size > vend) return vend;`
template <word W>
constexpr bool_t<W> va_fits_vend(W nva, W size, W vend) {
  return ule(nva + size, vend);
}

// classify_va_fit_type() — mm/vmalloc.c
template <word W>
constexpr W classify_va_fit_type(W va_start, W va_end, W nva, W size) {
  const W end = nva + size;
  const bool_t<W> nothing = ult(nva, va_start) || ugt(end, va_end);
  const bool_t<W> at_start = eq(va_start, nva);
  const bool_t<W> at_end = eq(va_end, end);
  const W edge = select(at_start, select(at_end, W::lit(FL_FIT_TYPE), W::lit(LE_FIT_TYPE)),
                        select(at_end, W::lit(RE_FIT_TYPE), W::lit(NE_FIT_TYPE)));
  return select(nothing, W::lit(NOTHING_FIT), edge);
}

// What adjust_va_to_fit_type() (later va_clip()) leaves of the free block [s, e) after carving
// [nva, nva + size) out of it: a left remainder [s, nva) and a right remainder [nva + size, e),
// either possibly empty. FL: both empty (the descriptor is freed); LE: only the right one
// (va_start += size); RE: only the left one (va_end = nva); NE: both (the left one takes the
// second descriptor, lva).
template <word W>
struct va_pieces {
  W left_start, left_end;
  W right_start, right_end;
  bool_t<W> has_left, has_right;
};

template <word W>
constexpr va_pieces<W> va_clip(W va_start, W va_end, W nva, W size) {
  const W end = nva + size;
  return {va_start, nva, end, va_end, ult(va_start, nva), ult(end, va_end)};
}

// __merge_or_add_vmap_area(): `sibling->va_start == va->va_end` (merge with next) and
// `sibling->va_end == va->va_start` (merge with previous).
template <word W>
constexpr bool_t<W> va_can_merge(W left_end, W right_start) {
  return eq(left_end, right_start);
}

// fls() — include/asm-generic/bitops/fls.h: the 1-based index of the highest set bit, 0 for 0.
// A concrete-bound loop over the 64 bit positions.
template <word W>
constexpr W fls64(W x) {
  W r = W::lit(0);
  for (unsigned i = 0; i < 64; ++i) r = select(ne(lshr(x, i), W::lit(0)), W::lit(i + 1), r);
  return r;
}

// lazy_max_pages() — mm/vmalloc.c (unchanged since 2.6.28):
// fls(num_online_cpus()) * (32UL * 1024 * 1024 / PAGE_SIZE). In pages.
template <word W>
constexpr W lazy_max_pages(W online_cpus) {
  return fls64(online_cpus) * W::lit((std::uint64_t{32} << 20) >> PAGE_SHIFT);
}

// Plain-integer entry points for the containers around the cores.
constexpr std::uint64_t nva_start(std::uint64_t va_start, std::uint64_t vstart, std::uint64_t align) {
  return va_nva_start(cword{va_start}, cword{vstart}, cword{align}).v;
}
constexpr bool within_this_va(std::uint64_t va_start, std::uint64_t va_end, std::uint64_t size,
                              std::uint64_t align, std::uint64_t vstart) {
  return truth(is_within_this_va(cword{va_start}, cword{va_end}, cword{size}, cword{align}, cword{vstart}));
}
constexpr fit_type fit_type_of(std::uint64_t va_start, std::uint64_t va_end, std::uint64_t nva, std::uint64_t size) {
  return static_cast<fit_type>(classify_va_fit_type(cword{va_start}, cword{va_end}, cword{nva}, cword{size}).v);
}
constexpr std::uint64_t lazy_max_pages_for(std::uint64_t online_cpus) {
  return lazy_max_pages(cword{online_cpus}).v;
}

static_assert(lazy_max_pages_for(1) == 8192 && lazy_max_pages_for(2) == 16384 &&
              lazy_max_pages_for(3) == 16384 && lazy_max_pages_for(4) == 24576 &&
              lazy_max_pages_for(64) == 57344, "lazy_max_pages(): the digest's table (§2.2)");
static_assert(fit_type_of(0x1000, 0x5000, 0x1000, 0x4000) == FL_FIT_TYPE);
static_assert(fit_type_of(0x1000, 0x5000, 0x1000, 0x1000) == LE_FIT_TYPE);
static_assert(fit_type_of(0x1000, 0x5000, 0x4000, 0x1000) == RE_FIT_TYPE);
static_assert(fit_type_of(0x1000, 0x5000, 0x2000, 0x1000) == NE_FIT_TYPE);
static_assert(fit_type_of(0x1000, 0x5000, 0x4000, 0x2000) == NOTHING_FIT);

}  // namespace mmref::vmalloc
