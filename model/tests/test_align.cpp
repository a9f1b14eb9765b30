// Tests for model/align.hpp.
#include "model/align.hpp"

#include <gtest/gtest.h>

using namespace mmref;

TEST(Align, KernelExamples) {
  EXPECT_EQ(page_align(0), 0u);
  EXPECT_EQ(page_align(1), 4096u);
  EXPECT_EQ(page_align(4096), 4096u);
  EXPECT_EQ(ALIGN(cword{0x1234}, cword{0x1000}).v, 0x2000u);
  EXPECT_EQ(ALIGN_DOWN(cword{0x1234}, cword{0x1000}).v, 0x1000u);
  EXPECT_TRUE(is_aligned(0x200000, 0x200000));
  EXPECT_FALSE(is_aligned(0x201000, 0x200000));
  EXPECT_TRUE(is_pow2(1) && is_pow2(1ull << 63) && !is_pow2(0) && !is_pow2(12));
}

TEST(Align, OverflowNearTopIsReported) {
  const auto a = page_align_checked(cword{~0ull - 5});
  EXPECT_TRUE(truth(a.overflow));
  EXPECT_EQ(a.value.v, 0u);  // what ALIGN alone silently returns
  const auto b = page_align_checked(cword{0xfffffffffffff000ull});
  EXPECT_FALSE(truth(b.overflow));
  EXPECT_EQ(b.value.v, 0xfffffffffffff000ull);
}

TEST(Align, PfnPhys) {
  EXPECT_EQ(pfn_phys(0x12345), 0x12345000u);
  EXPECT_EQ(phys_pfn(0x12345fff), 0x12345u);
}
