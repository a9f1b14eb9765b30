// impl/vmalloc/workload.hpp — a seeded vmalloc workload on a live state: what `mmref show
// vmallocinfo` prints after, and the live state the snapshot proofs encode.
//
// Synopsis
//   run_workload(vs, seed, ops)   vmalloc/vzalloc of 1..16 pages (an eighth large enough for a
//                                 nested pages array), module_alloc, an occasional vmalloc_huge,
//                                 vmap of pages the workload allocates, and vfree/vunmap of about
//                                 a third of what is live, so that lazily freed areas remain.
//                                 Returns the areas still live, with the pages each vmap owns.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "impl/vmalloc/vmalloc.hpp"

namespace mmref::vmalloc {

struct workload_result {
  std::vector<std::uint64_t> live;                                 // area addresses
  std::map<std::uint64_t, std::vector<std::uint64_t>> vmapped;     // vmap address -> its pages
};

workload_result run_workload(vmap_state& vs, std::uint64_t seed, int ops);

}  // namespace mmref::vmalloc
