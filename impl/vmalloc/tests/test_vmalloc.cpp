// Tests for impl/vmalloc/vmalloc.hpp: vmalloc/vfree/vmap/vunmap over a small machine, lazy free
// and purge, the guard page, nested pages arrays, huge mappings, failure part-way, bad input.
#include "impl/vmalloc/vmalloc.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "impl/vmalloc/invariants.hpp"
#include "impl/vmalloc/vmap_node.hpp"

namespace mmref::vmalloc {
namespace {

using buddy::buddy_machine;

struct system {
  buddy_machine bm;
  vmap_state vs;
  explicit system(std::uint64_t mib = 64, vmap_config cfg = {})
      : bm(machine_config::small(mib, 4, 2)), vs(*bm.buddy, *bm.mach, cfg) {}
  std::uint64_t vstart() const { return bm.mach->config().layout.vmalloc_start; }
  std::uint64_t free_pages() const { return bm.buddy->total_free_pages(); }
  // Everything "state unchanged" compares.
  std::string snapshot() const {
    std::string s = vs.vmallocinfo() + "|lazy=" + std::to_string(vs.vmap_lazy_nr()) +
                    "|free=" + std::to_string(free_pages()) + "|";
    for (const auto& iv : vs.kva().free_intervals()) s += std::to_string(iv.start) + "-" + std::to_string(iv.end) + ",";
    s += "|owed=" + std::to_string(bm.mach->owed().size());
    return s;
  }
};

TEST(Vmalloc, OnePageGetsAGuardAndMapsItsPage) {
  system s;
  const std::uint64_t free0 = s.free_pages();
  const std::uint64_t a = s.vs.vmalloc(100);  // PAGE_ALIGN'ed to one page
  ASSERT_EQ(a, s.vstart());
  const vm_struct* vm = s.vs.find_vm_area(a);
  ASSERT_NE(vm, nullptr);
  EXPECT_EQ(vm->size, 2 * PAGE_SIZE) << "vm->size includes the guard page";
  EXPECT_EQ(vm->nr_pages, 1u);
  EXPECT_EQ(get_vm_area_size(vm), PAGE_SIZE);
  EXPECT_EQ(s.vs.vmalloc_to_page(a), vm->pages[0]);
  EXPECT_FALSE(s.vs.vmalloc_to_page(a + PAGE_SIZE).has_value()) << "the guard page is never mapped";
  EXPECT_EQ(s.free_pages(), free0 - 1 - (free0 - 1 - s.free_pages()));  // pages and tables came from the buddy
  EXPECT_LT(s.free_pages(), free0);
  // Data written through the VA lands in the page.
  ASSERT_TRUE(s.bm.mach->write_u64(0, a + 8, 0xfeedULL).ok());
  EXPECT_EQ(s.bm.mach->read_u64(1, a + 8).value, 0xfeedULL);
  EXPECT_EQ(s.vs.vmallocinfo().substr(0, 45), "0xffffc90000000000-0xffffc90000002000    8192");
  EXPECT_NE(s.vs.vmallocinfo().find(" pages=1 vmalloc N0=1\n"), std::string::npos);
}

TEST(Vmalloc, VfreeIsLazyAndTheVaIsNotReusedBeforeThePurge) {
  system s;
  const std::uint64_t a = s.vs.vmalloc(3 * PAGE_SIZE);
  const std::uint64_t pages_before_free = s.free_pages();
  ASSERT_EQ(s.vs.vfree(a), vm_error::none);
  EXPECT_EQ(s.free_pages(), pages_before_free + 3) << "vfree returns the pages at once";
  EXPECT_EQ(s.vs.vmap_lazy_nr(), 4u) << "the guard page counts in vmap_lazy_nr";
  EXPECT_FALSE(s.vs.vmalloc_to_page(a).has_value()) << "PTEs are cleared at vfree";
  EXPECT_FALSE(s.bm.mach->owed().empty()) << "but the TLB flush is owed";
  EXPECT_NE(s.vs.vmallocinfo().find("unpurged vm_area"), std::string::npos);
  const std::uint64_t b = s.vs.vmalloc(PAGE_SIZE);
  EXPECT_EQ(b, a + 4 * PAGE_SIZE) << "lazy VA is not free: the next area goes above it";
  const purge_result p = s.vs.purge_vmap_area_lazy();
  EXPECT_TRUE(p.purged);
  EXPECT_EQ(p.nr_purged, 1u);
  EXPECT_EQ(p.start, a);
  EXPECT_EQ(p.end, a + 4 * PAGE_SIZE);
  EXPECT_EQ(s.vs.vmap_lazy_nr(), 0u);
  EXPECT_TRUE(s.bm.mach->owed().empty()) << "the purge's flush discharged every owed flush";
  EXPECT_EQ(s.vs.vmalloc(2 * PAGE_SIZE), a) << "after the purge the hole is reused";
}

TEST(Vmalloc, AdjacentLazyAreasMergeAndOnePurgeFlushesTheirHull) {
  system s;
  std::vector<std::uint64_t> v;
  for (int i = 0; i < 4; ++i) v.push_back(s.vs.vmalloc(PAGE_SIZE));
  for (std::uint64_t a : v) ASSERT_EQ(s.vs.vfree(a), vm_error::none);
  // 6.1's purge list merges neighbours: one "unpurged" line for the four areas.
  EXPECT_EQ(s.vs.lazy().empty(), false);
  EXPECT_EQ(list_empty(&s.vs.lazy().head), false);
  EXPECT_EQ(s.vs.lazy().head.next->next, &s.vs.lazy().head);
  EXPECT_EQ(s.vs.vmap_lazy_nr(), 8u);
  const purge_result p = s.vs.purge_vmap_area_lazy();
  EXPECT_EQ(p.nr_purged, 1u);
  EXPECT_EQ(p.end - p.start, 8 * PAGE_SIZE);
}

TEST(Vmalloc, LazyThresholdSchedulesTheDrain) {
  vmap_config cfg;
  cfg.lazy_max_pages_divisor = 16384 / 8;  // 2 CPUs: 16384 pages -> 8
  system s(64, cfg);
  ASSERT_EQ(s.vs.lazy_max_pages(), 8u);
  std::vector<std::uint64_t> v;
  for (int i = 0; i < 6; ++i) v.push_back(s.vs.vmalloc(PAGE_SIZE));
  for (int i = 0; i < 4; ++i) ASSERT_EQ(s.vs.vfree(v[static_cast<std::size_t>(i)]), vm_error::none);
  EXPECT_EQ(s.vs.vmap_lazy_nr(), 8u) << "8 is not more than lazy_max_pages(): no drain yet";
  EXPECT_EQ(s.vs.stats().drains, 0u);
  ASSERT_EQ(s.vs.vfree(v[4]), vm_error::none);
  EXPECT_EQ(s.vs.stats().drains, 1u) << "10 > 8: the drain ran when vfree returned";
  EXPECT_EQ(s.vs.vmap_lazy_nr(), 0u);
}

TEST(Vmalloc, LargeAreaUsesANestedVmallocForItsPagesArray) {
  system s;
  const std::uint64_t free0 = s.free_pages();
  const std::uint64_t a = s.vs.vmalloc(600 * PAGE_SIZE);  // 600 * 8 bytes > PAGE_SIZE
  ASSERT_NE(a, 0u);
  const vm_struct* vm = s.vs.find_vm_area(a);
  ASSERT_NE(vm->pages_addr, 0u);
  EXPECT_EQ(s.vs.stats().nested_pages_arrays, 1u);
  EXPECT_NE(s.vs.vmallocinfo().find(" vpages"), std::string::npos);
  const vm_struct* nested = s.vs.find_vm_area(vm->pages_addr);
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->nr_pages, 2u);  // 4800 bytes -> 2 pages
  ASSERT_EQ(s.vs.vfree(a), vm_error::none);
  EXPECT_EQ(s.vs.find_vm_area(vm == nullptr ? 0 : a), nullptr);
  s.vs.purge_vmap_area_lazy();
  EXPECT_TRUE(s.vs.busy().empty()) << "the nested array's area is gone too";
  EXPECT_EQ(s.vs.kmalloc().live(kmalloc_kind::vm_struct), 0u);
  EXPECT_EQ(s.vs.kmalloc().live(kmalloc_kind::pages_array), 0u);
  // Page tables stay allocated (unmap frees no table page); every data page came back.
  EXPECT_LE(free0 - s.free_pages(), 8u);
}

TEST(Vmalloc, PagesNeedNotBeContiguousAndAreDistinct) {
  system s;
  // Fragment: allocate 200 pages, free every other one.
  std::vector<std::uint64_t> held;
  for (int i = 0; i < 200; ++i) held.push_back(*s.bm.buddy->alloc_pages(buddy::GFP_KERNEL, 0).pfn);
  for (std::size_t i = 0; i < held.size(); i += 2) ASSERT_EQ(s.bm.buddy->__free_pages(held[i], 0), buddy::bd_error::none);
  const std::uint64_t a = s.vs.vmalloc(64 * PAGE_SIZE);
  const vm_struct* vm = s.vs.find_vm_area(a);
  std::set<std::uint64_t> distinct(vm->pages.begin(), vm->pages.end());
  EXPECT_EQ(distinct.size(), 64u);
  bool contiguous = true;
  for (std::size_t i = 1; i < vm->pages.size(); ++i) contiguous = contiguous && vm->pages[i] == vm->pages[i - 1] + 1;
  EXPECT_FALSE(contiguous);
  for (std::uint64_t i = 0; i < 64; ++i) EXPECT_EQ(s.vs.vmalloc_to_page(a + i * PAGE_SIZE), vm->pages[i]);
}

TEST(Vmalloc, HugeMappingUsesPmdLeavesAndFreesOrderZeroPages) {
  system s;
  const std::uint64_t free0 = s.free_pages();
  const std::uint64_t a = s.vs.vmalloc_huge(2 * PMD_SIZE, buddy::GFP_KERNEL);
  ASSERT_NE(a, 0u);
  EXPECT_TRUE(is_aligned(a, PMD_SIZE));
  EXPECT_EQ(s.vs.stats().huge_mappings, 1u);
  const walk_result w = s.bm.mach->walk(a + 5 * PAGE_SIZE);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w.leaf.size, PMD_SIZE);
  const vm_struct* vm = s.vs.find_vm_area(a);
  EXPECT_EQ(vm->nr_pages, 1024u);
  EXPECT_EQ(vm->size, 2 * PMD_SIZE + PAGE_SIZE);
  EXPECT_EQ(s.vs.vmalloc_to_page(a + 5 * PAGE_SIZE), vm->pages[5]);
  ASSERT_EQ(s.vs.vfree(a), vm_error::none);
  EXPECT_GE(s.free_pages() + 8, free0) << "all 1024 pages returned one by one";
}

