// proofs/vmalloc_snapshot.hpp — snapshot SMT checks: a live vmalloc state's page tables and
// areas encoded for Z3, and properties quantified over every address (a symbolic 64-bit x),
// not checked address by address.
//
// Synopsis
//   snapshot_state             what is encoded: the vmalloc and module ranges, the present
//                              leaves there as runs (VA, bytes, first PFN; consecutive 4 KiB
//                              leaves with consecutive PFNs merged), and each busy area's mapped
//                              part [start, start + mapped size)
//   snapshot_of(vs)            reads it from a live vmap_state
//   snapshot_no_stray(ctx, s)  VM-NO-STRAY: for every x in the ranges, if x is mapped then x
//                              lies in some area's mapped part
//   snapshot_injective(ctx, s) VM-NONCONTIG's "distinct": no two VAs in the ranges on different
//                              pages map the same frame; stated as: no frame f lies in the frame
//                              ranges of two leaf runs (neighbours in frame order suffice)
//   register_vmalloc_snapshot_proofs(out)
//                              both, on the state `mmref show vmallocinfo` prints (the default
//                              machine after the seeded workload, CI seed)
#pragma once

#include <z3++.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "impl/vmalloc/vmalloc.hpp"
#include "proofs/registry.hpp"

namespace mmref::proofs {

struct snapshot_run {
  std::uint64_t va = 0, bytes = 0, pfn = 0;
};
struct snapshot_state {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;  // [start, end)
  std::vector<snapshot_run> runs;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> areas;   // mapped parts
};

snapshot_state snapshot_of(const vmalloc::vmap_state& vs);
goal snapshot_no_stray(z3::context& ctx, const snapshot_state& s);
goal snapshot_injective(z3::context& ctx, const snapshot_state& s);

// The workload behind the registered snapshots: seed and operation count.
inline constexpr std::uint64_t SNAPSHOT_SEED = 20261122;
inline constexpr int SNAPSHOT_OPS = 200;

}  // namespace mmref::proofs
