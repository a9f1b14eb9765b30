// impl/vmalloc/vmalloc.cpp — vmalloc proper: mm/vmalloc.c (Linux 6.1) over the machine model.
#include "impl/vmalloc/vmalloc.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <stdexcept>

#include "impl/buddy/buddy_core.hpp"
#include "model/align.hpp"
#include "model/pte.hpp"

namespace mmref::vmalloc {

using namespace mmref::buddy;

namespace {

// mm/internal.h (6.1): the gfp bits that control reclaim behaviour.
constexpr gfp_t GFP_RECLAIM_MASK = __GFP_RECLAIM | __GFP_HIGH | __GFP_IO | __GFP_FS | __GFP_NOWARN |
                                   __GFP_RETRY_MAYFAIL | __GFP_NOFAIL | __GFP_NORETRY | __GFP_MEMALLOC |
                                   __GFP_NOMEMALLOC | __GFP_ATOMIC;

// Bounds the model puts on loops the kernel leaves open.
constexpr unsigned MAX_NOTIFIER_RETRIES = 64;

std::string hex(std::uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "%016" PRIx64, v);
  return b;
}

// get_count_order_long() — include/linux/bitops.h (size > 0)
unsigned get_count_order_long(std::uint64_t l) {
  return static_cast<unsigned>(fls64(cword{l - 1}).v);
}

// The gfp checks the page allocator would refuse, made before anything is allocated so that a
// bad mask leaves the state unchanged.
bool gfp_refused(gfp_t gfp) {
  return (gfp & ~__GFP_BITS_MASK) != 0 || gfp_zone_bad(gfp) ||
         (gfp & GFP_MOVABLE_MASK) == GFP_MOVABLE_MASK;
}

}  // namespace

const char* vm_error_text(vm_error e) {
  switch (e) {
    case vm_error::none: return "ok";
    case vm_error::invalid: return "invalid argument (size 0 or not page aligned, align not a power of two, empty range, bad gfp)";
    case vm_error::too_large: return "size exceeds total pages";
    case vm_error::no_va: return "no virtual address space left in the range";
    case vm_error::no_memory: return "out of memory (descriptor, vm_struct, pages array, page or page table)";
    case vm_error::would_loop_forever: return "__GFP_NOFAIL request that nothing can satisfy: the kernel would retry forever";
    case vm_error::bad_address: return "address is not page aligned";
    case vm_error::not_found: return "no vm area at this address";
    case vm_error::interior_address: return "address is inside a vm area, not its start";
    case vm_error::wrong_kind: return "vfree() of a vmap()ed area or vunmap() of a vmalloc()ed one";
    case vm_error::bad_flags: return "flags not allowed here";
  }
  return "unknown error";
}

// An entry point of the API: a purge the lazy threshold scheduled runs when the outermost call
// returns, as the workqueue would run it soon after.
// The outermost call also starts a fresh warning log (the kernel's printk lines of one call).
struct vmap_state_call {
  vmap_state_call(unsigned& depth, std::string& warnings) : d(depth) {
    if (d++ == 0) warnings.clear();
  }
  ~vmap_state_call() { --d; }
  vmap_state_call(const vmap_state_call&) = delete;
  vmap_state_call& operator=(const vmap_state_call&) = delete;
  unsigned& d;
};

vmap_state::vmap_state(buddy::page_alloc& b, machine& m, vmap_config cfg)
    : buddy_(b), mach_(m), cfg_(std::move(cfg)) {
  if (cfg_.nr_cpus == 0) cfg_.nr_cpus = 1;
  if (cfg_.lazy_max_pages_divisor == 0) cfg_.lazy_max_pages_divisor = 1;
  kva_ = kva_registry::create(cfg_.strategy, kmalloc_, cfg_.nr_cpus);
}

vmap_state::~vmap_state() {
  // Teardown of the model only: vm_structs and descriptors, not the pages (the buddy allocator
  // may already be gone).
  for (list_head* l = busy_.head.next; l != &busy_.head; l = l->next) {
    vmap_area* va = va_of_list(l);
    if (va->vm != nullptr) {
      if (va->vm->pages_array && va->vm->pages_addr == 0) kmalloc_.uncharge(kmalloc_kind::pages_array);
      kmalloc_.free(va->vm, kmalloc_kind::vm_struct);
      va->vm = nullptr;
    }
  }
  free_all(busy_, kmalloc_);
  free_all(purge_, kmalloc_);
  kva_.reset();
}

vm_error vmap_state::refuse(vm_error e, std::string warning) {
  ++stats_.refusals;
  last_error_ = e;
  warn(warning);
  return e;
}

std::uint64_t vmap_state::lazy_max_pages() const {
  return lazy_max_pages_for(cfg_.nr_cpus) / cfg_.lazy_max_pages_divisor;
}

vmap_area* vmap_state::find_busy(std::uint64_t addr) const { return find_vmap_area_in(busy_, addr); }

// =======================================================================================
// Allocating VA

