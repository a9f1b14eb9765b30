// model/tlb.cpp
#include "model/tlb.hpp"

#include <stdexcept>

#include "model/interval.hpp"

namespace mmref {

std::size_t tlb::class_of(std::uint64_t size) {
  for (std::size_t c = 0; c < SIZES.size(); ++c)
    if (SIZES[c] == size) return c;
  throw std::invalid_argument("TLB entry size must be 4 KiB, 2 MiB or 1 GiB");
}

std::optional<tlb_entry> tlb::lookup(std::uint64_t va) const {
  for (std::size_t c = 0; c < SIZES.size(); ++c) {
    if (by_size_[c].empty()) continue;
    const auto it = by_size_[c].find(va & ~(SIZES[c] - 1));
    if (it != by_size_[c].end()) return it->second;
  }
  return std::nullopt;
}

void tlb::fill(const leaf_info& leaf) {
  flush_range(leaf.va, leaf.va + leaf.size);  // a new translation supersedes overlapping ones
  by_size_[class_of(leaf.size)][leaf.va] = {leaf.va, leaf.size, leaf.pfn, leaf.flags};
}

void tlb::plant_for_test(const tlb_entry& e) {
  flush_range(e.va, e.va + e.size);
  by_size_[class_of(e.size)][e.va] = e;
}

std::size_t tlb::flush_range(std::uint64_t start, std::uint64_t end) {
  if (start >= end) return 0;
  std::size_t dropped = 0;
  for (std::size_t c = 0; c < SIZES.size(); ++c) {
    auto& table = by_size_[c];
    if (table.empty()) continue;
    const std::uint64_t size = SIZES[c];
    const std::uint64_t first = start & ~(size - 1);
    const std::uint64_t slots = ((end - 1) - first) / size + 1;  // entry positions the range touches
    if (slots <= table.size()) {
      // INVLPG each position: cheaper than scanning when the range is small.
      for (std::uint64_t i = 0; i < slots; ++i) dropped += table.erase(first + i * size);
    } else {
      for (auto it = table.begin(); it != table.end();) {
        if (ranges_overlap(it->first, it->first + size, start, end)) {
          it = table.erase(it);
          ++dropped;
        } else {
          ++it;
        }
      }
    }
  }
  return dropped;
}

void tlb::flush_all() {
  for (auto& table : by_size_) table.clear();
}

std::size_t tlb::size() const {
  std::size_t n = 0;
  for (const auto& table : by_size_) n += table.size();
  return n;
}

std::map<std::uint64_t, tlb_entry> tlb::entries() const {
  std::map<std::uint64_t, tlb_entry> out;
  for (const auto& table : by_size_) out.insert(table.begin(), table.end());
  return out;
}

}  // namespace mmref