TEST(Vmalloc, VmapMapsTheCallersPagesAndVunmapLeavesThem) {
  system s;
  std::vector<std::uint64_t> pfns;
  for (int i = 0; i < 3; ++i) pfns.push_back(*s.bm.buddy->alloc_pages(buddy::GFP_KERNEL, 0).pfn);
  const std::uint64_t a = s.vs.vmap(pfns, VM_MAP, PAGE_KERNEL);
  ASSERT_NE(a, 0u);
  for (std::uint64_t i = 0; i < 3; ++i) EXPECT_EQ(s.vs.vmalloc_to_page(a + i * PAGE_SIZE), pfns[i]);
  EXPECT_NE(s.vs.vmallocinfo().find(" vmap\n"), std::string::npos);
  const std::string before = s.snapshot();
  EXPECT_EQ(s.vs.vfree(a), vm_error::wrong_kind);
  EXPECT_EQ(s.snapshot(), before);
  ASSERT_EQ(s.vs.vunmap(a), vm_error::none);
  for (std::uint64_t pfn : pfns) EXPECT_TRUE(s.bm.buddy->allocated_order(pfn).has_value()) << "pages stay the caller's";
}

TEST(Vmalloc, BadInputIsRefusedAndChangesNothing) {
  system s;
  const std::uint64_t a = s.vs.vmalloc(2 * PAGE_SIZE);
  const std::string before = s.snapshot();
  EXPECT_EQ(s.vs.vfree(0), vm_error::none);
  EXPECT_EQ(s.vs.vfree(a + 8), vm_error::bad_address);
  EXPECT_EQ(s.vs.vfree(a + PAGE_SIZE), vm_error::interior_address);
  EXPECT_EQ(s.vs.vfree(a + (1ULL << 30)), vm_error::not_found);
  EXPECT_EQ(s.vs.vunmap(a), vm_error::wrong_kind);
  EXPECT_EQ(s.vs.vmalloc(0), 0u);
  EXPECT_EQ(s.vs.last_error(), vm_error::invalid);
  EXPECT_EQ(s.vs.vmalloc(1ULL << 40), 0u);
  EXPECT_EQ(s.vs.last_error(), vm_error::too_large);
  EXPECT_EQ(s.vs.__vmalloc_node(PAGE_SIZE, 3, buddy::GFP_KERNEL, "t"), 0u);
  EXPECT_EQ(s.vs.last_error(), vm_error::invalid);
  EXPECT_EQ(s.vs.__vmalloc_node(PAGE_SIZE, 1, buddy::__GFP_DMA | buddy::__GFP_DMA32, "t"), 0u);
  EXPECT_EQ(s.vs.last_error(), vm_error::invalid);
  EXPECT_EQ(s.vs.vmap({}, VM_MAP, PAGE_KERNEL), 0u);
  EXPECT_EQ(s.vs.vmap({1}, VM_FLUSH_RESET_PERMS, PAGE_KERNEL), 0u);
  EXPECT_EQ(s.snapshot(), before);
  ASSERT_EQ(s.vs.vfree(a), vm_error::none);
  const std::string after_free = s.snapshot();
  EXPECT_EQ(s.vs.vfree(a), vm_error::not_found) << "double vfree";
  EXPECT_EQ(s.snapshot(), after_free);
}

