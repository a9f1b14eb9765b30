// Tests for model/pte.hpp: bit positions and per-level layouts.
#include "model/pte.hpp"

#include <gtest/gtest.h>

using namespace mmref;

TEST(Pte, KernelProtValues) {
  EXPECT_EQ(_KERNPG_TABLE, 0x63u);
  EXPECT_EQ(__PAGE_KERNEL_EXEC, 0x163u);
  EXPECT_EQ(PAGE_KERNEL, 0x8000000000000163ull);
}

TEST(Pte, EncodeDecode4K) {
  const std::uint64_t e = pte_encode(cword{0x12345}, cword{PAGE_KERNEL | _PAGE_PAT}, PT_PTE, 46).v;
  EXPECT_EQ(e, 0x8000000012345000ull | 0x163 | 0x80);
  const auto f = pte_decode(cword{e}, PT_PTE, 46);
  EXPECT_EQ(f.pfn.v, 0x12345u);
  EXPECT_TRUE(truth(f.leaf));  // bit 7 is PAT here, a PTE is always a leaf
  EXPECT_TRUE(truth(f.reserved_clear));
}

TEST(Pte, HugePmdUsesPatLargeAndHighPfnField) {
  const std::uint64_t e = pte_encode(cword{0x200}, cword{PAGE_KERNEL_LARGE | _PAGE_PAT_LARGE}, PT_PMD, 46).v;
  EXPECT_EQ(e & 0x000ffffffffff000ull, 0x200000ull | _PAGE_PAT_LARGE);
  const auto f = pte_decode(cword{e}, PT_PMD, 46);
  EXPECT_TRUE(truth(f.leaf));
  EXPECT_EQ(f.pfn.v, 0x200u);
  EXPECT_NE(f.flags.v & _PAGE_PAT_LARGE, 0u);
  // Bits 13..20 are reserved in a 2 MiB leaf; in a table entry they are address bits.
  EXPECT_FALSE(truth(pte_decode(cword{e | (1ull << 14)}, PT_PMD, 46).reserved_clear));
  EXPECT_TRUE(truth(pte_decode(cword{(e & ~_PAGE_PSE) | (1ull << 14)}, PT_PMD, 46).reserved_clear));
}

TEST(Pte, ReservedBitsAboveMaxPhyAddr) {
  const std::uint64_t e = 0x63 | (1ull << 47);
  EXPECT_FALSE(truth(pte_decode(cword{e}, PT_PUD, 46).reserved_clear));
  EXPECT_TRUE(truth(pte_decode(cword{e}, PT_PUD, 52).reserved_clear));
}

TEST(Pte, PsIsReservedAtP4dAndPgd) {
  EXPECT_FALSE(truth(pte_wf(cword{0x63 | _PAGE_PSE}, PT_P4D, 46)));
  EXPECT_FALSE(truth(pte_wf(cword{0x63 | _PAGE_PSE}, PT_PGD5, 46)));
  EXPECT_TRUE(truth(pte_wf(cword{0x63 | _PAGE_PSE}, PT_PMD, 46)));
  EXPECT_TRUE(truth(pte_wf(cword{_PAGE_PSE}, PT_P4D, 46)));  // not present: nothing to check
}

TEST(Pte, FlagsOutsideTheFieldAreDropped) {
  const std::uint64_t e = pte_encode(cword{0x1}, cword{~0ull & ~_PAGE_PSE}, PT_PMD, 46).v;
  EXPECT_EQ(pte_decode(cword{e}, PT_PMD, 46).pfn.v, 1u);
}
