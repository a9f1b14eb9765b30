// Tests for model/machine.hpp: the stale-TLB window is observable; faults are results.
#include "model/machine.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "model/invariants.hpp"

using namespace mmref;

namespace {
constexpr std::uint64_t VA = 0xffffc90000000000ull;
}

TEST(Machine, DefaultMachineBootsWithPreallocatedVmallocTopLevel) {
  machine m(machine_config::default_machine());
  EXPECT_EQ(m.config().total_ram_pages(), 0x9eu + (0xbffddu - 0x100u) + 0x40000u);
  // 32 TiB of vmalloc = 64 PGD entries, each with a PUD page; plus the modules' PGD entry.
  EXPECT_EQ(m.tables().tables().size(), 1u + 64u + 1u);
  EXPECT_TRUE(check_machine(m).empty());
}

TEST(Machine, BadConfigIsRejectedWithItsReason) {
  machine_config c = machine_config::default_machine();
  c.nr_cpus = 0;
  EXPECT_THROW({ machine m(c); }, std::invalid_argument);
  c = machine_config::default_machine();
  c.ram = {{0x100, 0x200}, {0x150, 0x300}};
  EXPECT_NE(c.validate(), "");
}

TEST(Machine, WriteThroughVaReadBackThroughFrame) {
  machine m(machine_config::default_machine());
  ASSERT_EQ(m.map_page(VA, 0x5000), mm_status::ok);
  ASSERT_TRUE(m.write_u64(0, VA + 0x18, 0x1122334455667788ull).ok());
  EXPECT_EQ(m.phys().read_u64(pfn_phys(0x5000) + 0x18), 0x1122334455667788ull);
  const access_result r = m.read_u64(1, VA + 0x18);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, 0x1122334455667788ull);
  EXPECT_FALSE(r.tlb_hit);
  EXPECT_TRUE(m.read_u64(1, VA + 0x18).tlb_hit);
}

TEST(Machine, StaleEntryTranslatesAfterUnmapUntilFlushed) {
  machine m(machine_config::default_machine());
  ASSERT_EQ(m.map_page(VA, 0x5000), mm_status::ok);
  ASSERT_TRUE(m.translate(0, VA).ok());  // CPU 0 caches it; CPU 1 does not
  ASSERT_EQ(m.unmap(VA), mm_status::ok);
  ASSERT_EQ(m.owed().size(), 1u);
  const access_result stale = m.translate(0, VA);
  EXPECT_TRUE(stale.ok());
  EXPECT_TRUE(stale.tlb_hit);
  EXPECT_EQ(stale.pa, pfn_phys(0x5000));
  EXPECT_EQ(m.translate(1, VA).fault, fault_kind::not_present);
  EXPECT_TRUE(check_machine(m).empty());  // coherent because the flush is owed
  // Remapping to another frame before the flush: CPU 0 still sees the old frame.
  ASSERT_EQ(m.map_page(VA, 0x6000), mm_status::ok);
  EXPECT_EQ(m.translate(0, VA).pa, pfn_phys(0x5000));
  EXPECT_EQ(m.translate(1, VA).pa, pfn_phys(0x6000));
  ASSERT_EQ(m.flush_tlb_kernel_range(VA, VA + PAGE_SIZE), mm_status::ok);
  EXPECT_TRUE(m.owed().empty());
  EXPECT_EQ(m.translate(0, VA).pa, pfn_phys(0x6000));
  EXPECT_TRUE(check_machine(m).empty());
}

TEST(Machine, LocalFlushDischargesOnlyThatCpu) {
  machine m(machine_config::default_machine());
  ASSERT_EQ(m.map_page(VA, 0x5000), mm_status::ok);
  ASSERT_TRUE(m.translate(0, VA).ok());
  ASSERT_TRUE(m.translate(1, VA).ok());
  ASSERT_EQ(m.unmap(VA), mm_status::ok);
  ASSERT_EQ(m.flush_tlb_one_cpu(0, VA, VA + PAGE_SIZE), mm_status::ok);
  ASSERT_EQ(m.owed().size(), 1u);
  EXPECT_EQ(m.owed().begin()->second.cpus, 2u);
  EXPECT_FALSE(m.translate(0, VA).ok());
  EXPECT_TRUE(m.translate(1, VA).ok());
  EXPECT_EQ(m.flush_tlb_one_cpu(2, VA, VA + PAGE_SIZE), mm_status::bad_cpu);
  ASSERT_EQ(m.flush_tlb_one_cpu(1, VA, VA + PAGE_SIZE), mm_status::ok);
  EXPECT_TRUE(m.owed().empty());
}

