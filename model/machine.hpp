// model/machine.hpp — the abstract x86-64 machine: physical memory, init_mm's page tables,
// one TLB per CPU, and the set of unmaps still owed a TLB flush.
//
// Synopsis
//   machine_config                 paging depth, MAXPHYADDR, CPUs, usable RAM ranges (the
//                                  gaps are holes), kernel layout, page-table frame pool.
//   machine_config::default_machine()   4-level, Debian 6.1 nokaslr layout, 2 CPUs, 4 GiB
//                                  as QEMU's pc machine lays it out (DMA, DMA32, NORMAL, holes).
//   machine_config::small(...)     the 1–64 MiB machines the stateful tests generate.
//   machine(config[, provider])    boots: top-level table, vmalloc/modules top entries
//                                  preallocated (preallocate_vmalloc_pages).
//   map_page / map_huge / unmap    page-table changes; unmap defers its TLB flush and records
//                                  the owed flush instead (what vunmap_range_noflush leaves).
//   flush_tlb_kernel_range(s, e)   every CPU drops entries touching [s, e); owed flushes there
//                                  are discharged.
//   flush_tlb_one_cpu(cpu, s, e)   one CPU's INVLPG over [s, e).
//   flush_tlb_all()
//   translate(cpu, va, write)      TLB, then the walk; fills the TLB, sets A (and D on write);
//                                  faults are results, never exceptions, and are not cached.
//   read_u64 / write_u64(cpu, va)  data access through a virtual address.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/frame_provider.hpp"
#include "model/layout.hpp"
#include "model/page_table.hpp"
#include "model/phys_mem.hpp"
#include "model/status.hpp"
#include "model/tlb.hpp"

namespace mmref {

// arch/x86/include/asm/dma.h: MAX_DMA_PFN (16 MiB) and MAX_DMA32_PFN (4 GiB).
inline constexpr std::uint64_t MAX_DMA_PFN = (std::uint64_t{16} << 20) >> PAGE_SHIFT;
inline constexpr std::uint64_t MAX_DMA32_PFN = (std::uint64_t{4} << 30) >> PAGE_SHIFT;

struct mem_range {
  std::uint64_t start_pfn = 0;
  std::uint64_t end_pfn = 0;  // exclusive
  bool operator==(const mem_range&) const = default;
};

struct machine_config {
  std::string name = "default";
  kernel_layout layout = kernel_layout::for_levels(4);
  unsigned maxphyaddr = DEFAULT_MAXPHYADDR;
  unsigned nr_cpus = 2;
  std::vector<mem_range> ram;  // usable RAM, sorted and disjoint; what lies between is a hole
  mem_range table_pool;        // frames the built-in provider hands out for page tables

  unsigned levels() const { return layout.levels; }
  std::uint64_t total_ram_pages() const;
  bool is_ram(std::uint64_t pfn) const;
  std::string validate() const;  // "" when sound
  std::string describe() const;

  static machine_config default_machine();
  // A generated machine of `mib` MiB (1..64) with optional holes, for the stateful tests.
  static machine_config small(std::uint64_t mib, unsigned levels, unsigned nr_cpus,
                              std::vector<mem_range> holes = {});
};

enum class fault_kind {
  none,
  non_canonical,  // #GP
  not_present,    // #PF, P = 0
  write_protect,  // #PF on a write to a read-only page (CR0.WP is set in the kernel)
  reserved_bit,   // #PF with RSVD
  misaligned,     // the model's data accesses are naturally aligned 8-byte words
  bad_cpu,        // no such CPU
};
const char* fault_text(fault_kind f);

struct access_result {
  fault_kind fault = fault_kind::none;
  std::uint64_t pa = 0;
  std::uint64_t value = 0;   // for reads
  bool tlb_hit = false;
  leaf_info leaf;            // the translation used
  bool ok() const { return fault == fault_kind::none; }
};

// An unmap not yet followed by a flush on every CPU.
struct owed_flush {
  std::uint64_t va = 0;
  std::uint64_t size = 0;
  std::uint64_t cpus = 0;  // bit c set: CPU c has not flushed this range yet
  bool operator==(const owed_flush&) const = default;
};

// Event counters, like the kernel's vmstat items: the properties read them to show that the
// paths they exist for were exercised (each test case is tagged from them once).
struct machine_stats {
  std::uint64_t walks = 0;              // page walks on a TLB miss
  std::uint64_t tlb_hits = 0;
  std::uint64_t stale_tlb_hits = 0;     // hits on an entry whose unmap is still owed a flush
  std::uint64_t faults = 0;
  std::uint64_t refusals = 0;           // map/unmap/flush calls that returned an error
  std::uint64_t pte_tables_freed = 0;   // by map_huge (pmd_free_pte_page)
  std::uint64_t owed_discharged = 0;    // owed flushes completed by a flush
  std::uint64_t local_flushes = 0;      // flush_tlb_one_cpu calls
};

class machine {
 public:
  static constexpr unsigned MAX_CPUS = 64;

  explicit machine(machine_config cfg, frame_provider* provider = nullptr);
  machine(const machine&) = delete;
  machine& operator=(const machine&) = delete;

  const machine_config& config() const { return cfg_; }
  unsigned nr_cpus() const { return cfg_.nr_cpus; }

  mm_status map_page(std::uint64_t va, std::uint64_t pfn, std::uint64_t prot = PAGE_KERNEL);
  mm_status map_huge(std::uint64_t va, std::uint64_t pfn, std::uint64_t prot = PAGE_KERNEL);
  mm_status unmap(std::uint64_t va, leaf_info* unmapped = nullptr);

  mm_status flush_tlb_kernel_range(std::uint64_t start, std::uint64_t end);
  mm_status flush_tlb_one_cpu(unsigned cpu, std::uint64_t start, std::uint64_t end);
  void flush_tlb_all();

  access_result translate(unsigned cpu, std::uint64_t va, bool write = false);
  access_result read_u64(unsigned cpu, std::uint64_t va);
  access_result write_u64(unsigned cpu, std::uint64_t va, std::uint64_t value);

  walk_result walk(std::uint64_t va) const { return pt_.walk(va); }
  const page_tables& tables() const { return pt_; }
  const tlb& cpu_tlb(unsigned cpu) const { return tlbs_.at(cpu); }
  // Keyed by the unmapped leaf's exact extent (va, size): a stale TLB entry is excused only by
  // a flush owed for the extent it was filled with.
  using owed_map = std::map<std::pair<std::uint64_t, std::uint64_t>, owed_flush>;
  const owed_map& owed() const { return owed_; }
  const phys_mem& phys() const { return mem_; }
  const frame_provider& provider() const { return *provider_; }
  const machine_stats& stats() const { return stats_; }

  // Direct access for tests that corrupt state on purpose and for the checkers' negative tests.
  phys_mem& phys_for_test() { return mem_; }
  tlb& tlb_for_test(unsigned cpu) { return tlbs_.at(cpu); }
  owed_map& owed_for_test() { return owed_; }

 private:
  void discharge(std::uint64_t start, std::uint64_t end, std::uint64_t cpus);
  access_result translate_nocount(unsigned cpu, std::uint64_t va, bool write);
  mm_status count(mm_status st);
  bool range_ok(std::uint64_t start, std::uint64_t end) const;

  machine_config cfg_;
  phys_mem mem_;
  std::unique_ptr<simple_frame_provider> own_provider_;
  frame_provider* provider_;
  page_tables pt_;
  std::vector<tlb> tlbs_;
  owed_map owed_;
  machine_stats stats_;
};

}  // namespace mmref
