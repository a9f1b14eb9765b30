// impl/buddy/slots.hpp — the free lists of one zone as K slots, the two operations that change
// them written with the cores of buddy_core.hpp, and the abstraction function from the live
// allocator. proofs/buddy_bounded.cpp runs the operations with W = zword over K symbolic slots
// (the bounded inductive proofs of BD-PARTITION, BD-ALIGN, BD-COALESCED, BD-ACCT);
// props/buddy_abstraction.cpp checks with W = cword that the abstraction commutes with them:
// alpha(op(real)) == slots_op(alpha(real)).
//
// Synopsis
//   SLOTS_K                     the K of the bounded proofs.
//   slot_state<W, K>            K slots (valid, pfn, order), nr_free[0..10], NR_FREE_PAGES, the
//                               zone [zone_start, zone_end), and `fits` (every block an
//                               operation put back found a free slot).
//     ::empty(start, end)       no free block, counters 0.
//   slots_free(s, pfn, order)   __free_one_page() (6.1): free_pages += 2^order, then merge with
//                               the buddy of the same order while one is free, up to
//                               MAX_ORDER-1, then put the result in the first free slot.
//                               Returns the state and the block it inserted (merged_pfn,
//                               merged_order: the kernel's page and order at done_merging).
//                               = slots_free_done ∘ slots_free_step(·, 9) ∘ … ∘
//                                 slots_free_step(·, 0) ∘ slots_free_begin
//   slots_alloc(s, order)       rmqueue() -> __rmqueue_smallest() + expand(): the smallest order
//                               >= `order` that has a free block, the lowest slot of that order;
//                               its upper halves high-1 .. order go back to free slots;
//                               free_pages -= 2^order. Returns the state, the pfn, whether it
//                               succeeded and the order taken (high).
//                               = slots_alloc_done ∘ slots_alloc_expand_step(·, 0) ∘ … ∘
//                                 slots_alloc_expand_step(·, 9) ∘ slots_alloc_take
//   alpha<K>(pa, zone, mt)      the abstraction: zone's free lists of migratetype mt, in list
//                               order (order ascending, list head first), its nr_free and
//                               NR_FREE_PAGES; nullopt when more than K blocks are free.
//   only_migratetype(pa, z, mt) the other migratetypes' lists of zone z are all empty (when
//                               alpha is exact: nr_free counts every migratetype).
//
// What the abstraction covers, and what it leaves out:
//   - one zone and one migratetype's list set. Nothing in a slot says which zone or pageblock
//     type a block has, so the two merge barriers of __free_one_page (page_is_buddy's zone
//     check, and the pageblock types that may not merge at order >= pageblock_order) never
//     stand: every block of the abstract state is in the zone, on the one list set, mergeable.
//     The property runs the real allocator in that regime (one zone, every pageblock MOVABLE,
//     every request MOVABLE), and checks it is in it.
//   - "fallback" here is what __rmqueue_smallest itself falls back to: no free block of the
//     requested order, so a larger one is taken and split (expand). Migratetype fallback
//     (__rmqueue_fallback stealing from another type's lists) moves blocks between list sets
//     and cannot be expressed over one list set; it is not covered by the bounded proofs.
//   - list order. Slots are in list order only as alpha builds them; an operation leaves
//     removed slots empty and puts new blocks in the first empty slot, which is not where the
//     kernel's list_add/list_add_tail would put them. That is harmless: the one choice that
//     depends on list order (which block of the smallest order rmqueue takes) is made on
//     alpha(real before), which is in list order, and states are compared as multisets.
//   - the allocated blocks are not slots: BD-PARTITION over slots is "free blocks pairwise
//     disjoint, and free ∪ allocated covers the same frames before and after".
//
// Every operation is branch-free (select), with concrete loop bounds; the merge loop and the
// expand loop run over the concrete orders, so every shift in them is by a constant.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include "impl/buddy/buddy_core.hpp"
#include "impl/buddy/page_alloc.hpp"
#include "model/word.hpp"