TEST(Machine, FaultsAreResults) {
  machine m(machine_config::default_machine());
  EXPECT_EQ(m.translate(0, 0x0000900000000000ull).fault, fault_kind::non_canonical);
  EXPECT_EQ(m.translate(0, VA).fault, fault_kind::not_present);
  EXPECT_EQ(m.translate(7, VA).fault, fault_kind::bad_cpu);
  EXPECT_EQ(m.read_u64(0, VA + 3).fault, fault_kind::misaligned);
  ASSERT_EQ(m.map_page(VA, 0x5000, PAGE_KERNEL & ~_PAGE_RW), mm_status::ok);
  EXPECT_TRUE(m.read_u64(0, VA).ok());
  EXPECT_EQ(m.write_u64(0, VA, 1).fault, fault_kind::write_protect);
  EXPECT_EQ(m.phys().read_u64(pfn_phys(0x5000)), 0u);
  // Not-present results are not cached: mapping afterwards is seen at once.
  EXPECT_EQ(m.translate(0, VA + PAGE_SIZE).fault, fault_kind::not_present);
  ASSERT_EQ(m.map_page(VA + PAGE_SIZE, 0x5001), mm_status::ok);
  EXPECT_TRUE(m.translate(0, VA + PAGE_SIZE).ok());
}

TEST(Machine, WalkerSetsAccessedAndDirty) {
  machine m(machine_config::default_machine());
  ASSERT_EQ(m.map_page(VA, 0x5000, _PAGE_PRESENT | _PAGE_RW | _PAGE_NX), mm_status::ok);
  ASSERT_TRUE(m.read_u64(0, VA).ok());
  EXPECT_EQ(m.walk(VA).leaf.flags & (_PAGE_ACCESSED | _PAGE_DIRTY), _PAGE_ACCESSED);
  ASSERT_TRUE(m.write_u64(0, VA, 5).ok());  // TLB hit without D: walks again to set D
  EXPECT_EQ(m.walk(VA).leaf.flags & _PAGE_DIRTY, _PAGE_DIRTY);
  EXPECT_TRUE(check_machine(m).empty());
}

TEST(Machine, HugeMappingTranslatesEveryPageAndItsUnmapIsOwedWhole) {
  machine m(machine_config::default_machine());
  ASSERT_EQ(m.map_huge(VA, 0x100200), mm_status::ok);
  EXPECT_EQ(m.translate(0, VA + 0x1ff008).pa, pfn_phys(0x100200) + 0x1ff008);
  ASSERT_EQ(m.unmap(VA), mm_status::ok);
  EXPECT_EQ(m.owed().begin()->second.size, PMD_SIZE);
  EXPECT_TRUE(m.translate(0, VA + 0x5000).tlb_hit);  // stale 2 MiB entry
  ASSERT_EQ(m.flush_tlb_kernel_range(VA + 0x100000, VA + 0x101000), mm_status::ok);
  EXPECT_FALSE(m.translate(0, VA + 0x5000).ok());
  EXPECT_TRUE(m.owed().empty());
}

TEST(Machine, SmallGeneratedMachinesHaveHoles) {
  const machine_config c = machine_config::small(8, 5, 3, {{0x100, 0x180}});
  EXPECT_EQ(c.validate(), "");
  EXPECT_EQ(c.ram.size(), 2u);
  EXPECT_FALSE(c.is_ram(0x120));
  machine m(c);
  EXPECT_EQ(m.nr_cpus(), 3u);
  EXPECT_TRUE(check_machine(m).empty());
}
