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