namespace mmref::buddy {

// The number of slots the bounded proofs (proofs/buddy_bounded.cpp) run with: K free blocks.
inline constexpr unsigned SLOTS_K = 10;

// ---------------------------------------------------------------------------------------
// The abstract state

// One free block: the head of a free_list entry, with its order (buddy_order()).
template <word W>
struct free_slot {
  bool_t<W> valid;  // the slot holds a free block
  W pfn;
  W order;
};

template <class T, std::size_t N>
std::array<T, N> filled_array(const T& v) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) { return std::array<T, N>{((void)I, v)...}; }(
      std::make_index_sequence<N>{});
}

// zone->free_area[0..10] of one zone, one migratetype: the free blocks as K slots.
template <word W, unsigned K>
struct slot_state {
  std::array<free_slot<W>, K> slot;
  std::array<W, NR_PAGE_ORDERS> nr_free;  // free_area[o].nr_free
  W free_pages;                           // NR_FREE_PAGES
  W zone_start, zone_end;                 // [zone_start_pfn, zone_end_pfn)
  bool_t<W> fits;                         // no block was dropped for want of a free slot

  static slot_state empty(W start, W end) {
    return {filled_array<free_slot<W>, K>({bool_t<W>::lit(false), W::lit(0), W::lit(0)}),
            filled_array<W, NR_PAGE_ORDERS>(W::lit(0)), W::lit(0), start, end, bool_t<W>::lit(true)};
  }
};

// nr_free[order] += delta for a symbolic order (each counter compares it with its own order).
template <word W, unsigned K>
void slots_count(slot_state<W, K>& s, bool_t<W> when, W order, W delta) {
  for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o)
    s.nr_free[o] = s.nr_free[o] + select(when && eq(order, W::lit(o)), delta, W::lit(0));
}

// add_to_free_list(): the block goes to the first free slot, nr_free[order]++. `when` false:
// nothing changes. No free slot: the block is dropped and `fits` becomes false.
template <word W, unsigned K>
void slots_insert(slot_state<W, K>& s, bool_t<W> when, W pfn, W order) {
  bool_t<W> placed = !when;
  for (unsigned i = 0; i < K; ++i) {
    free_slot<W>& x = s.slot[i];
    const bool_t<W> here = !placed && !x.valid;
    x.valid = x.valid || here;
    x.pfn = select(here, pfn, x.pfn);
    x.order = select(here, order, x.order);
    placed = placed || here;
  }
  s.fits = s.fits && placed;
  slots_count(s, when, order, W::lit(1));
}

// ---------------------------------------------------------------------------------------
// __free_one_page(), as its three parts: entry, one iteration of the merge loop, done_merging.
// slots_free is their composition; proofs/buddy_bounded.cpp proves each part separately (the
// per-step lemmas DESIGN.md asks for) and composes them.

// __free_one_page between two iterations of its loop: the zone, and the block being merged
// (the kernel's `pfn` and `order` variables).
template <word W, unsigned K>
struct slot_merge {
  slot_state<W, K> state;
  W pfn;
  W order;
};

template <word W, unsigned K>
struct slot_free_result {
  slot_state<W, K> state;
  W merged_pfn;    // the block put on the list (pfn at done_merging)
  W merged_order;  // its order; merged_order - order merges happened
};

// Entry: __mod_zone_freepage_state(zone, 1 << order, migratetype) counts the block as freed
// (not the merged size) before the loop.
template <word W, unsigned K>
slot_merge<W, K> slots_free_begin(slot_state<W, K> s, W pfn, W order) {
  s.free_pages = s.free_pages + shl(W::lit(1), order);
  return {s, pfn, order};
}

