// impl/vmalloc/vmalloc.hpp — vmalloc proper (mm/vmalloc.c, Linux 6.1) over the machine model and
// the buddy allocator: vmap areas, lazy free and purge, vmalloc/vzalloc/vfree, vmap/vunmap,
// lookups, /proc/vmallocinfo.
//
// Synopsis
//   vmap_config                 CPUs, the KVA strategy by name, the lazy threshold's scale
//   vm_struct                   include/linux/vmalloc.h: addr, size (guard included), flags,
//                               pages (PFNs), nr_pages, page_order, caller
//   vmap_state(buddy, machine, config)
//     alloc_vmap_area(...)        reserve VA (purge-and-retry once, notifier, the warning)
//     __get_vm_area_node(...)     vm_struct + VA (+ guard page unless VM_NO_GUARD)
//     __vmalloc_node_range(...)   the whole vmalloc: VA, pages array (kmalloc, or a nested
//                                 vmalloc beyond a page), order-0 (or PMD-order) pages from the
//                                 buddy allocator, mapping; any failure rolls back
//     vmalloc / vzalloc / vmalloc_huge / __vmalloc_node
//     vfree / vunmap / vmap / remove_vm_area / find_vm_area / vmalloc_to_page / is_vmalloc_addr
//     purge_vmap_area_lazy / vm_unmap_aliases / run_drain_work
//     vmallocinfo()               /proc/vmallocinfo in the kernel's format
//
// The areas and the partition they keep (vmap_area_lock etc. are implicit: single-threaded):
//   busy_   vmap_area_root + vmap_area_list     areas handed out, each with its vm_struct
//   purge_  purge_vmap_area_root + list        lazily freed areas (PTEs cleared, TLB not yet
//                                              flushed), merged with their neighbours (6.1)
//   kva_    the strategy's free space          everything else of [1, ULONG_MAX)
// busy ∪ lazy ∪ free partition the address space (VM-PARTITION); vmap_lazy_nr is the number of
// pages in the lazy areas, guard pages included (VM-LAZY-ACCT).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "impl/buddy/page_alloc.hpp"
#include "impl/vmalloc/kmalloc.hpp"
#include "impl/vmalloc/kva.hpp"
#include "impl/vmalloc/vmap_area.hpp"
#include "model/machine.hpp"

