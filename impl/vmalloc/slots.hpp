// impl/vmalloc/slots.hpp — the vmap areas of one window of the address space as K slots in
// address order, the operations that change them written with the cores of va_core.hpp, the PTE
// writes of a mapping, and the abstraction function from the live vmap_state.
// proofs/vmalloc_bounded.cpp runs the operations with W = zword over K symbolic slots (the
// bounded inductive proofs of VM-PARTITION, VM-DISJOINT, VM-NO-REUSE, VM-LAZY-ACCT, VM-PURGE,
// VM-MAP, VM-NONCONTIG); props/vmalloc_abstraction.cpp checks with W = cword that the
// abstraction commutes with them: alpha(op(real)) == slots_op(alpha(real)).
//
// Synopsis
//   VM_SLOTS_K                  the K of the bounded proofs: vmap areas of any kind.
//   VMAP_LAZY_NR_BITS           vmap_lazy_nr's width: atomic_long_t, 64 bits on x86-64.
//   va_kind                     VA_EMPTY (no area: a spare descriptor), VA_FREE (free tree),
//                               VA_BUSY (busy tree), VA_LAZY (purge tree).
//   vm_slots<W, K>              K slots {kind, start, end} in address order, tiling the window
//                               [lo, hi), then empty slots; and vmap_lazy_nr.
//   slots_alloc(s, idx, size, align, vstart, vend)
//                               __alloc_vmap_area() on the free block in slot idx, the one the
//                               search chose: va_nva_start, is_within_this_va, va_fits_vend,
//                               classify_va_fit_type, va_clip. The block is replaced by its left
//                               remainder (RE, NE), the busy area and its right remainder (LE,
//                               NE); the slots above move up. No fit, or no empty slot for a
//                               remainder: nothing changes.
//   slots_lazy_free<B>(s, idx)  free_vmap_area_noflush() of the busy area in slot idx:
//                               vmap_lazy_nr += va_size >> PAGE_SHIFT (in a B-bit counter, by
//                               default the kernel's 64), then merge_or_add_vmap_area() into the
//                               purge tree: coalesce with the lazy neighbour above (va_end ==
//                               its start) and below (its end == va_start).
//   slots_purge<B>(s)           __purge_vmap_area_lazy(ULONG_MAX, 0): the flush range is the hull
//                               of the lazy areas; each lazy area leaves the counter and is
//                               merged into the free tree with its free neighbours.
//                               = slots_purge_step(·, 0) ∘ … ∘ slots_purge_step(·, K-1)
//                                 ∘ slots_purge_begin
//   slots_map(t, addr, nr, pages, prot)
//                               vmap_small_pages_range_noflush(): the PTE of page k of
//                               [addr, addr + nr pages) is pfn_pte(pages[k], prot), for the
//                               VM_MAP_N entries of a window of PTEs [t.base, + VM_MAP_N pages).
//   alpha<K>(vs, lo, hi)        the abstraction: the busy, lazy and free areas of vs inside the
//                               window [lo, hi) (free ones clipped to it) in address order, and
//                               vmap_lazy_nr; nullopt when it cannot be exact (below).
//
// Why address order (and not the buddy slots' any-order): the kernel keeps each tree with an
// address-sorted list, and busy ∪ lazy ∪ free partition the address space (VM-PARTITION). With
// the slots in address order that partition is the shape of the state (each slot starts where
// the one before ends), disjointness is an equality between neighbours instead of 64-bit order
// facts chained across every pair, and the only areas a merge can coalesce with are the slots
// beside it. The bounded proofs need this: over unordered slots a single case of alloc took Z3
// 13 s and cvc5 6 s (transitivity of 64-bit comparisons); in address order the parts take well
// under a second.
//
// Which free block the search picks is not modelled: slots_alloc takes its slot as an input, and
// the proofs hold for every slot the fit holds in, so they cover the kernel's choice (lowest
// match, or what the `size + align - 1` pruning leaves it). The property gives slots_alloc the
// slot holding the address the real allocator chose.
//
// What the abstraction covers, and what it leaves out:
//   - one window [lo, hi) of the address space. Busy and lazy areas must lie inside it or
//     outside it; every lazy area must lie inside (vmap_lazy_nr counts them all); free blocks are
//     clipped to it. Clipping changes no result of an operation whose request lies inside the
//     window ([vstart, vend) ⊆ [lo, hi)): the start candidate max(va_start, vstart), the fit and
//     the remainders inside the window are the same for a block and its clip, and a merge with
//     a block that reaches outside gives the clip of the real merge. Only the fit type's name
//     can differ at the window's edge (a real NE whose left remainder lies below lo is an RE of
//     the clip); the property puts busy sentinels on both edges, so there it cannot.
//   - descriptors. An empty slot stands for a descriptor: the kernel's alloc_vmap_area needs one
//     for the busy area and adjust_va_to_fit_type one more for NE's left remainder, and fails
//     leaving the trees as they were when it gets none. slots_alloc fails the same way when it
//     has no empty slot for a remainder (FL needs none: the block's own slot becomes busy).
//   - the purge's area order. The kernel returns lazy areas to the free tree in address order,
//     slots_purge from the top slot down (so that a merge, which closes up the slots above it,
//     never moves a slot not yet visited). No two lazy areas touch (6.1 coalesces the purge
//     tree), so each one merges with exactly the free neighbours it had before the purge, in
//     either order: the free space after is the coalesced union either way.
//   - the lazy threshold's drain (schedule_work when vmap_lazy_nr > lazy_max_pages()) is the
//     caller's: it runs slots_purge.
//
// Every operation is branch-free (select), with concrete loop bounds (K slots, VM_MAP_N
// pages); every shift is by a constant, and positions are found by comparing an index with
// constants only.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "impl/vmalloc/va_core.hpp"
#include "impl/vmalloc/vmalloc.hpp"
#include "model/align.hpp"
#include "model/pte.hpp"
#include "model/word.hpp"