vmap_state::va_result vmap_state::alloc_vmap_area(std::uint64_t size, std::uint64_t align, std::uint64_t vstart,
                                                  std::uint64_t vend, gfp_t gfp, std::uint64_t va_flags) {
  // The kernel's argument check (BUG_ONs before 6.x, -EINVAL after); an empty range too.
  if (size == 0 || (size & ~PAGE_MASK) != 0 || !is_pow2(align) || vend <= vstart) {
    refuse(vm_error::invalid, "alloc_vmap_area: invalid size, align or range");
    return {nullptr, vm_error::invalid};
  }
  gfp &= GFP_RECLAIM_MASK;
  ++stats_.alloc_vmap_area;
  vmap_area* va = kmalloc_.alloc<vmap_area>(kmalloc_kind::vmap_area, kmalloc_site::vmap_area);
  if (va == nullptr) {
    ++stats_.alloc_vmap_area_failed;
    last_error_ = vm_error::no_memory;
    return {nullptr, vm_error::no_memory};
  }
  bool purged = false;
  unsigned notifier_rounds = 0;
  kva_result r;
  for (;;) {
    if (pools) {  // node_alloc(): a pooled area of this size, before the free tree
      const vmap_pool_ops::node_alloc_result a = pools->node_alloc({size, align, vstart, vend, current_cpu});
      va_flags = (va_flags & VMAP_FLAGS_MASK) | a.vn_flags;  // va->flags = va_flags | vn_id
      if (a.addr) {
        r = {true, *a.addr, NOTHING_FIT, false};
        ++stats_.pool_hits;
        break;
      }
    }
    kva_->preload(current_cpu);  // preload_this_cpu_lock()
    r = kva_->alloc({size, align, vstart, vend, current_cpu});
    if (r.ok) break;
    // overflow:
    if (!purged) {
      purge_vmap_area_lazy();
      purged = true;
      ++stats_.purge_retries;
      continue;
    }
    const std::uint64_t freed = purge_notifier ? purge_notifier() : 0;
    if (freed > 0 && ++notifier_rounds <= MAX_NOTIFIER_RETRIES) {
      purged = false;
      ++stats_.notifier_retries;
      continue;
    }
    if (!(gfp & __GFP_NOWARN))
      warn("vmap allocation for size " + std::to_string(size) + " failed: use vmalloc=<size> to increase size");
    kmalloc_.free(va, kmalloc_kind::vmap_area);
    ++stats_.alloc_vmap_area_failed;
    last_error_ = vm_error::no_va;
    return {nullptr, vm_error::no_va};
  }
  if (purged) ++stats_.purge_retry_success;
  ++stats_.fits[r.fit];
  va->va_start = r.addr;
  va->va_end = r.addr + size;
  va->vm = nullptr;
  va->flags = va_flags;
  va->req_vstart = vstart;
  va->req_vend = vend;
  va->req_align = align;
  if (!insert_vmap_area(va, busy_))
    throw std::logic_error("alloc_vmap_area: the strategy returned VA that overlaps a busy area");
  return {va, vm_error::none};
}

vm_struct* vmap_state::__get_vm_area_node(std::uint64_t size, std::uint64_t align, unsigned shift,
                                          std::uint64_t flags, std::uint64_t start, std::uint64_t end, gfp_t gfp,
                                          const std::string& caller) {
  const auto aligned = align_up_checked(cword{size}, cword{std::uint64_t{1} << shift});
  size = aligned.value.v;
  if (size == 0 || truth(aligned.overflow)) {
    refuse(vm_error::invalid, "__get_vm_area_node: size 0 after alignment");
    return nullptr;
  }
  if (flags & VM_IOREMAP)
    align = std::uint64_t{1} << std::clamp(get_count_order_long(size), PAGE_SHIFT, IOREMAP_MAX_ORDER);
  vm_struct* area = kmalloc_.alloc<vm_struct>(kmalloc_kind::vm_struct, kmalloc_site::vm_struct);
  if (area == nullptr) {
    last_error_ = vm_error::no_memory;
    return nullptr;
  }
  if (!(flags & VM_NO_GUARD)) size += PAGE_SIZE;  // the guard page
  const va_result r = alloc_vmap_area(size, align, start, end, gfp, 0);
  if (r.va == nullptr) {
    kmalloc_.free(area, kmalloc_kind::vm_struct);
    return nullptr;
  }
  // setup_vmalloc_vm()
  area->flags = flags;
  area->addr = r.va->va_start;
  area->size = r.va->va_end - r.va->va_start;
  area->caller = caller;
  r.va->vm = area;
  return area;
}

vm_struct* vmap_state::get_vm_area_caller(std::uint64_t size, std::uint64_t flags, const std::string& caller) {
  const auto& l = mach_.config().layout;
  return __get_vm_area_node(size, 1, PAGE_SHIFT, flags, l.vmalloc_start, l.vmalloc_end, GFP_KERNEL, caller);
}

// =======================================================================================
// vmalloc

std::uint64_t vmap_state::__vmalloc_node_range(std::uint64_t size, std::uint64_t align, std::uint64_t start,
                                               std::uint64_t end, gfp_t gfp, std::uint64_t prot,
                                               std::uint64_t vm_flags, const std::string& caller) {
  vmap_state_call call(nesting_, last_warning_);
  last_error_ = vm_error::none;
  if (size == 0) {  // WARN_ON_ONCE(!size)
    refuse(vm_error::invalid, "vmalloc: size 0");
    return 0;
  }
  if (!is_pow2(align) || end <= start || gfp_refused(gfp)) {
    refuse(vm_error::invalid, "vmalloc: invalid align, range or gfp mask");
    return 0;
  }
  if ((size >> PAGE_SHIFT) > buddy_.total_managed_pages()) {
    refuse(vm_error::too_large, "vmalloc error: size " + std::to_string(size) + ", exceeds total pages");
    return 0;
  }
  const std::uint64_t real_size = size, real_align = align;
  unsigned shift = PAGE_SHIFT;
  unsigned nofail_rounds = 0;
  if (cfg_.vmap_allow_huge && (vm_flags & VM_ALLOW_HUGE_VMAP)) {
    // One node: size_per_node = size. arch_vmap_pmd_supported(): the model's CPU has PSE;
    // arch_vmap_pte_supported_shift() is PAGE_SHIFT on x86.
    if (size >= PMD_SIZE) shift = PMD_SHIFT;
    align = std::max(real_align, std::uint64_t{1} << shift);
    size = ALIGN(cword{real_size}, cword{std::uint64_t{1} << shift}).v;
  }
  for (;;) {  // again:
    vm_struct* area = __get_vm_area_node(real_size, align, shift, VM_ALLOC | VM_UNINITIALIZED | vm_flags, start,
                                         end, gfp, caller);
    if (area == nullptr) {
      const bool nofail = gfp & __GFP_NOFAIL;
      if (!(gfp & __GFP_NOWARN))
        warn("vmalloc error: size " + std::to_string(real_size) + ", vm_struct allocation failed" +
             (nofail ? ". Retrying." : ""));
      if (nofail) {
        // The kernel sleeps a tick and retries forever. Nothing in the single-threaded model
        // frees VA while it sleeps, so an exhausted range is reported instead of looping; a
        // failed small allocation is retried a bounded number of times.
        if (last_error_ == vm_error::no_va || ++nofail_rounds > MAX_NOTIFIER_RETRIES) {
          last_error_ = vm_error::would_loop_forever;
          return 0;
        }
        continue;
      }
    } else if (__vmalloc_area_node(area, gfp, prot, shift)) {
      area->flags &= ~VM_UNINITIALIZED;  // clear_vm_uninitialized_flag()
      if (shift > PAGE_SHIFT) ++stats_.huge_mappings;
      maybe_drain();
      return area->addr;
    }
    // fail:
    if (shift > PAGE_SHIFT) {
      shift = PAGE_SHIFT;
      align = real_align;
      size = real_size;
      ++stats_.huge_fallbacks;
      continue;
    }
    maybe_drain();
    return 0;
  }
}

