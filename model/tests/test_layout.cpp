// Tests for model/layout.hpp.
#include "model/layout.hpp"

#include <gtest/gtest.h>

using namespace mmref;

TEST(Layout, Defaults4Level) {
  const kernel_layout l = kernel_layout::for_levels(4);
  EXPECT_EQ(l.vmalloc_start, 0xffffc90000000000ull);
  EXPECT_EQ(l.vmalloc_end, 0xffffe8ffffffffffull);  // inclusive, as the kernel defines it
  EXPECT_EQ(l.modules_vaddr, 0xffffffffc0000000ull);
  EXPECT_EQ(l.modules_end, 0xffffffffff000000ull);
  EXPECT_EQ(l.validate(), "");
  EXPECT_TRUE(l.is_vmalloc_addr(0xffffc90000000000ull));
  EXPECT_FALSE(l.is_vmalloc_addr(0xffffe8ffffffffffull));  // the last byte is not (generic code uses <)
}

TEST(Layout, Defaults5Level) {
  const kernel_layout l = kernel_layout::for_levels(5);
  EXPECT_EQ(l.vmalloc_start, 0xffa0000000000000ull);
  EXPECT_EQ(l.vmalloc_end, 0xffd1ffffffffffffull);
  EXPECT_EQ(l.validate(), "");
}

TEST(Layout, KaslrOffsetsAreCheckedAndBadOnesChangeNothing) {
  kernel_layout l = kernel_layout::for_levels(4);
  EXPECT_EQ(l.randomize(0, 0x40000000ull * 3, 0), "");
  EXPECT_EQ(l.vmalloc_start, 0xffffc900c0000000ull);
  const kernel_layout before = l;
  EXPECT_NE(l.randomize(0, 0x1000, 0), "");  // not 1 GiB aligned
  EXPECT_EQ(l.vmalloc_start, before.vmalloc_start);
  EXPECT_NE(l.randomize(0, std::uint64_t{40} << 40, 0), "");  // runs into vmemmap
  EXPECT_EQ(l.vmalloc_end, before.vmalloc_end);
}

TEST(Layout, DirectMap) {
  const kernel_layout l = kernel_layout::for_levels(4);
  EXPECT_EQ(direct_map_va(cword{0x1000}, cword{l.page_offset}).v, 0xffff888000001000ull);
  EXPECT_TRUE(l.in_direct_map(0xffff888000001000ull));
  EXPECT_FALSE(l.in_direct_map(0xffffc90000000000ull));
}