// fail_page_alloc for every request: GFP_KERNEL reclaims and vmalloc adds __GFP_HIGHMEM, which
// the kernel's defaults (ignore-gfp-wait, ignore-gfp-highmem) would exempt.
void fail_buddy_nth(system& s, std::uint64_t n) {
  auto& f = s.bm.buddy->fail_attr;
  f.nth = n;
  f.min_order = 0;
  f.ignore_gfp_reclaim = false;
  f.ignore_gfp_highmem = false;
}

// Each allocation point made to fail: the vmalloc fails, nothing stays busy, every page and
// small allocation is returned, and after a purge the VA is free again.
TEST(Vmalloc, FailurePartWayRollsBackCompletely) {
  struct point {
    const char* name;
    std::function<void(system&)> arm;
    const char* warning;  // what the kernel would print for this failure
    std::uint64_t pages = 4;
  };
  const std::vector<point> points = {
      {"vmap_area", [](system& s) { s.vs.kmalloc().fail_nth(1, kmalloc_site::vmap_area); }, "vm_struct allocation failed"},
      {"vm_struct", [](system& s) { s.vs.kmalloc().fail_nth(1, kmalloc_site::vm_struct); }, "vm_struct allocation failed"},
      {"pages_array", [](system& s) { s.vs.kmalloc().fail_nth(1, kmalloc_site::pages_array); }, "failed to allocated page array size 32"},
      // Every third page allocation fails: the bulk batch stops at 2, the single-page fallback
      // gets 2 more and stops at the 6th call: 4 of 8 pages, then the rollback.
      {"third page", [](system& s) {
         auto& f = s.bm.buddy->fail_attr;
         f.probability = 100;
         f.interval = 3;
         f.min_order = 0;
         f.ignore_gfp_reclaim = false;
         f.ignore_gfp_highmem = false;
       }, "size 16384, page order 0, failed to allocate pages", 8},
      // 4 data pages, then the first table page the mapping needs (the PMD-level table for the
      // fresh vmalloc range: its PUD entries were preallocated at boot).
      {"page table", [](system& s) { fail_buddy_nth(s, 5); }, "failed to map pages"},
  };
  for (const auto& p : points) {
    SCOPED_TRACE(p.name);
    system s;
    const std::uint64_t free0 = s.free_pages();
    const auto live_va = s.vs.kmalloc().live(kmalloc_kind::vmap_area);
    p.arm(s);
    EXPECT_EQ(s.vs.vmalloc(p.pages * PAGE_SIZE), 0u);
    EXPECT_NE(s.vs.last_warning().find(p.warning), std::string::npos) << s.vs.last_warning();
    EXPECT_TRUE(s.vs.busy().empty());
    s.bm.buddy->fail_attr = {};
    s.vs.purge_vmap_area_lazy();
    EXPECT_EQ(s.vs.vmap_lazy_nr(), 0u);
    EXPECT_EQ(s.vs.kmalloc().live(kmalloc_kind::vm_struct), 0u);
    EXPECT_EQ(s.vs.kmalloc().live(kmalloc_kind::pages_array), 0u);
    EXPECT_LE(s.vs.kmalloc().live(kmalloc_kind::vmap_area), live_va + 1) << "at most a preloaded spare";
    EXPECT_EQ(s.vs.kmalloc().live(kmalloc_kind::vmap_area), s.vs.kva().descriptors());
    EXPECT_LE(free0 - s.free_pages(), 4u) << "only page-table pages may stay";
    EXPECT_EQ(s.vs.kva().free_intervals().size(), 1u);
    EXPECT_FALSE(s.vs.vmalloc_to_page(s.vstart()).has_value());
  }
}

