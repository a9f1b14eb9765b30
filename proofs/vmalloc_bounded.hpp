// proofs/vmalloc_bounded.hpp — bounded inductive proofs of VM-PARTITION, VM-DISJOINT,
// VM-NO-REUSE, VM-LAZY-ACCT, VM-PURGE, VM-MAP and VM-NONCONTIG for vmalloc's alloc
// (__alloc_vmap_area on the block the search chose), lazy free (free_vmap_area_noflush), purge
// (__purge_vmap_area_lazy) and map (vmap_small_pages_range_noflush), over K symbolic vmap areas
// in address order (impl/vmalloc/slots.hpp run with W = zword). The operations come in as
// parameters so that a test can put a deliberately wrong one in and watch the proof fail
// (proofs/tests/test_vmalloc_bounded.cpp).
//
// Synopsis
//   VM_BOUNDED_K                the number of slots (vmap areas of any kind) of the state: 8.
//   vzstate                     vm_slots<zword, VM_BOUNDED_K>.
//   vmalloc_bounded_ops         alloc, lazy_free, the purge's parts (begin, one step), map.
//   vmalloc_bounded_ops::real() the templates of impl/vmalloc/slots.hpp, with vmap_lazy_nr at the
//                               kernel's width: what register_vmalloc_bounded_proofs() proves.
//   compose_purge(ops, s)       the whole purge from its parts, as slots_purge composes them.
//   vmalloc_bounded_obligations(ops)
//                               lemma__slots_alloc__explicit, lemma__slots_lazy_free__explicit,
//                               lemma__slots_purge_step__explicit (each operation equals its
//                               result written out, case by case), lemma__slots_alloc__carve_facts;
//                               alloc__preserves__ and lazy_free__preserves__ VM-DISJOINT,
//                               VM-NO-REUSE, VM-LAZY-ACCT; purge__preserves__VM-LAZY-ACCT;
//                               purge__establishes__VM-PURGE; map__establishes__VM-MAP and
//                               __VM-NONCONTIG; each in parts (see vmalloc_bounded.cpp). Then one
//                               obligation per path (nonvacuous__alloc_fit_<FL|LE|RE|NE>,
//                               nonvacuous__alloc_ne_without_descriptor,
//                               nonvacuous__lazy_free_merge_<none|next|prev|both>,
//                               nonvacuous__purge_merge_<none|next|prev|both>,
//                               nonvacuous__purge_two_lazy_areas, nonvacuous__purge_nothing_lazy,
//                               nonvacuous__map_noncontiguous_pages): the whole operation with the
//                               path fixed by a precondition, from a state satisfying every
//                               invariant, so the registry's non-vacuity check shows it reachable.
#pragma once

#include <array>
#include <functional>
#include <vector>

#include "impl/vmalloc/slots.hpp"
#include "proofs/registry.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs {

inline constexpr unsigned VM_BOUNDED_K = vmalloc::VM_SLOTS_K;
using vzstate = vmalloc::vm_slots<zword, VM_BOUNDED_K>;
using vzalloc = vmalloc::vm_alloc_result<zword, VM_BOUNDED_K>;
using vzlazy = vmalloc::vm_lazy_result<zword, VM_BOUNDED_K>;
using vzpurge = vmalloc::vm_purge<zword, VM_BOUNDED_K>;
using vzptes = vmalloc::pte_window<zword, vmalloc::VM_MAP_N>;
using vzpages = std::array<zword, vmalloc::VM_MAP_N>;

struct vmalloc_bounded_ops {
  std::function<vzalloc(const vzstate&, const zword& idx, const zword& size, const zword& align, const zword& vstart,
                        const zword& vend)>
      alloc;
  std::function<vzlazy(const vzstate&, const zword& idx)> lazy_free;
  std::function<vzpurge(const vzstate&)> purge_begin;
  std::function<vzpurge(const vzpurge&, unsigned i)> purge_step;
  std::function<vzptes(const vzptes&, const zword& addr, const zword& nr_pages, const vzpages& pages, const zword& prot)> map;

  static vmalloc_bounded_ops real();
};

vzpurge compose_purge(const vmalloc_bounded_ops& ops, const vzstate& s);

std::vector<obligation> vmalloc_bounded_obligations(const vmalloc_bounded_ops& ops);

}  // namespace mmref::proofs
