// Tests for model/page_table.hpp: tables live in frames; refusals change nothing.
#include "model/page_table.hpp"

#include <gtest/gtest.h>

using namespace mmref;

namespace {
constexpr std::uint64_t VA = 0xffffc90000000000ull;

struct Fixture : ::testing::Test {
  phys_mem mem{46};
  simple_frame_provider frames{0x1000, 0x1100};
  page_tables pt{mem, frames, 4};
};
}  // namespace

TEST_F(Fixture, TopLevelTableIsAFrameAndEntriesAreBytesInFrames) {
  EXPECT_EQ(pt.root_pfn(), 0x1000u);
  ASSERT_EQ(pt.map_page(VA, 0x42, PAGE_KERNEL), mm_status::ok);
  // PGD -> PUD -> PMD -> PTE: three new tables.
  EXPECT_EQ(frames.allocated_count(), 4u);
  const std::uint64_t pgde = mem.read_u64(pt.entry_pa(pt.root_pfn(), pt_index(VA, 4)));
  EXPECT_EQ(pgde & 0xfff, _KERNPG_TABLE);
  const walk_result w = pt.walk(VA + 0x123);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w.leaf.pfn, 0x42u);
  EXPECT_EQ(w.leaf.size, PAGE_SIZE);
  EXPECT_EQ(w.leaf.va, VA);
}

TEST_F(Fixture, UnmapDoesNotFreeTables) {
  ASSERT_EQ(pt.map_page(VA, 0x42, PAGE_KERNEL), mm_status::ok);
  leaf_info gone;
  ASSERT_EQ(pt.unmap(VA, &gone), mm_status::ok);
  EXPECT_EQ(gone.pfn, 0x42u);
  EXPECT_EQ(frames.allocated_count(), 4u);
  EXPECT_EQ(pt.walk(VA).fault, walk_fault::not_present);
  EXPECT_EQ(pt.walk(VA).fault_level, 1u);
  EXPECT_EQ(pt.unmap(VA), mm_status::not_mapped);
}

TEST_F(Fixture, HugeMapFreesAnEmptyPteTable) {
  ASSERT_EQ(pt.map_page(VA, 0x42, PAGE_KERNEL), mm_status::ok);
  EXPECT_EQ(pt.map_pmd(VA, 0x200, PAGE_KERNEL), mm_status::table_in_way);
  ASSERT_EQ(pt.unmap(VA), mm_status::ok);
  std::optional<std::uint64_t> freed;
  ASSERT_EQ(pt.map_pmd(VA, 0x200, PAGE_KERNEL, &freed), mm_status::ok);
  ASSERT_TRUE(freed.has_value());
  EXPECT_FALSE(frames.frame_allocated(*freed));
  const walk_result w = pt.walk(VA + 0x1234);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w.leaf.size, PMD_SIZE);
  EXPECT_EQ(w.leaf.level, 2u);
  EXPECT_EQ(pt.map_page(VA + 0x1000, 0x43, PAGE_KERNEL), mm_status::huge_in_way);
  EXPECT_EQ(pt.unmap(VA + 0x1000), mm_status::misaligned_va);
  EXPECT_EQ(pt.unmap(VA), mm_status::ok);
}

TEST_F(Fixture, RefusalsLeaveEveryByteAsItWas) {
  ASSERT_EQ(pt.map_page(VA, 0x42, PAGE_KERNEL), mm_status::ok);
  const phys_mem before = mem;
  const std::size_t tables = frames.allocated_count();
  EXPECT_EQ(pt.map_page(VA, 0x43, PAGE_KERNEL), mm_status::already_mapped);
  EXPECT_EQ(pt.map_page(VA + 1, 0x43, PAGE_KERNEL), mm_status::misaligned_va);
  EXPECT_EQ(pt.map_page(0x0000800000000000ull, 0x43, PAGE_KERNEL), mm_status::non_canonical);
  EXPECT_EQ(pt.map_page(VA + 0x1000, 1ull << 40, PAGE_KERNEL), mm_status::pfn_out_of_range);
  EXPECT_EQ(pt.map_page(VA + 0x1000, 0x43, 0), mm_status::bad_flags);
  EXPECT_EQ(pt.map_page(VA + 0x1000, 0x43, PAGE_KERNEL | (1ull << 20)), mm_status::bad_flags);
  EXPECT_EQ(pt.map_pmd(VA + PMD_SIZE, 0x201, PAGE_KERNEL), mm_status::misaligned_pfn);
  EXPECT_EQ(pt.map_pmd(VA + 0x1000, 0x200, PAGE_KERNEL), mm_status::misaligned_va);
  EXPECT_EQ(pt.unmap(VA + 0x5000), mm_status::not_mapped);
  EXPECT_TRUE(mem == before);
  EXPECT_EQ(frames.allocated_count(), tables);
}

TEST_F(Fixture, NoMemoryForATable) {
  frames.fail_nth(2);  // the PMD table: the PUD table is allocated, then the next one fails
  EXPECT_EQ(pt.map_page(VA, 0x42, PAGE_KERNEL), mm_status::no_memory);
  EXPECT_EQ(pt.walk(VA).fault, walk_fault::not_present);
  EXPECT_EQ(pt.map_page(VA, 0x42, PAGE_KERNEL), mm_status::ok);
}

TEST_F(Fixture, LeavesEnumeratesPresentLeavesInRange) {
  ASSERT_EQ(pt.map_page(VA, 1, PAGE_KERNEL), mm_status::ok);
  ASSERT_EQ(pt.map_page(VA + 0x3000, 2, PAGE_KERNEL), mm_status::ok);
  ASSERT_EQ(pt.map_pmd(VA + PMD_SIZE, 0x400, PAGE_KERNEL), mm_status::ok);
  ASSERT_EQ(pt.map_page(0x00007f0000000000ull, 3, PAGE_KERNEL), mm_status::ok);
  EXPECT_EQ(pt.leaves(VA, VA + 0x4000).size(), 2u);
  EXPECT_EQ(pt.leaves(VA + 0x1000, VA + 0x3001).size(), 1u);
  EXPECT_EQ(pt.leaves(VA, VA + 2 * PMD_SIZE).size(), 3u);
  const auto all = pt.leaves(0, ~0ull);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all.front().va, 0x00007f0000000000ull);  // address order, low half first
  EXPECT_EQ(all.back().size, PMD_SIZE);
}

TEST(PageTable5Level, MapsAndWalks) {
  phys_mem mem{52};
  simple_frame_provider frames{0x10, 0x100};
  page_tables pt{mem, frames, 5};
  const std::uint64_t va = 0xffa0000000201000ull;
  ASSERT_EQ(pt.map_page(va, 0x77, PAGE_KERNEL), mm_status::ok);
  EXPECT_EQ(frames.allocated_count(), 5u);
  EXPECT_EQ(pt.walk(va).leaf.pfn, 0x77u);
  EXPECT_EQ(pt.map_page(0xff00000000000000ull - 0x1000, 1, PAGE_KERNEL), mm_status::non_canonical);
}
