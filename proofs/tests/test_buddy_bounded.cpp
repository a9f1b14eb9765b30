// Tests for proofs/buddy_bounded.cpp: the bounded proofs must fail when a part of free or alloc
// is wrong. Each test puts one deliberately wrong part into bounded_ops, rebuilds the
// obligations over it, and expects Z3 to report VIOLATED with a counterexample; the real parts
// prove the same obligation. Where an obligation has many parts, the test discharges only the
// part the mistake shows in (solver_opts::only_part), found by its name.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "impl/buddy/slots.hpp"
#include "proofs/buddy_bounded.hpp"
#include "proofs/registry.hpp"
#include "proofs/tests/harness.hpp"
#include "proofs/zword.hpp"

using namespace mmref;
using namespace mmref::buddy;
using namespace mmref::proofs;

namespace {

using harness::expect_pictures;
using harness::named;
using harness::part_index;
using harness::run;

// A merge step that forgets del_page_from_free_list's nr_free-- for the buddy it took.
bounded_ops forgets_nr_free_in_merge() {
  bounded_ops ops = bounded_ops::real();
  ops.free_step = [](const zmerge& m, unsigned o) {
    zmerge r = slots_free_step(m, o);
    r.state.nr_free[o] = m.state.nr_free[o];
    return r;
  };
  return ops;
}

// A merge step that keeps the freed block's pfn instead of buddy_pfn & pfn: an upper half that
// merges ends up misaligned.
bounded_ops keeps_pfn_in_merge() {
  bounded_ops ops = bounded_ops::real();
  ops.free_step = [](const zmerge& m, unsigned o) {
    zmerge r = slots_free_step(m, o);
    r.pfn = m.pfn;
    return r;
  };
  return ops;
}

// __free_one_page's __mod_zone_freepage_state with 1 instead of 1 << order.
bounded_ops begin_counts_one_page() {
  bounded_ops ops = bounded_ops::real();
  ops.free_begin = [](const zstate& in, const zword& pfn, const zword& order) {
    zstate s = in;
    s.free_pages = s.free_pages + zword::lit(1);
    return zmerge{s, pfn, order};
  };
  return ops;
}

// done_merging that puts the block on the list one frame past its head.
bounded_ops done_lists_one_frame_off() {
  bounded_ops ops = bounded_ops::real();
  ops.free_done = [](const zmerge& in) {
    zmerge m = in;
    m.pfn = m.pfn + zword::lit(1);
    return slots_free_done(m);
  };
  return ops;
}

// expand() that gives away the lower half and keeps the upper one, but hands out the lower
// address: the block handed out and the half given away are the same frames.
bounded_ops expand_gives_lower_half() {
  bounded_ops ops = bounded_ops::real();
  ops.alloc_expand_step = [](const zsplit& in, unsigned h) {
    zsplit sp = in;
    const zword hw = zword::lit(h);
    const zbool give = sp.ok && ult(hw, sp.high) && ule(sp.low, hw);
    slots_insert(sp.state, give, sp.pfn, hw);
    sp.high = select(give, hw, sp.high);
    return sp;
  };
  return ops;
}

// __rmqueue_smallest() that walks the orders from the largest down: takes the biggest block.
bounded_ops take_largest_first() {
  bounded_ops ops = bounded_ops::real();
  ops.alloc_take = [](const zstate& in, const zword& order) {
    zstate s = in;
    const zword zero = zword::lit(0);
    zbool found = zbool::lit(false);
    zword pfn = zero, high = zero;
    for (unsigned o = MAX_ORDER; o-- > 0;) {
      const zword ow = zword::lit(o);
      zbool took = zbool::lit(false);
      for (unsigned i = 0; i < BOUNDED_K; ++i) {
        auto& x = s.slot[i];
        const zbool take = ule(order, ow) && !found && !took && x.valid && eq(x.order, ow);
        x.valid = x.valid && !take;
        pfn = select(take, x.pfn, pfn);
        took = took || take;
      }
      s.nr_free[o] = s.nr_free[o] - select(took, zword::lit(1), zero);
      high = select(took, ow, high);
      found = found || took;
    }
    return zsplit{s, pfn, found, order, high, high};
  };
  return ops;
}

// rmqueue's accounting with the order taken instead of the order asked for.
bounded_ops done_counts_the_order_taken() {
  bounded_ops ops = bounded_ops::real();
  ops.alloc_done = [](const zsplit& sp) {
    zalloc_result r = slots_alloc_done(sp);
    r.state.free_pages = sp.state.free_pages - select(sp.ok, shl(zword::lit(1), sp.taken_order), zword::lit(0));
    return r;
  };
  return ops;
}

// The wrong part fails where the real part proves (proofs.z3 runs every real obligation whole).
proof_result expect_wrong_fails_where_real_proves(const bounded_ops& wrong, const std::string& name, const std::string& part) {
  return harness::expect_wrong_fails_where_real_proves(buddy_bounded_obligations, wrong, bounded_ops::real(), name, part);
}

}  // namespace