namespace mmref::vmalloc {

// The number of slots the bounded proofs (proofs/vmalloc_bounded.cpp) run with.
inline constexpr unsigned VM_SLOTS_K = 8;
// vmap_lazy_nr is an atomic_long_t: a long, 64 bits on x86-64.
inline constexpr unsigned VMAP_LAZY_NR_BITS = 64;
// The PTEs the map model writes: a window of VM_MAP_N pages, so areas of up to VM_MAP_N - 1
// pages and their guard page.
inline constexpr unsigned VM_MAP_N = 16;

// ---------------------------------------------------------------------------------------
// The abstract state

enum va_kind : std::uint64_t { VA_EMPTY = 0, VA_FREE = 1, VA_BUSY = 2, VA_LAZY = 3 };

// One vmap area: [start, end) and the tree it is in.
template <word W>
struct va_slot {
  W kind;
  W start, end;
};

template <class T, std::size_t N>
std::array<T, N> vm_filled(const T& v) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) { return std::array<T, N>{((void)I, v)...}; }(
      std::make_index_sequence<N>{});
}

// The busy tree, the purge tree and the free tree inside the window [lo, hi), as K slots in
// address order, and vmap_lazy_nr. The partition the kernel keeps (VM-PARTITION) is the shape
// of the state: the used slots come first and tile the window (slot 0 starts at lo, each one
// starts where the one before ends, the last one ends at hi), the empty slots (spare
// descriptors) follow. Free areas never touch (the free tree is coalesced), nor do lazy ones
// (6.1 merges them in the purge tree).
template <word W, unsigned K>
struct vm_slots {
  std::array<va_slot<W>, K> slot;
  W lazy_nr;
  W lo, hi;

  static vm_slots empty(W lo, W hi) {
    return {vm_filled<va_slot<W>, K>({W::lit(VA_EMPTY), W::lit(0), W::lit(0)}), W::lit(0), lo, hi};
  }
};

template <word W>
bool_t<W> is_kind(const va_slot<W>& x, va_kind k) {
  return eq(x.kind, W::lit(k));
}