std::uint64_t vmap_state::__vmalloc_node(std::uint64_t size, std::uint64_t align, gfp_t gfp, const std::string& caller) {
  const auto& l = mach_.config().layout;
  return __vmalloc_node_range(size, align, l.vmalloc_start, l.vmalloc_end, gfp, PAGE_KERNEL, 0, caller);
}

std::uint64_t vmap_state::vmalloc(std::uint64_t size) { return __vmalloc_node(size, 1, GFP_KERNEL, "vmalloc"); }

std::uint64_t vmap_state::vzalloc(std::uint64_t size) {
  return __vmalloc_node(size, 1, GFP_KERNEL | __GFP_ZERO, "vzalloc");
}

std::uint64_t vmap_state::vmalloc_huge(std::uint64_t size, gfp_t gfp) {
  const auto& l = mach_.config().layout;
  return __vmalloc_node_range(size, 1, l.vmalloc_start, l.vmalloc_end, gfp, PAGE_KERNEL, VM_ALLOW_HUGE_VMAP,
                              "vmalloc_huge");
}

std::uint64_t vmap_state::module_alloc(std::uint64_t size) {
  // arch/x86/kernel/module.c: __vmalloc_node_range(size, MODULE_ALIGN, MODULES_VADDR + offset,
  // MODULES_END, GFP_KERNEL, PAGE_KERNEL, ...); MODULE_ALIGN is PAGE_SIZE without KASAN, and the
  // model's offset (module load randomisation) is 0, as with nokaslr.
  const auto& l = mach_.config().layout;
  return __vmalloc_node_range(size, PAGE_SIZE, l.modules_vaddr, l.modules_end, GFP_KERNEL, PAGE_KERNEL, 0,
                              "module_alloc");
}

bool vmap_state::__vmalloc_area_node(vm_struct* area, gfp_t gfp, std::uint64_t prot, unsigned page_shift) {
  const gfp_t nested_gfp = (gfp & GFP_RECLAIM_MASK) | __GFP_ZERO;
  const std::uint64_t addr = area->addr;
  const std::uint64_t size = get_vm_area_size(area);
  const std::uint64_t nr_small_pages = size >> PAGE_SHIFT;
  const std::uint64_t array_size = nr_small_pages * sizeof(std::uint64_t);  // sizeof(struct page *)
  gfp |= __GFP_NOWARN;
  if (!(gfp & (GFP_DMA | GFP_DMA32))) gfp |= __GFP_HIGHMEM;

  // The pages array: "the recursion is strictly bounded" (each level is 512 times smaller).
  bool have_array;
  if (array_size > PAGE_SIZE) {
    area->pages_addr = __vmalloc_node(array_size, 1, nested_gfp, area->caller);
    have_array = area->pages_addr != 0;
    if (have_array) ++stats_.nested_pages_arrays;
  } else {
    have_array = kmalloc_.charge(kmalloc_kind::pages_array, kmalloc_site::pages_array);
  }
  if (!have_array) {
    warn("vmalloc error: size " + std::to_string(nr_small_pages * PAGE_SIZE) +
         ", failed to allocated page array size " + std::to_string(array_size));
    // free_vm_area(): remove_vm_area() + kfree()
    vm_struct* removed = remove_vm_area(area->addr);
    if (removed != area) throw std::logic_error("free_vm_area: remove_vm_area returned another area");
    kmalloc_.free(area, kmalloc_kind::vm_struct);
    ++stats_.rollbacks;
    last_error_ = vm_error::no_memory;
    return false;
  }
  area->pages_array = true;
  area->page_order = page_shift - PAGE_SHIFT;
  area->pages.reserve(nr_small_pages);
  area->nr_pages = vm_area_alloc_pages(gfp | __GFP_NOWARN, area->page_order, nr_small_pages, area->pages);
  nr_vmalloc_pages_ += area->nr_pages;
  int ret = 0;
  if (area->nr_pages != nr_small_pages) {
    warn("vmalloc error: size " + std::to_string(area->nr_pages * PAGE_SIZE) + ", page order " +
         std::to_string(area->page_order) + ", failed to allocate pages");
    ret = -1;
  } else {
    // Page tables are allocated with GFP_KERNEL inside a nofs/noio scope; in the model a table
    // page comes from the buddy allocator through the machine's frame provider.
    ret = vmap_pages_range(addr, addr + size, prot, area->pages, page_shift);
    if (ret < 0)
      warn("vmalloc error: size " + std::to_string(area->nr_pages * PAGE_SIZE) + ", failed to map pages");
  }
  if (ret == 0) return true;
  // fail: __vfree(area->addr): unmap what was mapped, lazily free the VA, free every page
  // obtained so far, the pages array and the vm_struct.
  vm_struct* removed = remove_vm_area(area->addr);
  if (removed != area) throw std::logic_error("__vmalloc_area_node: remove_vm_area returned another area");
  __vunmap(area, true);
  ++stats_.rollbacks;
  last_error_ = vm_error::no_memory;
  return false;
}

std::uint64_t vmap_state::vm_area_alloc_pages(gfp_t gfp, unsigned order, std::uint64_t nr_pages,
                                              std::vector<std::uint64_t>& pages) {
  // vm_area_alloc_pages() — mm/vmalloc.c (6.1). The bulk allocator (alloc_pages_bulk_array_*,
  // at most 100 pages per call) is modelled by order-0 alloc_pages calls in batches of 100; the
  // single-page fallback follows a short batch, as in the kernel.
  std::uint64_t nr_allocated = 0;
  gfp_t alloc_gfp = gfp;
  bool nofail = false;
  if (order == 0) {
    const gfp_t bulk_gfp = gfp & ~__GFP_NOFAIL;
    while (nr_allocated < nr_pages) {
      const std::uint64_t request = std::min<std::uint64_t>(100, nr_pages - nr_allocated);
      std::uint64_t nr = 0;
      for (; nr < request; ++nr) {
        const alloc_result r = buddy_.alloc_pages(bulk_gfp, 0);
        if (!r.ok()) break;
        pages.push_back(*r.pfn);
      }
      nr_allocated += nr;
      if (nr != request) break;
    }
  } else if (gfp & __GFP_NOFAIL) {
    alloc_gfp &= ~__GFP_NOFAIL;
    nofail = true;
  }
  // High-order pages, or the fallback after a short bulk batch.
  while (nr_allocated < nr_pages) {
    const alloc_result r = buddy_.alloc_pages(alloc_gfp, order);
    if (!r.ok()) {
      if (!nofail) break;
      alloc_gfp |= __GFP_NOFAIL;  // fall back to order-0 allocations that may not fail
      order = 0;
      nofail = false;
      continue;
    }
    if (order != 0) buddy_.split_page(*r.pfn, order);
    for (std::uint64_t i = 0; i < (std::uint64_t{1} << order); ++i) pages.push_back(*r.pfn + i);
    nr_allocated += std::uint64_t{1} << order;
  }
  return nr_allocated;
}

