// impl/vmalloc/kva_modern.cpp — mm/vmalloc.c's free-space allocator (Linux 6.1).
#include "impl/vmalloc/kva_modern.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace mmref::vmalloc {

kva_modern::kva_modern(kmalloc_stub& cache, unsigned nr_cpus)
    : cache_(cache), ne_fit_preload_node_(nr_cpus == 0 ? 1 : nr_cpus, nullptr) {
  // vmap_init_free_space(): with no early areas, one free block [1, ULONG_MAX). The model's
  // boot allocation cannot fail (the kernel WARNs and runs without the block).
  vmap_area* va = cache_.alloc<vmap_area>(kmalloc_kind::vmap_area, kmalloc_site::free_space);
  if (va == nullptr) throw std::runtime_error("kva_modern: no descriptor for the initial free space");
  va->va_start = KVA_SPACE_START;
  va->va_end = KVA_SPACE_END;
  insert_vmap_area_augment(va, nullptr, free_);
}

kva_modern::~kva_modern() {
  free_all(free_, cache_);
  for (vmap_area*& va : ne_fit_preload_node_) {
    cache_.free(va, kmalloc_kind::vmap_area);
    va = nullptr;
  }
}

void kva_modern::preload(unsigned cpu) {
  // preload_this_cpu_lock(): allocate the spare before taking the lock, keep it if the slot is
  // still empty. A failed allocation is not an error here; the NE fit will try GFP_NOWAIT.
  if (cpu >= ne_fit_preload_node_.size() || ne_fit_preload_node_[cpu] != nullptr) return;
  ne_fit_preload_node_[cpu] = cache_.alloc<vmap_area>(kmalloc_kind::vmap_area, kmalloc_site::ne_fit_preload);
}

vmap_area* kva_modern::find_vmap_lowest_match(std::uint64_t size, std::uint64_t align, std::uint64_t vstart,
                                              bool adjust_search_size) const {
  const std::uint64_t length =
      va_search_length(cword{size}, cword{align}, cbool{adjust_search_size}).v;
  rb_node* node = free_.root.rb_node;
  while (node != nullptr) {
    vmap_area* va = va_of(node);
    if (get_subtree_max_size(node->rb_left) >= length && vstart < va->va_start) {
      node = node->rb_left;
      continue;
    }
    if (within_this_va(va->va_start, va->va_end, size, align, vstart)) return va;
    // No point going right unless the right subtree has a block of the search length.
    if (get_subtree_max_size(node->rb_right) >= length) {
      node = node->rb_right;
      continue;
    }
    // Roll back: climb to the first parent that fits, or whose right subtree may hold a fit;
    // then search that subtree with vstart moved past the parent, so the left part already
    // searched is not entered again.
    while ((node = rb_parent(node)) != nullptr) {
      va = va_of(node);
      if (within_this_va(va->va_start, va->va_end, size, align, vstart)) return va;
      if (get_subtree_max_size(node->rb_right) >= length && vstart <= va->va_start) {
        vstart = va->va_start + 1;
        node = node->rb_right;
        break;
      }
    }
  }
  return nullptr;
}

int kva_modern::adjust_va_to_fit_type(vmap_area* va, std::uint64_t nva_start_addr, std::uint64_t size,
                                      unsigned cpu) {
  const fit_type type = fit_type_of(va->va_start, va->va_end, nva_start_addr, size);
  vmap_area* lva = nullptr;
  switch (type) {
    case FL_FIT_TYPE:
      //  |<------- VA ------->|   the whole block goes: unlink it, free the descriptor
      unlink_va(va, free_, true);
      cache_.free(va, kmalloc_kind::vmap_area);
      return 0;
    case LE_FIT_TYPE:
      //  |<- alloc ->|<- VA ->|
      va->va_start += size;
      break;
    case RE_FIT_TYPE:
      //  |<- VA ->|<- alloc ->|
      va->va_end = nva_start_addr;
      break;
    case NE_FIT_TYPE: {
      //  |<- LVA ->|<- alloc ->|<- VA ->|   a second descriptor for the left remainder: this
      // CPU's spare, else GFP_NOWAIT from the cache.
      vmap_area*& spare = ne_fit_preload_node_[cpu < ne_fit_preload_node_.size() ? cpu : 0];
      lva = spare;
      spare = nullptr;
      if (lva == nullptr) {
        lva = cache_.alloc<vmap_area>(kmalloc_kind::vmap_area, kmalloc_site::ne_fit_nowait);
        if (lva == nullptr) return -1;
      }
      lva->va_start = va->va_start;
      lva->va_end = nva_start_addr;
      va->va_start = nva_start_addr + size;
      break;
    }
    case NOTHING_FIT:
      return -1;
  }
  augment_tree_propagate_from(va);
  if (lva != nullptr) insert_vmap_area_augment(lva, &va->rb, free_);  // from the split node
  return 0;
}

