// impl/vmalloc/vmap_node.cpp — see vmap_node.hpp.
#include "impl/vmalloc/vmap_node.hpp"

#include <algorithm>

namespace mmref::vmalloc {

vmap_nodes::vmap_nodes(unsigned nr_nodes, std::uint64_t vmalloc_start, std::uint64_t vmalloc_end)
    : nodes_(std::clamp(nr_nodes, 1u, 128u), std::vector<std::deque<kva_interval>>(MAX_VA_SIZE_PAGES)),
      vmalloc_start_(vmalloc_start), vmalloc_end_(vmalloc_end) {}

unsigned vmap_nodes::pool_index(std::uint64_t size) {
  // size_to_va_pool(): pool[(size - 1) / PAGE_SIZE] when that index < MAX_VA_SIZE_PAGES
  const std::uint64_t i = (size - 1) / PAGE_SIZE;
  return size != 0 && i < MAX_VA_SIZE_PAGES ? static_cast<unsigned>(i) : MAX_VA_SIZE_PAGES;
}

vmap_pool_ops::node_alloc_result vmap_nodes::node_alloc(const kva_request& req) {
  // node_alloc() — mm/vmalloc.c (6.9+): only plain vmalloc-range requests, only with nodes.
  node_alloc_result r;
  if (req.vstart != vmalloc_start_ || req.vend != vmalloc_end_ || nodes_.size() == 1) return r;
  const unsigned node = req.cpu % nr_nodes();  // raw_smp_processor_id() % nr_vmap_nodes
  r.vn_flags = encode_vn_id(node);
  // node_pool_del_va()
  const unsigned i = pool_index(req.size);
  if (i == MAX_VA_SIZE_PAGES) return r;
  std::deque<kva_interval>& vp = nodes_[node][i];
  if (vp.empty()) return r;
  const kva_interval head = vp.front();
  if ((head.start & (req.align - 1)) != 0) {  // not aligned: list_move_tail
    vp.pop_front();
    vp.push_back(head);
    return r;
  }
  // The kernel's sanity checks (WARN_ON_ONCE and fall back to the tree): never fail for areas
  // this pool was given, which all have this size and came from the vmalloc range.
  if (head.end - head.start != req.size || head.start < req.vstart || head.end > req.vend) return r;
  vp.pop_front();
  r.addr = head.start;
  return r;
}

unsigned vmap_nodes::lazy_node(std::uint64_t va_flags, std::uint64_t va_start) const {
  // free_vmap_area_noflush() (6.9+): the recorded node if valid, else addr_to_node(va_start).
  const unsigned id = decode_vn_id(va_flags);
  return id < nr_nodes() ? id : addr_to_node_id(va_start);
}

bool vmap_nodes::pool_add(unsigned node, std::uint64_t va_flags, std::uint64_t start, std::uint64_t end) {
  // purge_vmap_node(): is_vn_id_valid(vn_id) && !skip_populate (the caller's), then
  // node_pool_add_va(): list_add at the head of size_to_va_pool's list.
  if (decode_vn_id(va_flags) >= nr_nodes()) return false;
  const unsigned i = pool_index(end - start);
  if (i == MAX_VA_SIZE_PAGES) return false;
  nodes_[node][i].push_front({start, end});
  return true;
}

std::vector<kva_interval> vmap_nodes::decay(unsigned node, bool full) {
  // decay_va_pool_node() — mm/vmalloc.c (6.12): for each pool, n_decay = len (full) or
  // len >> 2; entries leave from the head, the loop decrementing before it tests, so a pool
  // whose n_decay is 0 (fewer than 4 entries) decays completely. The decayed entries are merged
  // in a local tree (merge_or_add_vmap_area) and given back in address order.
  std::vector<kva_interval> taken;
  for (std::deque<kva_interval>& vp : nodes_[node]) {
    if (vp.empty()) continue;
    const std::size_t len = vp.size();
    const std::size_t n_decay = full ? len : len >> 2;
    const std::size_t n = n_decay == 0 ? len : n_decay;
    for (std::size_t k = 0; k < n; ++k) {
      taken.push_back(vp.front());
      vp.pop_front();
    }
  }
  std::sort(taken.begin(), taken.end(), [](const kva_interval& a, const kva_interval& b) { return a.start < b.start; });
  std::vector<kva_interval> merged;
  for (const kva_interval& t : taken) {
    if (!merged.empty() && merged.back().end == t.start)
      merged.back().end = t.end;
    else
      merged.push_back(t);
  }
  return merged;
}

std::vector<kva_interval> vmap_nodes::pooled() const {
  std::vector<kva_interval> all;
  for (const auto& node : nodes_)
    for (const auto& vp : node) all.insert(all.end(), vp.begin(), vp.end());
  std::sort(all.begin(), all.end(), [](const kva_interval& a, const kva_interval& b) { return a.start < b.start; });
  return all;
}

}  // namespace mmref::vmalloc
