// impl/vmalloc/kva_modern.hpp — the modern KVA allocator (Linux 5.2 .. 6.8; 6.1 exactly): free
// space in an augmented red-black tree keyed by address, with subtree_max_size, plus an
// address-sorted list, covering the whole address space [1, ULONG_MAX).
//
// Synopsis
//   kva_modern(cache, nr_cpus)        vmap_init_free_space() with no early areas
//   alloc(req)                        __alloc_vmap_area(): find_vmap_lowest_match with the
//                                     `size + align - 1` pruning length (and when it is off),
//                                     is_within_this_va, the roll-back walk, vend checked after
//                                     the lowest fit, adjust_va_to_fit_type (FL/LE/RE/NE)
//   preload(cpu)                      preload_this_cpu_lock(): one spare descriptor per CPU
//   release(va)                       merge_or_add_vmap_area_augment() into the free tree
//   reserve(start, end)               va_clip of an exact range (early areas, pcpu areas)
//
// The free tree (free_vmap_area_root + free_vmap_area_list) holds every byte of [1, ULONG_MAX)
// that is neither busy nor lazily freed; its areas are disjoint and coalesced (no two touch),
// and each node's subtree_max_size is the largest va_size in its subtree. Its shape is the
// kernel's (impl/vmalloc/rbtree.hpp), because the address an aligned request gets depends on it.
#pragma once

#include <vector>

#include "impl/vmalloc/kva.hpp"

namespace mmref::vmalloc {

class kva_modern final : public kva_allocator {
 public:
  kva_modern(kmalloc_stub& cache, unsigned nr_cpus);
  ~kva_modern() override;
  kva_modern(const kva_modern&) = delete;
  kva_modern& operator=(const kva_modern&) = delete;

  std::string_view name() const override { return "modern"; }
  void preload(unsigned cpu) override;
  kva_result alloc(const kva_request& req) override;
  bool release(vmap_area* va) override;
  bool reserve(std::uint64_t start, std::uint64_t end) override;
  std::vector<kva_interval> free_intervals() const override;
  std::optional<kva_interval> free_block_at_or_below(std::uint64_t addr) const override;
  std::string check_structure() const override;
  std::uint64_t descriptors() const override;

  // For tests and pictures: the free tree itself.
  const va_tree& free_tree() const { return free_; }
  // The block find_vmap_lowest_match() returns for these arguments (nothing is carved): the
  // kernel's DEBUG_AUGMENT_LOWEST_MATCH_CHECK compares it with a linear scan.
  std::optional<kva_interval> lowest_match(std::uint64_t size, std::uint64_t align, std::uint64_t vstart,
                                           bool adjust_search_size) const {
    const vmap_area* va = find_vmap_lowest_match(size, align, vstart, adjust_search_size);
    if (va == nullptr) return std::nullopt;
    return kva_interval{va->va_start, va->va_end};
  }

 private:
  // find_vmap_lowest_match() — mm/vmalloc.c
  vmap_area* find_vmap_lowest_match(std::uint64_t size, std::uint64_t align, std::uint64_t vstart,
                                    bool adjust_search_size) const;
  // adjust_va_to_fit_type() — mm/vmalloc.c (6.9+: va_clip). 0 on success, -1 on failure.
  int adjust_va_to_fit_type(vmap_area* va, std::uint64_t nva_start_addr, std::uint64_t size, unsigned cpu);

  kmalloc_stub& cache_;
  va_tree free_;                                  // free_vmap_area_root + free_vmap_area_list
  std::vector<vmap_area*> ne_fit_preload_node_;   // DEFINE_PER_CPU(struct vmap_area *, ...)
};

}  // namespace mmref::vmalloc
