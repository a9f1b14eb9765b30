// impl/vmalloc/kva_classic.cpp — mm/vmalloc.c's busy-tree allocator with free_vmap_cache
// (Linux 5.0/5.1; see kva_classic.hpp for the version window).
#include "impl/vmalloc/kva_classic.hpp"

#include <string>
#include <utility>

namespace mmref::vmalloc {

namespace {

// ALIGN() — include/linux/kernel.h: wraps to 0 above the last multiple, as the kernel's does.
std::uint64_t align_up(std::uint64_t x, std::uint64_t a) { return ALIGN(cword{x}, cword{a}).v; }

std::string range_str(const vmap_area* va) {
  return "[" + std::to_string(va->va_start) + ", " + std::to_string(va->va_end) + ")";
}

// The next / previous area in address order (vmap_area_list), or null.
const vmap_area* list_next_va(const vmap_area* va, const va_tree& t) {
  return va->list.next == &t.head ? nullptr : va_of_list(va->list.next);
}
const vmap_area* list_prev_va(const vmap_area* va, const va_tree& t) {
  return va->list.prev == &t.head ? nullptr : va_of_list(va->list.prev);
}

// rb-tree shape: parents, no red node with a red child, equal black heights. Returns the black
// height, or -1 after writing the first problem to err.
int check_rb_subtree(const rb_node* n, const rb_node* parent, std::string& err) {
  if (n == nullptr) return 1;
  const vmap_area* va = va_of(n);
  if (rb_parent(n) != parent) {
    err = "busy tree: wrong parent pointer at " + range_str(va);
    return -1;
  }
  if (rb_is_red(n) && (rb_is_red(n->rb_left) || rb_is_red(n->rb_right))) {
    err = "busy tree: red node with a red child at " + range_str(va);
    return -1;
  }
  const int l = check_rb_subtree(n->rb_left, n, err);
  if (l < 0) return -1;
  const int r = check_rb_subtree(n->rb_right, n, err);
  if (r < 0) return -1;
  if (l != r) {
    err = "busy tree: unequal black heights at " + range_str(va);
    return -1;
  }
  return l + (rb_is_black(n) ? 1 : 0);
}

}  // namespace

kva_classic::kva_classic(kmalloc_stub& cache, unsigned nr_cpus) : kmalloc_(cache) {
  // vmalloc_init() with no early areas: an empty vmap_area_root, and the cache globals zero as
  // static storage leaves them. There are no per-CPU structures in this allocator.
  (void)nr_cpus;
}

// The records own themselves through records_; the tree and list only link them.
kva_classic::~kva_classic() = default;

const vmap_area* kva_classic::free_vmap_cache() const { return va_of(free_vmap_cache_); }

vmap_area* kva_classic::insert_record(std::uint64_t start, std::uint64_t end) {
  auto rec = std::make_unique<vmap_area>();
  rec->va_start = start;
  rec->va_end = end;
  if (!insert_vmap_area(rec.get(), busy_)) return nullptr;
  vmap_area* va = rec.get();
  records_.emplace(va, std::move(rec));
  return va;
}

kva_result kva_classic::alloc(const kva_request& req) {
  // alloc_vmap_area() — mm/vmalloc.c (5.1), the part under vmap_area_lock. The kernel's
  // `goto overflow` is a failed result here; the caller purges and calls again (`goto retry`).
  kva_result r;
  const std::uint64_t size = req.size;
  const std::uint64_t align = req.align;
  const std::uint64_t vstart = req.vstart;
  const std::uint64_t vend = req.vend;

  // BUG_ON(!size); BUG_ON(offset_in_page(size)); BUG_ON(!is_power_of_2(align)): before the
  // lock, so nothing has changed yet.
  if (size == 0 || !is_aligned(size, PAGE_SIZE) || !is_pow2(align)) return r;

  // Invalidate the cache for more permissive parameters: a size that fits the largest hole
  // seen below the cache, a lower vstart, or a smaller alignment.
  if (free_vmap_cache_ == nullptr || size < cached_hole_size_ || vstart < cached_vstart_ ||
      align < cached_align_) {
    cached_hole_size_ = 0;
    free_vmap_cache_ = nullptr;
  }
  // Record the parameters whatever happens next.
  cached_vstart_ = vstart;
  cached_align_ = align;

  // The starting point of the search.
  std::uint64_t addr = 0;
  vmap_area* first = nullptr;
  if (free_vmap_cache_ != nullptr) {
    first = va_of(free_vmap_cache_);
    addr = align_up(first->va_end, align);
    if (addr < vstart) {
      // `goto nocache`: invalidate and search from vstart (re-recording vstart/align is a no-op).
      cached_hole_size_ = 0;
      free_vmap_cache_ = nullptr;
      first = nullptr;
    } else if (addr + size < addr) {
      return r;  // overflow
    }
  }
  bool found = false;  // `goto found` before the walk: no area ends at or above addr
  if (free_vmap_cache_ == nullptr) {
    addr = align_up(vstart, align);
    if (addr + size < addr) return r;  // overflow
    // The first area whose end is at or above addr; stop early at one that contains addr.
    rb_node* n = busy_.root.rb_node;
    while (n != nullptr) {
      vmap_area* tmp = va_of(n);
      if (tmp->va_end >= addr) {
        first = tmp;
        if (tmp->va_start <= addr) break;
        n = n->rb_left;
      } else {
        n = n->rb_right;
      }
    }
    found = first == nullptr;
  }

  // From the starting point, walk the areas in address order until a hole fits.
  if (!found) {
    while (addr + size > first->va_start && addr + size <= vend) {
      // Note the largest hole skipped below the future cache (a wrapping sum compares as the
      // kernel's unsigned long arithmetic does).
      if (addr + cached_hole_size_ < first->va_start) cached_hole_size_ = first->va_start - addr;
      addr = align_up(first->va_end, align);
      if (addr + size < addr) return r;  // overflow
      if (first->list.next == &busy_.head) break;  // list_is_last: `goto found`
      first = va_of_list(first->list.next);
    }
  }

  // found: vend, and vstart against an ALIGN() that wrapped to 0 (afd07389d3f4).
  if (addr + size > vend || addr < vstart) return r;
  if (addr < KVA_SPACE_START) return r;  // model boundary: only with vstart == 0

  vmap_area* va = insert_record(addr, addr + size);
  if (va == nullptr) return r;  // __insert_vmap_area() would BUG(); unreachable for vstart >= 1
  free_vmap_cache_ = &va->rb;
  r.ok = true;
  r.addr = addr;
  return r;
}

void kva_classic::free_vmap_area(vmap_area* va) {
  // __free_vmap_area() — mm/vmalloc.c. An area ending below cached_vstart drops the cache; one
  // at or below the cached area moves the cache to its predecessor (possibly none).
  // cached_hole_size and cached_align are left alone ("it won't go very wrong").
  if (free_vmap_cache_ != nullptr) {
    if (va->va_end < cached_vstart_) {
      free_vmap_cache_ = nullptr;
    } else {
      const vmap_area* cache = va_of(free_vmap_cache_);
      if (va->va_start <= cache->va_start) free_vmap_cache_ = rb_prev(&va->rb);
    }
  }
  unlink_va(va, busy_, false);  // rb_erase, RB_CLEAR_NODE, list_del_rcu
  records_.erase(va);           // kfree_rcu
}

bool kva_classic::release(vmap_area* va) {
  // The purge's loop of __free_vmap_area() calls over every record that [va_start, va_end)
  // covers. The range must be exactly a run of adjacent records; otherwise nothing changes.
  if (va == nullptr || records_.count(va) != 0) return false;  // never one of our own records
  const std::uint64_t start = va->va_start;
  const std::uint64_t end = va->va_end;
  if (end <= start) return false;
  vmap_area* first = find_vmap_area_in(busy_, start);
  if (first == nullptr || first->va_start != start) return false;
  const vmap_area* last = first;
  while (last->va_end < end) {
    const vmap_area* next = list_next_va(last, busy_);
    if (next == nullptr || next->va_start != last->va_end) return false;
    last = next;
  }
  if (last->va_end != end) return false;

  // In address order: the order of vmap_area_list, which the purge walked up to 4.6. From 4.7
  // the purge frees in vmap_purge_list (llist) order instead, which ends with the same
  // free_vmap_cache whatever the order: none if the cache was set and a freed area ends below
  // cached_vstart; else the highest remaining area below the lowest freed area that starts at or
  // below the cached one (none if there is no such remaining area); else unchanged. The random
  // test checks this against a shuffled order.
  vmap_area* cur = first;
  for (;;) {
    const bool done = cur == last;
    vmap_area* next = done ? nullptr : va_of_list(cur->list.next);
    free_vmap_area(cur);
    if (done) break;
    cur = next;
  }
  kmalloc_.free(va, kmalloc_kind::vmap_area);
  return true;
}

bool kva_classic::reserve(std::uint64_t start, std::uint64_t end) {
  // vmalloc_init()'s import of early areas / pcpu_get_vm_areas(): __insert_vmap_area() of an
  // exact range, free_vmap_cache untouched. The range must lie in free space.
  if (end <= start || start < KVA_SPACE_START || end > KVA_SPACE_END) return false;
  return insert_record(start, end) != nullptr;
}

std::vector<kva_interval> kva_classic::free_intervals() const {
  std::vector<kva_interval> out;
  std::uint64_t cursor = KVA_SPACE_START;
  for (const list_head* l = busy_.head.next; l != &busy_.head; l = l->next) {
    const vmap_area* va = va_of_list(l);
    if (va->va_start > cursor) out.push_back({cursor, va->va_start});
    if (va->va_end > cursor) cursor = va->va_end;
  }
  if (cursor < KVA_SPACE_END) out.push_back({cursor, KVA_SPACE_END});
  return out;
}

std::optional<kva_interval> kva_classic::free_block_at_or_below(std::uint64_t addr) const {
  // pvm_find_va_enclose_addr() — mm/vmalloc.c (5.2+) over a free tree made of these gaps: the
  // gap with start <= addr <= end, else the highest gap starting below addr. Gaps never touch,
  // so both are "the highest gap whose start is <= addr".
  //
  // The highest area starting at or below addr.
  const vmap_area* below = nullptr;
  const rb_node* n = busy_.root.rb_node;
  while (n != nullptr) {
    const vmap_area* tmp = va_of(n);
    if (tmp->va_start <= addr) {
      below = tmp;
      n = n->rb_right;
    } else {
      n = n->rb_left;
    }
  }
  if (below == nullptr) {
    // Every area starts above addr: the bottom gap [1, first area) if addr is in the space.
    if (addr < KVA_SPACE_START) return std::nullopt;
    const vmap_area* lowest = busy_.head.next == &busy_.head ? nullptr : va_of_list(busy_.head.next);
    return kva_interval{KVA_SPACE_START, lowest != nullptr ? lowest->va_start : KVA_SPACE_END};
  }
  if (below->va_end <= addr) {
    // addr is at or above that area's end: the gap right after it (non-empty unless the area
    // ends at KVA_SPACE_END, since the next area starts above addr).
    const vmap_area* next = list_next_va(below, busy_);
    const std::uint64_t gap_end = next != nullptr ? next->va_start : KVA_SPACE_END;
    if (below->va_end < gap_end) return kva_interval{below->va_end, gap_end};
  }
  // addr is inside an area: the highest non-empty gap ending at or before its start.
  for (const vmap_area* cur = below;;) {
    const vmap_area* prev = list_prev_va(cur, busy_);
    const std::uint64_t gap_start = prev != nullptr ? prev->va_end : KVA_SPACE_START;
    if (gap_start < cur->va_start) return kva_interval{gap_start, cur->va_start};
    if (prev == nullptr) return std::nullopt;
    cur = prev;
  }
}

std::string kva_classic::check_structure() const {
  std::string err;
  if (rb_is_red(busy_.root.rb_node)) return "busy tree: red root";
  if (check_rb_subtree(busy_.root.rb_node, nullptr, err) < 0) return err;

  // The in-order walk equals the list; areas are non-empty, inside the space, increasing and
  // disjoint (they may touch: adjacent allocations share an edge).
  const rb_node* n = rb_first(&busy_.root);
  const list_head* l = busy_.head.next;
  const vmap_area* prev = nullptr;
  std::uint64_t count = 0;
  for (; n != nullptr && l != &busy_.head; n = rb_next(n), l = l->next, ++count) {
    const vmap_area* va = va_of(n);
    if (va != va_of_list(l)) return "busy tree: in-order walk and vmap_area_list disagree at " + range_str(va);
    if (va->va_start >= va->va_end) return "busy tree: empty area " + range_str(va);
    if (va->va_start < KVA_SPACE_START || va->va_end > KVA_SPACE_END)
      return "busy tree: area outside [1, ULONG_MAX): " + range_str(va);
    if (prev != nullptr && prev->va_end > va->va_start)
      return "busy tree: areas overlap or are out of order: " + range_str(prev) + " and " + range_str(va);
    if (records_.count(va) == 0) return "busy tree: area not owned by the strategy " + range_str(va);
    prev = va;
  }
  if (n != nullptr || l != &busy_.head) return "busy tree: tree and vmap_area_list lengths differ";
  if (count != records_.size()) return "busy tree: owned records missing from the tree";

  if (free_vmap_cache_ != nullptr) {
    const vmap_area* cache = va_of(free_vmap_cache_);
    if (records_.count(cache) == 0 || find_vmap_area_in(busy_, cache->va_start) != cache)
      return "free_vmap_cache does not point to an area in the busy tree";
  }
  return {};
}

}  // namespace mmref::vmalloc