int vmap_state::vmap_pages_range(std::uint64_t addr, std::uint64_t end, std::uint64_t prot,
                                 const std::vector<std::uint64_t>& pages, unsigned page_shift) {
  // vmap_pages_range() -> vmap_pages_range_noflush(); flush_cache_vmap() is a no-op on x86 and
  // there is no TLB flush on map: the VA was flushed by the purge before it could be reused.
  std::uint64_t i = 0;
  if (page_shift == PAGE_SHIFT) {
    // vmap_small_pages_range_noflush(): PTE at addr + N * PAGE_SIZE maps pages[N].
    for (std::uint64_t a = addr; a < end; a += PAGE_SIZE, ++i) {
      if (i >= pages.size()) return -1;                              // WARN_ON(!page): -ENOMEM
      if (!mach_.config().is_ram(pages[i])) return -1;               // WARN_ON(!pfn_valid): -EINVAL
      const mm_status st = mach_.map_page(a, pages[i], prot);
      if (st != mm_status::ok) return -1;                            // -EBUSY / -ENOMEM
    }
    return 0;
  }
  // Huge: vmap_range_noflush() per 1 << page_shift chunk; a PMD leaf when the chunk and its
  // physical address are PMD aligned, else (the kernel's fallback inside vmap_pmd_range) PTEs.
  const std::uint64_t chunk = std::uint64_t{1} << page_shift;
  const std::uint64_t step = chunk >> PAGE_SHIFT;
  for (std::uint64_t a = addr; a < end; a += chunk, i += step) {
    if (i >= pages.size()) return -1;
    const std::uint64_t pfn = pages[i];
    if (is_aligned(a, PMD_SIZE) && is_aligned(pfn << PAGE_SHIFT, PMD_SIZE) && a + PMD_SIZE <= end) {
      const mm_status st = mach_.map_huge(a, pfn, prot);
      if (st == mm_status::ok) continue;
      if (st != mm_status::table_in_way) return -1;
    }
    for (std::uint64_t k = 0; k < step; ++k)
      if (mach_.map_page(a + (k << PAGE_SHIFT), pfn + k, prot) != mm_status::ok) return -1;
  }
  return 0;
}

void vmap_state::vunmap_range_noflush(std::uint64_t start, std::uint64_t end) {
  // vunmap_range_noflush(): clear every leaf in [start, end); page tables stay; no TLB flush
  // (the machine records each unmap as owed a flush). None entries are skipped.
  for (std::uint64_t a = start; a < end;) {
    const walk_result w = mach_.walk(a);
    if (w.ok() && w.leaf.va <= a) {
      mach_.unmap(w.leaf.va);
      a = w.leaf.va + w.leaf.size;
    } else {
      a += PAGE_SIZE;
    }
  }
}

// =======================================================================================
// Freeing

void vmap_state::free_vmap_area_noflush(vmap_area* va) {
  // free_vmap_area_noflush() — mm/vmalloc.c (6.1)
  unlink_va(va, busy_, false);
  const std::uint64_t nr_lazy = (vmap_lazy_nr_ += va_size(va) >> PAGE_SHIFT);
  // 6.1 merges with lazy neighbours; with per-node pools (6.9+) each area stays whole.
  const bool linked = pools ? insert_vmap_area(va, purge_) : merge_or_add_vmap_area(va, purge_, kmalloc_, false) != nullptr;
  if (!linked) throw std::logic_error("free_vmap_area_noflush: lazily freed area overlaps the purge list");
  ++stats_.lazy_frees;
  if (nr_lazy > lazy_max_pages()) drain_pending_ = true;  // schedule_work(&drain_vmap_work)
}

void vmap_state::free_unmap_vmap_area(vmap_area* va) {
  // free_unmap_vmap_area(): flush_cache_vunmap is a no-op on x86; no debug_pagealloc flush.
  vunmap_range_noflush(va->va_start, va->va_end);
  free_vmap_area_noflush(va);
}

vm_struct* vmap_state::remove_vm_area(std::uint64_t addr) {
  // remove_vm_area() — mm/vmalloc.c (6.1)
  vmap_area* va = find_busy(addr);
  if (va == nullptr || va->vm == nullptr) return nullptr;
  vm_struct* vm = va->vm;
  va->vm = nullptr;
  free_unmap_vmap_area(va);
  return vm;
}

void vmap_state::free_vm_struct(vm_struct* vm) { kmalloc_.free(vm, kmalloc_kind::vm_struct); }

void vmap_state::__vunmap(vm_struct* area, bool deallocate_pages) {
  // The tail of __vunmap() — mm/vmalloc.c (6.1), after vm_remove_mappings(). High-order pages
  // of huge vmallocs were split, so every page is freed as order 0.
  if (deallocate_pages) {
    for (std::uint64_t i = 0; i < area->nr_pages; ++i)
      if (buddy_.__free_pages(area->pages[i], 0) != bd_error::none)
        throw std::logic_error("__vunmap: a vmalloc page was not an allocated order-0 page");
    nr_vmalloc_pages_ -= area->nr_pages;
    if (area->pages_array) {  // kvfree(area->pages)
      if (area->pages_addr != 0) {
        vm_struct* nested = remove_vm_area(area->pages_addr);
        if (nested == nullptr) throw std::logic_error("__vunmap: the nested pages array is gone");
        __vunmap(nested, true);
      } else {
        kmalloc_.uncharge(kmalloc_kind::pages_array);
      }
    }
  }
  kmalloc_.free(area, kmalloc_kind::vm_struct);
}

