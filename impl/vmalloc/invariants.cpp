// impl/vmalloc/invariants.cpp — the VM-* checkers over a live vmap_state.
#include "model/hex.hpp"
#include "impl/vmalloc/invariants.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <sstream>

#include "impl/buddy/invariants.hpp"

namespace mmref::vmalloc {

namespace {

std::string iv(std::uint64_t s, std::uint64_t e) { return "[" + hex(s) + ", " + hex(e) + ")"; }

std::vector<const vmap_area*> areas(const va_tree& t) {
  std::vector<const vmap_area*> out;
  for (const list_head* l = t.head.next; l != &t.head; l = l->next) out.push_back(va_of_list(l));
  return out;
}

// The part of an area that may be mapped: everything but the guard page.
std::uint64_t mapped_end(const vmap_area* va) {
  return va->vm == nullptr ? va->va_start : va->vm->addr + get_vm_area_size(va->vm);
}

bool truth_of(cbool b) { return truth(b); }

}  // namespace

std::vector<violation> check_VM_DISJOINT(const vmap_state& vs) {
  // The busy list is address sorted (checked here too): disjointness of neighbours is
  // disjointness of all pairs.
  std::vector<violation> out;
  const auto busy = areas(vs.busy());
  for (std::size_t i = 1; i < busy.size(); ++i) {
    const vmap_area* a = busy[i - 1];
    const vmap_area* b = busy[i];
    if (a->va_start >= b->va_start)
      out.push_back({inv::VM_DISJOINT, "busy list out of order at " + iv(a->va_start, a->va_end) + ", " + iv(b->va_start, b->va_end)});
    if (!truth_of(vm_disjoint(cword{a->va_start}, cword{a->va_end}, cword{b->va_start}, cword{b->va_end})))
      out.push_back({inv::VM_DISJOINT, "busy areas " + iv(a->va_start, a->va_end) + " and " + iv(b->va_start, b->va_end) + " overlap"});
  }
  return out;
}

std::vector<violation> check_VM_RANGE(const vmap_state& vs) {
  std::vector<violation> out;
  for (const vmap_area* va : areas(vs.busy())) {
    if (!truth_of(vm_range(cword{va->va_start}, cword{va->va_end}, cword{va->req_align}, cword{va->req_vstart},
                           cword{va->req_vend})))
      out.push_back({inv::VM_RANGE, "busy area " + iv(va->va_start, va->va_end) + " for a request of align " +
                                   hex(va->req_align) + " in " + iv(va->req_vstart, va->req_vend)});
    if (va->vm != nullptr && (va->vm->addr != va->va_start || va->vm->size != va_size(va)))
      out.push_back({inv::VM_RANGE, "vm_struct " + iv(va->vm->addr, va->vm->addr + va->vm->size) + " disagrees with its area " +
                                   iv(va->va_start, va->va_end)});
  }
  return out;
}

std::vector<violation> check_VM_PARTITION(const vmap_state& vs) {
  std::vector<violation> out;
  struct piece {
    std::uint64_t start, end;
    const char* set;
  };
  std::vector<piece> all;
  for (const vmap_area* va : areas(vs.busy())) all.push_back({va->va_start, va->va_end, "busy"});
  for (const vmap_area* va : areas(vs.lazy())) all.push_back({va->va_start, va->va_end, "lazy"});
  for (const kva_interval& f : vs.kva().free_intervals()) all.push_back({f.start, f.end, "free"});
  if (vs.pools)
    for (const kva_interval& p : vs.pools->pooled()) all.push_back({p.start, p.end, "pooled"});
  std::sort(all.begin(), all.end(), [](const piece& a, const piece& b) { return a.start < b.start; });
  std::uint64_t at = KVA_SPACE_START;
  const char* prev = "the start of the address space";
  for (const piece& p : all) {
    if (!truth_of(vm_partition_adjacent(cword{at}, cword{p.start}))) {
      out.push_back({inv::VM_PARTITION, std::string(p.start > at ? "gap " : "overlap ") + iv(std::min(at, p.start), std::max(at, p.start)) +
                                       " between " + prev + " and " + p.set + " " + iv(p.start, p.end)});
      if (out.size() > 8) return out;
    }
    at = std::max(at, p.end);
    prev = p.set;
  }
  if (at != KVA_SPACE_END) out.push_back({inv::VM_PARTITION, "the address space ends at " + hex(at) + ", not ULONG_MAX"});
  if (std::string e = vs.kva().check_structure(); !e.empty())
    out.push_back({inv::VM_PARTITION, std::string(vs.kva().name()) + " free space: " + e});
  // Every descriptor is in exactly one place: busy, lazy, or the strategy's own.
  const std::uint64_t held = areas(vs.busy()).size() + areas(vs.lazy()).size() + vs.kva().descriptors();
  if (vs.kmalloc().live(kmalloc_kind::vmap_area) != held)
    out.push_back({inv::VM_PARTITION, std::to_string(vs.kmalloc().live(kmalloc_kind::vmap_area)) +
                                     " vmap_area descriptors live, " + std::to_string(held) + " in the trees"});
  return out;
}

std::vector<violation> check_VM_LAZY_ACCT(const vmap_state& vs) {
  std::uint64_t pages = 0;
  for (const vmap_area* va : areas(vs.lazy())) pages += va_size(va) >> PAGE_SHIFT;
  if (truth_of(vm_lazy_acct(cword{vs.vmap_lazy_nr()}, cword{pages}))) return {};
  return {{inv::VM_LAZY_ACCT, "vmap_lazy_nr is " + std::to_string(vs.vmap_lazy_nr()) + ", the lazy areas hold " +
                             std::to_string(pages) + " pages"}};
}

std::vector<violation> check_VM_NO_REUSE(const vmap_state& vs) {
  std::vector<violation> out;
  const auto busy = areas(vs.busy());
  const auto lazy = areas(vs.lazy());
  // Both lists are sorted: a merge walk finds every overlapping pair.
  std::size_t i = 0, j = 0;
  while (i < busy.size() && j < lazy.size()) {
    const vmap_area* b = busy[i];
    const vmap_area* l = lazy[j];
    if (!truth_of(vm_no_reuse(cword{b->va_start}, cword{b->va_end}, cword{l->va_start}, cword{l->va_end})))
      out.push_back({inv::VM_NO_REUSE, "busy area " + iv(b->va_start, b->va_end) + " overlaps lazily freed " +
                                      iv(l->va_start, l->va_end) + " before its TLB flush"});
    if (b->va_end <= l->va_end) ++i; else ++j;
  }
  // Every unmap still owed a flush in vmalloc or module space lies in a lazy area: VA whose
  // stale TLB entries may live is never busy or free.
  for (const auto& [key, o] : vs.mach().owed()) {
    if (!vs.is_vmalloc_or_module_addr(o.va)) continue;
    const vmap_area* l = find_vmap_area_in(vs.lazy(), o.va);
    if (l == nullptr || o.va + o.size > l->va_end) {
      const vmap_area* b = find_vmap_area_in(vs.busy(), o.va);
      out.push_back({inv::VM_NO_REUSE, "a TLB flush is owed for " + iv(o.va, o.va + o.size) + ", which is " +
                                      (b != nullptr ? "busy again" : "not in any lazy area")});
    }
  }
  return out;
}

std::vector<violation> check_VM_MAP(const vmap_state& vs) {
  std::vector<violation> out;
  std::uint64_t with_vm = 0, kmalloc_arrays = 0;
  for (const vmap_area* va : areas(vs.busy())) {
    const vm_struct* vm = va->vm;
    if (vm == nullptr) continue;
    ++with_vm;
    if (vm->pages_array && vm->pages_addr == 0) ++kmalloc_arrays;
    if (vm->percpu) continue;  // no guard page; the percpu allocator maps it, not vmalloc
    const std::uint64_t n = (vm->flags & VM_ALLOC) ? vm->nr_pages : vm->pages.size();
    if (n != get_vm_area_size(vm) >> PAGE_SHIFT || vm->pages.size() != n)
      out.push_back({inv::VM_MAP, "area " + iv(va->va_start, va->va_end) + " has " + std::to_string(vm->pages.size()) +
                                 " pages recorded, " + std::to_string(n) + " counted, for " +
                                 std::to_string(get_vm_area_size(vm) >> PAGE_SHIFT) + " mapped pages"});
    for (std::uint64_t i = 0; i < std::min<std::uint64_t>(n, vm->pages.size()); ++i) {
      const std::uint64_t a = vm->addr + (i << PAGE_SHIFT);
      const walk_result w = vs.mach().walk(a);
      const std::uint64_t pfn = w.ok() ? w.leaf.pfn + ((a - w.leaf.va) >> PAGE_SHIFT) : 0;
      if (!truth_of(vm_map_page(cbool{w.ok()}, cword{pfn}, cword{vm->pages[i]}))) {
        out.push_back({inv::VM_MAP, "page " + std::to_string(i) + " of " + iv(va->va_start, va->va_end) + " at " + hex(a) +
                                   (w.ok() ? " maps pfn " + hex(pfn) : std::string(" is not mapped")) + ", pages[" +
                                   std::to_string(i) + "] is " + hex(vm->pages[i])});
        break;
      }
    }
    if (!(vm->flags & VM_NO_GUARD) && vs.mach().walk(va->va_end - PAGE_SIZE).ok())
      out.push_back({inv::VM_MAP, "the guard page " + hex(va->va_end - PAGE_SIZE) + " of " + iv(va->va_start, va->va_end) + " is mapped"});
  }
  if (vs.kmalloc().live(kmalloc_kind::vm_struct) != with_vm)
    out.push_back({inv::VM_MAP, std::to_string(vs.kmalloc().live(kmalloc_kind::vm_struct)) + " vm_structs live, " +
                               std::to_string(with_vm) + " busy areas own one"});
  if (vs.kmalloc().live(kmalloc_kind::pages_array) != kmalloc_arrays)
    out.push_back({inv::VM_MAP, std::to_string(vs.kmalloc().live(kmalloc_kind::pages_array)) + " kmalloc'd pages arrays live, " +
                               std::to_string(kmalloc_arrays) + " areas own one"});
  return out;
}

std::vector<violation> check_VM_NONCONTIG(const vmap_state& vs) {
  // The pages of vmalloc'd areas are distinct and each an allocated order-0 page of the buddy
  // allocator (physical contiguity is never required: a property shows vmalloc succeeding
  // where no contiguous block exists).
  std::vector<violation> out;
  std::map<std::uint64_t, std::uint64_t> owner;  // pfn -> area start
  std::uint64_t counted = 0;
  for (const vmap_area* va : areas(vs.busy())) {
    const vm_struct* vm = va->vm;
    if (vm == nullptr || !(vm->flags & VM_ALLOC)) continue;
    counted += vm->nr_pages;
    for (std::uint64_t i = 0; i < std::min<std::uint64_t>(vm->nr_pages, vm->pages.size()); ++i) {
      const std::uint64_t pfn = vm->pages[i];
      const auto [it, fresh] = owner.emplace(pfn, va->va_start);
      if (!fresh) {
        out.push_back({inv::VM_NONCONTIG, "pfn " + hex(pfn) + " is a page of both " + hex(it->second) + " and " + hex(va->va_start)});
        continue;
      }
      const auto order = vs.buddy().allocated_order(pfn);
      if (!order || *order != 0 || vs.buddy().page_at(pfn)._refcount < 1)
        out.push_back({inv::VM_NONCONTIG, "page " + std::to_string(i) + " (pfn " + hex(pfn) + ") of " + iv(va->va_start, va->va_end) +
                                         " is not an allocated order-0 page"});
    }
  }
  if (counted != vs.nr_vmalloc_pages())
    out.push_back({inv::VM_NONCONTIG, "nr_vmalloc_pages is " + std::to_string(vs.nr_vmalloc_pages()) + ", areas hold " +
                                     std::to_string(counted)});
  return out;
}

std::vector<violation> check_VM_NO_STRAY(const vmap_state& vs) {
  std::vector<violation> out;
  const auto& l = vs.mach().config().layout;
  const std::pair<std::uint64_t, std::uint64_t> ranges[] = {{l.vmalloc_start, l.vmalloc_end},
                                                            {l.modules_vaddr, l.modules_end}};
  for (const auto& [lo, hi] : ranges) {
    for (const leaf_info& leaf : vs.mach().tables().leaves(lo, hi)) {
      const vmap_area* va = find_vmap_area_in(vs.busy(), leaf.va);
      const bool ok = va != nullptr && truth_of(vm_no_stray(cword{leaf.va}, cword{leaf.va + leaf.size},
                                                            cword{va->va_start}, cword{mapped_end(va)}));
      if (!ok) {
        out.push_back({inv::VM_NO_STRAY, "present leaf " + iv(leaf.va, leaf.va + leaf.size) + " -> pfn " + hex(leaf.pfn) +
                                        (va == nullptr ? " outside every busy area"
                                                       : " outside the mapped pages of " + iv(va->va_start, va->va_end))});
        if (out.size() > 8) return out;
      }
    }
  }
  return out;
}

std::vector<violation> check_VM_PURGE(const vmap_state& vs, const purge_result& p) {
  std::vector<violation> out;
  if (!p.purged) return out;
  if (!vs.lazy().empty()) out.push_back({inv::VM_PURGE, "lazy areas remain after the purge"});
  if (vs.vmap_lazy_nr() != 0)
    out.push_back({inv::VM_PURGE, "vmap_lazy_nr is " + std::to_string(vs.vmap_lazy_nr()) + " after the purge"});
  const auto free = vs.kva().free_intervals();
  for (std::size_t i = 1; i < free.size(); ++i)
    if (free[i - 1].end == free[i].start)
      out.push_back({inv::VM_PURGE, "free space not coalesced at " + hex(free[i].start)});
  for (const kva_interval& a : p.areas) {
    if (!truth_of(vm_purge_covers(cword{p.start}, cword{p.end}, cword{a.start}, cword{a.end})))
      out.push_back({inv::VM_PURGE, "purged area " + iv(a.start, a.end) + " outside the flushed range " + iv(p.start, p.end)});
    const auto it = std::upper_bound(free.begin(), free.end(), a.start,
                                     [](std::uint64_t x, const kva_interval& f) { return x < f.start; });
    const bool in_free = it != free.begin() && std::prev(it)->end >= a.end;
    const bool in_pool = std::find(p.pooled.begin(), p.pooled.end(), a) != p.pooled.end();
    if (!in_free && !in_pool)
      out.push_back({inv::VM_PURGE, "purged area " + iv(a.start, a.end) + " is back neither in free space nor in a pool"});
  }
  return out;
}

std::vector<violation> check_vmalloc(const vmap_state& vs) {
  std::vector<violation> v;
  auto add = [&](std::vector<violation> w) {
    for (violation& x : w) v.push_back(std::move(x));
  };
  add(check_VM_DISJOINT(vs));
  add(check_VM_RANGE(vs));
  add(check_VM_PARTITION(vs));
  add(check_VM_LAZY_ACCT(vs));
  add(check_VM_NO_REUSE(vs));
  add(check_VM_MAP(vs));
  add(check_VM_NONCONTIG(vs));
  add(check_VM_NO_STRAY(vs));
  add(check_machine(vs.mach()));
  add(buddy::check_buddy(vs.buddy()));
  return v;
}

std::string dump_vmalloc(const vmap_state& vs, std::size_t max_lines) {
  std::ostringstream os;
  os << "vmap state: strategy " << vs.kva().name() << ", vmap_lazy_nr " << vs.vmap_lazy_nr() << " (lazy_max_pages "
     << vs.lazy_max_pages() << "), nr_vmalloc_pages " << vs.nr_vmalloc_pages() << "\n";
  std::size_t lines = 0;
  auto line = [&](const std::string& s) {
    if (lines++ < max_lines) os << "  " << s << "\n";
  };
  for (const vmap_area* va : areas(vs.busy()))
    line("busy " + iv(va->va_start, va->va_end) +
         (va->vm != nullptr ? " pages=" + std::to_string(va->vm->nr_pages) + " flags " + hex(va->vm->flags) : " (no vm)"));
  for (const vmap_area* va : areas(vs.lazy())) line("lazy " + iv(va->va_start, va->va_end));
  for (const kva_interval& f : vs.kva().free_intervals()) line("free " + iv(f.start, f.end));
  if (lines > max_lines) os << "  ... " << (lines - max_lines) << " more lines\n";
  return os.str();
}

std::string vmalloc_report(const std::vector<violation>& v, const vmap_state& vs) {
  if (v.empty()) return "";
  std::ostringstream os;
  for (const violation& x : v) os << x.id << " violated: " << x.detail << "\n";
  os << "state judged:\n" << dump_vmalloc(vs) << dump_machine(vs.mach(), 24);
  return os.str();
}

}  // namespace mmref::vmalloc
