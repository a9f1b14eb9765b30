// impl/buddy/tests/helpers.hpp — small allocators for the unit tests.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "impl/buddy/invariants.hpp"
#include "impl/buddy/page_alloc.hpp"

namespace mmref::buddy::testing {

// RAM [start, end) in one zone-less-than-DMA range, no watermarks (min_free_kbytes 0), no THP.
inline buddy_config tiny(std::uint64_t start, std::uint64_t end) {
  buddy_config c;
  c.name = "tiny";
  c.ram = {{start, end}};
  c.user_min_free_kbytes = 0;
  c.thp_enabled = false;
  return c;
}

// A 16 MiB machine with three zones (DMA < 4 MiB, DMA32 < 8 MiB, NORMAL above), real
// watermarks.
inline buddy_config three_zones() {
  buddy_config c = buddy_config::from_machine(machine_config::small(16, 4, 2));
  c.max_dma_pfn = 1024;
  c.max_dma32_pfn = 2048;
  return c;
}

// Every frame, list and counter: what "state unchanged" compares.
inline std::string snapshot(const page_alloc& pa) {
  std::string s = pa.zoneinfo() + pa.pagetypeinfo();
  for (unsigned z = 0; z < pa.zones().size(); ++z)
    for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o)
      for (unsigned mt = 0; mt < MIGRATE_TYPES; ++mt)
        for (std::uint64_t pfn : pa.free_list(z, o, mt)) s += std::to_string(pfn) + ",";
  for (std::uint64_t pfn = pa.memmap_start(); pfn < pa.memmap_end(); ++pfn) {
    const page& p = pa.page_at(pfn);
    s += std::to_string(p.flags) + std::to_string(p._refcount) + std::to_string(p.alloc_order);
  }
  return s;
}

inline void expect_sound(const page_alloc& pa) {
  const std::vector<violation> v = check_buddy(pa);
  EXPECT_TRUE(v.empty()) << buddy_report(v, pa);
}

// Allocates with no watermarks until nothing is left; returns the pfns.
inline std::vector<std::uint64_t> exhaust(page_alloc& pa) {
  std::vector<std::uint64_t> got;
  for (;;) {
    const alloc_result r = pa.alloc_pages(GFP_ATOMIC | __GFP_MEMALLOC | __GFP_NOWARN, 0);
    if (!r.pfn) return got;
    got.push_back(*r.pfn);
  }
}

}  // namespace mmref::buddy::testing