// One iteration of
//     while (order < MAX_ORDER - 1) {
//         buddy = find_buddy_page_pfn(page, pfn, order, &buddy_pfn);   // a free head, same order
//         if (!buddy) goto done_merging;
//         del_page_from_free_list(buddy, zone, order);                  // nr_free--
//         combined_pfn = buddy_pfn & pfn; pfn = combined_pfn; order++;
//     }
// at the concrete order o (0 <= o < MAX_ORDER-1). It acts only when the block being merged has
// order o: run for o = 0 .. MAX_ORDER-2, the steps below the freed order and those after a step
// found no buddy do nothing, and the buddy pfn is computed with a constant shift. The buddy is
// the first valid slot holding (buddy_pfn, o).
template <word W, unsigned K>
slot_merge<W, K> slots_free_step(slot_merge<W, K> m, unsigned o) {
  const W ow = W::lit(o);
  const bool_t<W> step = eq(m.order, ow);
  const W buddy_pfn = __find_buddy_pfn(m.pfn, ow);
  bool_t<W> found = bool_t<W>::lit(false);
  for (unsigned i = 0; i < K; ++i) {
    free_slot<W>& x = m.state.slot[i];
    const bool_t<W> take = step && !found && x.valid && eq(x.order, ow) && eq(x.pfn, buddy_pfn);
    x.valid = x.valid && !take;
    found = found || take;
  }
  m.state.nr_free[o] = m.state.nr_free[o] - select(found, W::lit(1), W::lit(0));
  m.pfn = select(found, buddy_combined_pfn(m.pfn, buddy_pfn), m.pfn);
  m.order = select(found, W::lit(o + 1), m.order);
  return m;
}

// done_merging: set_buddy_order(page, order); add_to_free_list[_tail](page, zone, order, mt).
template <word W, unsigned K>
slot_free_result<W, K> slots_free_done(slot_merge<W, K> m) {
  slots_insert(m.state, bool_t<W>::lit(true), m.pfn, m.order);
  return {m.state, m.pfn, m.order};
}

// __free_one_page() — mm/page_alloc.c (6.1), for a block [pfn, pfn + 2^order) that is
// allocated (the caller's precondition).
template <word W, unsigned K>
slot_free_result<W, K> slots_free(const slot_state<W, K>& s, W pfn, W order) {
  slot_merge<W, K> m = slots_free_begin(s, pfn, order);
  for (unsigned o = 0; o + 1 < MAX_ORDER; ++o) m = slots_free_step(m, o);
  return slots_free_done(m);
}

// ---------------------------------------------------------------------------------------
// rmqueue() with one migratetype's lists: __rmqueue_smallest() and expand(), as their parts:
// taking the block, one iteration of expand's loop, the free count. slots_alloc is their
// composition.

// Between two iterations of expand(): the block taken and the part of it the caller still
// holds, [pfn, pfn + 2^high).
template <word W, unsigned K>
struct slot_split {
  slot_state<W, K> state;
  W pfn;           // the block taken (meaningful when ok)
  bool_t<W> ok;    // a block of order >= the request was free
  W low;           // the requested order
  W high;          // the order still held: the order taken, then down to low
  W taken_order;   // the order of the block taken off the list; 0 when !ok
};

template <word W, unsigned K>
struct slot_alloc_result {
  slot_state<W, K> state;
  W pfn;           // the block handed out (meaningful when ok)
  bool_t<W> ok;    // a block of order >= the request was free
  W taken_order;   // the order of the block taken off the list (high); 0 when !ok
};