TEST(Vmalloc, VaExhaustionPurgesAndRetriesOnce) {
  system s;
  // A private window of 8 pages: two 3-page vmallocs (4 with guards) fill it.
  const std::uint64_t lo = s.vstart() + (1ULL << 30), hi = lo + 8 * PAGE_SIZE;
  auto alloc = [&] { return s.vs.__vmalloc_node_range(3 * PAGE_SIZE, 1, lo, hi, buddy::GFP_KERNEL, PAGE_KERNEL, 0, "t"); };
  const std::uint64_t a = alloc(), b = alloc();
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  EXPECT_EQ(alloc(), 0u);
  EXPECT_EQ(s.vs.last_error(), vm_error::no_va);
  EXPECT_NE(s.vs.last_warning().find("vmap allocation for size 16384 failed"), std::string::npos);
  ASSERT_EQ(s.vs.vfree(a), vm_error::none);  // lazy: not free until purged
  const auto retries = s.vs.stats().purge_retry_success;
  EXPECT_EQ(alloc(), a) << "the overflow path purged and the retry found the hole";
  EXPECT_EQ(s.vs.stats().purge_retry_success, retries + 1);
}

TEST(Vmalloc, NofailOnAnExhaustedRangeReportsWouldLoopForever) {
  system s;
  const std::uint64_t lo = s.vstart() + (1ULL << 30), hi = lo + 2 * PAGE_SIZE;
  ASSERT_NE(s.vs.__vmalloc_node_range(PAGE_SIZE, 1, lo, hi, buddy::GFP_KERNEL, PAGE_KERNEL, 0, "t"), 0u);
  EXPECT_EQ(s.vs.__vmalloc_node_range(PAGE_SIZE, 1, lo, hi, buddy::GFP_KERNEL | buddy::__GFP_NOFAIL, PAGE_KERNEL, 0, "t"), 0u);
  EXPECT_EQ(s.vs.last_error(), vm_error::would_loop_forever);
}