vm_error vmap_state::vfree(std::uint64_t addr) {
  vmap_state_call call(nesting_, last_warning_);
  last_error_ = vm_error::none;
  if (addr == 0) return vm_error::none;
  if (!is_aligned(addr, PAGE_SIZE))
    return refuse(vm_error::bad_address, "Trying to vfree() bad address (0x" + hex(addr) + ")");
  vmap_area* va = find_busy(addr);
  if (va == nullptr || va->vm == nullptr)
    return refuse(vm_error::not_found, "Trying to vfree() nonexistent vm area (0x" + hex(addr) + ")");
  // 6.1 would find the containing area and free it; the model refuses an interior address
  // (callers must pass what vmalloc returned).
  if (va->va_start != addr)
    return refuse(vm_error::interior_address, "Trying to vfree() an address inside a vm area (0x" + hex(addr) + ")");
  if (!(va->vm->flags & VM_ALLOC))
    return refuse(vm_error::wrong_kind, "Trying to vfree() a vmap()ed area (0x" + hex(addr) + "); use vunmap()");
  vm_struct* area = remove_vm_area(addr);
  __vunmap(area, true);
  maybe_drain();
  return vm_error::none;
}

vm_error vmap_state::vunmap(std::uint64_t addr) {
  vmap_state_call call(nesting_, last_warning_);
  last_error_ = vm_error::none;
  if (addr == 0) return vm_error::none;
  if (!is_aligned(addr, PAGE_SIZE))
    return refuse(vm_error::bad_address, "Trying to vunmap() bad address (0x" + hex(addr) + ")");
  vmap_area* va = find_busy(addr);
  if (va == nullptr || va->vm == nullptr)
    return refuse(vm_error::not_found, "Trying to vunmap() nonexistent vm area (0x" + hex(addr) + ")");
  if (va->va_start != addr)
    return refuse(vm_error::interior_address, "Trying to vunmap() an address inside a vm area (0x" + hex(addr) + ")");
  if (va->vm->flags & VM_ALLOC)
    return refuse(vm_error::wrong_kind, "Trying to vunmap() a vmalloc()ed area (0x" + hex(addr) + "); use vfree()");
  vm_struct* area = remove_vm_area(addr);
  __vunmap(area, false);
  maybe_drain();
  return vm_error::none;
}

std::uint64_t vmap_state::vmap(const std::vector<std::uint64_t>& pfns, std::uint64_t flags, std::uint64_t prot) {
  // vmap() — mm/vmalloc.c (6.1)
  vmap_state_call call(nesting_, last_warning_);
  last_error_ = vm_error::none;
  constexpr std::uint64_t allowed = VM_MAP | VM_USERMAP | VM_DMA_COHERENT | VM_NO_GUARD | VM_IOREMAP;
  if ((flags & VM_FLUSH_RESET_PERMS) || (flags & ~allowed)) {  // WARN_ON_ONCE(VM_FLUSH_RESET_PERMS)
    refuse(vm_error::bad_flags, "vmap: flags not allowed");
    return 0;
  }
  if (flags & VM_NO_GUARD) {  // "Your top guard is someone else's bottom guard."
    warn("vmap: VM_NO_GUARD cleared");
    flags &= ~VM_NO_GUARD;
  }
  if (pfns.empty()) {
    refuse(vm_error::invalid, "vmap: no pages");
    return 0;
  }
  if (pfns.size() > buddy_.total_managed_pages()) {
    refuse(vm_error::too_large, "vmap: count exceeds total pages");
    return 0;
  }
  for (std::uint64_t pfn : pfns)
    if (!mach_.config().is_ram(pfn)) {  // vmap_pages_pte_range's pfn_valid check, made first
      refuse(vm_error::invalid, "vmap: a frame is not RAM");
      return 0;
    }
  vm_struct* area = get_vm_area_caller(pfns.size() << PAGE_SHIFT, flags, "vmap");
  if (area == nullptr) return 0;
  area->pages = pfns;  // kept for the checkers; nr_pages stays 0 as without VM_MAP_PUT_PAGES
  const std::uint64_t addr = area->addr;
  if (vmap_pages_range(addr, addr + (pfns.size() << PAGE_SHIFT), prot | _PAGE_NX, pfns, PAGE_SHIFT) < 0) {
    vm_struct* removed = remove_vm_area(addr);  // vunmap(area->addr)
    __vunmap(removed, false);
    ++stats_.rollbacks;
    last_error_ = vm_error::no_memory;
    maybe_drain();
    return 0;
  }
  return addr;
}

