// impl/vmalloc/tests/kva_firstfit.hpp — an example of a third KVA strategy, plugged in through
// kva_registry the way a user would: free space as a std::map of disjoint, coalesced intervals,
// and a plain first fit in address order (the lowest aligned address >= vstart that fits,
// vend checked on it). It is what the modern allocator does for align <= PAGE_SIZE, without the
// tree; it exists to show (and test) that a registered strategy gets the stateful properties
// and the differential test.
//
//   #include "impl/vmalloc/tests/kva_firstfit.hpp"
//   mmref::vmalloc::kva_registry::add("firstfit", [](kmalloc_stub& c, unsigned) {
//     return std::make_unique<mmref::vmalloc::example::kva_firstfit>(c);
//   });
#pragma once

#include <map>
#include <memory>
#include <string>

#include "impl/vmalloc/kva.hpp"

namespace mmref::vmalloc::example {

class kva_firstfit final : public kva_allocator {
 public:
  explicit kva_firstfit(kmalloc_stub& cache) : cache_(cache) { free_[KVA_SPACE_START] = KVA_SPACE_END; }

  std::string_view name() const override { return "firstfit"; }

  kva_result alloc(const kva_request& r) override {
    kva_result out;
    for (const auto& [s, e] : free_) {
      if (e <= r.vstart) continue;
      const std::uint64_t lo = std::max(s, r.vstart);
      const auto a = align_up_checked(cword{lo}, cword{r.align});
      if (truth(a.overflow) || a.value.v + r.size < a.value.v) return out;
      if (a.value.v + r.size > e) continue;
      if (a.value.v + r.size > r.vend) return out;
      take(s, e, a.value.v, a.value.v + r.size);
      out.ok = true;
      out.addr = a.value.v;
      return out;
    }
    return out;
  }

  bool release(vmap_area* va) override {
    const std::uint64_t s = va->va_start, e = va->va_end;
    auto next = free_.lower_bound(s);
    if (next != free_.end() && next->first < e) return false;
    if (next != free_.begin() && std::prev(next)->second > s) return false;
    std::uint64_t ns = s, ne = e;
    if (next != free_.end() && next->first == e) {
      ne = next->second;
      next = free_.erase(next);
    }
    if (next != free_.begin() && std::prev(next)->second == s) {
      ns = std::prev(next)->first;
      free_.erase(std::prev(next));
    }
    free_[ns] = ne;
    cache_.free(va, kmalloc_kind::vmap_area);
    return true;
  }

  bool reserve(std::uint64_t start, std::uint64_t end) override {
    auto it = free_.upper_bound(start);
    if (it == free_.begin() || end <= start) return false;
    --it;
    if (it->second < end) return false;
    take(it->first, it->second, start, end);
    return true;
  }

  std::vector<kva_interval> free_intervals() const override {
    std::vector<kva_interval> v;
    for (const auto& [s, e] : free_) v.push_back({s, e});
    return v;
  }

  std::optional<kva_interval> free_block_at_or_below(std::uint64_t addr) const override {
    auto it = free_.upper_bound(addr);
    if (it == free_.begin()) return std::nullopt;
    --it;
    return kva_interval{it->first, it->second};
  }

  std::string check_structure() const override {
    std::uint64_t prev_end = 0;
    for (const auto& [s, e] : free_) {
      if (s >= e) return "empty free interval";
      if (s <= prev_end && prev_end != 0) return "free intervals overlap or touch";
      prev_end = e;
    }
    return {};
  }

  std::uint64_t descriptors() const override { return 0; }  // no vmap_area descriptors kept

 private:
  void take(std::uint64_t s, std::uint64_t e, std::uint64_t a, std::uint64_t b) {
    free_.erase(s);
    if (s < a) free_[s] = a;
    if (b < e) free_[b] = e;
  }
  kmalloc_stub& cache_;
  std::map<std::uint64_t, std::uint64_t> free_;
};

}  // namespace mmref::vmalloc::example
