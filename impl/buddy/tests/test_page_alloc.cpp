// impl/buddy/tests/test_page_alloc.cpp — boot, the buddy lists, freeing, bad input.
#include <gtest/gtest.h>

#include "impl/buddy/tests/helpers.hpp"
#include "model/invariants.hpp"

namespace mmref::buddy {
namespace {

using namespace testing;

TEST(PageAlloc, DefaultMachineBootsWithThreeZones) {
  page_alloc pa(buddy_config::default_machine());
  const zone& dma = pa.zone_at(ZONE_DMA);
  EXPECT_EQ(dma.zone_start_pfn, 1u);
  EXPECT_EQ(dma.spanned_pages, 4095u);
  EXPECT_EQ(dma.present_pages, 3998u);   // as the shipped 6.1 run's /proc/zoneinfo
  EXPECT_EQ(dma.managed_pages, 3840u);   // the first 1 MiB is reserved
  EXPECT_EQ(pa.zone_at(ZONE_DMA32).zone_start_pfn, 4096u);
  EXPECT_EQ(pa.zone_at(ZONE_NORMAL).zone_start_pfn, MAX_DMA32_PFN);
  EXPECT_EQ(pa.zone_at(ZONE_NORMAL).managed_pages, 0x40000u);
  EXPECT_FALSE(pa.zone_at(ZONE_MOVABLE).populated_zone());
  // 256 + 512 + 3 * 1024 pages in DMA, in the largest aligned chunks.
  const std::string info = pa.buddyinfo();
  EXPECT_EQ(info.substr(0, info.find('\n')),
            "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 ");
  for (const zone& z : pa.zones()) {
    EXPECT_LE(z._watermark[WMARK_MIN], z._watermark[WMARK_LOW]);
    EXPECT_LE(z._watermark[WMARK_LOW], z._watermark[WMARK_HIGH]);
  }
  expect_sound(pa);
}

TEST(PageAlloc, ExpandGivesUpperHalvesAndKeepsTheLowest) {
  page_alloc pa(tiny(16, 24));  // one order-3 block at 16
  const alloc_result r = pa.alloc_pages(GFP_HIGHUSER_MOVABLE & ~__GFP_HIGHMEM, 0);
  ASSERT_TRUE(r.pfn);
  EXPECT_EQ(*r.pfn, 16u);
  EXPECT_EQ(r.outcome, alloc_outcome::fast_path);
  EXPECT_EQ(pa.free_list(ZONE_DMA, 2, MIGRATE_MOVABLE), std::vector<std::uint64_t>{20});
  EXPECT_EQ(pa.free_list(ZONE_DMA, 1, MIGRATE_MOVABLE), std::vector<std::uint64_t>{18});
  EXPECT_EQ(pa.free_list(ZONE_DMA, 0, MIGRATE_MOVABLE), std::vector<std::uint64_t>{17});
  expect_sound(pa);
  EXPECT_EQ(pa.__free_pages(16, 0), bd_error::none);
  EXPECT_EQ(pa.free_list(ZONE_DMA, 3, MIGRATE_MOVABLE), std::vector<std::uint64_t>{16});
  EXPECT_EQ(pa.stats().merges, 3u);
  expect_sound(pa);
}

TEST(PageAlloc, MergedBlockGoesToTheTailWhenItsParentsBuddyIsFree) {
  // Two order-3 blocks: [0,8) and [8,16) merge at boot into one order-4 block.
  page_alloc pa(tiny(0, 16));
  const gfp_t m = __GFP_MOVABLE;
  const std::uint64_t a = *pa.alloc_pages(m, 0).pfn;  // 0; lists: o3 [8], o2 [4], o1 [2], o0 [1]
  const std::uint64_t b = *pa.alloc_pages(m, 1).pfn;  // 2
  const std::uint64_t c = *pa.alloc_pages(m, 0).pfn;  // 1
  EXPECT_EQ(a, 0u);
  EXPECT_EQ(b, 2u);
  EXPECT_EQ(c, 1u);
  const std::uint64_t d = *pa.alloc_pages(m, 2).pfn;  // 4; o3 [8] remains
  EXPECT_EQ(d, 4u);
  const std::uint64_t e = *pa.alloc_pages(m, 2).pfn;  // 8 split: o2 [12], keeps 8
  EXPECT_EQ(e, 8u);
  // Free 8 (order 2): its buddy 12 is free, they merge to order 3 at 8; the order-3 buddy 0 is
  // not free and order 3 + 1 ... the block stays at the head of an empty list.
  ASSERT_EQ(pa.__free_pages(8, 2), bd_error::none);
  EXPECT_EQ(pa.free_list(ZONE_DMA, 3, MIGRATE_MOVABLE), std::vector<std::uint64_t>{8});
  // Free 2 (order 1): buddy 0 (order 1) is not free. Its parent 0's order-2 buddy 4 is not free
  // either: head. Then free 4 (order 2): buddy 0 at order 2 is not free; the parent 0's
  // order-3 buddy 8 IS free: buddy_merge_likely puts 4 at the tail.
  ASSERT_EQ(pa.__free_pages(2, 1), bd_error::none);
  const std::uint64_t tails = pa.stats().to_tail;
  ASSERT_EQ(pa.__free_pages(4, 2), bd_error::none);
  EXPECT_EQ(pa.stats().to_tail, tails + 1);
  expect_sound(pa);
}

TEST(PageAlloc, BadInputIsRefusedAndChangesNothing) {
  buddy_config cfg = three_zones();
  page_alloc pa(cfg);
  const std::uint64_t p = *pa.alloc_pages(GFP_KERNEL, 2).pfn;
  const std::string before = snapshot(pa);
  EXPECT_EQ(pa.__free_pages(p, 1), bd_error::wrong_order);
  EXPECT_EQ(pa.__free_pages(p + 1, 0), bd_error::tail_page);
  EXPECT_EQ(pa.__free_pages(0, 0), bd_error::outside_zones);            // pfn 0: not RAM
  EXPECT_EQ(pa.__free_pages(100, 0), bd_error::outside_zones);          // the reserved first 1 MiB
  EXPECT_EQ(pa.__free_pages(1u << 30, 0), bd_error::outside_zones);     // beyond memory
  const std::uint64_t free_pfn = pa.free_list(ZONE_NORMAL, 10, MIGRATE_MOVABLE).at(0);
  EXPECT_EQ(pa.__free_pages(free_pfn, 10), bd_error::free_block);
  EXPECT_EQ(pa.__free_pages(free_pfn + 3, 0), bd_error::free_block);   // inside a free block
  EXPECT_EQ(pa.free_pages(0x1234, 0), bd_error::bad_address);
  EXPECT_EQ(pa.free_pages(0, 3), bd_error::none);                      // free_pages(0) is ignored
  const alloc_result bad = pa.alloc_pages(__GFP_DMA | __GFP_DMA32, 0);
  EXPECT_EQ(bad.outcome, alloc_outcome::invalid);
  EXPECT_EQ(bad.error, bd_error::invalid_gfp_zone);
  EXPECT_EQ(pa.alloc_pages(GFP_KERNEL | __GFP_MOVABLE | __GFP_RECLAIMABLE, 0).error, bd_error::invalid_migratetype);
  EXPECT_EQ(pa.alloc_pages(GFP_KERNEL | (1u << 30), 0).error, bd_error::invalid_gfp_bits);
  EXPECT_EQ(snapshot(pa), before);
  expect_sound(pa);
  EXPECT_EQ(pa.__free_pages(p, 2), bd_error::none);
  EXPECT_EQ(pa.__free_pages(p, 2), bd_error::free_block);  // double free
  expect_sound(pa);
}

TEST(PageAlloc, ExtraReferenceOnANonCompoundBlockFreesItsTailsFirst) {
  page_alloc pa(three_zones());
  const std::uint64_t free0 = pa.total_free_pages();
  const std::uint64_t p = *pa.alloc_pages(GFP_KERNEL, 2).pfn;
  ASSERT_EQ(pa.get_page(p), bd_error::none);
  ASSERT_EQ(pa.__free_pages(p, 2), bd_error::none);  // refcount 2 -> 1: tails go now
  EXPECT_EQ(pa.total_free_pages(), free0 - 1);
  EXPECT_EQ(pa.allocated_order(p), 0u);
  expect_sound(pa);
  ASSERT_EQ(pa.put_page(p), bd_error::none);
  EXPECT_EQ(pa.total_free_pages(), free0);
  expect_sound(pa);
  // A compound page keeps all of itself until the last reference.
  const std::uint64_t q = *pa.alloc_pages(GFP_KERNEL | __GFP_COMP, 2).pfn;
  ASSERT_EQ(pa.get_page(q), bd_error::none);
  ASSERT_EQ(pa.__free_pages(q, 2), bd_error::none);
  EXPECT_EQ(pa.total_free_pages(), free0 - 4);
  ASSERT_EQ(pa.put_page(q), bd_error::none);
  EXPECT_EQ(pa.total_free_pages(), free0);
  expect_sound(pa);
}

TEST(PageAlloc, ZeroedPagesAreZeroInPhysicalMemory) {
  page_alloc pa(three_zones());
  const std::uint64_t addr = pa.__get_free_pages(GFP_KERNEL, 0);
  ASSERT_NE(addr, 0u);
  const std::uint64_t pfn = (addr - pa.config().page_offset) >> PAGE_SHIFT;
  pa.memory().write_u64(pfn << PAGE_SHIFT, 0xdeadbeef);
  ASSERT_EQ(pa.free_pages(addr, 0), bd_error::none);
  const std::uint64_t again = pa.get_zeroed_page(GFP_KERNEL);
  EXPECT_EQ(again, addr);  // the list head: the page just freed
  EXPECT_TRUE(pa.memory().frame_is_zero(pfn));
}

TEST(PageAlloc, GetFreePagesStripsHighmemAndZonesFallBack) {
  page_alloc pa(three_zones());
  alloc_result r;
  ASSERT_NE(pa.__get_free_pages(GFP_HIGHUSER_MOVABLE, 0, &r), 0u);
  EXPECT_EQ(r.zone, ZONE_NORMAL);
  EXPECT_EQ(pa.alloc_pages(GFP_KERNEL | GFP_DMA32, 0).zone, ZONE_DMA32);
  EXPECT_EQ(pa.alloc_pages(GFP_KERNEL | GFP_DMA, 0).zone, ZONE_DMA);
  // Fill NORMAL: GFP_KERNEL then falls back to DMA32, never to a zone above its class.
  bool fell_back = false;
  for (int i = 0; i < 5000 && !fell_back; ++i) {
    const alloc_result k = pa.alloc_pages(GFP_KERNEL, 0);
    ASSERT_TRUE(k.pfn);
    fell_back = k.zone == ZONE_DMA32;
  }
  EXPECT_TRUE(fell_back);
  EXPECT_GT(pa.stats().zone_fallbacks, 0u);
  expect_sound(pa);
}

TEST(PageAlloc, MigratetypeFallbackStealsAndKeepsTheLists) {
  page_alloc pa(three_zones());
  // Every pageblock starts MOVABLE: the first unmovable request steals.
  ASSERT_TRUE(pa.alloc_pages(GFP_KERNEL, 0).pfn);
  EXPECT_EQ(pa.stats().mt_fallbacks, 1u);
  EXPECT_GE(pa.stats().pageblock_steals, 1u);
  expect_sound(pa);
}

TEST(PageAlloc, MachinePageTablesComeFromTheBuddyAllocator) {
  buddy_machine bm(machine_config::small(16, 4, 2));
  const std::uint64_t free0 = bm.buddy->total_free_pages();
  const std::uint64_t data = *bm.buddy->alloc_pages(GFP_KERNEL, 0).pfn;
  ASSERT_EQ(bm.mach->map_page(bm.mach->config().layout.vmalloc_start, data), mm_status::ok);
  EXPECT_LT(bm.buddy->total_free_pages(), free0 - 1);  // tables came from the buddy lists
  EXPECT_TRUE(check_machine(*bm.mach).empty()) << report(check_machine(*bm.mach), *bm.mach);
  expect_sound(*bm.buddy);
}

TEST(PageAlloc, MinFreeKbytesFollowsTheDefaultFormula) {
  buddy_config c = three_zones();
  c.thp_enabled = false;
  page_alloc pa(c);
  // 4 * sqrt(lowmem KiB), clamped to at least 128.
  std::uint64_t managed = pa.total_managed_pages();
  std::uint64_t k = managed * 4 * 16, r = 0;
  while ((r + 1) * (r + 1) <= k) ++r;
  EXPECT_EQ(pa.min_free_kbytes(), std::max<std::int64_t>(128, static_cast<std::int64_t>(r)));
  pa.set_min_free_kbytes(4096);
  std::uint64_t sum_min = 0;
  for (const zone& z : pa.zones()) sum_min += z._watermark[WMARK_MIN];
  EXPECT_LE(sum_min, 1024u);
  EXPECT_GE(sum_min, 1024u - 3);  // per-zone floors
}

}  // namespace
}  // namespace mmref::buddy