kva_result kva_modern::alloc(const kva_request& req) {
  // __alloc_vmap_area() — mm/vmalloc.c (6.1). The kernel signals failure by returning vend.
  kva_result r;
  const bool adjust = truth(va_adjust_search_size(cword{req.size}, cword{req.align}, cword{req.vstart},
                                                  cword{req.vend}));
  vmap_area* va = find_vmap_lowest_match(req.size, req.align, req.vstart, adjust);
  if (va == nullptr) return r;
  const std::uint64_t nva = nva_start(va->va_start, req.vstart, req.align);
  if (!truth(va_fits_vend(cword{nva}, cword{req.size}, cword{req.vend}))) return r;
  const fit_type type = fit_type_of(va->va_start, va->va_end, nva, req.size);
  if (adjust_va_to_fit_type(va, nva, req.size, req.cpu) != 0) {
    // WARN_ON_ONCE in the kernel; the caller's overflow path purges and retries.
    r.descriptor_failed = type == NE_FIT_TYPE;
    return r;
  }
  r.ok = true;
  r.addr = nva;
  r.fit = type;
  return r;
}

bool kva_modern::release(vmap_area* va) {
  return merge_or_add_vmap_area(va, free_, cache_, true) != nullptr;
}

bool kva_modern::reserve(std::uint64_t start, std::uint64_t end) {
  if (end <= start) return false;
  vmap_area* va = find_vmap_area_in(free_, start);
  if (va == nullptr || end > va->va_end) return false;
  return adjust_va_to_fit_type(va, start, end - start, 0) == 0;
}

std::vector<kva_interval> kva_modern::free_intervals() const {
  std::vector<kva_interval> out;
  for (const list_head* l = free_.head.next; l != &free_.head; l = l->next) {
    const vmap_area* va = va_of_list(l);
    out.push_back({va->va_start, va->va_end});
  }
  return out;
}

std::optional<kva_interval> kva_modern::free_block_at_or_below(std::uint64_t addr) const {
  // pvm_find_va_enclose_addr() — mm/vmalloc.c
  const vmap_area* found = nullptr;
  const rb_node* n = free_.root.rb_node;
  while (n != nullptr) {
    const vmap_area* tmp = va_of(n);
    if (tmp->va_start <= addr) {
      found = tmp;
      if (tmp->va_end >= addr) break;
      n = n->rb_right;
    } else {
      n = n->rb_left;
    }
  }
  if (found == nullptr) return std::nullopt;
  return kva_interval{found->va_start, found->va_end};
}

namespace {

// Checks one subtree; returns its black height, or -1 after writing the first problem to err.
int check_subtree(const rb_node* n, const rb_node* parent, std::string& err) {
  if (n == nullptr) return 1;
  const vmap_area* va = va_of(n);
  auto where = [&] { return " at [" + std::to_string(va->va_start) + ", " + std::to_string(va->va_end) + ")"; };
  if (rb_parent(n) != parent) {
    err = "free tree: wrong parent pointer" + where();
    return -1;
  }
  if (rb_is_red(n) && (rb_is_red(n->rb_left) || rb_is_red(n->rb_right))) {
    err = "free tree: red node with a red child" + where();
    return -1;
  }
  const std::uint64_t expect = std::max({va_size(va), get_subtree_max_size(n->rb_left), get_subtree_max_size(n->rb_right)});
  if (va->subtree_max_size != expect) {
    err = "free tree: subtree_max_size " + std::to_string(va->subtree_max_size) + " != " + std::to_string(expect) + where();
    return -1;
  }
  const int l = check_subtree(n->rb_left, n, err);
  if (l < 0) return -1;
  const int r = check_subtree(n->rb_right, n, err);
  if (r < 0) return -1;
  if (l != r) {
    err = "free tree: unequal black heights" + where();
    return -1;
  }
  return l + (rb_is_black(n) ? 1 : 0);
}

}  // namespace

std::string kva_modern::check_structure() const {
  std::string err;
  if (free_.root.rb_node != nullptr && rb_is_red(free_.root.rb_node)) return "free tree: red root";
  if (check_subtree(free_.root.rb_node, nullptr, err) < 0) return err;
  // The in-order walk equals the list; areas are non-empty, increasing, and never touch.
  const rb_node* n = rb_first(&free_.root);
  const list_head* l = free_.head.next;
  const vmap_area* prev = nullptr;
  for (; n != nullptr && l != &free_.head; n = rb_next(n), l = l->next) {
    const vmap_area* va = va_of(n);
    if (va != va_of_list(l)) return "free tree: in-order walk and free list disagree";
    if (va->va_start >= va->va_end) return "free tree: empty area";
    if (prev != nullptr && prev->va_end > va->va_start) return "free tree: areas overlap";
    if (prev != nullptr && prev->va_end == va->va_start) return "free tree: adjacent areas not coalesced";
    prev = va;
  }
  if (n != nullptr || l != &free_.head) return "free tree: tree and list lengths differ";
  return {};
}

std::uint64_t kva_modern::descriptors() const {
  std::uint64_t n = 0;
  for (const list_head* l = free_.head.next; l != &free_.head; l = l->next) ++n;
  for (const vmap_area* va : ne_fit_preload_node_) n += va != nullptr ? 1 : 0;
  return n;
}

}  // namespace mmref::vmalloc