std::vector<vm_struct*> vmap_state::pcpu_get_vm_areas(const std::vector<std::uint64_t>& offsets,
                                                       const std::vector<std::uint64_t>& sizes, std::uint64_t align) {
  vmap_state_call call(nesting_, last_warning_);
  last_error_ = vm_error::none;
  const std::size_t nr_vms = offsets.size();
  const auto& l = mach_.config().layout;
  // The kernel's BUG_ONs, refused: align a page multiple and a power of two, every offset and
  // size aligned to it, sizes non-zero, no two areas overlapping.
  if (nr_vms == 0 || sizes.size() != nr_vms || !is_pow2(align) || (align & ~PAGE_MASK) != 0) {
    refuse(vm_error::invalid, "pcpu_get_vm_areas: invalid align or area count");
    return {};
  }
  std::size_t last_area = 0;
  for (std::size_t area = 0; area < nr_vms; ++area) {
    const std::uint64_t start = offsets[area], end = start + sizes[area];
    if (!is_aligned(start, align) || !is_aligned(sizes[area], align) || sizes[area] == 0 || end < start) {
      refuse(vm_error::invalid, "pcpu_get_vm_areas: offset or size not aligned");
      return {};
    }
    if (start > offsets[last_area]) last_area = area;  // the area with the highest address
    for (std::size_t area2 = area + 1; area2 < nr_vms; ++area2)
      if (offsets[area2] < end && start < offsets[area2] + sizes[area2]) {
        refuse(vm_error::invalid, "pcpu_get_vm_areas: areas overlap");
        return {};
      }
  }
  const std::uint64_t vmalloc_start = ALIGN(cword{l.vmalloc_start}, cword{align}).v;
  const std::uint64_t vmalloc_end = l.vmalloc_end & ~(align - 1);
  const std::uint64_t last_end = offsets[last_area] + sizes[last_area];
  if (vmalloc_end - vmalloc_start < last_end) {  // WARN_ON(true)
    refuse(vm_error::invalid, "pcpu_get_vm_areas: the areas span more than the vmalloc range");
    return {};
  }
  std::vector<vmap_area*> vas(nr_vms, nullptr);
  std::vector<vm_struct*> vms(nr_vms, nullptr);
  auto err_free = [&] {
    for (std::size_t i = 0; i < nr_vms; ++i) {
      kmalloc_.free(vas[i], kmalloc_kind::vmap_area);
      kmalloc_.free(vms[i], kmalloc_kind::vm_struct);
    }
    last_error_ = last_error_ == vm_error::none ? vm_error::no_memory : last_error_;
    maybe_drain();
    return std::vector<vm_struct*>{};
  };
  for (std::size_t i = 0; i < nr_vms; ++i) {
    vas[i] = kmalloc_.alloc<vmap_area>(kmalloc_kind::vmap_area, kmalloc_site::vmap_area);
    vms[i] = kmalloc_.alloc<vm_struct>(kmalloc_kind::vm_struct, kmalloc_site::vm_struct);
    if (vas[i] == nullptr || vms[i] == nullptr) return err_free();
  }
  bool purged = false;
  for (;;) {  // retry:
    // The free blocks in address order: pvm_find_va_enclose_addr() and rb_prev() over the free
    // tree give the same blocks whatever the tree's shape.
    const std::vector<kva_interval> fb = kva_->free_intervals();
    auto enclose = [&](std::uint64_t addr) -> long {  // pvm_find_va_enclose_addr()
      const auto it = std::upper_bound(fb.begin(), fb.end(), addr,
                                       [](std::uint64_t x, const kva_interval& b) { return x < b.start; });
      return it == fb.begin() ? -1 : static_cast<long>(it - fb.begin()) - 1;
    };
    auto end_from_reverse = [&](long& va) -> std::uint64_t {  // pvm_determine_end_from_reverse()
      for (; va >= 0; --va) {
        const std::uint64_t addr = std::min(fb[static_cast<std::size_t>(va)].end & ~(align - 1), vmalloc_end);
        if (fb[static_cast<std::size_t>(va)].start < addr) return addr;
      }
      return 0;
    };
    std::size_t area = last_area, term_area = last_area;
    std::uint64_t start = offsets[area], end = start + sizes[area];
    long va = enclose(vmalloc_end);
    std::uint64_t base = end_from_reverse(va) - end;
    bool found = false;
    for (;;) {
      if (base + last_end < vmalloc_start + last_end) break;  // base underflowed: overflow
      if (va < 0) break;                                        // no fitting base
      const kva_interval& blk = fb[static_cast<std::size_t>(va)];
      if (base + end > blk.end) {  // wider than this block: move base down
        base = end_from_reverse(va) - end;
        term_area = area;
        continue;
      }
      if (base + start < blk.start) {  // does not fit: the previous block
        --va;
        base = end_from_reverse(va) - end;
        term_area = area;
        continue;
      }
      area = (area + nr_vms - 1) % nr_vms;  // this area fits: the previous one
      if (area == term_area) {
        found = true;
        break;
      }
      start = offsets[area];
      end = start + sizes[area];
      va = enclose(base + end);
    }
    if (found) {
      std::size_t placed = 0;
      for (; placed < nr_vms; ++placed) {
        const std::uint64_t s0 = base + offsets[placed];
        if (!kva_->reserve(s0, s0 + sizes[placed])) break;  // WARN_ON_ONCE: recovery
        vas[placed]->va_start = s0;
        vas[placed]->va_end = s0 + sizes[placed];
      }
      if (placed == nr_vms) break;
      // recovery: the areas already placed go back to free space (their descriptors with them).
      while (placed-- > 0) {
        if (!kva_->release(vas[placed])) throw std::logic_error("pcpu_get_vm_areas: recovery could not release");
        vas[placed] = nullptr;
      }
    }
    // overflow:
    if (purged) {
      last_error_ = vm_error::no_va;
      return err_free();
    }
    purge_vmap_area_lazy();
    purged = true;
    for (std::size_t i = 0; i < nr_vms; ++i)
      if (vas[i] == nullptr) {
        vas[i] = kmalloc_.alloc<vmap_area>(kmalloc_kind::vmap_area, kmalloc_site::vmap_area);
        if (vas[i] == nullptr) return err_free();
      }
  }
  // Insert all: busy areas with a vm_struct each (setup_vmalloc_vm_locked, VM_ALLOC).
  for (std::size_t i = 0; i < nr_vms; ++i) {
    vmap_area* v = vas[i];
    v->req_vstart = vmalloc_start;
    v->req_vend = vmalloc_end;
    v->req_align = align;
    if (!insert_vmap_area(v, busy_)) throw std::logic_error("pcpu_get_vm_areas: a placed area overlaps a busy one");
    vm_struct* vm = vms[i];
    vm->flags = VM_ALLOC;
    vm->addr = v->va_start;
    vm->size = va_size(v);
    vm->caller = "pcpu_get_vm_areas";
    vm->percpu = true;
    v->vm = vm;
  }
  ++stats_.pcpu_placements;
  return vms;
}

void vmap_state::pcpu_free_vm_areas(const std::vector<vm_struct*>& vms) {
  vmap_state_call call(nesting_, last_warning_);
  for (vm_struct* vm : vms) {  // free_vm_area()
    vm_struct* removed = remove_vm_area(vm->addr);
    if (removed != vm) throw std::logic_error("pcpu_free_vm_areas: not a busy percpu area");
    kmalloc_.free(vm, kmalloc_kind::vm_struct);
  }
  maybe_drain();
}

// =======================================================================================
// The VA layer alone (replay)

