// Tests for model/tlb.hpp.
#include "model/tlb.hpp"

#include <gtest/gtest.h>

using namespace mmref;

TEST(Tlb, LookupCoversTheEntrySize) {
  tlb t;
  t.fill({0x200000, PMD_SIZE, 0x400, 0x163, 2, 0});
  t.fill({0x1000, PAGE_SIZE, 0x5, 0x163, 1, 0});
  EXPECT_EQ(t.lookup(0x3fffff)->pfn, 0x400u);
  EXPECT_EQ(t.lookup(0x1fff)->pfn, 0x5u);
  EXPECT_FALSE(t.lookup(0x2000));
  EXPECT_FALSE(t.lookup(0x400000));
}

TEST(Tlb, InvlpgAnywhereInAHugeEntryDropsIt) {
  tlb t;
  t.fill({0x200000, PMD_SIZE, 0x400, 0x163, 2, 0});
  t.fill({0x1000, PAGE_SIZE, 0x5, 0x163, 1, 0});
  EXPECT_EQ(t.flush_range(0x300000, 0x301000), 1u);
  EXPECT_FALSE(t.lookup(0x200000));
  EXPECT_TRUE(t.lookup(0x1000));
  EXPECT_EQ(t.flush_range(0x2000, 0x3000), 0u);  // adjacent, half-open: untouched
  t.flush_all();
  EXPECT_TRUE(t.entries().empty());
}

TEST(Tlb, FillReplacesOverlappingEntries) {
  tlb t;
  t.fill({0x201000, PAGE_SIZE, 0x5, 0x163, 1, 0});
  t.fill({0x200000, PMD_SIZE, 0x400, 0x163, 2, 0});
  EXPECT_EQ(t.entries().size(), 1u);
  EXPECT_EQ(t.lookup(0x201000)->pfn, 0x400u);
}

TEST(Tlb, SmallAndLargeFlushesDropExactlyTheOverlappingEntries) {
  // Both strategies (probe each position / scan the table) must agree with the definition.
  for (std::uint64_t entries : {4u, 3000u}) {
    tlb t;
    for (std::uint64_t i = 0; i < entries; ++i) t.fill({0x10000000 + i * PAGE_SIZE, PAGE_SIZE, i, 0x163, 1, 0});
    t.fill({0x40000000, PMD_SIZE, 0x400, 0x163, 2, 0});
    const std::uint64_t start = 0x10001800, end = 0x10003001;  // touches pages 1, 2 and 3
    EXPECT_EQ(t.flush_range(start, end), std::min<std::uint64_t>(3, entries - 1));
    for (const auto& [va, e] : t.entries()) EXPECT_FALSE(va < end && start < va + e.size) << std::hex << va;
    EXPECT_EQ(t.size(), entries + 1 - std::min<std::uint64_t>(3, entries - 1));
    const std::size_t left = t.size();
    EXPECT_EQ(t.flush_range(0, ~0ull), left);
    EXPECT_EQ(t.size(), 0u);
  }
}
