// impl/vmalloc/vmap_node.hpp — Linux 6.9+'s vmap nodes and their per-size pools (mm/vmalloc.c,
// "Mitigate a vmap lock contention", 6.9; as in 6.12), behind vmap_pool_ops: the option of the
// modern strategy that 6.12 traces replay with (impl/replay).
//
// Synopsis
//   MAX_VA_SIZE_PAGES           256: areas of 1..256 pages (guard included) are poolable
//   VMAP_ZONE_SIZE              vmap_zone_size = 16 pages: addr_to_node_id's stride
//   encode_vn_id / decode_vn_id (id + 1) << 8 in va->flags, 0 = no node
//   vmap_nodes(n, vstart, vend) n = clamp(num_possible_cpus(), 1, 128) nodes; node_alloc only
//                               serves requests for exactly [VMALLOC_START, VMALLOC_END]
//     node_alloc(req)           node = cpu % n; the head of that node's pool of this size if it
//                               is aligned, else the head rotates to the tail
//     lazy_node(flags, start)   the recorded node, else addr_to_node(va_start)
//     pool_add(node, ...)       node_pool_add_va: list_add at the pool's head
//     decay(node, full)         decay_va_pool_node: per pool, len >> 2 entries from the head
//                               (all when full; all when len < 4, as the kernel's loop
//                               decrements before it tests), merged, in address order
//     pooled()                  every pooled area, in address order
//
// The rules a replay of 6.12 needs to be exact are in shared/research/replay-facts.md §4.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "impl/vmalloc/vmalloc.hpp"

namespace mmref::vmalloc {

inline constexpr unsigned MAX_VA_SIZE_PAGES = 256;
inline constexpr std::uint64_t VMAP_ZONE_SIZE = 16 * PAGE_SIZE;

constexpr std::uint64_t encode_vn_id(unsigned node) { return std::uint64_t{node + 1} << 8; }
// decode_vn_id(): the node id, or -1 (as an unsigned, ~0u) when none is recorded.
constexpr unsigned decode_vn_id(std::uint64_t flags) { return static_cast<unsigned>(flags >> 8) - 1; }

class vmap_nodes final : public vmap_pool_ops {
 public:
  // vmalloc_start/end: VMALLOC_START and VMALLOC_END as node_alloc compares them (the end
  // inclusive, as the kernel's VMALLOC_END and the traces' vend print it).
  vmap_nodes(unsigned nr_nodes, std::uint64_t vmalloc_start, std::uint64_t vmalloc_end);

  node_alloc_result node_alloc(const kva_request& req) override;
  unsigned nr_nodes() const override { return static_cast<unsigned>(nodes_.size()); }
  unsigned lazy_node(std::uint64_t va_flags, std::uint64_t va_start) const override;
  std::vector<kva_interval> decay(unsigned node, bool full) override;
  bool pool_add(unsigned node, std::uint64_t va_flags, std::uint64_t start, std::uint64_t end) override;
  std::vector<kva_interval> pooled() const override;

  // addr_to_node_id()
  unsigned addr_to_node_id(std::uint64_t addr) const {
    return static_cast<unsigned>((addr / VMAP_ZONE_SIZE) % nodes_.size());
  }
  // The pool of node `node` for areas of `pages` pages, head first (tests, pictures).
  const std::deque<kva_interval>& pool(unsigned node, unsigned pages) const { return nodes_[node][pages - 1]; }

 private:
  // size_to_va_pool(): the pool index for a size, or MAX_VA_SIZE_PAGES when not poolable.
  static unsigned pool_index(std::uint64_t size);
  std::vector<std::vector<std::deque<kva_interval>>> nodes_;  // [node][pages - 1], head first
  std::uint64_t vmalloc_start_, vmalloc_end_;
};

}  // namespace mmref::vmalloc
