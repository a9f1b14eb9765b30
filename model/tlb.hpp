// model/tlb.hpp — one CPU's TLB: cached leaf translations, unbounded.
//
// Synopsis
//   lookup(va)               the entry covering va (a 4 KiB, 2 MiB or 1 GiB entry), if any.
//   fill(leaf)               cache a translation the walker produced.
//   flush_range(start, end)  INVLPG over [start, end): drops every entry the range touches, so
//                            flushing any address inside a 2 MiB entry drops the whole entry.
//   flush_all()              a full flush (CR4.PGE toggle / flush_tlb_all).
//
// Not-present results are never cached (the machine does not call fill for a fault). Kernel
// mappings are _PAGE_GLOBAL, so nothing but these calls drops an entry: a stale entry keeps
// translating after its PTE is cleared — exactly the window lazy vmap purging leaves open.
#pragma once

#include <cstdint>
#include <array>
#include <map>
#include <optional>
#include <unordered_map>

#include "model/page_table.hpp"

namespace mmref {

struct tlb_entry {
  std::uint64_t va = 0;     // first byte covered
  std::uint64_t size = 0;   // PAGE_SIZE, PMD_SIZE or PUD_SIZE
  std::uint64_t pfn = 0;    // first frame
  std::uint64_t flags = 0;  // leaf flags at fill time
  bool operator==(const tlb_entry&) const = default;
};

class tlb {
 public:
  std::optional<tlb_entry> lookup(std::uint64_t va) const;
  void fill(const leaf_info& leaf);
  // Returns how many entries were dropped.
  std::size_t flush_range(std::uint64_t start, std::uint64_t end);
  void flush_all();

  std::size_t size() const;
  // Every entry, ordered by address (for checkers, dumps and tests; built on demand).
  std::map<std::uint64_t, tlb_entry> entries() const;
  // For negative tests of TLB-COHERENT only: plant an entry no walk produced.
  void plant_for_test(const tlb_entry& e);

 private:
  // One hash table per entry size (4 KiB, 2 MiB, 1 GiB), keyed by the entry's first byte, as
  // a hardware TLB keeps a set of entries per page size: a lookup is at most three probes.
  // Entries never overlap: fill() first drops whatever the new entry covers.
  static constexpr std::array<std::uint64_t, 3> SIZES{PAGE_SIZE, PMD_SIZE, PUD_SIZE};
  static std::size_t class_of(std::uint64_t size);
  std::array<std::unordered_map<std::uint64_t, tlb_entry>, 3> by_size_;
};

}  // namespace mmref