vmap_area* vmap_state::vmalloc_init_area(std::uint64_t start, std::uint64_t end) {
  // vmalloc_init(): for each vmlist entry, a vmap_area [addr, addr + size) into the busy tree;
  // vmap_init_free_space() then leaves the gaps free. Carving from [1, ULONG_MAX) in ascending
  // address order builds the same free tree (replay-facts §3).
  vmap_state_call call(nesting_, last_warning_);
  last_error_ = vm_error::none;
  if (start >= end || !is_aligned(start, PAGE_SIZE) || !is_aligned(end, PAGE_SIZE)) {
    refuse(vm_error::invalid, "vmalloc_init_area: [0x" + hex(start) + ", 0x" + hex(end) + ") is not a page range");
    return nullptr;
  }
  vmap_area* va = kmalloc_.alloc<vmap_area>(kmalloc_kind::vmap_area, kmalloc_site::vmap_area);
  if (va == nullptr) {
    last_error_ = vm_error::no_memory;
    return nullptr;
  }
  if (!kva_->reserve(start, end)) {
    kmalloc_.free(va, kmalloc_kind::vmap_area);
    refuse(vm_error::no_va, "vmalloc_init_area: [0x" + hex(start) + ", 0x" + hex(end) + ") is not free");
    return nullptr;
  }
  va->va_start = start;
  va->va_end = end;
  va->vm = nullptr;
  va->req_vstart = start;
  va->req_vend = end;
  va->req_align = PAGE_SIZE;
  if (!insert_vmap_area(va, busy_)) throw std::logic_error("vmalloc_init_area: free VA overlapped a busy area");
  return va;
}

vm_error vmap_state::free_vmap_area_noflush_at(std::uint64_t va_start) {
  vmap_state_call call(nesting_, last_warning_);
  last_error_ = vm_error::none;
  vmap_area* va = find_busy(va_start);
  if (va == nullptr || va->va_start != va_start)
    return refuse(vm_error::not_found, "free_vmap_area_noflush: no busy area starts at 0x" + hex(va_start));
  if (va->vm != nullptr && va->vm->nr_pages != 0)
    return refuse(vm_error::wrong_kind, "free_vmap_area_noflush: the area at 0x" + hex(va_start) + " owns pages; vfree it");
  drop_vm_struct(va);
  vunmap_range_noflush(va->va_start, va->va_end);
  free_vmap_area_noflush(va);
  return vm_error::none;
}

void vmap_state::drop_vm_struct(vmap_area* va) {
  // free_vm_area(): remove_vm_area() + kfree() of an area whose pages are not the vm's to free.
  if (vm_struct* vm = va->vm) {
    if (vm->pages_array && vm->pages_addr == 0) kmalloc_.uncharge(kmalloc_kind::pages_array);
    va->vm = nullptr;
    kmalloc_.free(vm, kmalloc_kind::vm_struct);
  }
}

vm_error vmap_state::free_vmap_area_at(std::uint64_t va_start) {
  // free_vmap_area() — mm/vmalloc.c (6.1): unlink from the busy tree, merge into free space.
  vmap_state_call call(nesting_, last_warning_);
  last_error_ = vm_error::none;
  vmap_area* va = find_busy(va_start);
  if (va == nullptr || va->va_start != va_start)
    return refuse(vm_error::not_found, "free_vmap_area: no busy area starts at 0x" + hex(va_start));
  if (va->vm != nullptr && va->vm->nr_pages != 0)
    return refuse(vm_error::wrong_kind, "free_vmap_area: the area at 0x" + hex(va_start) + " owns pages; vfree it");
  drop_vm_struct(va);
  vunmap_range_noflush(va->va_start, va->va_end);
  unlink_va(va, busy_, false);
  if (!kva_->release(va)) throw std::logic_error("free_vmap_area: the VA overlaps free space");
  return vm_error::none;
}

purge_result vmap_state::purge_vmap_area_range(std::uint64_t start, std::uint64_t end, bool full_pool_decay) {
  vmap_state_call call(nesting_, last_warning_);
  return __purge_vmap_area_lazy(start, end, full_pool_decay);
}

const vm_struct* vmap_state::find_vm_area(std::uint64_t addr) const {
  const vmap_area* va = find_busy(addr);
  return va == nullptr ? nullptr : va->vm;
}

std::optional<std::uint64_t> vmap_state::vmalloc_to_page(std::uint64_t addr) const {
  // vmalloc_to_page(): walk; a huge leaf gives the 4 KiB slice's page; none -> NULL.
  if (!is_vmalloc_or_module_addr(addr)) return std::nullopt;
  const walk_result w = mach_.walk(addr);
  if (!w.ok()) return std::nullopt;
  return w.leaf.pfn + ((addr - w.leaf.va) >> PAGE_SHIFT);
}

// =======================================================================================
// Lazy purge

void vmap_state::release_va(std::uint64_t start, std::uint64_t end) {
  vmap_area* va = kmalloc_.alloc<vmap_area>(kmalloc_kind::vmap_area, kmalloc_site::free_space);
  if (va == nullptr) throw std::runtime_error("release_va: no descriptor (the model's free_space site may not fail here)");
  va->va_start = start;
  va->va_end = end;
  if (!kva_->release(va)) throw std::logic_error("release_va: the VA overlaps free space");
}