template <word W>
va_slot<W> select(bool_t<W> c, const va_slot<W>& a, const va_slot<W>& b) {
  return {select(c, a.kind, b.kind), select(c, a.start, b.start), select(c, a.end, b.end)};
}

// Slot k, or an empty one past the end (what shifts in when areas merge).
template <word W, unsigned K>
va_slot<W> slot_or_empty(const vm_slots<W, K>& s, unsigned k) {
  return k < K ? s.slot[k] : va_slot<W>{W::lit(VA_EMPTY), W::lit(0), W::lit(0)};
}

// Slot idx for a symbolic idx (an empty one when idx >= K).
template <word W, unsigned K>
va_slot<W> slot_at(const vm_slots<W, K>& s, W idx) {
  va_slot<W> r{W::lit(VA_EMPTY), W::lit(0), W::lit(0)};
  for (unsigned k = 0; k < K; ++k) r = select(eq(idx, W::lit(k)), s.slot[k], r);
  return r;
}

// The counter kept in `Bits` bits, as a B-bit atomic would keep it (B = 64: the word itself).
template <unsigned Bits, word W>
W counter_wrap(W x) {
  static_assert(Bits >= 1 && Bits <= 64);
  if constexpr (Bits == 64) return x;
  else return x & W::lit((std::uint64_t{1} << Bits) - 1);
}

// va_size(va) >> PAGE_SHIFT
template <word W>
W va_pages(W start, W end) {
  return lshr(end - start, PAGE_SHIFT);
}

// ---------------------------------------------------------------------------------------
// __merge_or_add_vmap_area(): the area in slot idx joins the tree of kind `into`, coalescing
// with its neighbours of that kind: the next area if it starts at va_end (the kernel's
// `sibling->va_start == va->va_end`), the previous one if it ends at va_start
// (`sibling->va_end == va->va_start`). In address order the only areas that can touch it are
// the slots beside it. The merged area takes the lowest slot of the ones it covers and the
// slots above close up (the kernel frees the merged-away descriptors).

template <word W>
struct vm_merged {
  bool_t<W> next, prev;  // which neighbours it coalesced with
};

template <word W, unsigned K>
vm_merged<W> slots_merge(vm_slots<W, K>& s, bool_t<W> when, W idx, va_kind into) {
  // The slot below and the slot above idx (empty ones past either end). Positions are found by
  // comparing idx with constants only.
  const va_slot<W> none{W::lit(VA_EMPTY), W::lit(0), W::lit(0)};
  const va_slot<W> cur = slot_at(s, idx);
  va_slot<W> prev = none, next = none;
  for (unsigned k = 0; k < K; ++k) {
    prev = select(eq(idx, W::lit(k + 1)), s.slot[k], prev);
    if (k >= 1) next = select(eq(idx, W::lit(k - 1)), s.slot[k], next);
  }
  const bool_t<W> mp = when && is_kind(prev, into) && va_can_merge(prev.end, cur.start);
  const bool_t<W> mn = when && is_kind(next, into) && va_can_merge(cur.end, next.start);
  const va_slot<W> merged{W::lit(into), select(mp, prev.start, cur.start), select(mn, next.end, cur.end)};
  const vm_slots<W, K> old = s;
  for (unsigned k = 0; k < K; ++k) {
    // The merged area goes to pos = idx - mp; the slots above it close up by mp + mn.
    const bool_t<W> below = select(mp, ult(W::lit(k + 1), idx), ult(W::lit(k), idx));
    const bool_t<W> here = select(mp, eq(idx, W::lit(k + 1)), eq(idx, W::lit(k)));
    const va_slot<W> above =
        select(mp && mn, slot_or_empty(old, k + 2), select(mp || mn, slot_or_empty(old, k + 1), old.slot[k]));
    const va_slot<W> now = select(below, old.slot[k], select(here, merged, above));
    s.slot[k] = select(when, now, old.slot[k]);
  }
  return {mn, mp};
}

// ---------------------------------------------------------------------------------------
// __alloc_vmap_area() — mm/vmalloc.c (6.1), steps 3-5, on the free block the search returned.