TEST(BuddyBounded, TheRealStepsAreTheirWrittenOutResults) {
  const auto v = buddy_bounded_obligations(bounded_ops::real());
  for (const char* n : {"lemma__slots_free_step__explicit", "lemma__slots_alloc_expand_step__explicit"}) {
    const proof_result r = run(named(v, n));
    EXPECT_EQ(r.z3, verdict::proved) << n << ": " << r.detail << r.counterexample;
    EXPECT_GT(r.parts, 100u) << n;
  }
}

TEST(BuddyBounded, AMergeThatForgetsNrFreeIsNotTheMergeStep) {
  const auto v = buddy_bounded_obligations(forgets_nr_free_in_merge());
  const proof_result r = run(named(v, "lemma__slots_free_step__explicit"));
  EXPECT_EQ(r.z3, verdict::violated) << r.detail;
  EXPECT_NE(r.detail.find("buddy in slot"), std::string::npos) << r.detail;
  EXPECT_FALSE(r.counterexample.empty());
  expect_pictures(r, "nr_free");
}

TEST(BuddyBounded, AMergeThatKeepsThePfnIsNotTheMergeStep) {
  const auto v = buddy_bounded_obligations(keeps_pfn_in_merge());
  const proof_result r = run(named(v, "lemma__slots_free_step__explicit"));
  EXPECT_EQ(r.z3, verdict::violated) << r.detail;
  EXPECT_GE(r.failed_part, 0);
}

TEST(BuddyBounded, AFreeThatCountsOnePageBreaksBdAcct) {
  expect_wrong_fails_where_real_proves(begin_counts_one_page(), "free__preserves__BD-ACCT", "total: begin");
}

TEST(BuddyBounded, AFreeThatListsTheBlockOneFrameOffBreaksBdAlign) {
  const proof_result r =
      expect_wrong_fails_where_real_proves(done_lists_one_frame_off(), "free__preserves__BD-ALIGN", "done, first free slot 3");
  // Drawn from the counterexample: the zone's free blocks by order before and after.
  expect_pictures(r, "nr_free");
}

TEST(BuddyBounded, AnExpandThatGivesTheLowerHalfIsNotExpand) {
  const auto v = buddy_bounded_obligations(expand_gives_lower_half());
  const proof_result r = run(named(v, "lemma__slots_alloc_expand_step__explicit"));
  EXPECT_EQ(r.z3, verdict::violated) << r.detail;
  EXPECT_NE(r.detail.find("half to slot"), std::string::npos) << r.detail;
}

TEST(BuddyBounded, ATakeOfTheLargestBlockIsNotRmqueueSmallest) {
  expect_wrong_fails_where_real_proves(take_largest_first(), "lemma__slots_alloc_take__explicit", "order 0 from slot 0");
}

TEST(BuddyBounded, AccountingTheOrderTakenBreaksBdAcct) {
  expect_wrong_fails_where_real_proves(done_counts_the_order_taken(), "alloc__preserves__BD-ACCT", "total: done, order 0");
}

TEST(BuddyBounded, APartNumberBeyondTheObligationIsAnError) {
  const auto v = buddy_bounded_obligations(bounded_ops::real());
  const proof_result r = run(named(v, "free__preserves__BD-ALIGN"), 100000);
  EXPECT_EQ(r.z3, verdict::error);
  EXPECT_NE(r.detail.find("no part 100000"), std::string::npos) << r.detail;
}
