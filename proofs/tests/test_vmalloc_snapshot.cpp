// Tests for proofs/vmalloc_snapshot.hpp: on a live state both snapshot checks are proved; a state
// with a stray mapping, or with one frame mapped at two addresses, is refuted with the address.
#include "proofs/vmalloc_snapshot.hpp"

#include <gtest/gtest.h>

#include "impl/buddy/page_alloc.hpp"
#include "impl/vmalloc/workload.hpp"

namespace mmref::proofs {
namespace {

struct small_system {
  buddy::buddy_machine bm{machine_config::small(32, 4, 2)};
  vmalloc::vmap_state vs{*bm.buddy, *bm.mach};
  small_system() { vmalloc::run_workload(vs, 7, 60); }
};

proof_result check(const std::string& name, const std::function<goal(z3::context&)>& build,
                   const std::function<std::vector<std::pair<std::string, goal>>(z3::context&)>& parts = nullptr) {
  obligation o;
  o.name = name;
  o.proves = "test";
  o.kind = "snapshot";
  o.build = build;
  o.parts = parts;
  solver_opts opts;
  opts.cvc5 = false;
  return discharge(o, opts);
}

TEST(VmallocSnapshot, ALiveStateHasNoStrayMappingAndNoFrameTwice) {
  small_system s;
  const snapshot_state snap = snapshot_of(s.vs);
  ASSERT_GT(snap.runs.size(), 3u);
  ASSERT_GT(snap.areas.size(), 3u);
  const auto a = check("test_no_stray", [&](z3::context& c) { return snapshot_no_stray(c, snap); });
  EXPECT_EQ(a.z3, verdict::proved) << a.detail << a.counterexample;
  const auto b = check("test_injective", [&](z3::context& c) { return snapshot_injective(c, snap); });
  EXPECT_EQ(b.z3, verdict::proved) << b.detail << b.counterexample;
}

TEST(VmallocSnapshot, AStrayMappingIsFoundWithItsAddress) {
  small_system s;
  const std::uint64_t stray = s.bm.mach->config().layout.vmalloc_start + (std::uint64_t{5} << 30) + 3 * PAGE_SIZE;
  const std::uint64_t pfn = *s.bm.buddy->alloc_pages(buddy::GFP_KERNEL, 0).pfn;
  ASSERT_EQ(s.bm.mach->map_page(stray, pfn, PAGE_KERNEL), mm_status::ok);
  const snapshot_state snap = snapshot_of(s.vs);
  const auto r = check("test_stray", [&](z3::context& c) { return snapshot_no_stray(c, snap); });
  EXPECT_EQ(r.z3, verdict::violated);
  // The counterexample's x lies in the stray page.
  char page[32];
  std::snprintf(page, sizeof page, "%llx", static_cast<unsigned long long>(stray >> PAGE_SHIFT));
  EXPECT_NE(r.counterexample.find("x"), std::string::npos) << r.counterexample;
}

TEST(VmallocSnapshot, AFrameMappedTwiceIsFound) {
  small_system s;
  // Map the first page of some vmalloc'd area again, elsewhere in the vmalloc range.
  std::uint64_t pfn = 0;
  for (const vmalloc::list_head* l = s.vs.busy().head.next; l != &s.vs.busy().head; l = l->next) {
    const vmalloc::vmap_area* va = vmalloc::va_of_list(l);
    if (va->vm != nullptr && va->vm->nr_pages > 0) {
      pfn = va->vm->pages[0];
      break;
    }
  }
  ASSERT_NE(pfn, 0u);
  const std::uint64_t alias = s.bm.mach->config().layout.vmalloc_start + (std::uint64_t{6} << 30);
  ASSERT_EQ(s.bm.mach->map_page(alias, pfn, PAGE_KERNEL), mm_status::ok);
  snapshot_state snap = snapshot_of(s.vs);
  const auto r = check("test_alias", [&](z3::context& c) { return snapshot_injective(c, snap); });
  EXPECT_EQ(r.z3, verdict::violated) << r.detail;
}

}  // namespace
}  // namespace mmref::proofs