namespace mmref::vmalloc {

using buddy::gfp_t;

// include/linux/vmalloc.h (6.1)
inline constexpr std::uint64_t VM_IOREMAP = 0x00000001;
inline constexpr std::uint64_t VM_ALLOC = 0x00000002;
inline constexpr std::uint64_t VM_MAP = 0x00000004;
inline constexpr std::uint64_t VM_USERMAP = 0x00000008;
inline constexpr std::uint64_t VM_DMA_COHERENT = 0x00000010;
inline constexpr std::uint64_t VM_UNINITIALIZED = 0x00000020;
inline constexpr std::uint64_t VM_NO_GUARD = 0x00000040;
inline constexpr std::uint64_t VM_KASAN = 0x00000080;
inline constexpr std::uint64_t VM_FLUSH_RESET_PERMS = 0x00000100;
inline constexpr std::uint64_t VM_MAP_PUT_PAGES = 0x00000200;
inline constexpr std::uint64_t VM_ALLOW_HUGE_VMAP = 0x00000400;
// include/linux/vmalloc.h: IOREMAP_MAX_ORDER defaults to 7 + PAGE_SHIFT (128 pages).
inline constexpr unsigned IOREMAP_MAX_ORDER = 7 + PAGE_SHIFT;
// asm/pgtable_types.h: PMD_SHIFT on x86-64.
inline constexpr unsigned PMD_SHIFT = 21;
inline constexpr std::uint64_t PMD_SIZE = std::uint64_t{1} << PMD_SHIFT;

// struct vm_struct — include/linux/vmalloc.h (6.1). pages holds PFNs (the kernel's struct
// page pointers); pages_addr says where the array itself lives: 0 for kmalloc, else the address
// of the nested vmalloc that holds it (/proc/vmallocinfo's "vpages").
struct vm_struct {
  std::uint64_t addr = 0;
  std::uint64_t size = 0;  // guard page included
  std::uint64_t flags = 0;
  std::vector<std::uint64_t> pages;
  std::uint64_t nr_pages = 0;
  unsigned page_order = 0;
  std::uint64_t phys_addr = 0;
  std::string caller;
  bool percpu = false;           // placed by pcpu_get_vm_areas: no guard, mapped by percpu
  bool pages_array = false;      // a pages array was allocated (kmalloc or nested vmalloc)
  std::uint64_t pages_addr = 0;  // the nested vmalloc's address, 0 when kmalloc'd
};

// get_vm_area_size() — include/linux/vmalloc.h
inline std::uint64_t get_vm_area_size(const vm_struct* vm) {
  return (vm->flags & VM_NO_GUARD) ? vm->size : vm->size - PAGE_SIZE;
}

// Why a call refused its input or failed. Refusals (bad input) leave the state exactly as it
// was; failures (out of VA or memory) leave what the kernel leaves: nothing busy, no page, no
// PTE, the VA possibly lazily freed.
enum class vm_error {
  none,
  invalid,           // size 0, unaligned size, align not a power of two, bad range (-EINVAL)
  too_large,         // size beyond total RAM
  no_va,             // no virtual address space left after purge and retry (-EBUSY)
  no_memory,         // a descriptor, vm_struct, pages array, page or page table failed (-ENOMEM)
  would_loop_forever,// __GFP_NOFAIL with nothing that can change the outcome
  bad_address,       // vfree/vunmap of an unaligned address ("Trying to vfree() bad address")
  not_found,         // no area at that address ("nonexistent vm area")
  interior_address,  // an address inside an area, not its start
  wrong_kind,        // vfree of a vmap'd area, vunmap of a vmalloc'd one
  bad_flags,         // vmap with VM_FLUSH_RESET_PERMS, or an unknown flag
};
const char* vm_error_text(vm_error e);

struct vmap_config {
  unsigned nr_cpus = 2;
  std::string strategy = "modern";
  // lazy_max_pages() is fls(num_online_cpus()) * 8192 pages; stateful tests on small machines
  // divide it so the threshold is reachable (a machine parameter, default 1 = the kernel's).
  std::uint64_t lazy_max_pages_divisor = 1;
  // The purge scheduled when vmap_lazy_nr > lazy_max_pages() runs from a workqueue in the kernel
  // (5.18+). With true the model runs it when the freeing call returns; with false it runs only
  // from run_drain_work() (replay decides when).
  bool drain_synchronously = true;
  bool vmap_allow_huge = true;  // HAVE_ARCH_HUGE_VMALLOC and no nohugevmalloc
};

// Counters the properties' coverage gates read (each case is tagged from them once).
struct vmap_stats {
  std::uint64_t alloc_vmap_area = 0, alloc_vmap_area_failed = 0;
  std::uint64_t purge_retries = 0;       // the overflow path purged and retried
  std::uint64_t purge_retry_success = 0; // ... and the retry found space
  std::uint64_t notifier_retries = 0;
  std::uint64_t drains = 0;              // purges scheduled by the lazy threshold
  std::uint64_t purges = 0, purged_areas = 0;
  std::uint64_t lazy_frees = 0;
  std::uint64_t nested_pages_arrays = 0; // pages arrays allocated with a nested vmalloc
  std::uint64_t huge_mappings = 0;       // vmallocs mapped with PMD leaves
  std::uint64_t huge_fallbacks = 0;      // huge attempt failed, retried with small pages
  std::uint64_t rollbacks = 0;           // a vmalloc failed part-way and was undone
  std::uint64_t pcpu_placements = 0;     // pcpu_get_vm_areas calls that placed their areas
  std::uint64_t pool_hits = 0, pooled_areas = 0, decayed_areas = 0;  // per-node pools
  std::array<std::uint64_t, 5> fits{};   // per fit_type of successful KVA allocations
  std::uint64_t refusals = 0;            // bad input refused
};

// What a purge did (the kernel's trace_purge_vmap_area_lazy and its return value).
struct purge_result {
  bool purged = false;           // the purge list was not empty
  std::vector<kva_interval> pooled;   // purged areas a per-node pool kept
  std::uint64_t start = 0, end = 0;   // the range flushed
  std::uint64_t nr_purged = 0;
  std::vector<kva_interval> areas;    // the (merged) lazy areas it purged
};

// Per-node pools (Linux 6.9+, vmalloc digest §2.6) plug in behind these hooks; with none set
// (Linux 6.1, or one node) vmalloc behaves as 6.1 does. With pools, lazily freed areas are not
// merged in the purge list (6.9+ keeps each area whole so it can return to a size pool), and a
// purged area a pool keeps is "pooled": neither busy, lazy nor free (VM-PARTITION counts it).
class vmap_pool_ops {
 public:
  virtual ~vmap_pool_ops() = default;
  struct node_alloc_result {
    std::optional<std::uint64_t> addr;  // a pooled area of this size, when one fits
    std::uint64_t vn_flags = 0;         // encode_vn_id(node), or 0: what va->flags records
  };
  // node_alloc(): the node a new area records, and maybe a pooled area before the free tree.
  virtual node_alloc_result node_alloc(const kva_request& req) = 0;
  virtual unsigned nr_nodes() const = 0;
  // The node whose lazy tree (and whose pool, on purge) an area belongs to.
  virtual unsigned lazy_node(std::uint64_t va_flags, std::uint64_t va_start) const = 0;
  // decay_va_pool_node(vn, full): at the start of each purge, the VA node vn's pools give back
  // to free space, merged, in address order (full: everything, as the overflow path's purge).
  virtual std::vector<kva_interval> decay(unsigned node, bool full) = 0;
  // node_pool_add_va(): whether node's pools keep a purged area (one that recorded a node and
  // is of a poolable size) instead of returning it to free space.
  virtual bool pool_add(unsigned node, std::uint64_t va_flags, std::uint64_t start, std::uint64_t end) = 0;
  // The pooled VA, in address order.
  virtual std::vector<kva_interval> pooled() const = 0;
};

class vmap_state {
 public:
  vmap_state(buddy::page_alloc& buddy, machine& mach, vmap_config cfg = {});
  ~vmap_state();
  vmap_state(const vmap_state&) = delete;
  vmap_state& operator=(const vmap_state&) = delete;