TEST(Vmalloc, ModuleAllocComesFromTheModulesRange) {
  system s;
  const std::uint64_t a = s.vs.module_alloc(5 * PAGE_SIZE);
  EXPECT_EQ(a, s.bm.mach->config().layout.modules_vaddr);
  EXPECT_FALSE(s.vs.is_vmalloc_addr(a));
  EXPECT_TRUE(s.vs.is_vmalloc_or_module_addr(a));
  EXPECT_EQ(s.vs.vmalloc_to_page(a), s.vs.find_vm_area(a)->pages[0]);
}

TEST(Vmalloc, VzallocZeroesThePages) {
  system s;
  // Dirty a page, free it, and let vzalloc get it back.
  const std::uint64_t pfn = *s.bm.buddy->alloc_pages(buddy::GFP_KERNEL, 0).pfn;
  s.bm.mach->phys_for_test().write_u64(pfn << PAGE_SHIFT, 0xdeadULL);
  ASSERT_EQ(s.bm.buddy->__free_pages(pfn, 0), buddy::bd_error::none);
  const std::uint64_t a = s.vs.vzalloc(PAGE_SIZE);
  const vm_struct* vm = s.vs.find_vm_area(a);
  EXPECT_EQ(s.bm.mach->read_u64(0, a).value, 0u);
  EXPECT_EQ(s.bm.mach->phys().read_u64(vm->pages[0] << PAGE_SHIFT), 0u);
}

}  // namespace
}  // namespace mmref::vmalloc

