// impl/buddy/tests/test_buddy_core.cpp — the arithmetic cores on concrete words.
#include <gtest/gtest.h>

#include <random>

#include "impl/buddy/buddy_core.hpp"

namespace mmref::buddy {
namespace {

TEST(BuddyCore, FindBuddyPfnMatchesTheKernelComment) {
  EXPECT_EQ(find_buddy_pfn(8, 1), 10u);  // mm/internal.h: pfn 8, order 1 -> 10
  EXPECT_EQ(find_buddy_pfn(10, 1), 8u);
  EXPECT_EQ(buddy_combined_pfn(cword{8}, cword{10}).v, 8u);
  EXPECT_TRUE(truth(pfn_aligned_to_order(cword{1024}, cword{10})));
  EXPECT_FALSE(truth(pfn_aligned_to_order(cword{1536}, cword{10})));
  EXPECT_EQ(expand_upper_half(cword{16}, cword{2}).v, 20u);
}

TEST(BuddyCore, GfpZoneTable) {
  EXPECT_EQ(gfp_zone(GFP_KERNEL), ZONE_NORMAL);
  EXPECT_EQ(gfp_zone(GFP_DMA), ZONE_DMA);
  EXPECT_EQ(gfp_zone(GFP_DMA32), ZONE_DMA32);
  EXPECT_EQ(gfp_zone(GFP_HIGHUSER), ZONE_NORMAL);
  EXPECT_EQ(gfp_zone(GFP_HIGHUSER_MOVABLE), ZONE_MOVABLE);
  EXPECT_EQ(gfp_zone(__GFP_MOVABLE), ZONE_NORMAL);
  EXPECT_TRUE(gfp_zone_bad(__GFP_DMA | __GFP_DMA32));
  EXPECT_FALSE(gfp_zone_bad(__GFP_MOVABLE | __GFP_DMA32));
  int bad = 0;
  for (gfp_t b = 0; b < 16; ++b) bad += gfp_zone_bad(b);
  EXPECT_EQ(bad, 8);
}

TEST(BuddyCore, SignedDivisionByPowersOfTwoTruncatesLikeC) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 10000; ++i) {
    const auto x = static_cast<std::int64_t>(rng()) >> (rng() % 60);
    for (unsigned k : {1u, 2u})
      EXPECT_EQ(static_cast<std::int64_t>(sdiv_pow2(cword{static_cast<std::uint64_t>(x)}, k).v), x / (std::int64_t{1} << k)) << x;
  }
}

wmark_args<cword> args(std::int64_t free, unsigned order, std::uint64_t mark, std::int64_t reserve, unsigned flags) {
  return {cword{static_cast<std::uint64_t>(free)}, cword{order}, cword{mark}, cword{static_cast<std::uint64_t>(reserve)},
          cword{flags}, cword{0}, cword{0}, cword{0x7ff}, cword{0}};
}

TEST(BuddyCore, WatermarkIsStrictAndSigned) {
  // order 0: free must exceed mark + reserve.
  EXPECT_FALSE(truth(__zone_watermark_ok(args(100, 0, 60, 40, 0))));
  EXPECT_TRUE(truth(__zone_watermark_ok(args(101, 0, 60, 40, 0))));
  // order 3 subtracts 2^3 - 1 first.
  EXPECT_FALSE(truth(__zone_watermark_ok(args(107, 3, 60, 40, 0))));
  EXPECT_TRUE(truth(__zone_watermark_ok(args(108, 3, 60, 40, 0))));
  // Negative free pages never pass (the 2012 signedness bug).
  EXPECT_FALSE(truth(__zone_watermark_ok(args(-5, 0, 0, 0, 0))));
  // ALLOC_HIGH halves the mark; ALLOC_HARDER takes a further quarter; ALLOC_OOM a half.
  EXPECT_EQ(wmark_min_reduced(cword{100}, cword{ALLOC_HIGH}).v, 50u);
  EXPECT_EQ(wmark_min_reduced(cword{100}, cword{ALLOC_HIGH | ALLOC_HARDER}).v, 38u);  // 50 - 50/4
  EXPECT_EQ(wmark_min_reduced(cword{100}, cword{ALLOC_HARDER}).v, 75u);
  EXPECT_EQ(wmark_min_reduced(cword{100}, cword{ALLOC_OOM}).v, 50u);
  // Order > 0 needs a block at or above the order on a usable list.
  wmark_args<cword> a = args(1000, 4, 10, 0, 0);
  a.usable_lists = cword{0x0f};  // orders 0..3 only
  EXPECT_FALSE(truth(__zone_watermark_ok(a)));
  a.highatomic_lists = cword{0x10};
  EXPECT_FALSE(truth(__zone_watermark_ok(a)));
  a.alloc_flags = cword{ALLOC_HARDER};
  EXPECT_TRUE(truth(__zone_watermark_ok(a)));
}

}  // namespace
}  // namespace mmref::buddy
