// impl/vmalloc/kva.hpp — the KVA allocator interface: how free kernel virtual address space is
// kept and searched. vmalloc.hpp owns the busy and lazy areas; a strategy owns everything else.
//
// Synopsis
//   kva_request            size (guard included), align, [vstart, vend), the CPU asking
//   kva_result             the address chosen, or failure; the fit type it carved
//   kva_allocator          the interface
//     alloc(req)           __alloc_vmap_area(): choose and carve out [addr, addr + size)
//     preload(cpu)         preload_this_cpu_lock(): modern keeps a spare descriptor per CPU
//     release(va)          a purged (or never-mapped) area's VA returns to free space; the
//                          strategy takes the descriptor (merge_or_add_vmap_area_augment)
//     reserve(start, end)  carve exactly [start, end) out of free space (early areas,
//                          pcpu_get_vm_areas' va_clip)
//     free_intervals()     free space in address order (invariants, pictures, abstraction)
//     free_block_at_or_below(addr)   pvm_find_va_enclose_addr(): the free block containing
//                          addr, or the highest one below it
//     check_structure()    the strategy's own invariants ("" when they hold)
//   kva_registry           strategies by name: "modern", "classic", and any a user adds
//
// Every strategy starts with the whole address space [1, ULONG_MAX) free, as
// vmap_init_free_space() leaves the modern kernel's free tree.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "impl/vmalloc/kmalloc.hpp"
#include "impl/vmalloc/va_core.hpp"
#include "impl/vmalloc/vmap_area.hpp"

namespace mmref::vmalloc {

// vmap_init_free_space(): `vmap_start = 1`, `vmap_end = ULONG_MAX`.
inline constexpr std::uint64_t KVA_SPACE_START = 1;
inline constexpr std::uint64_t KVA_SPACE_END = ~std::uint64_t{0};

struct kva_request {
  std::uint64_t size = 0;   // bytes, page multiple, guard page included
  std::uint64_t align = 0;  // power of two
  std::uint64_t vstart = 0;
  std::uint64_t vend = 0;
  unsigned cpu = 0;
};

struct kva_interval {
  std::uint64_t start = 0, end = 0;
  friend bool operator==(const kva_interval&, const kva_interval&) = default;
};

struct kva_result {
  bool ok = false;
  std::uint64_t addr = 0;
  fit_type fit = NOTHING_FIT;
  bool descriptor_failed = false;  // NE fit found, but no descriptor for the left remainder
};

class kva_allocator {
 public:
  virtual ~kva_allocator() = default;
  virtual std::string_view name() const = 0;
  virtual void preload(unsigned cpu) { (void)cpu; }
  virtual kva_result alloc(const kva_request& req) = 0;
  virtual bool release(vmap_area* va) = 0;
  virtual bool reserve(std::uint64_t start, std::uint64_t end) = 0;
  virtual std::vector<kva_interval> free_intervals() const = 0;
  virtual std::optional<kva_interval> free_block_at_or_below(std::uint64_t addr) const = 0;
  virtual std::string check_structure() const = 0;
  // Descriptors the strategy holds (free-tree nodes, spares): leak accounting.
  virtual std::uint64_t descriptors() const = 0;
};

using kva_factory = std::function<std::unique_ptr<kva_allocator>(kmalloc_stub& cache, unsigned nr_cpus)>;

// Strategies by name. "modern" and "classic" are built in; a user registers a third with
// kva_registry::add("name", factory) before constructing a vmap state with that name.
class kva_registry {
 public:
  static void add(const std::string& name, kva_factory f);
  static std::unique_ptr<kva_allocator> create(const std::string& name, kmalloc_stub& cache, unsigned nr_cpus);
  static std::vector<std::string> names();
};

}  // namespace mmref::vmalloc