template <word W, unsigned K>
struct vm_alloc_result {
  vm_slots<W, K> state;
  bool_t<W> ok;  // the area was carved (else the state is unchanged)
  W addr;        // nva_start_addr
  W fit;         // classify_va_fit_type of the block (NOTHING_FIT when idx is not a free slot
                 // or the request does not fit in it)
};

// The block in slot idx is replaced, in address order, by its left remainder (RE, NE), the
// busy area, its right remainder (LE, NE); the slots above move up by the number of
// remainders, which must find empty slots at the top (else nothing changes).
template <word W, unsigned K>
vm_alloc_result<W, K> slots_alloc(const vm_slots<W, K>& s, W idx, W size, W align, W vstart, W vend) {
  const va_slot<W> b = slot_at(s, idx);
  // nva_start_addr = ALIGN(max(va_start, vstart), align); vend checked after the search;
  // adjust_va_to_fit_type refuses NOTHING_FIT.
  const W nva = va_nva_start(b.start, vstart, align);
  const W type = classify_va_fit_type(b.start, b.end, nva, size);
  const bool_t<W> fits = ult(idx, W::lit(K)) && is_kind(b, VA_FREE) && is_within_this_va(b.start, b.end, size, align, vstart) &&
                         va_fits_vend(nva, size, vend) && ne(type, W::lit(NOTHING_FIT));
  const va_pieces<W> p = va_clip(b.start, b.end, nva, size);
  // A descriptor (an empty slot at the top) for each remainder.
  const bool_t<W> top1 = is_kind(s.slot[K - 1], VA_EMPTY), top2 = top1 && is_kind(s.slot[K - 2], VA_EMPTY);
  const bool_t<W> room = select(p.has_left && p.has_right, top2, implies(p.has_left || p.has_right, top1));
  const bool_t<W> ok = fits && room;
  const va_slot<W> left{W::lit(VA_FREE), p.left_start, p.left_end};
  const va_slot<W> area{W::lit(VA_BUSY), nva, nva + size};
  const va_slot<W> right{W::lit(VA_FREE), p.right_start, p.right_end};
  const std::array<va_slot<W>, 3> piece{select(p.has_left, left, area), select(p.has_left, area, right), right};
  const bool_t<W> two = p.has_left && p.has_right, some = p.has_left || p.has_right;  // remainders
  vm_slots<W, K> t = s;
  for (unsigned k = 0; k < K; ++k) {
    // Slot k holds piece m when k = idx + m (m <= the number of remainders), else the slot that
    // was m' = remainders below it. Positions are found by comparing idx with constants only.
    const bool_t<W> p0 = eq(idx, W::lit(k));
    const bool_t<W> p1 = k >= 1 ? eq(idx, W::lit(k - 1)) && some : bool_t<W>::lit(false);
    const bool_t<W> p2 = k >= 2 ? eq(idx, W::lit(k - 2)) && two : bool_t<W>::lit(false);
    const va_slot<W> mine = select(p0, piece[0], select(p1, piece[1], piece[2]));
    const va_slot<W> moved =
        select(two, s.slot[k >= 2 ? k - 2 : k], select(some, s.slot[k >= 1 ? k - 1 : k], s.slot[k]));
    const va_slot<W> now = select(ult(W::lit(k), idx), s.slot[k], select(p0 || p1 || p2, mine, moved));
    t.slot[k] = select(ok, now, s.slot[k]);
  }
  return {t, ok, nva, select(fits, type, W::lit(NOTHING_FIT))};
}

// ---------------------------------------------------------------------------------------
// free_vmap_area_noflush() — mm/vmalloc.c (6.1), after the busy tree's unlink:
//     nr_lazy = atomic_long_add_return(va_size(va) >> PAGE_SHIFT, &vmap_lazy_nr);
//     merge_or_add_vmap_area(va, &purge_vmap_area_root, &purge_vmap_area_list);
// (the drain it may schedule is the caller's: slots_purge.) Bits: the counter's width.

template <word W, unsigned K>
struct vm_lazy_result {
  vm_slots<W, K> state;
  bool_t<W> ok;           // slot idx held a busy area
  vm_merged<W> merged;    // the lazy neighbours it coalesced with
};

