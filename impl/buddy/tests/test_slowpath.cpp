// impl/buddy/tests/test_slowpath.cpp — every exit of __alloc_pages and the slow path.
#include <gtest/gtest.h>

#include "impl/buddy/tests/helpers.hpp"

namespace mmref::buddy {
namespace {

using namespace testing;

struct Slowpath : ::testing::Test {
  page_alloc pa{three_zones()};
  std::vector<std::uint64_t> held;
  void drain() { held = exhaust(pa); }
};

TEST_F(Slowpath, OrderTooLargeWarnsUnlessNowarn) {
  alloc_result r = pa.alloc_pages(GFP_KERNEL, MAX_ORDER);
  EXPECT_EQ(r.outcome, alloc_outcome::order_too_large);
  EXPECT_NE(r.warning.find("MAX_ORDER"), std::string::npos);
  r = pa.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 52);  // get_order(0) on x86-64
  EXPECT_EQ(r.outcome, alloc_outcome::order_too_large);
  EXPECT_EQ(r.warning, "");
  EXPECT_TRUE(pa.alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER).pfn);  // the largest order is allocatable
}

TEST_F(Slowpath, FaultInjectionNthAndProbability) {
  pa.fail_attr.min_order = 0;
  pa.fail_attr.ignore_gfp_reclaim = false;
  pa.fail_attr.nth = 2;
  EXPECT_TRUE(pa.alloc_pages(GFP_KERNEL, 0).pfn);
  EXPECT_EQ(pa.alloc_pages(GFP_KERNEL, 0).outcome, alloc_outcome::fault_injected);
  EXPECT_TRUE(pa.alloc_pages(GFP_KERNEL, 0).pfn);
  // The kernel's defaults skip order 0 and reclaiming requests.
  fail_page_alloc_attr defaults;
  pa.fail_attr = defaults;
  pa.fail_attr.probability = 100;
  EXPECT_TRUE(pa.alloc_pages(GFP_KERNEL, 1).pfn);
  EXPECT_EQ(pa.alloc_pages(GFP_ATOMIC, 1).outcome, alloc_outcome::fault_injected);
  EXPECT_TRUE(pa.alloc_pages(GFP_ATOMIC | __GFP_NOFAIL, 1).pfn);
  // A seeded probability replays exactly.
  const auto run = [&](std::uint64_t seed) {
    pa.fail_attr = defaults;
    pa.fail_attr.probability = 50;
    pa.fail_attr.seed = seed + 1000;  // a fresh seed reseeds
    std::string s;
    for (int i = 0; i < 32; ++i) {
      const alloc_result r = pa.alloc_pages(GFP_ATOMIC, 1);
      s += r.outcome == alloc_outcome::fault_injected ? 'F' : '.';
      if (r.pfn) pa.__free_pages(*r.pfn, 1);
    }
    return s;
  };
  const std::string a = run(1);
  EXPECT_NE(a.find('F'), std::string::npos);
  EXPECT_NE(a.find('.'), std::string::npos);
  EXPECT_EQ(run(2) == a, false);
  EXPECT_EQ(run(1), a);
}

TEST(SlowpathZones, NoZoneForTheRequest) {
  buddy_config c = tiny(0x2000, 0x2400);  // only DMA32 exists
  page_alloc pa(c);
  const alloc_result r = pa.alloc_pages(GFP_DMA | __GFP_DIRECT_RECLAIM, 0);
  EXPECT_EQ(r.outcome, alloc_outcome::no_zone);
  EXPECT_NE(r.warning.find("page allocation failure: order:0"), std::string::npos);
}

TEST_F(Slowpath, AtomicReachesBelowTheLowWatermarkButCannotReclaim) {
  // Take everything down to the low watermark with GFP_KERNEL | NORETRY, then GFP_ATOMIC still
  // gets pages from the slow path (min watermark, ALLOC_HIGH | ALLOC_HARDER).
  for (;;) {
    const alloc_result r = pa.alloc_pages(GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN, 0);
    if (!r.pfn) {
      EXPECT_EQ(r.outcome, alloc_outcome::noretry);
      break;
    }
  }
  const alloc_result a = pa.alloc_pages(GFP_ATOMIC, 0);
  ASSERT_TRUE(a.pfn);
  EXPECT_EQ(a.outcome, alloc_outcome::slow_path);
  expect_sound(pa);
  drain();
  const alloc_result b = pa.alloc_pages(GFP_ATOMIC, 0);
  EXPECT_EQ(b.outcome, alloc_outcome::no_direct_reclaim);
  EXPECT_EQ(b.warning.rfind("mmref: page allocation failure: order:0, mode:0xa20(GFP_ATOMIC), nodemask=(null)", 0), 0u);
  EXPECT_EQ(pa.alloc_pages(GFP_NOWAIT | __GFP_NOWARN, 0).outcome, alloc_outcome::no_direct_reclaim);
}

