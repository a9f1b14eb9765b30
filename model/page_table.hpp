// model/page_table.hpp — x86-64 page tables that live in physical frames (init_mm's tables).
//
// Synopsis
//   page_tables(mem, provider, levels)    allocates the top-level table (the PGD) as a frame.
//   preallocate(start, end)               preallocate_vmalloc_pages(): populate the level
//                                         under the PGD for a range, so runtime mapping never
//                                         writes a top-level entry (x86-64 since 5.9).
//   map_page(va, pfn, prot)               vmap_pte_range() -> set_pte_at(): one 4 KiB leaf.
//   map_pmd(va, pfn, prot)                vmap_try_huge_pmd() -> pmd_set_huge(): a 2 MiB leaf;
//                                         an empty PTE table in the way is freed first
//                                         (pmd_free_pte_page()).
//   unmap(va)                             vunmap_pte_range()/pmd_clear_huge(): clear one leaf.
//                                         Like the kernel, table pages are never freed.
//   walk(va)                              the hardware walk (read-only).
//   mark_accessed(va, write)              the walker's A/D updates after a successful walk.
//   leaves(start, end)                    present leaves intersecting [start, end).
//   tables()                              every table frame with its level.
//
// Entries are read and written through phys_mem at table_pa + 8 * index and encoded and
// decoded by the templated cores in model/pte.hpp, so the proofs are about these bytes.
// Intermediate entries get _KERNPG_TABLE, as pmd_populate_kernel() and friends write.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "model/frame_provider.hpp"
#include "model/phys_mem.hpp"
#include "model/pte.hpp"
#include "model/status.hpp"

namespace mmref {

// A present leaf: the VA range it maps and what it maps it to.
struct leaf_info {
  std::uint64_t va = 0;       // first byte mapped
  std::uint64_t size = 0;     // PAGE_SIZE, PMD_SIZE or PUD_SIZE
  std::uint64_t pfn = 0;      // first 4 KiB frame
  std::uint64_t flags = 0;    // the entry's flag bits
  unsigned level = 0;         // 1 (PTE), 2 (PMD) or 3 (PUD)
  std::uint64_t entry_pa = 0; // where the entry lives
  bool operator==(const leaf_info&) const = default;
};

enum class walk_fault {
  none,
  non_canonical,  // #GP before any walk
  not_present,    // #PF, P = 0 at some level
  reserved_bit,   // #PF with RSVD: a reserved bit set in a present entry
};

struct walk_result {
  walk_fault fault = walk_fault::none;
  unsigned fault_level = 0;  // level of the entry that stopped the walk
  leaf_info leaf;            // valid when fault == none
  bool ok() const { return fault == walk_fault::none; }
};

class page_tables {
 public:
  page_tables(phys_mem& mem, frame_provider& provider, unsigned levels);
  page_tables(const page_tables&) = delete;
  page_tables& operator=(const page_tables&) = delete;

  unsigned levels() const { return levels_; }
  std::uint64_t root_pfn() const { return root_pfn_; }

  mm_status preallocate(std::uint64_t start, std::uint64_t end);
  mm_status map_page(std::uint64_t va, std::uint64_t pfn, std::uint64_t prot);
  // A 2 MiB leaf. On success *freed_table (if given) receives the PTE table it replaced.
  mm_status map_pmd(std::uint64_t va, std::uint64_t pfn, std::uint64_t prot,
                    std::optional<std::uint64_t>* freed_table = nullptr);
  // Clears the leaf mapping va (which must be that leaf's first byte); returns what it mapped.
  mm_status unmap(std::uint64_t va, leaf_info* unmapped = nullptr);

  walk_result walk(std::uint64_t va) const;
  // Sets A on every entry of the walk (and D on the leaf for a write); returns the leaf as it
  // is afterwards.
  walk_result mark_accessed(std::uint64_t va, bool write);

  std::vector<leaf_info> leaves(std::uint64_t start, std::uint64_t end) const;
  // Every table frame reachable from the root, with its level; a frame reached twice appears
  // twice (PT-WF reports it).
  std::vector<std::pair<std::uint64_t, unsigned>> tables() const;
  // The entry at (table frame, index) for checkers and for corruption in negative tests.
  std::uint64_t entry_pa(std::uint64_t table_pfn, unsigned index) const {
    return pfn_phys(table_pfn) + 8u * index;
  }

 private:
  struct slot {
    std::uint64_t pa;     // where the entry for `va` at `level` lives
    unsigned level;
  };
  // Walks down to `target` level, allocating missing tables unless dry_run. Stops early at a
  // present leaf above the target and returns its slot (the caller checks the level).
  mm_status descend(std::uint64_t va, unsigned target, bool dry_run, slot& out);
  mm_status check_va(std::uint64_t va, std::uint64_t align) const;
  void visit(std::uint64_t table_pfn, unsigned level, std::uint64_t va_base, std::uint64_t start,
             std::uint64_t end, const std::function<void(const leaf_info&)>& on_leaf,
             std::vector<std::pair<std::uint64_t, unsigned>>* tables) const;
  std::uint64_t read(std::uint64_t pa) const { return mem_.read_u64(pa); }

  phys_mem& mem_;
  frame_provider& provider_;
  unsigned levels_;
  std::uint64_t root_pfn_ = 0;
};

}  // namespace mmref
