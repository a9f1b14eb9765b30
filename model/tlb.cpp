// model/tlb.cpp
#include "model/tlb.hpp"

#include <iterator>

#include "model/interval.hpp"

namespace mmref {

std::optional<tlb_entry> tlb::lookup(std::uint64_t va) const {
  // The entry with the greatest start <= va covers va if va is below its end. Entries never
  // overlap each other: fill() replaces whatever the new entry overlaps.
  auto it = entries_.upper_bound(va);
  if (it == entries_.begin()) return std::nullopt;
  --it;
  if (va - it->second.va < it->second.size) return it->second;
  return std::nullopt;
}

void tlb::fill(const leaf_info& leaf) {
  flush_range(leaf.va, leaf.va + leaf.size);  // a new translation supersedes overlapping ones
  entries_[leaf.va] = {leaf.va, leaf.size, leaf.pfn, leaf.flags};
}

std::size_t tlb::flush_range(std::uint64_t start, std::uint64_t end) {
  std::size_t dropped = 0;
  // Entries never overlap each other, so only the last entry starting at or below `start` can
  // reach into the range from below: begin there, and stop at the first entry past `end`.
  auto it = entries_.upper_bound(start);
  if (it != entries_.begin()) --it;
  while (it != entries_.end()) {
    const tlb_entry& e = it->second;
    if (e.va >= end) break;
    if (ranges_overlap(e.va, e.va + e.size, start, end)) {
      it = entries_.erase(it);
      ++dropped;
    } else {
      it = std::next(it);
    }
  }
  return dropped;
}

}  // namespace mmref