namespace mmref::vmalloc {
namespace {

TEST(Vmalloc, PcpuAreasArePlacedTopDownAtTheHighestBase) {
  system s;
  const std::uint64_t top = s.bm.mach->config().layout.vmalloc_end & PAGE_MASK;  // VMALLOC_END & ~(align - 1)
  const auto vms = s.vs.pcpu_get_vm_areas({0, 4 * PAGE_SIZE}, {2 * PAGE_SIZE, 2 * PAGE_SIZE}, PAGE_SIZE);
  ASSERT_EQ(vms.size(), 2u);
  const std::uint64_t base = top - 6 * PAGE_SIZE;
  EXPECT_EQ(vms[0]->addr, base);
  EXPECT_EQ(vms[1]->addr, base + 4 * PAGE_SIZE);
  EXPECT_EQ(vms[1]->size, 2 * PAGE_SIZE) << "no guard page";
  EXPECT_TRUE(check_vmalloc(s.vs).empty()) << vmalloc_report(check_vmalloc(s.vs), s.vs);
  // The search uses holes too: a single 2-page area fits between the two (base + 2 pages), the
  // highest place it fits; a 3-page one does not fit there and goes below the group.
  const auto one = s.vs.pcpu_get_vm_areas({0}, {2 * PAGE_SIZE}, PAGE_SIZE);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0]->addr, base + 2 * PAGE_SIZE);
  const auto wide = s.vs.pcpu_get_vm_areas({0}, {3 * PAGE_SIZE}, PAGE_SIZE);
  ASSERT_EQ(wide.size(), 1u);
  EXPECT_EQ(wide[0]->addr, base - 3 * PAGE_SIZE);
  // Freed areas are lazy: the next placement goes below them until a purge.
  s.vs.pcpu_free_vm_areas(vms);
  EXPECT_EQ(s.vs.vmap_lazy_nr(), 4u);
  const auto again = s.vs.pcpu_get_vm_areas({0}, {2 * PAGE_SIZE}, PAGE_SIZE);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0]->addr, base - 5 * PAGE_SIZE);
  s.vs.purge_vmap_area_lazy();
  const auto after = s.vs.pcpu_get_vm_areas({0}, {2 * PAGE_SIZE}, PAGE_SIZE);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0]->addr, top - 2 * PAGE_SIZE) << "after the purge the top is free again";
  EXPECT_TRUE(check_vmalloc(s.vs).empty()) << vmalloc_report(check_vmalloc(s.vs), s.vs);
  // Bad input, refused with the state unchanged.
  const std::string before = s.snapshot();
  EXPECT_TRUE(s.vs.pcpu_get_vm_areas({0, PAGE_SIZE}, {2 * PAGE_SIZE, PAGE_SIZE}, PAGE_SIZE).empty());  // overlap
  EXPECT_TRUE(s.vs.pcpu_get_vm_areas({0}, {PAGE_SIZE}, 3 * PAGE_SIZE).empty());                        // align
  EXPECT_TRUE(s.vs.pcpu_get_vm_areas({100}, {PAGE_SIZE}, PAGE_SIZE).empty());                          // offset
  EXPECT_EQ(s.vs.last_error(), vm_error::invalid);
  EXPECT_EQ(s.snapshot(), before);
}

}  // namespace
}  // namespace mmref::vmalloc

