// proofs/buddy_bounded.hpp — bounded inductive proofs of BD-PARTITION, BD-ALIGN, BD-COALESCED
// and BD-ACCT for the buddy allocator's free and alloc, over K symbolic free blocks of one zone
// (impl/buddy/slots.hpp run with W = zword). The operations' parts come in as parameters so that
// a test can put a deliberately wrong one in and watch the proof fail
// (proofs/tests/test_buddy_bounded.cpp).
//
// Synopsis
//   BOUNDED_K                   the number of slots (free blocks) of the symbolic state.
//   zstate                      slot_state<zword, BOUNDED_K>.
//   bounded_ops                 the parts of free (begin, one merge step, done) and of alloc
//                               (take, one expand step, done) over zstate.
//   bounded_ops::real()         the parts in impl/buddy/slots.hpp, whose composition is
//                               slots_free / slots_alloc: what register_buddy_bounded_proofs()
//                               proves things about.
//   compose_free / compose_alloc
//                               the whole operation from the parts, exactly as slots_free and
//                               slots_alloc compose them.
//   buddy_bounded_obligations(ops)
//                               the frame lemmas (lemma__frame_in__*, lemma__bd_disjoint__*); the
//                               steps written out, case by case, with coverage
//                               (lemma__slots_free_step__explicit, lemma__slots_alloc_take__explicit,
//                               lemma__slots_alloc_expand_step__explicit); then
//                               free__preserves__<ID>, alloc__preserves__<ID> for the four IDs
//                               (each: the chain of per-step lemmas in parts, see
//                               buddy_bounded.cpp), then
//                               one obligation per path (nonvacuous__free_merges_<m>,
//                               nonvacuous__free_no_merge_at_max_order, nonvacuous__alloc_splits_<d>,
//                               nonvacuous__alloc_fails): the whole operation with the path fixed
//                               by a precondition, so the registry's non-vacuity check shows the
//                               path reachable from a state satisfying all four invariants, and
//                               all four claimed after it.
#pragma once

#include <functional>
#include <vector>

#include "impl/buddy/slots.hpp"
#include "proofs/registry.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs {

inline constexpr unsigned BOUNDED_K = buddy::SLOTS_K;
using zstate = buddy::slot_state<zword, BOUNDED_K>;
using zmerge = buddy::slot_merge<zword, BOUNDED_K>;
using zsplit = buddy::slot_split<zword, BOUNDED_K>;
using zfree_result = buddy::slot_free_result<zword, BOUNDED_K>;
using zalloc_result = buddy::slot_alloc_result<zword, BOUNDED_K>;

struct bounded_ops {
  std::function<zmerge(const zstate&, const zword& pfn, const zword& order)> free_begin;
  std::function<zmerge(const zmerge&, unsigned o)> free_step;
  std::function<zfree_result(const zmerge&)> free_done;
  std::function<zsplit(const zstate&, const zword& order)> alloc_take;
  std::function<zsplit(const zsplit&, unsigned h)> alloc_expand_step;
  std::function<zalloc_result(const zsplit&)> alloc_done;

  static bounded_ops real();
};

zfree_result compose_free(const bounded_ops& ops, const zstate& s, const zword& pfn, const zword& order);
zalloc_result compose_alloc(const bounded_ops& ops, const zstate& s, const zword& order);

std::vector<obligation> buddy_bounded_obligations(const bounded_ops& ops);

}  // namespace mmref::proofs
