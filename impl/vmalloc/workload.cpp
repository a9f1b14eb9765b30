// impl/vmalloc/workload.cpp — the seeded workload.
#include "impl/vmalloc/workload.hpp"

#include <random>

namespace mmref::vmalloc {

workload_result run_workload(vmap_state& vs, std::uint64_t seed, int ops) {
  std::mt19937_64 rng(seed);
  workload_result w;
  for (int i = 0; i < ops; ++i) {
    const unsigned k = static_cast<unsigned>(rng() % 10);
    if (k < 5 || w.live.empty()) {
      const std::uint64_t pages = rng() % 8 == 0 ? 513 + rng() % 600 : 1 + rng() % 16;
      const std::uint64_t a = k == 0 ? vs.vzalloc(pages * PAGE_SIZE)
                              : k == 1 ? vs.module_alloc(pages * PAGE_SIZE)
                              : rng() % 20 == 0 ? vs.vmalloc_huge(2 * PMD_SIZE, buddy::GFP_KERNEL)
                                                : vs.vmalloc(pages * PAGE_SIZE);
      if (a != 0) w.live.push_back(a);
    } else if (k < 7) {
      std::vector<std::uint64_t> pfns;
      for (std::uint64_t j = 0, n = 1 + rng() % 8; j < n; ++j) {
        const auto r = vs.buddy().alloc_pages(buddy::GFP_KERNEL | buddy::__GFP_NOWARN, 0);
        if (r.ok()) pfns.push_back(*r.pfn);
      }
      if (pfns.empty()) continue;
      const std::uint64_t a = vs.vmap(pfns, VM_MAP, PAGE_KERNEL);
      if (a != 0) {
        w.live.push_back(a);
        w.vmapped[a] = pfns;
      } else {
        for (std::uint64_t p : pfns) vs.buddy().__free_pages(p, 0);
      }
    } else {
      const std::size_t j = rng() % w.live.size();
      const std::uint64_t a = w.live[j];
      w.live[j] = w.live.back();
      w.live.pop_back();
      if (w.vmapped.count(a)) {
        vs.vunmap(a);
        for (std::uint64_t p : w.vmapped[a]) vs.buddy().__free_pages(p, 0);
        w.vmapped.erase(a);
      } else {
        vs.vfree(a);
      }
    }
  }
  return w;
}

}  // namespace mmref::vmalloc