purge_result vmap_state::__purge_vmap_area_lazy(std::uint64_t start, std::uint64_t end, bool full_pool_decay) {
  // __purge_vmap_area_lazy() — mm/vmalloc.c (6.1; with pools, 6.9+'s decay and pool_add)
  purge_result res;
  ++stats_.purges;
  if (pools) {  // decay_va_pool_node() for every node, before anything is detached
    for (unsigned n = 0; n < pools->nr_nodes(); ++n)
      for (const kva_interval& d : pools->decay(n, full_pool_decay)) {
        release_va(d.start, d.end);
        ++stats_.decayed_areas;
      }
  }
  if (purge_.empty()) {
    res.start = start;
    res.end = end;
    if (on_purge) on_purge(res);
    return res;
  }
  // Detach the whole purge tree and list.
  list_head local;
  list_splice_init(&purge_.head, &local);
  purge_.root.rb_node = nullptr;
  start = std::min(start, va_of_list(local.next)->va_start);
  end = std::max(end, va_of_list(local.prev)->va_end);
  // One flush over the hull, before any area goes back to free space.
  if (mach_.flush_tlb_kernel_range(start, end) != mm_status::ok)
    throw std::logic_error("__purge_vmap_area_lazy: the flush range was refused");
  if (!pools) {
    // 6.1: every area back to the free tree, in address order, merging as it goes.
    while (!list_empty(&local)) {
      vmap_area* va = va_of_list(local.next);
      list_del_init(&va->list);
      const std::uint64_t nr = va_size(va) >> PAGE_SHIFT;
      res.areas.push_back({va->va_start, va->va_end});
      if (!kva_->release(va)) throw std::logic_error("__purge_vmap_area_lazy: purged VA overlaps free space");
      vmap_lazy_nr_ -= nr;
      ++res.nr_purged;
    }
  } else {
    // 6.9+: purge_vmap_node() for each node with lazy areas, in node order. Each node walks its
    // lazy list upwards: an area that recorded a node goes to the head of that node's pool
    // (node_pool_add_va) unless the purge skips populating; the rest are list_add'ed to a local
    // list and so return to the free tree highest first (reclaim_list_global); the counter
    // drops once per node.
    std::vector<std::vector<vmap_area*>> by_node(pools->nr_nodes());
    while (!list_empty(&local)) {
      vmap_area* va = va_of_list(local.next);
      list_del_init(&va->list);
      by_node[pools->lazy_node(va->flags, va->va_start)].push_back(va);
    }
    for (unsigned n = 0; n < by_node.size(); ++n) {
      std::vector<vmap_area*> to_free;
      std::uint64_t nr_pages = 0;
      for (vmap_area* va : by_node[n]) {
        nr_pages += va_size(va) >> PAGE_SHIFT;
        res.areas.push_back({va->va_start, va->va_end});
        ++res.nr_purged;
        if (!full_pool_decay && pools->pool_add(n, va->flags, va->va_start, va->va_end)) {
          res.pooled.push_back({va->va_start, va->va_end});
          ++stats_.pooled_areas;
          kmalloc_.free(va, kmalloc_kind::vmap_area);
        } else {
          to_free.push_back(va);
        }
      }
      vmap_lazy_nr_ -= nr_pages;
      for (auto it = to_free.rbegin(); it != to_free.rend(); ++it)
        if (!kva_->release(*it)) throw std::logic_error("__purge_vmap_area_lazy: purged VA overlaps free space");
    }
    std::sort(res.areas.begin(), res.areas.end(), [](const kva_interval& a, const kva_interval& b) { return a.start < b.start; });
  }
  res.purged = true;
  res.start = start;
  res.end = end;
  stats_.purged_areas += res.nr_purged;
  if (on_purge) on_purge(res);
  return res;
}

purge_result vmap_state::purge_vmap_area_lazy() {
  // purge_vmap_area_lazy(): vmap_purge_lock, purge_fragmented_blocks_allcpus() (no vmap
  // blocks in the model), __purge_vmap_area_lazy(ULONG_MAX, 0). The overflow path's purge
  // decays the pools fully (6.9+ reclaim_and_purge_vmap_areas()).
  return __purge_vmap_area_lazy(~std::uint64_t{0}, 0, true);
}

purge_result vmap_state::vm_unmap_aliases() {
  // vm_unmap_aliases() = _vm_unmap_aliases(ULONG_MAX, 0, 0): with no vmap blocks nothing is
  // dirty, so flush stays 0 and only the lazy purge (and its own flush) happens.
  vmap_state_call call(nesting_, last_warning_);
  return __purge_vmap_area_lazy(~std::uint64_t{0}, 0);
}

std::vector<purge_result> vmap_state::run_drain_work() {
  // drain_vmap_area_work() — mm/vmalloc.c (5.18 .. 6.8): purge while over the threshold.
  std::vector<purge_result> out;
  drain_pending_ = false;
  ++stats_.drains;
  do {
    out.push_back(__purge_vmap_area_lazy(~std::uint64_t{0}, 0, false));  // partial pool decay
    if (!out.back().purged) break;  // nothing left to purge: the counter cannot drop further
  } while (vmap_lazy_nr_ > lazy_max_pages());
  return out;
}

void vmap_state::maybe_drain() {
  if (drain_pending_ && cfg_.drain_synchronously && nesting_ == 1) run_drain_work();
}

// =======================================================================================
// /proc/vmallocinfo

std::string vmap_state::vmallocinfo() const {
  // s_show() / show_numa_info() / show_purge_info() — mm/vmalloc.c (6.1), as root (kptr_restrict
  // lets %pK print the address). One node: " N0=<pages>" on areas with pages (CONFIG_NUMA).
  std::string out;
  char buf[160];
  for (const list_head* l = busy_.head.next; l != &busy_.head; l = l->next) {
    const vmap_area* va = va_of_list(l);
    const vm_struct* v = va->vm;
    if (v == nullptr) {
      std::snprintf(buf, sizeof buf, "0x%016" PRIx64 "-0x%016" PRIx64 " %7" PRIu64 " vm_map_ram\n", va->va_start,
                    va->va_end, va->va_end - va->va_start);
      out += buf;
      continue;
    }
    std::snprintf(buf, sizeof buf, "0x%016" PRIx64 "-0x%016" PRIx64 " %7" PRIu64, v->addr, v->addr + v->size, v->size);
    out += buf;
    if (!v->caller.empty()) out += " " + v->caller;
    if (v->nr_pages != 0) out += " pages=" + std::to_string(v->nr_pages);
    if (v->phys_addr != 0) {
      std::snprintf(buf, sizeof buf, " phys=0x%016" PRIx64, v->phys_addr);
      out += buf;
    }
    if (v->flags & VM_IOREMAP) out += " ioremap";
    if (v->flags & VM_ALLOC) out += " vmalloc";
    if (v->flags & VM_MAP) out += " vmap";
    if (v->flags & VM_USERMAP) out += " user";
    if (v->flags & VM_DMA_COHERENT) out += " dma-coherent";
    if (v->pages_addr != 0 && is_vmalloc_addr(v->pages_addr)) out += " vpages";
    if (!(v->flags & VM_UNINITIALIZED) && v->nr_pages != 0) out += " N0=" + std::to_string(v->nr_pages);
    out += "\n";
  }
  for (const list_head* l = purge_.head.next; l != &purge_.head; l = l->next) {
    const vmap_area* va = va_of_list(l);
    std::snprintf(buf, sizeof buf, "0x%016" PRIx64 "-0x%016" PRIx64 " %7" PRIu64 " unpurged vm_area\n", va->va_start,
                  va->va_end, va->va_end - va->va_start);
    out += buf;
  }
  return out;
}

}  // namespace mmref::vmalloc
