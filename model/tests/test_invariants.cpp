// Tests for model/invariants.hpp. Each checker must be seen to fail: every test here corrupts
// a state on purpose (not the code) and expects the checker to report it under its ID.
#include "model/invariants.hpp"

#include <gtest/gtest.h>

using namespace mmref;

namespace {
constexpr std::uint64_t VA = 0xffffc90000000000ull;

bool reports(const std::vector<violation>& v, const std::string& id, const std::string& fragment) {
  for (const violation& x : v)
    if (x.id == id && x.detail.find(fragment) != std::string::npos) return true;
  return false;
}

struct Corrupt : ::testing::Test {
  machine m{machine_config::default_machine()};
  void SetUp() override {
    ASSERT_EQ(m.map_page(VA, 0x5000), mm_status::ok);
    ASSERT_TRUE(check_machine(m).empty());
  }
  std::uint64_t pte_pa() const { return m.walk(VA).leaf.entry_pa; }
};
}  // namespace

TEST_F(Corrupt, PtWfReportsPsBitAtPgdLevel) {
  const std::uint64_t pgd = m.tables().entry_pa(m.tables().root_pfn(), pt_index(VA, 4));
  m.phys_for_test().write_u64(pgd, m.phys().read_u64(pgd) | _PAGE_PSE);
  EXPECT_TRUE(reports(check_PT_WF(m), PT_WF, "reserved bits"));
}

TEST_F(Corrupt, PtWfReportsReservedBitsAboveMaxPhyAddr) {
  m.phys_for_test().write_u64(pte_pa(), m.phys().read_u64(pte_pa()) | (1ull << 50));
  EXPECT_TRUE(reports(check_PT_WF(m), PT_WF, "reserved bits"));
}

TEST_F(Corrupt, PtWfReportsATableFrameMappedAsData) {
  const std::uint64_t table = phys_pfn(pte_pa());
  m.phys_for_test().write_u64(pte_pa(), pte_encode(cword{table}, cword{PAGE_KERNEL}, PT_PTE, 46).v);
  EXPECT_TRUE(reports(check_PT_WF(m), PT_WF, "as data"));
}

TEST_F(Corrupt, PtWfReportsATableReachableTwice) {
  // Point a second PMD entry at the same PTE table.
  const walk_result w = m.walk(VA);
  const std::uint64_t pte_table = phys_pfn(w.leaf.entry_pa);
  const std::uint64_t pmd_entry_pa = [&] {
    for (const auto& [pfn, level] : m.tables().tables())
      if (level == 2) return m.tables().entry_pa(pfn, 1);
    return std::uint64_t{0};
  }();
  ASSERT_NE(pmd_entry_pa, 0u);
  m.phys_for_test().write_u64(pmd_entry_pa, pte_encode(cword{pte_table}, cword{_KERNPG_TABLE}, PT_PMD, 46).v);
  EXPECT_TRUE(reports(check_PT_WF(m), PT_WF, "reachable twice"));
}

TEST_F(Corrupt, PtWfReportsATableFrameTheProviderDidNotHandOut) {
  const std::uint64_t pmd_entry_pa = [&] {
    for (const auto& [pfn, level] : m.tables().tables())
      if (level == 2) return m.tables().entry_pa(pfn, 7);
    return std::uint64_t{0};
  }();
  m.phys_for_test().write_u64(pmd_entry_pa, pte_encode(cword{0x7777}, cword{_KERNPG_TABLE}, PT_PMD, 46).v);
  EXPECT_TRUE(reports(check_PT_WF(m), PT_WF, "not an allocated frame"));
}

TEST_F(Corrupt, TlbCoherentReportsAnEntryNoFlushExcuses) {
  ASSERT_TRUE(m.translate(1, VA).ok());
  m.tlb_for_test(1).plant_for_test({VA, PAGE_SIZE, 0x9999, PAGE_KERNEL});
  const auto v = check_TLB_COHERENT(m);
  EXPECT_TRUE(reports(v, TLB_COHERENT, "CPU 1 caches"));
  EXPECT_NE(report(v, m).find("state judged"), std::string::npos);
}

TEST_F(Corrupt, TlbCoherentReportsAnUnmapWhoseOwedFlushWasDropped) {
  ASSERT_TRUE(m.translate(0, VA).ok());
  ASSERT_EQ(m.unmap(VA), mm_status::ok);
  EXPECT_TRUE(check_TLB_COHERENT(m).empty());
  m.owed_for_test().clear();  // as if the unmap had forgotten to record its flush
  EXPECT_TRUE(reports(check_TLB_COHERENT(m), TLB_COHERENT, "no translation"));
}

TEST_F(Corrupt, TlbCoherentOwedFlushIsPerCpu) {
  ASSERT_TRUE(m.translate(0, VA).ok());
  ASSERT_EQ(m.unmap(VA), mm_status::ok);
  m.owed_for_test().begin()->second.cpus = 2;  // claims CPU 0 already flushed: it did not
  EXPECT_TRUE(reports(check_TLB_COHERENT(m), TLB_COHERENT, "CPU 0 caches"));
}