namespace mmref::vmalloc {
namespace {

TEST(Vmalloc, VmapNodePoolsKeepPurgedAreasOutOfFreeSpaceAndServeThemBack) {
  system s;
  const auto& l = s.bm.mach->config().layout;
  s.vs.pools = std::make_unique<vmap_nodes>(2, l.vmalloc_start, l.vmalloc_end);
  const auto& nodes = static_cast<const vmap_nodes&>(*s.vs.pools);
  std::vector<purge_result> seen;
  s.vs.on_purge = [&](const purge_result& r) {
    seen.push_back(r);
    const auto v = check_VM_PURGE(s.vs, r);
    EXPECT_TRUE(v.empty()) << vmalloc_report(v, s.vs);
  };
  s.vs.current_cpu = 0;
  const std::uint64_t a = s.vs.vmalloc(PAGE_SIZE), b = s.vs.vmalloc(PAGE_SIZE), c = s.vs.vmalloc(PAGE_SIZE);
  EXPECT_EQ(s.vs.busy().head.next != &s.vs.busy().head ? va_of_list(s.vs.busy().head.next)->flags : 0, encode_vn_id(0))
      << "the area records the node of the CPU that asked";
  ASSERT_EQ(s.vs.vfree(a), vm_error::none);
  ASSERT_EQ(s.vs.vfree(b), vm_error::none);
  EXPECT_EQ(s.vs.lazy().head.next->next->next, &s.vs.lazy().head) << "with nodes, lazy areas stay whole";
  s.vs.run_drain_work();  // a partial decay (nothing pooled yet), then both areas pooled
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].pooled.size(), 2u);
  ASSERT_EQ(nodes.pool(0, 2).size(), 2u);
  EXPECT_EQ(nodes.pool(0, 2).front().start, b) << "added in address order at the head: the highest first";
  EXPECT_TRUE(check_vmalloc(s.vs).empty()) << vmalloc_report(check_vmalloc(s.vs), s.vs);
  // Another CPU's node has no pool of that size: the tree, not the pooled VA.
  s.vs.current_cpu = 1;
  const std::uint64_t d = s.vs.vmalloc(PAGE_SIZE);
  EXPECT_EQ(d, c + 2 * PAGE_SIZE);
  // CPU 0 gets the head of its pool, not the lowest free address.
  s.vs.current_cpu = 0;
  EXPECT_EQ(s.vs.vmalloc(PAGE_SIZE), b);
  EXPECT_EQ(s.vs.stats().pool_hits, 1u);
  // The area records the node that allocated it, whichever CPU frees it.
  s.vs.current_cpu = 0;
  ASSERT_EQ(s.vs.vfree(d), vm_error::none);  // recorded node 1: goes to node 1's pool
  s.vs.run_drain_work();
  EXPECT_EQ(nodes.pool(1, 2).size(), 1u);
  EXPECT_TRUE(check_vmalloc(s.vs).empty()) << vmalloc_report(check_vmalloc(s.vs), s.vs);
  // The overflow path's purge decays every pool fully: a and d get back to free space.
  s.vs.purge_vmap_area_lazy();
  EXPECT_TRUE(s.vs.pools->pooled().empty());
  EXPECT_EQ(s.vs.vmalloc(PAGE_SIZE), a);
  EXPECT_TRUE(check_vmalloc(s.vs).empty()) << vmalloc_report(check_vmalloc(s.vs), s.vs);
}

TEST(Vmalloc, VmapNodeDecayTakesAQuarterFromTheHeadAndSmallPoolsWhole) {
  vmap_nodes n(2, 0x1000000, 0x1ffffff);
  const std::uint64_t flags0 = encode_vn_id(0);
  for (std::uint64_t i = 0; i < 8; ++i) ASSERT_TRUE(n.pool_add(0, flags0, 0x1000000 + i * 0x2000, 0x1000000 + i * 0x2000 + 0x2000));
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(n.pool_add(0, flags0, 0x1800000 + i * 0x4000, 0x1800000 + i * 0x4000 + 0x3000));
  EXPECT_FALSE(n.pool_add(0, 0, 0x1900000, 0x1901000)) << "no node recorded: back to the tree";
  EXPECT_FALSE(n.pool_add(0, flags0, 0x1900000, 0x1900000 + 257 * PAGE_SIZE)) << "257 pages: not poolable";
  const auto d = n.decay(0, false);
  // 8 two-page entries: 8 >> 2 = 2 from the head (the two highest, which touch: merged);
  // 3 three-page entries: n_decay 0, so all of them.
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].start, 0x1000000 + 6 * 0x2000);
  EXPECT_EQ(d[0].end, 0x1000000 + 8 * 0x2000);
  EXPECT_EQ(n.pool(0, 2).size(), 6u);
  EXPECT_TRUE(n.pool(0, 3).empty());
  // Only plain vmalloc-range requests with more than one node are served.
  EXPECT_EQ(n.node_alloc({0x2000, PAGE_SIZE, 0x1000000, 0x1ffffff, 0}).addr, 0x1000000 + 5 * 0x2000);
  EXPECT_FALSE(n.node_alloc({0x2000, PAGE_SIZE, 0x1000000, 0x1fff000, 0}).addr.has_value());
  // A head not aligned for the request rotates to the tail; the request goes to the tree.
  const std::uint64_t head = n.pool(0, 2).front().start;
  EXPECT_FALSE(n.node_alloc({0x2000, 0x10000, 0x1000000, 0x1ffffff, 0}).addr.has_value());
  EXPECT_EQ(n.pool(0, 2).back().start, head);
  EXPECT_EQ(n.node_alloc({0x2000, PAGE_SIZE, 0x1000000, 0x1fff000, 0}).vn_flags, 0u);
  EXPECT_EQ(n.node_alloc({0x2000, PAGE_SIZE, 0x1000000, 0x1ffffff, 3}).vn_flags, encode_vn_id(1));
  EXPECT_EQ(n.lazy_node(0, 0x10000), 1u) << "no node recorded: addr_to_node_id, 64 KiB zones";
}

