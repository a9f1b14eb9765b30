// impl/vmalloc/vmap_area.cpp — the vmap-area tree helpers of mm/vmalloc.c (Linux 6.1).
#include "impl/vmalloc/vmap_area.hpp"

namespace mmref::vmalloc {

rb_node** find_va_links(const vmap_area* va, rb_root* root, rb_node* from, rb_node** parent) {
  rb_node** link;
  if (root != nullptr) {
    link = &root->rb_node;
    if (*link == nullptr) {
      *parent = nullptr;
      return link;
    }
  } else {
    link = &from;
  }
  // Descend; the kernel also checks for overlap on the way and refuses the insert
  // ("vmalloc bug: 0x%lx-0x%lx overlaps with 0x%lx-0x%lx").
  const vmap_area* tmp = nullptr;
  do {
    tmp = va_of(*link);
    if (va->va_end <= tmp->va_start)
      link = &(*link)->rb_left;
    else if (va->va_start >= tmp->va_end)
      link = &(*link)->rb_right;
    else
      return nullptr;
  } while (*link != nullptr);
  *parent = const_cast<rb_node*>(&tmp->rb);
  return link;
}

list_head* get_va_next_sibling(rb_node* parent, rb_node** link) {
  if (parent == nullptr) return nullptr;
  list_head* l = &va_of(parent)->list;
  return &parent->rb_right == link ? l->next : l;
}

void link_va(vmap_area* va, va_tree& t, rb_node* parent, rb_node** link, bool augment) {
  list_head* head = &t.head;
  // va is not in the list yet, but its future predecessor is known from the link.
  if (parent != nullptr) {
    head = &va_of(parent)->list;
    if (&parent->rb_right != link) head = head->prev;
  }
  rb_link_node(&va->rb, parent, link);
  if (augment) {
    // As the kernel: insert first, then zero the value and let the caller's propagate fill it.
    rb_insert_augmented<free_va_augment>(&va->rb, &t.root);
    va->subtree_max_size = 0;
  } else {
    rb_insert_color(&va->rb, &t.root);
  }
  list_add(&va->list, head);
}

void unlink_va(vmap_area* va, va_tree& t, bool augment) {
  if (rb_empty_node(&va->rb)) return;  // WARN_ON(RB_EMPTY_NODE()) in the kernel: not linked
  if (augment)
    rb_erase_augmented<free_va_augment>(&va->rb, &t.root);
  else
    rb_erase(&va->rb, &t.root);
  list_del_init(&va->list);
  rb_clear_node(&va->rb);
}

bool insert_vmap_area(vmap_area* va, va_tree& t) {
  rb_node* parent = nullptr;
  rb_node** link = find_va_links(va, &t.root, nullptr, &parent);
  if (link == nullptr) return false;
  link_va(va, t, parent, link, false);
  return true;
}

bool insert_vmap_area_augment(vmap_area* va, rb_node* from, va_tree& t) {
  rb_node* parent = nullptr;
  rb_node** link = from != nullptr ? find_va_links(va, nullptr, from, &parent)
                                   : find_va_links(va, &t.root, nullptr, &parent);
  if (link == nullptr) return false;
  link_va(va, t, parent, link, true);
  augment_tree_propagate_from(va);
  return true;
}

vmap_area* merge_or_add_vmap_area(vmap_area* va, va_tree& t, kmalloc_stub& cache, bool augment) {
  rb_node* parent = nullptr;
  rb_node** link = find_va_links(va, &t.root, nullptr, &parent);
  if (link == nullptr) return nullptr;

  bool merged = false;
  list_head* next = get_va_next_sibling(parent, link);
  if (next != nullptr) {
    //  |<------VA------>|<-----Next----->|
    if (next != &t.head) {
      vmap_area* sibling = va_of_list(next);
      if (sibling->va_start == va->va_end) {
        sibling->va_start = va->va_start;
        cache.free(va, kmalloc_kind::vmap_area);
        va = sibling;
        merged = true;
      }
    }
    //  |<-----Prev----->|<------VA------>|
    if (next->prev != &t.head) {
      vmap_area* sibling = va_of_list(next->prev);
      if (sibling->va_end == va->va_start) {
        // When both neighbours coalesce, the kernel unlinks "next" first and then widens
        // "prev", so that no rotation normalises a stale augmented value.
        if (merged) unlink_va(va, t, augment);
        sibling->va_end = va->va_end;
        cache.free(va, kmalloc_kind::vmap_area);
        va = sibling;
        merged = true;
      }
    }
  }
  if (!merged) link_va(va, t, parent, link, augment);
  if (augment) augment_tree_propagate_from(va);
  return va;
}

vmap_area* find_vmap_area_in(const va_tree& t, std::uint64_t addr) {
  rb_node* n = t.root.rb_node;
  while (n != nullptr) {
    vmap_area* va = va_of(n);
    if (addr < va->va_start)
      n = n->rb_left;
    else if (addr >= va->va_end)
      n = n->rb_right;
    else
      return va;
  }
  return nullptr;
}

void free_all(va_tree& t, kmalloc_stub& cache) {
  while (!list_empty(&t.head)) {
    vmap_area* va = va_of_list(t.head.next);
    list_del_init(&va->list);
    cache.free(va, kmalloc_kind::vmap_area);
  }
  t.root.rb_node = nullptr;
}

}  // namespace mmref::vmalloc