template <unsigned Bits = VMAP_LAZY_NR_BITS, word W, unsigned K>
vm_lazy_result<W, K> slots_lazy_free(vm_slots<W, K> s, W idx) {
  const va_slot<W> va = slot_at(s, idx);
  const bool_t<W> busy = ult(idx, W::lit(K)) && is_kind(va, VA_BUSY);
  s.lazy_nr = select(busy, counter_wrap<Bits>(s.lazy_nr + va_pages(va.start, va.end)), s.lazy_nr);
  const vm_merged<W> m = slots_merge(s, busy, idx, VA_LAZY);
  return {s, busy, m};
}

// ---------------------------------------------------------------------------------------
// __purge_vmap_area_lazy(ULONG_MAX, 0) — mm/vmalloc.c (6.1), as its parts: the flush over the
// hull, then one iteration of the loop over the detached purge list per slot. slots_purge is
// their composition; proofs/vmalloc_bounded.cpp proves each part separately.

template <word W, unsigned K>
struct vm_purge {
  vm_slots<W, K> state;
  W flush_start, flush_end;  // the range flush_tlb_kernel_range() was given
  bool_t<W> purged;          // the purge list was not empty (the function's return value)
  W nr_purged;               // num_purged_areas
};

// The detach and the flush:
//     start = min(start, first->va_start); end = max(end, last->va_end);
//     flush_tlb_kernel_range(start, end);
// with start = ULONG_MAX, end = 0: the hull of all lazy areas.
template <word W, unsigned K>
vm_purge<W, K> slots_purge_begin(const vm_slots<W, K>& s) {
  W fs = W::lit(~std::uint64_t{0}), fe = W::lit(0);
  bool_t<W> any = bool_t<W>::lit(false);
  for (const va_slot<W>& x : s.slot) {
    const bool_t<W> lazy = is_kind(x, VA_LAZY);
    fs = select(lazy && ult(x.start, fs), x.start, fs);
    fe = select(lazy && ugt(x.end, fe), x.end, fe);
    any = any || lazy;
  }
  return {s, fs, fe, any, W::lit(0)};
}

// One iteration of
//     list_for_each_entry_safe(va, n_va, &local_purge_list, list) {
//         unsigned long nr = (va->va_end - va->va_start) >> PAGE_SHIFT;
//         va = merge_or_add_vmap_area_augment(va, &free_vmap_area_root, &free_vmap_area_list);
//         atomic_long_sub(nr, &vmap_lazy_nr); num_purged_areas++;
//     }
// for slot i (concrete): it acts when slot i holds a lazy area. The steps run from the top
// slot down, so that a merge (which closes up the slots above) never moves a slot not yet
// visited; the kernel walks the list upwards, and either order leaves the same free space.
template <unsigned Bits = VMAP_LAZY_NR_BITS, word W, unsigned K>
vm_purge<W, K> slots_purge_step(vm_purge<W, K> p, unsigned i) {
  const va_slot<W> x = p.state.slot[i];
  const bool_t<W> lazy = is_kind(x, VA_LAZY);
  slots_merge(p.state, lazy, W::lit(i), VA_FREE);
  p.state.lazy_nr = select(lazy, counter_wrap<Bits>(p.state.lazy_nr - va_pages(x.start, x.end)), p.state.lazy_nr);
  p.nr_purged = p.nr_purged + select(lazy, W::lit(1), W::lit(0));
  return p;
}

template <unsigned Bits = VMAP_LAZY_NR_BITS, word W, unsigned K>
vm_purge<W, K> slots_purge(const vm_slots<W, K>& s) {
  vm_purge<W, K> p = slots_purge_begin(s);
  for (unsigned i = K; i-- > 0;) p = slots_purge_step<Bits>(p, i);
  return p;
}

// ---------------------------------------------------------------------------------------
// vmap_pages_range() with PAGE_SHIFT pages: vmap_small_pages_range_noflush() —
// mm/vmalloc.c (6.1). vmap_pte_range writes, for each page of [addr, end):
//     set_pte_at(&init_mm, addr, pte, mk_pte(pages[*nr], prot)); (*nr)++;
// The PTEs are those of a window of VM_MAP_N pages [base, base + VM_MAP_N * PAGE_SIZE); a
// write outside it is lost and clears `fits`.

