// Tests for model/paging.hpp.
#include "model/paging.hpp"

#include <gtest/gtest.h>

using namespace mmref;

TEST(Paging, IndicesOfVmallocStart) {
  const std::uint64_t va = 0xffffc90000000000ull;
  EXPECT_EQ(pt_index(va, 4), 402u);  // pgd_index(VMALLOC_START) on 4-level
  EXPECT_EQ(pt_index(va, 3), 0u);
  EXPECT_EQ(pt_index(0xffffffffc0001000ull, 1), 1u);
  EXPECT_EQ(pt_index(0xffffffffc0001000ull, 3), 511u);
  EXPECT_EQ(level_shift(5), 48u);
  EXPECT_EQ(va_bits(4), 48u);
  EXPECT_EQ(va_bits(5), 57u);
}

TEST(Paging, CanonicalBoundaries) {
  EXPECT_TRUE(canonical(0x00007fffffffffffull, 4));
  EXPECT_FALSE(canonical(0x0000800000000000ull, 4));
  EXPECT_TRUE(canonical(0xffff800000000000ull, 4));
  EXPECT_FALSE(canonical(0xfff0800000000000ull, 4));
  EXPECT_TRUE(canonical(0x0000800000000000ull, 5));
  EXPECT_TRUE(canonical(0xff00000000000000ull, 5));
  EXPECT_FALSE(canonical(0xfe00000000000000ull, 5));
}

TEST(Paging, ComposeInvertsDecompose) {
  for (unsigned levels : {4u, 5u}) {
    for (std::uint64_t va : {0xffffc90000123456ull, 0x00007f0012345678ull, 0xffffffffff5fe000ull}) {
      if (!canonical(va, levels)) continue;
      const auto idx = decompose_va(cword{va}, levels);
      EXPECT_EQ(compose_va(idx, page_offset(cword{va}), levels).v, va);
    }
  }
}
