// Tests for impl/vmalloc/invariants.hpp: clean states pass; every checker reports its ID on a
// state corrupted on purpose (not through the code).
#include "impl/vmalloc/invariants.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace mmref::vmalloc {
namespace {

struct system {
  buddy::buddy_machine bm{machine_config::small(32, 4, 2)};
  vmap_state vs{*bm.buddy, *bm.mach};
  std::uint64_t vstart() const { return bm.mach->config().layout.vmalloc_start; }
};

bool has(const std::vector<violation>& v, const char* id) {
  return std::any_of(v.begin(), v.end(), [&](const violation& x) { return x.id == id; });
}

std::string ids(const std::vector<violation>& v) {
  std::string s;
  for (const auto& x : v) s += x.id + ": " + x.detail + "\n";
  return s;
}

// A state with busy, lazy and free areas, a nested pages array and a vmap.
void populate(system& s, std::uint64_t out[3]) {
  out[0] = s.vs.vmalloc(3 * PAGE_SIZE);
  out[1] = s.vs.vmalloc(600 * PAGE_SIZE);
  const std::uint64_t gone = s.vs.vmalloc(PAGE_SIZE);
  ASSERT_EQ(s.vs.vfree(gone), vm_error::none);
  std::vector<std::uint64_t> pfns = {*s.bm.buddy->alloc_pages(buddy::GFP_KERNEL, 0).pfn,
                                     *s.bm.buddy->alloc_pages(buddy::GFP_KERNEL, 0).pfn};
  out[2] = s.vs.vmap(pfns, VM_MAP, PAGE_KERNEL);
}

TEST(VmallocInvariants, HoldOnAPopulatedState) {
  system s;
  std::uint64_t a[3];
  populate(s, a);
  const auto v = check_vmalloc(s.vs);
  EXPECT_TRUE(v.empty()) << vmalloc_report(v, s.vs);
  const purge_result p = s.vs.purge_vmap_area_lazy();
  EXPECT_TRUE(p.purged);
  EXPECT_TRUE(check_VM_PURGE(s.vs, p).empty()) << ids(check_VM_PURGE(s.vs, p));
  EXPECT_TRUE(check_vmalloc(s.vs).empty()) << vmalloc_report(check_vmalloc(s.vs), s.vs);
}

vmap_area* busy_at(system& s, std::uint64_t addr) { return find_vmap_area_in(s.vs.busy_for_test(), addr); }

TEST(VmallocInvariants, DisjointSeesOverlappingBusyAreas) {
  system s;
  std::uint64_t a[3];
  populate(s, a);
  busy_at(s, a[0])->va_end += PAGE_SIZE;  // now runs into the next area
  const auto v = check_VM_DISJOINT(s.vs);
  EXPECT_TRUE(has(v, inv::VM_DISJOINT)) << ids(v);
}

TEST(VmallocInvariants, RangeSeesAMisalignedArea) {
  system s;
  std::uint64_t a[3];
  populate(s, a);
  busy_at(s, a[1])->req_align = PMD_SIZE;  // a[1] sits 4 pages above VMALLOC_START
  EXPECT_TRUE(has(check_VM_RANGE(s.vs), inv::VM_RANGE));
}

TEST(VmallocInvariants, PartitionSeesAGapAndALeakedDescriptor) {
  system s;
  std::uint64_t a[3];
  populate(s, a);
  busy_at(s, a[0])->va_start += PAGE_SIZE;  // a page that is in no set
  EXPECT_TRUE(has(check_VM_PARTITION(s.vs), inv::VM_PARTITION));
  busy_at(s, a[0] + PAGE_SIZE)->va_start -= PAGE_SIZE;
  EXPECT_TRUE(check_VM_PARTITION(s.vs).empty());
  vmap_area* leaked = s.vs.kmalloc().alloc<vmap_area>(kmalloc_kind::vmap_area, kmalloc_site::vmap_area);
  EXPECT_TRUE(has(check_VM_PARTITION(s.vs), inv::VM_PARTITION));
  s.vs.kmalloc().free(leaked, kmalloc_kind::vmap_area);
}

TEST(VmallocInvariants, LazyAcctSeesAWrongCounter) {
  system s;
  std::uint64_t a[3];
  populate(s, a);
  s.vs.vmap_lazy_nr_for_test() += 1;
  EXPECT_TRUE(has(check_VM_LAZY_ACCT(s.vs), inv::VM_LAZY_ACCT));
}

TEST(VmallocInvariants, NoReuseSeesAFlushOwedOutsideTheLazyAreas) {
  system s;
  std::uint64_t a[3];
  populate(s, a);
  // An unmap owed a flush on VA that is busy: as if the VA had been handed out before the purge.
  s.bm.mach->owed_for_test()[{a[0], PAGE_SIZE}] = owed_flush{a[0], PAGE_SIZE, 3};
  const auto v = check_VM_NO_REUSE(s.vs);
  EXPECT_TRUE(has(v, inv::VM_NO_REUSE)) << ids(v);
}

TEST(VmallocInvariants, MapSeesAWrongPageAndAMappedGuard) {
  system s;
  std::uint64_t a[3];
  populate(s, a);
  auto* vm = const_cast<vm_struct*>(s.vs.find_vm_area(a[0]));
  std::swap(vm->pages[0], vm->pages[1]);
  EXPECT_TRUE(has(check_VM_MAP(s.vs), inv::VM_MAP));
  std::swap(vm->pages[0], vm->pages[1]);
  ASSERT_TRUE(check_VM_MAP(s.vs).empty());
  const std::uint64_t guard = a[0] + 3 * PAGE_SIZE;
  ASSERT_EQ(s.bm.mach->map_page(guard, vm->pages[0], PAGE_KERNEL), mm_status::ok);
  EXPECT_TRUE(has(check_VM_MAP(s.vs), inv::VM_MAP));
}

TEST(VmallocInvariants, NoncontigSeesASharedPage) {
  system s;
  std::uint64_t a[3];
  populate(s, a);
  auto* vm0 = const_cast<vm_struct*>(s.vs.find_vm_area(a[0]));
  const auto* vm1 = s.vs.find_vm_area(a[1]);
  vm0->pages[2] = vm1->pages[7];
  EXPECT_TRUE(has(check_VM_NONCONTIG(s.vs), inv::VM_NONCONTIG));
}

TEST(VmallocInvariants, NoStraySeesALeafOutsideEveryArea) {
  system s;
  std::uint64_t a[3];
  populate(s, a);
  const std::uint64_t pfn = *s.bm.buddy->alloc_pages(buddy::GFP_KERNEL, 0).pfn;
  ASSERT_EQ(s.bm.mach->map_page(s.vstart() + (1ULL << 32), pfn, PAGE_KERNEL), mm_status::ok);
  EXPECT_TRUE(has(check_VM_NO_STRAY(s.vs), inv::VM_NO_STRAY));
}

TEST(VmallocInvariants, PurgeSeesAnAreaOutsideTheFlushedRange) {
  system s;
  std::uint64_t a[3];
  populate(s, a);
  purge_result p = s.vs.purge_vmap_area_lazy();
  ASSERT_TRUE(check_VM_PURGE(s.vs, p).empty());
  p.end = p.start;  // as if nothing had been flushed
  EXPECT_TRUE(has(check_VM_PURGE(s.vs, p), inv::VM_PURGE));
}

}  // namespace
}  // namespace mmref::vmalloc