// The VA layer alone, as replay drives it.
TEST(Vmalloc, ReplayEntryPointsPlaceFreeAndPurgeExactAreas) {
  system s;
  const std::uint64_t v = s.vstart();
  ASSERT_NE(s.vs.vmalloc_init_area(v + 4 * PAGE_SIZE, v + 6 * PAGE_SIZE), nullptr);
  // The next request gets the lowest fit below it.
  const auto a = s.vs.alloc_vmap_area(2 * PAGE_SIZE, PAGE_SIZE, v, v + (1ULL << 30), buddy::GFP_KERNEL);
  ASSERT_NE(a.va, nullptr);
  EXPECT_EQ(a.va->va_start, v);
  EXPECT_TRUE(check_vmalloc(s.vs).empty());
  // Bad input: not a page range, a busy range, an unknown or interior start, a vmalloc'd area.
  const std::string before = s.snapshot();
  EXPECT_EQ(s.vs.vmalloc_init_area(v + 1, v + PAGE_SIZE), nullptr);
  EXPECT_EQ(s.vs.last_error(), vm_error::invalid);
  EXPECT_EQ(s.vs.vmalloc_init_area(v + 5 * PAGE_SIZE, v + 7 * PAGE_SIZE), nullptr);
  EXPECT_EQ(s.vs.last_error(), vm_error::no_va);
  EXPECT_EQ(s.vs.free_vmap_area_noflush_at(v + 64 * PAGE_SIZE), vm_error::not_found);
  EXPECT_EQ(s.vs.free_vmap_area_at(v + PAGE_SIZE), vm_error::not_found);
  EXPECT_EQ(s.snapshot(), before);
  const std::uint64_t m = s.vs.vmalloc(PAGE_SIZE);
  ASSERT_NE(m, 0u);
  const std::string with_m = s.snapshot();
  EXPECT_EQ(s.vs.free_vmap_area_at(m), vm_error::wrong_kind);
  EXPECT_EQ(s.vs.free_vmap_area_noflush_at(m), vm_error::wrong_kind);
  EXPECT_EQ(s.snapshot(), with_m);
  EXPECT_TRUE(check_vmalloc(s.vs).empty());
  ASSERT_EQ(s.vs.vfree(m), vm_error::none);
  // Lazy free of the early area, then a purge with the caller's range: the flush covers both.
  const std::uint64_t lazy0 = s.vs.vmap_lazy_nr();
  ASSERT_EQ(s.vs.free_vmap_area_noflush_at(v + 4 * PAGE_SIZE), vm_error::none);
  EXPECT_EQ(s.vs.vmap_lazy_nr(), lazy0 + 2);
  const purge_result r = s.vs.purge_vmap_area_range(v - PAGE_SIZE, v);
  EXPECT_TRUE(r.purged);
  EXPECT_EQ(r.start, v - PAGE_SIZE) << "the caller's start is below every lazy area";
  EXPECT_GE(r.end, v + 6 * PAGE_SIZE);
  EXPECT_EQ(s.vs.vmap_lazy_nr(), 0u);
  // free_vmap_area: straight back to free space, no lazy stage.
  ASSERT_EQ(s.vs.free_vmap_area_at(v), vm_error::none);
  EXPECT_EQ(s.vs.vmap_lazy_nr(), 0u);
  EXPECT_TRUE(check_vmalloc(s.vs).empty());
  EXPECT_EQ(s.vs.kva().free_intervals().front().start, KVA_SPACE_START);
}

}  // namespace
}  // namespace mmref::vmalloc
