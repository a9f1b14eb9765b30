// impl/buddy/tests/test_invariants.cpp — every BD-* checker reports a state corrupted on purpose.
#include <gtest/gtest.h>

#include "impl/buddy/tests/helpers.hpp"

namespace mmref::buddy {
namespace {

using namespace testing;

bool reports(const std::vector<violation>& v, const std::string& id) {
  for (const violation& x : v)
    if (x.id == id) return true;
  return false;
}

struct Corrupt : ::testing::Test {
  page_alloc pa{three_zones()};
  std::uint64_t a = 0, b = 0;
  void SetUp() override {
    a = *pa.alloc_pages(GFP_KERNEL, 0).pfn;
    b = *pa.alloc_pages(GFP_KERNEL, 2).pfn;
    ASSERT_TRUE(check_buddy(pa).empty()) << buddy_report(check_buddy(pa), pa);
  }
  std::uint64_t some_free(unsigned order) {
    for (unsigned mt = 0; mt < MIGRATE_TYPES; ++mt)
      for (unsigned z = 0; z < MAX_NR_ZONES; ++z)
        if (auto l = pa.free_list(z, order, mt); !l.empty()) return l[0];
    return 0;
  }
};

TEST_F(Corrupt, Acct) {
  pa.zone_for_test(ZONE_NORMAL).area[3].nr_free++;
  EXPECT_TRUE(reports(check_BD_ACCT(pa), BD_ACCT));
}

TEST_F(Corrupt, AcctTotal) {
  pa.zone_for_test(ZONE_NORMAL).free_pages += 1;
  EXPECT_TRUE(reports(check_BD_ACCT(pa), BD_ACCT));
}

TEST_F(Corrupt, RefOnFreeFrame) {
  pa.page_for_test(some_free(0) ? some_free(0) : some_free(1))._refcount = 1;
  EXPECT_TRUE(reports(check_BD_REF(pa), BD_REF));
}

TEST_F(Corrupt, RefOnAllocatedHead) {
  pa.page_for_test(a)._refcount = 0;
  EXPECT_TRUE(reports(check_BD_REF(pa), BD_REF));
}

TEST_F(Corrupt, PartitionOverlap) {
  const std::uint64_t f = some_free(3);
  ASSERT_NE(f, 0u);
  page& p = pa.page_for_test(f + 1);
  p.flags |= PG_alloc;
  p._refcount = 1;
  EXPECT_TRUE(reports(check_BD_PARTITION(pa), BD_PARTITION));
}

TEST_F(Corrupt, PartitionLeak) {
  // An allocated block forgotten: its frames are in no block.
  pa.page_for_test(b).flags = static_cast<std::uint8_t>(pa.page_for_test(b).flags & ~PG_alloc);
  EXPECT_TRUE(reports(check_BD_PARTITION(pa), BD_PARTITION));
}

TEST_F(Corrupt, CoalescedAndAlign) {
  // b is an allocated order-2 block: hand its two order-1 halves to the free lists unmerged.
  const unsigned z = pa.page_at(b).zone;
  for (std::uint64_t p = b; p < b + 4; ++p) pa.page_for_test(p) = page{0, static_cast<std::uint8_t>(z)};
  pa.add_free_block_for_test(z, b, 1, MIGRATE_UNMOVABLE);
  pa.add_free_block_for_test(z, b + 2, 1, MIGRATE_UNMOVABLE);
  EXPECT_TRUE(reports(check_BD_COALESCED(pa), BD_COALESCED));
  EXPECT_TRUE(check_BD_ACCT(pa).empty());
  EXPECT_TRUE(check_BD_ALIGN(pa).empty());
  // A misaligned head.
  pa.list_del_for_test(z, 1, MIGRATE_UNMOVABLE, b + 2);
  pa.zone_for_test(z).area[1].nr_free--;
  pa.zone_for_test(z).free_pages -= 2;
  pa.page_for_test(b + 2) = page{0, static_cast<std::uint8_t>(z)};
  pa.add_free_block_for_test(z, b + 3, 0, MIGRATE_UNMOVABLE);
  pa.add_free_block_for_test(z, b + 2, 1, MIGRATE_UNMOVABLE);
  pa.list_del_for_test(z, 1, MIGRATE_UNMOVABLE, b + 2);
  pa.zone_for_test(z).area[1].nr_free--;
  pa.zone_for_test(z).free_pages -= 2;
  pa.page_for_test(b + 2).flags = 0;
  pa.page_for_test(b + 3) = page{0, static_cast<std::uint8_t>(z)};
  pa.add_free_block_for_test(z, b + 3, 1, MIGRATE_UNMOVABLE);
  EXPECT_TRUE(reports(check_BD_ALIGN(pa), BD_ALIGN));
}

TEST_F(Corrupt, Wmark) {
  const wmark_witness& w = pa.last_witness();
  ASSERT_TRUE(w.valid);
  pa.zone_for_test(w.zone).lowmem_reserve[w.highest_zoneidx] = 1 << 20;
  const std::vector<violation> v = check_BD_WMARK(pa);
  EXPECT_TRUE(reports(v, BD_WMARK));
  EXPECT_NE(buddy_report(v, pa).find("state judged"), std::string::npos);
}

}  // namespace
}  // namespace mmref::buddy