  // ---- VA --------------------------------------------------------------------------
  struct va_result {
    vmap_area* va = nullptr;
    vm_error error = vm_error::none;
  };
  // alloc_vmap_area() — mm/vmalloc.c
  va_result alloc_vmap_area(std::uint64_t size, std::uint64_t align, std::uint64_t vstart, std::uint64_t vend,
                            gfp_t gfp, std::uint64_t va_flags = 0);
  // __get_vm_area_node() — mm/vmalloc.c. nullptr on failure (last_error() says why).
  vm_struct* __get_vm_area_node(std::uint64_t size, std::uint64_t align, unsigned shift, std::uint64_t flags,
                                std::uint64_t start, std::uint64_t end, gfp_t gfp, const std::string& caller);
  // get_vm_area_caller() — the whole vmalloc range, align 1.
  vm_struct* get_vm_area_caller(std::uint64_t size, std::uint64_t flags, const std::string& caller);

  // ---- vmalloc ---------------------------------------------------------------------
  // __vmalloc_node_range() — mm/vmalloc.c. The address, or 0 (last_error() says why).
  std::uint64_t __vmalloc_node_range(std::uint64_t size, std::uint64_t align, std::uint64_t start, std::uint64_t end,
                                     gfp_t gfp, std::uint64_t prot, std::uint64_t vm_flags,
                                     const std::string& caller = "vmalloc");
  std::uint64_t __vmalloc_node(std::uint64_t size, std::uint64_t align, gfp_t gfp, const std::string& caller);
  std::uint64_t vmalloc(std::uint64_t size);
  std::uint64_t vzalloc(std::uint64_t size);
  std::uint64_t vmalloc_huge(std::uint64_t size, gfp_t gfp);
  // module_alloc(): the modules range.
  std::uint64_t module_alloc(std::uint64_t size);

