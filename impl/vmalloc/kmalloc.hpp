// impl/vmalloc/kmalloc.hpp — the counted kmalloc stand-in for the small allocations vmalloc makes
// (DESIGN.md Decisions): vmap_area descriptors (vmap_area_cachep), vm_struct (kzalloc_node) and
// a pages array that fits in a page (kmalloc_node). Slab internals are out of scope; what matters
// to vmalloc is that each of these can fail, and that nothing leaks.
//
// Synopsis
//   kmalloc_site          the call sites that can be made to fail, one per kernel call site
//   kmalloc_kind          what is counted live: vmap_area objects, vm_structs, pages arrays
//   kmalloc_stub
//     alloc<T>(kind, site)       a new zeroed T, or nullptr when the site is made to fail
//     free<T>(p, kind)           kmem_cache_free / kfree (nullptr is a no-op, as in the kernel)
//     fail_nth(n[, site])        fail the n-th allocation from now (1-based), at any site or one
//     fail_probability(pct, seed)   fail each allocation with a seeded probability
//     fail_always(site)          fail every allocation at a site until clear_faults()
//     live(kind), allocated(site), failed(site)    leak accounting and coverage counters
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

namespace mmref::vmalloc {

enum class kmalloc_site : unsigned {
  vmap_area,       // alloc_vmap_area(): kmem_cache_alloc_node(vmap_area_cachep, gfp)
  ne_fit_preload,  // preload_this_cpu_lock(): kmem_cache_alloc_node() of the spare descriptor
  ne_fit_nowait,   // adjust_va_to_fit_type(): kmem_cache_alloc(GFP_NOWAIT) when no spare
  free_space,      // vmap_init_free_space() / merge paths that need a fresh free descriptor
  vm_struct,       // __get_vm_area_node(): kzalloc_node(sizeof(*area))
  pages_array,     // __vmalloc_area_node(): kmalloc_node(array_size) when it fits in a page
  count
};
inline constexpr unsigned NR_KMALLOC_SITES = static_cast<unsigned>(kmalloc_site::count);

constexpr std::string_view site_name(kmalloc_site s) {
  switch (s) {
    case kmalloc_site::vmap_area: return "vmap_area";
    case kmalloc_site::ne_fit_preload: return "ne_fit_preload";
    case kmalloc_site::ne_fit_nowait: return "ne_fit_nowait";
    case kmalloc_site::free_space: return "free_space";
    case kmalloc_site::vm_struct: return "vm_struct";
    case kmalloc_site::pages_array: return "pages_array";
    case kmalloc_site::count: break;
  }
  return "?";
}

enum class kmalloc_kind : unsigned { vmap_area, vm_struct, pages_array, count };
inline constexpr unsigned NR_KMALLOC_KINDS = static_cast<unsigned>(kmalloc_kind::count);

class kmalloc_stub {
 public:
  template <class T>
  T* alloc(kmalloc_kind kind, kmalloc_site site) {
    if (should_fail(site)) {
      ++failed_[idx(site)];
      return nullptr;
    }
    ++allocated_[idx(site)];
    ++live_[idx(kind)];
    return new T{};
  }

  template <class T>
  void free(T* p, kmalloc_kind kind) {
    if (p == nullptr) return;
    --live_[idx(kind)];
    delete p;
  }

  // An allocation whose storage the model keeps elsewhere (a small pages array lives in the
  // vm_struct's vector): counted and failable like any other.
  bool charge(kmalloc_kind kind, kmalloc_site site) {
    if (should_fail(site)) {
      ++failed_[idx(site)];
      return false;
    }
    ++allocated_[idx(site)];
    ++live_[idx(kind)];
    return true;
  }
  void uncharge(kmalloc_kind kind) { --live_[idx(kind)]; }

  // Fail the n-th allocation from now (1-based); with a site, the n-th at that site.
  void fail_nth(std::uint64_t n, std::optional<kmalloc_site> site = std::nullopt) {
    nth_ = n;
    nth_site_ = site;
  }
  // Fail each allocation with probability pct/100, drawn from a generator seeded with `seed`.
  void fail_probability(unsigned pct, std::uint64_t seed) {
    probability_ = pct;
    rng_.seed(seed);
  }
  // Fail every allocation at `site` until the faults are cleared.
  void fail_always(kmalloc_site site) { always_[idx(site)] = true; }
  void clear_faults() {
    nth_ = 0;
    nth_site_.reset();
    probability_ = 0;
    always_.fill(false);
  }
  bool fault_pending() const { return nth_ != 0; }

  std::uint64_t live(kmalloc_kind k) const { return live_[idx(k)]; }
  std::uint64_t allocated(kmalloc_site s) const { return allocated_[idx(s)]; }
  std::uint64_t failed(kmalloc_site s) const { return failed_[idx(s)]; }

 private:
  template <class E>
  static constexpr unsigned idx(E e) { return static_cast<unsigned>(e); }

  bool should_fail(kmalloc_site site) {
    if (always_[idx(site)]) return true;
    if (nth_ != 0 && (!nth_site_ || *nth_site_ == site)) {
      if (--nth_ == 0) {
        nth_site_.reset();
        return true;
      }
    }
    if (probability_ != 0) return rng_() % 100 < probability_;
    return false;
  }

  std::array<std::uint64_t, NR_KMALLOC_KINDS> live_{};
  std::array<std::uint64_t, NR_KMALLOC_SITES> allocated_{};
  std::array<std::uint64_t, NR_KMALLOC_SITES> failed_{};
  std::uint64_t nth_ = 0;
  std::optional<kmalloc_site> nth_site_;
  std::array<bool, NR_KMALLOC_SITES> always_{};
  unsigned probability_ = 0;
  std::mt19937_64 rng_{1};
};

}  // namespace mmref::vmalloc
