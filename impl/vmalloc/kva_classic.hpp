// impl/vmalloc/kva_classic.hpp — the classic KVA allocator of the free_vmap_cache era: one
// rb-tree + address-sorted list of occupied areas, free space implicit (the gaps between them),
// and a search that resumes after the last allocation. mm/vmalloc.c as of Linux 5.0/5.1, the
// last releases before the 5.2 rewrite; the same search runs from 248ac0e1 (2011) on.
//
// Synopsis
//   kva_classic(cache, nr_cpus)       an empty busy tree: the whole of [1, ULONG_MAX) is free
//   alloc(req)                        alloc_vmap_area()'s search under vmap_area_lock: cache
//                                     invalidation, start after free_vmap_cache or descend from
//                                     the root to the first area ending at or above vstart, walk
//                                     areas in address order to the first hole that fits (else
//                                     after the last area), the overflow checks, insert, and
//                                     free_vmap_cache = the new area. No purge-and-retry here:
//                                     the caller owns the overflow path.
//   release(va)                       __free_vmap_area() for every area inside [va_start, va_end),
//                                     in address order: the cache update, then rb_erase/list_del
//   reserve(start, end)               __insert_vmap_area() of an exact range (vm_area_add_early,
//                                     pcpu_get_vm_areas): the cache is not touched
//   free_intervals()                  the gaps of [1, ULONG_MAX) between the areas
//   free_block_at_or_below(addr)      what pvm_find_va_enclose_addr() would return from a free
//                                     tree holding exactly these gaps
//   check_structure()                 tree == list, areas non-empty/increasing/disjoint, the
//                                     rb-tree's colours and parents, free_vmap_cache in the tree
//   free_vmap_cache(), cached_hole_size(), cached_vstart(), cached_align(), busy_tree()
//                                     the cache globals and the tree, for tests and pictures
//
// Version window and choices
//   * free_vmap_cache, cached_hole_size, cached_vstart and cached_align came with Nick Piggin's
//     "mm: vmap area cache" (89699605fe7c; posted May 2010, in -mm until its commit in March
//     2011, so mainline from about 2.6.39; the release tag is not verified) and went with the 5.2
//     rewrite (Uladzislau Rezki, "improve vmap allocation").
//   * The walk steps to ALIGN(first->va_end, align) with no extra page: Johannes Weiner's
//     248ac0e1 ("mm/vmalloc: remove guard page from between vmap blocks", April 2011) removed
//     the `+ PAGE_SIZE` of 2.6.28 and changed the loop test from `>=` to `>`. The 2.6.28-era
//     asymmetric one-page gap (research digest §9 item 23) is therefore NOT modelled.
//   * Overflow checks are the later `addr + size < addr` (the early form was
//     `addr + size - 1 < addr`), and the check at `found:` is `addr + size > vend || addr <
//     vstart` as afd07389d3f4 (5.0, backported to stable) made it: a huge align can wrap ALIGN()
//     to 0.
//   * So the model is exact for 5.0/5.1 and for stable kernels carrying afd07389d3f4; earlier
//     kernels of the window differ only on inputs that wrap (they hit BUG_ON there).
//
// Model boundaries
//   * The kernel's BUG_ON(!size), BUG_ON(offset_in_page(size)) and BUG_ON(!is_power_of_2(align))
//     become a failure that changes nothing.
//   * The kernel never passes vstart == 0; if a caller does, a result below KVA_SPACE_START is a
//     failure (the space is [1, ULONG_MAX) as for every strategy).
//   * __insert_vmap_area() is vmap_area.hpp's insert_vmap_area(): for disjoint areas the descent
//     is the classic one (go left iff va_start < tmp->va_end, i.e. va_end <= tmp->va_start), so
//     the tree shape is the kernel's; an overlap, a BUG() or silent corruption in the kernel,
//     is refused and reported as failure (it cannot happen from alloc() with vstart >= 1).
//   * vmap_area_pcpu_hole (the highest freed end inside the vmalloc window, pcpu_get_vm_areas'
//     starting point) is not kept: the window is the caller's and the interface has no use for it.
//   * In the kernel lazily freed areas stay in this tree until the purge calls
//     __free_vmap_area(); the strategy's tree therefore holds busy and lazy areas alike, one
//     record per alloc()/reserve(). The records are the strategy's own (std::unique_ptr), not
//     kmalloc_stub objects: in the kernel the busy descriptor is the one the caller holds and
//     already counts, so descriptors() is 0.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "impl/vmalloc/kva.hpp"

namespace mmref::vmalloc {

class kva_classic final : public kva_allocator {
 public:
  kva_classic(kmalloc_stub& cache, unsigned nr_cpus);
  ~kva_classic() override;
  kva_classic(const kva_classic&) = delete;
  kva_classic& operator=(const kva_classic&) = delete;

  std::string_view name() const override { return "classic"; }
  // The classic kernel has no fit types: result.fit stays NOTHING_FIT, descriptor_failed false.
  kva_result alloc(const kva_request& req) override;
  bool release(vmap_area* va) override;
  bool reserve(std::uint64_t start, std::uint64_t end) override;
  std::vector<kva_interval> free_intervals() const override;
  std::optional<kva_interval> free_block_at_or_below(std::uint64_t addr) const override;
  std::string check_structure() const override;
  // 0: the strategy's records are not kmalloc_stub descriptors (see "Model boundaries").
  std::uint64_t descriptors() const override { return 0; }

  // For tests and pictures: the cache globals and the busy tree (vmap_area_root +
  // vmap_area_list), busy and lazy areas alike.
  const vmap_area* free_vmap_cache() const;
  std::uint64_t cached_hole_size() const { return cached_hole_size_; }
  std::uint64_t cached_vstart() const { return cached_vstart_; }
  std::uint64_t cached_align() const { return cached_align_; }
  const va_tree& busy_tree() const { return busy_; }

 private:
  // __free_vmap_area() — mm/vmalloc.c: move free_vmap_cache, unlink, drop the record.
  void free_vmap_area(vmap_area* va);
  // __insert_vmap_area() — mm/vmalloc.c, with a record the strategy owns. Null on overlap.
  vmap_area* insert_record(std::uint64_t start, std::uint64_t end);

  kmalloc_stub& kmalloc_;  // only for the caller's descriptors that release() takes over
  va_tree busy_;           // vmap_area_root + vmap_area_list
  std::unordered_map<const vmap_area*, std::unique_ptr<vmap_area>> records_;  // owners

  // The vmap cache globals, "protected by vmap_area_lock" — mm/vmalloc.c
  rb_node* free_vmap_cache_ = nullptr;
  std::uint64_t cached_hole_size_ = 0;
  std::uint64_t cached_vstart_ = 0;
  std::uint64_t cached_align_ = 0;
};

}  // namespace mmref::vmalloc