// __rmqueue_smallest() up to expand():
//     for (current_order = order; current_order < MAX_ORDER; ++current_order) {
//         page = get_page_from_free_area(area, migratetype);    // the list head
//         if (!page) continue;
//         del_page_from_free_list(page, zone, current_order);  // nr_free--
//         expand(zone, page, order, current_order, migratetype);
//         return page;
//     }
// "The list head" is the lowest valid slot of that order (alpha puts slots in list order).
template <word W, unsigned K>
slot_split<W, K> slots_alloc_take(slot_state<W, K> s, W order) {
  const W zero = W::lit(0);
  bool_t<W> found = bool_t<W>::lit(false);
  W pfn = zero, high = zero;
  for (unsigned o = 0; o < MAX_ORDER; ++o) {
    const W ow = W::lit(o);
    const bool_t<W> eligible = ule(order, ow);
    bool_t<W> took = bool_t<W>::lit(false);
    for (unsigned i = 0; i < K; ++i) {
      free_slot<W>& x = s.slot[i];
      const bool_t<W> take = eligible && !found && !took && x.valid && eq(x.order, ow);
      x.valid = x.valid && !take;
      pfn = select(take, x.pfn, pfn);
      took = took || take;
    }
    s.nr_free[o] = s.nr_free[o] - select(took, W::lit(1), zero);
    high = select(took, ow, high);
    found = found || took;
  }
  return {s, pfn, found, order, high, high};
}

// One iteration of expand(zone, page, low, high, mt)
//     while (high > low) { high--; add_to_free_list(&page[1 << high], zone, high, mt); }
// at the concrete order h: run for h = MAX_ORDER-2 .. 0, in the kernel's (descending) order,
// it gives away the upper half at h when low <= h < high.
template <word W, unsigned K>
slot_split<W, K> slots_alloc_expand_step(slot_split<W, K> sp, unsigned h) {
  const W hw = W::lit(h);
  const bool_t<W> give = sp.ok && ult(hw, sp.high) && ule(sp.low, hw);
  slots_insert(sp.state, give, expand_upper_half(sp.pfn, hw), hw);
  sp.high = select(give, hw, sp.high);
  return sp;
}

// rmqueue(): __mod_zone_freepage_state(zone, -(1 << order), migratetype).
template <word W, unsigned K>
slot_alloc_result<W, K> slots_alloc_done(slot_split<W, K> sp) {
  sp.state.free_pages = sp.state.free_pages - select(sp.ok, shl(W::lit(1), sp.low), W::lit(0));
  return {sp.state, sp.pfn, sp.ok, sp.taken_order};
}

// rmqueue() -> __rmqueue_smallest() + expand() — mm/page_alloc.c (6.1), one migratetype.
template <word W, unsigned K>
slot_alloc_result<W, K> slots_alloc(const slot_state<W, K>& s, W order) {
  slot_split<W, K> sp = slots_alloc_take(s, order);
  for (unsigned h = MAX_PAGE_ORDER; h-- > 0;) sp = slots_alloc_expand_step(sp, h);
  return slots_alloc_done(sp);
}

// ---------------------------------------------------------------------------------------
// The abstraction function (trusted: docs/TRUSTED.md)

// zone's free lists of migratetype mt as slots, in list order: orders ascending, each list
// from its head; nr_free and NR_FREE_PAGES as the zone keeps them; the zone's span. nullopt
// when more than K blocks are on those lists.
template <unsigned K>
std::optional<slot_state<cword, K>> alpha(const page_alloc& pa, unsigned zi, unsigned mt) {
  const zone& z = pa.zone_at(zi);
  slot_state<cword, K> s = slot_state<cword, K>::empty(cword{z.zone_start_pfn}, cword{z.zone_end_pfn()});
  unsigned n = 0;
  for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o) {
    for (const std::uint64_t pfn : pa.free_list(zi, o, mt)) {
      if (n == K) return std::nullopt;
      s.slot[n++] = {cbool{true}, cword{pfn}, cword{o}};
    }
    s.nr_free[o] = cword{z.area[o].nr_free};
  }
  s.free_pages = cword{static_cast<std::uint64_t>(z.free_pages)};
  return s;
}

// alpha is exact for zone zi only when no other migratetype's list of zi holds a block
// (nr_free and NR_FREE_PAGES count all of them).
inline bool only_migratetype(const page_alloc& pa, unsigned zi, unsigned mt) {
  const zone& z = pa.zone_at(zi);
  for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o)
    for (unsigned t = 0; t < MIGRATE_TYPES; ++t)
      if (t != mt && !z.area[o].free_list[t].empty()) return false;
  return true;
}

}  // namespace mmref::buddy