template <word W, unsigned N = VM_MAP_N>
struct pte_window {
  W base;                  // page aligned
  std::array<W, N> pte;    // pte[j]: the PTE of base + j * PAGE_SIZE
  bool_t<W> fits;          // every write landed in the window
};

// The entry of the window that maps va (N when none does).
template <word W, unsigned N>
W pte_window_index(const pte_window<W, N>& t, W va) {
  return lshr(va - t.base, PAGE_SHIFT);
}

// *pte for va (0, not present, outside the window).
template <word W, unsigned N>
W pte_window_lookup(const pte_window<W, N>& t, W va) {
  const W j = pte_window_index(t, va);
  W e = W::lit(0);
  for (unsigned k = 0; k < N; ++k) e = select(eq(j, W::lit(k)), t.pte[k], e);
  return e;
}

template <word W, unsigned N>
pte_window<W, N> slots_map(pte_window<W, N> t, W addr, W nr_pages, const std::array<W, std::size_t{N}>& pages, W prot,
                           unsigned maxphyaddr = DEFAULT_MAXPHYADDR) {
  for (unsigned k = 0; k < N; ++k) {
    const bool_t<W> active = ult(W::lit(k), nr_pages);
    const W va = addr + W::lit(std::uint64_t{k} << PAGE_SHIFT);
    const W j = pte_window_index(t, va);
    const W entry = pte_encode(pages[k], prot, PT_PTE, maxphyaddr);  // pfn_pte(page_to_pfn(page), prot)
    t.fits = t.fits && implies(active, ult(j, W::lit(N)));
    for (unsigned e = 0; e < N; ++e) t.pte[e] = select(active && eq(j, W::lit(e)), entry, t.pte[e]);
  }
  return t;
}

// ---------------------------------------------------------------------------------------
// The abstraction function (trusted: docs/TRUSTED.md)

// The areas of vs inside [lo, hi) as slots in address order (busy, lazy and free merged; free
// blocks clipped to the window), then empty ones; vmap_lazy_nr as vs keeps it. nullopt when more
// than K slots are needed, when a busy or lazy area straddles lo or hi, or when a lazy area lies
// outside the window (the counter would count pages no slot holds).
template <unsigned K>
std::optional<vm_slots<cword, K>> alpha(const vmap_state& vs, std::uint64_t lo, std::uint64_t hi) {
  std::vector<va_slot<cword>> in;
  const auto areas = [&](const va_tree& t, va_kind k) {
    for (const list_head* l = t.head.next; l != &t.head; l = l->next) {
      const vmap_area* va = va_of_list(l);
      const bool inside = lo <= va->va_start && va->va_end <= hi;
      const bool outside = va->va_end <= lo || hi <= va->va_start;
      if (!inside && !(outside && k == VA_BUSY)) return false;
      if (inside) in.push_back({cword{k}, cword{va->va_start}, cword{va->va_end}});
    }
    return true;
  };
  if (!areas(vs.busy(), VA_BUSY) || !areas(vs.lazy(), VA_LAZY)) return std::nullopt;
  for (const kva_interval& f : vs.kva().free_intervals()) {
    const std::uint64_t a = std::max(f.start, lo), b = std::min(f.end, hi);
    if (a < b) in.push_back({cword{VA_FREE}, cword{a}, cword{b}});
  }
  if (in.size() > K) return std::nullopt;
  std::sort(in.begin(), in.end(), [](const va_slot<cword>& x, const va_slot<cword>& y) { return x.start.v < y.start.v; });
  vm_slots<cword, K> s = vm_slots<cword, K>::empty(cword{lo}, cword{hi});
  for (std::size_t i = 0; i < in.size(); ++i) s.slot[i] = in[i];
  s.lazy_nr = cword{vs.vmap_lazy_nr()};
  return s;
}

}  // namespace mmref::vmalloc