TEST_F(Slowpath, ExitsAfterReclaim) {
  drain();
  EXPECT_EQ(pa.alloc_pages(GFP_KERNEL, 0, task_context{true, false, false}).outcome, alloc_outcome::pf_memalloc);
  EXPECT_EQ(pa.alloc_pages(GFP_KERNEL | __GFP_NORETRY, 0).outcome, alloc_outcome::noretry);
  EXPECT_EQ(pa.alloc_pages(GFP_KERNEL, 4).outcome, alloc_outcome::costly);
  EXPECT_EQ(pa.alloc_pages(GFP_KERNEL | __GFP_NORETRY, 4).outcome, alloc_outcome::costly_noretry_compaction);
  const alloc_result r = pa.alloc_pages(GFP_KERNEL, 0);
  EXPECT_EQ(r.outcome, alloc_outcome::retries_exhausted);
  EXPECT_EQ(r.retries, 1u);  // no progress and nothing reclaimable: no retry
  EXPECT_EQ(pa.alloc_pages(GFP_KERNEL, 0, task_context{false, true, false}).outcome, alloc_outcome::oom_victim);
  EXPECT_EQ(pa.alloc_pages(GFP_ATOMIC | __GFP_NOFAIL, 0).outcome, alloc_outcome::nofail_no_reclaim);
  expect_sound(pa);
}

TEST_F(Slowpath, ShouldReclaimRetryStopsAfterMaxReclaimRetries) {
  drain();
  for (zone& z : const_cast<std::vector<zone>&>(pa.zones())) z.reclaimable_pages = 1u << 20;  // looks reclaimable
  const alloc_result r = pa.alloc_pages(GFP_KERNEL, 0);
  EXPECT_EQ(r.outcome, alloc_outcome::retries_exhausted);
  EXPECT_EQ(r.retries, 17u);  // first pass + 16 retries: no_progress_loops > MAX_RECLAIM_RETRIES
}

TEST_F(Slowpath, NofailAndNoFsWouldLoopForever) {
  drain();
  const alloc_result r = pa.alloc_pages(GFP_KERNEL | __GFP_NOFAIL, 0);
  EXPECT_EQ(r.outcome, alloc_outcome::would_loop_forever);
  EXPECT_FALSE(r.pfn);
  // Without __GFP_FS the OOM killer is skipped but progress is claimed: the kernel loops.
  EXPECT_EQ(pa.alloc_pages(GFP_NOFS, 0).outcome, alloc_outcome::would_loop_forever);
  expect_sound(pa);
}

TEST_F(Slowpath, ReclaimCompactionAndOomHooksFreePages) {
  drain();
  unsigned kswapd = 0;
  pa.hooks.wakeup_kswapd = [&](page_alloc&, unsigned, unsigned, gfp_t) { ++kswapd; };
  pa.hooks.try_to_free_pages = [&](page_alloc& a, unsigned, gfp_t) -> std::uint64_t {
    for (int i = 0; i < 1024 && !held.empty(); ++i) {
      a.__free_pages(held.back(), 0);
      held.pop_back();
    }
    return 1024;
  };
  alloc_result r = pa.alloc_pages(GFP_KERNEL, 0);
  ASSERT_TRUE(r.pfn);
  EXPECT_EQ(r.outcome, alloc_outcome::slow_path);
  EXPECT_GT(kswapd, 0u);
  // The OOM killer frees a victim's memory; the retry then succeeds.
  drain();
  pa.hooks.try_to_free_pages = nullptr;
  pa.hooks.out_of_memory = [&](page_alloc& a, unsigned, gfp_t) {
    while (!held.empty()) {
      a.__free_pages(held.back(), 0);
      held.pop_back();
    }
    return true;
  };
  r = pa.alloc_pages(GFP_KERNEL, 0);
  ASSERT_TRUE(r.pfn);
  EXPECT_EQ(r.outcome, alloc_outcome::slow_path);
  expect_sound(pa);
  // __GFP_NOFAIL whose OOM kill frees nothing gets no-watermark access and succeeds if any
  // page is left.
  pa.hooks.out_of_memory = nullptr;
  held = exhaust(pa);
  ASSERT_FALSE(held.empty());
  pa.__free_pages(held.back(), 0);
  held.pop_back();
  r = pa.alloc_pages(GFP_KERNEL | __GFP_NOFAIL, 0);
  EXPECT_TRUE(r.pfn);
  expect_sound(pa);
}

TEST_F(Slowpath, NoWatermarksForMemalloc) {
  drain();
  pa.__free_pages(held.back(), 0);
  held.pop_back();
  // Far below min: only ALLOC_NO_WATERMARKS gets the last page.
  EXPECT_FALSE(pa.alloc_pages(GFP_ATOMIC | __GFP_NOWARN, 0).pfn);
  const alloc_result r = pa.alloc_pages(GFP_KERNEL | __GFP_MEMALLOC, 0);
  ASSERT_TRUE(r.pfn);
  EXPECT_EQ(r.outcome, alloc_outcome::slow_path);
  EXPECT_TRUE(pa.last_witness().bypassed);
  expect_sound(pa);
}

TEST_F(Slowpath, HighOrderAtomicReservesAPageblock) {
  // Only the slow path has ALLOC_HARDER: get below the low watermark first.
  while (pa.alloc_pages(GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN, 0).pfn) {
  }
  const alloc_result r = pa.alloc_pages(GFP_ATOMIC, 2);
  ASSERT_TRUE(r.pfn);
  EXPECT_EQ(r.outcome, alloc_outcome::slow_path);
  EXPECT_EQ(pa.stats().highatomic_reserved, 1u);
  EXPECT_EQ(pa.zone_at(r.zone).nr_reserved_highatomic, pageblock_nr_pages);
  expect_sound(pa);
}

}  // namespace
}  // namespace mmref::buddy