  // vfree() / vunmap() — mm/vmalloc.c. vfree(0) is a no-op.
  vm_error vfree(std::uint64_t addr);
  vm_error vunmap(std::uint64_t addr);
  // vmap() — mm/vmalloc.c: map `pfns` (order-0 pages the caller owns) contiguously in VA.
  std::uint64_t vmap(const std::vector<std::uint64_t>& pfns, std::uint64_t flags, std::uint64_t prot);

  // pcpu_get_vm_areas() — mm/vmalloc.c (6.1): place nr areas at base + offsets[i] (sizes[i]
  // bytes each, no guard pages) for the highest base, searching top-down from VMALLOC_END; purge
  // and retry once on failure. Empty on failure (last_error() says why).
  std::vector<vm_struct*> pcpu_get_vm_areas(const std::vector<std::uint64_t>& offsets,
                                            const std::vector<std::uint64_t>& sizes, std::uint64_t align);
  // pcpu_free_vm_areas(): free_vm_area() of each.
  void pcpu_free_vm_areas(const std::vector<vm_struct*>& vms);

  // ---- the VA layer alone, as kernel traces record it (impl/replay drives these) ------
  // vmalloc_init(): an area registered before vmalloc was up (vmlist) becomes busy at exactly
  // [start, end), its VA carved out of free space. Replay rebuilds the areas that existed
  // before a trace began this way. nullptr when the range is invalid or not free (last_error()).
  vmap_area* vmalloc_init_area(std::uint64_t start, std::uint64_t end);
  // free_vmap_area_noflush() of the busy area starting at va_start, the trace's authoritative
  // free point; an area with a vm_struct loses it as free_vm_area() frees it.
  vm_error free_vmap_area_noflush_at(std::uint64_t va_start);
  // free_vmap_area(): the busy area starting at va_start straight back to free space (no lazy
  // stage), as the kernel's error paths do. Replay uses it to take back a wrong prediction.
  vm_error free_vmap_area_at(std::uint64_t va_start);
  // __purge_vmap_area_lazy(start, end) with the caller's range: (ULONG_MAX, 0) from the drain
  // and vm_unmap_aliases, a freed VM_FLUSH_RESET_PERMS area's direct-map range from vfree.
  purge_result purge_vmap_area_range(std::uint64_t start, std::uint64_t end, bool full_pool_decay = false);

  // remove_vm_area() — unmap and lazily free the area starting at addr; the vm_struct is the
  // caller's (freed with free_vm_struct). nullptr when there is none.
  vm_struct* remove_vm_area(std::uint64_t addr);
  void free_vm_struct(vm_struct* vm);
  // find_vm_area() — the vm_struct of the busy area containing addr.
  const vm_struct* find_vm_area(std::uint64_t addr) const;
  // vmalloc_to_page() — the PFN mapped at addr (4 KiB slice of a huge leaf), if any.
  std::optional<std::uint64_t> vmalloc_to_page(std::uint64_t addr) const;
  bool is_vmalloc_addr(std::uint64_t addr) const { return mach_.config().layout.is_vmalloc_addr(addr); }
  bool is_vmalloc_or_module_addr(std::uint64_t addr) const {
    return is_vmalloc_addr(addr) || mach_.config().layout.is_module_addr(addr);
  }

  // ---- lazy free and purge ---------------------------------------------------------
  std::uint64_t lazy_max_pages() const;
  std::uint64_t vmap_lazy_nr() const { return vmap_lazy_nr_; }
  // purge_vmap_area_lazy() / __purge_vmap_area_lazy(ULONG_MAX, 0)
  purge_result purge_vmap_area_lazy();
  // vm_unmap_aliases(): no vmap blocks in the model, so the lazy purge (and its flush).
  purge_result vm_unmap_aliases();
  // drain_vmap_area_work(): purge while vmap_lazy_nr > lazy_max_pages(). Returns the purges.
  std::vector<purge_result> run_drain_work();
  bool drain_pending() const { return drain_pending_; }

  // ---- views and access for checkers ------------------------------------------------
  std::string vmallocinfo() const;
  vm_error last_error() const { return last_error_; }
  // The warnings (printk lines) of the last API call, one per line.
  const std::string& last_warning() const { return last_warning_; }
  const va_tree& busy() const { return busy_; }
  const va_tree& lazy() const { return purge_; }
  const kva_allocator& kva() const { return *kva_; }
  kva_allocator& kva_for_test() { return *kva_; }
  kmalloc_stub& kmalloc() { return kmalloc_; }
  const kmalloc_stub& kmalloc() const { return kmalloc_; }
  buddy::page_alloc& buddy() { return buddy_; }
  const buddy::page_alloc& buddy() const { return buddy_; }
  machine& mach() { return mach_; }
  const machine& mach() const { return mach_; }
  const vmap_config& config() const { return cfg_; }
  const vmap_stats& stats() const { return stats_; }
  std::uint64_t nr_vmalloc_pages() const { return nr_vmalloc_pages_; }
  std::uint64_t& vmap_lazy_nr_for_test() { return vmap_lazy_nr_; }
  va_tree& busy_for_test() { return busy_; }
  va_tree& lazy_for_test() { return purge_; }

  // Per-node pools, or null (see vmap_pool_ops).
  std::unique_ptr<vmap_pool_ops> pools;
  // The purge notifier chain (register_vmap_purge_notifier): returns pages freed.
  std::function<std::uint64_t()> purge_notifier;
  // The CPU the next call runs on (preload slot; 6.12 pools later).
  unsigned current_cpu = 0;
  // Called after each purge with what it did (replay and tests observe purges through it).
  std::function<void(const purge_result&)> on_purge;

 private:
  vmap_area* find_busy(std::uint64_t addr) const;
  // free_vm_area()'s kfree of the vm_struct (and a kmalloc'd pages array's charge)
  void drop_vm_struct(vmap_area* va);
  // free_unmap_vmap_area() / free_vmap_area_noflush()
  void free_unmap_vmap_area(vmap_area* va);
  void free_vmap_area_noflush(vmap_area* va);
  // __purge_vmap_area_lazy(); full_pool_decay as 6.9+'s third argument
  purge_result __purge_vmap_area_lazy(std::uint64_t start, std::uint64_t end, bool full_pool_decay = false);
  // VA that goes back to free space without a descriptor of its own (pool decay).
  void release_va(std::uint64_t start, std::uint64_t end);
  // __vmalloc_area_node() / vm_area_alloc_pages() / vmap_pages_range()
  bool __vmalloc_area_node(vm_struct* area, gfp_t gfp, std::uint64_t prot, unsigned page_shift);
  std::uint64_t vm_area_alloc_pages(gfp_t gfp, unsigned order, std::uint64_t nr_pages, std::vector<std::uint64_t>& pages);
  int vmap_pages_range(std::uint64_t addr, std::uint64_t end, std::uint64_t prot,
                       const std::vector<std::uint64_t>& pages, unsigned page_shift);
  void vunmap_range_noflush(std::uint64_t start, std::uint64_t end);
  // __vunmap(): the common part of vfree and vunmap.
  void __vunmap(vm_struct* area, bool deallocate_pages);
  void maybe_drain();
  vm_error refuse(vm_error e, std::string warning);
  void warn(const std::string& w) { last_warning_ += (last_warning_.empty() ? "" : "\n") + w; }

  buddy::page_alloc& buddy_;
  machine& mach_;
  vmap_config cfg_;
  kmalloc_stub kmalloc_;
  std::unique_ptr<kva_allocator> kva_;
  va_tree busy_;   // vmap_area_root + vmap_area_list
  va_tree purge_;  // purge_vmap_area_root + purge_vmap_area_list
  std::uint64_t vmap_lazy_nr_ = 0;
  std::uint64_t nr_vmalloc_pages_ = 0;
  bool drain_pending_ = false;
  unsigned nesting_ = 0;  // depth of nested vmalloc for pages arrays
  vm_error last_error_ = vm_error::none;
  std::string last_warning_;
  vmap_stats stats_;
};

}  // namespace mmref::vmalloc
