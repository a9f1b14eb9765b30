// impl/vmalloc/vmap_area.hpp — struct vmap_area and the tree + list pair every set of areas
// lives in, with the kernel's insert/unlink/merge helpers (mm/vmalloc.c, Linux 6.1).
//
// Synopsis
//   vmap_area                      [va_start, va_end), an rb-tree link, a list link, and either
//                                  subtree_max_size (free tree) or vm (busy tree)
//   va_tree                        rb_root + address-sorted list_head (the kernel's root/head
//                                  pairs; 6.9 names the pair struct rb_list)
//   free_va_augment                free_vmap_area_rb_augment_cb: RB_DECLARE_CALLBACKS_MAX over
//                                  va_size, maintaining subtree_max_size
//   find_va_links                  where a new area goes, descending from the root or from a
//                                  given node; nullptr when it overlaps an area ("vmalloc bug")
//   get_va_next_sibling            the list position after that link
//   link_va / unlink_va            __link_va / __unlink_va (augmented or not)
//   insert_vmap_area[_augment]     find_va_links + link_va (+ propagate)
//   merge_or_add_vmap_area[_augment]   __merge_or_add_vmap_area: coalesce with next, then with
//                                  previous, else link; the merged-away descriptor is freed
//   augment_tree_propagate_from    RB_DECLARE_CALLBACKS_MAX's propagate with early exit
//   find_vmap_area_in              __find_vmap_area: the area containing an address
//
// Each tree keeps one partition (see kva_modern.hpp and vmalloc.hpp for which): its in-order walk
// equals its list, areas are disjoint, and the free tree is coalesced (no two areas touch).
#pragma once

#include <cstddef>
#include <cstdint>

#include "impl/vmalloc/kmalloc.hpp"
#include "impl/vmalloc/list.hpp"
#include "impl/vmalloc/rbtree.hpp"

namespace mmref::vmalloc {

struct vm_struct;

// va->flags — mm/vmalloc.c (6.4+): the low bits mark vm_map_ram areas; 6.9+ keeps the encoded
// vmap node id above them (encode_vn_id(id) = (id + 1) << 8).
inline constexpr std::uint64_t VMAP_RAM = 0x1;
inline constexpr std::uint64_t VMAP_BLOCK = 0x2;
inline constexpr std::uint64_t VMAP_FLAGS_MASK = 0x3;

// struct vmap_area — include/linux/vmalloc.h. The kernel keeps subtree_max_size and vm in a
// union (an area is in exactly one tree); the model keeps both fields, and nothing reads the one
// that does not belong to the area's current tree.
struct vmap_area {
  std::uint64_t va_start = 0;
  std::uint64_t va_end = 0;
  rb_node rb;           // the kernel's rb_node member
  list_head list;
  std::uint64_t subtree_max_size = 0;  // in the free tree: the largest va_size below this node
  vm_struct* vm = nullptr;             // in the busy tree: the vm_struct, or null (vm_map_ram)
  std::uint64_t flags = 0;             // va->flags (VMAP_RAM ...; 6.9+: the vmap node id)
  // Model bookkeeping, not in the kernel's struct: the request a busy area answered (VM-RANGE).
  std::uint64_t req_vstart = 0, req_vend = 0, req_align = 0;
};

// va_size() — mm/vmalloc.c
inline std::uint64_t va_size(const vmap_area* va) { return va->va_end - va->va_start; }

// container_of() for the two links of a vmap_area (include/linux/container_of.h).
inline vmap_area* va_of(rb_node* n) {
  return n == nullptr ? nullptr
                      : reinterpret_cast<vmap_area*>(reinterpret_cast<char*>(n) - offsetof(vmap_area, rb));
}
inline const vmap_area* va_of(const rb_node* n) {
  return n == nullptr ? nullptr
                      : reinterpret_cast<const vmap_area*>(reinterpret_cast<const char*>(n) -
                                                           offsetof(vmap_area, rb));
}
inline vmap_area* va_of_list(list_head* l) {
  return reinterpret_cast<vmap_area*>(reinterpret_cast<char*>(l) - offsetof(vmap_area, list));
}
inline const vmap_area* va_of_list(const list_head* l) {
  return reinterpret_cast<const vmap_area*>(reinterpret_cast<const char*>(l) - offsetof(vmap_area, list));
}

// A tree of areas and its address-sorted list (vmap_area_root + vmap_area_list,
// free_vmap_area_root + free_vmap_area_list, purge_vmap_area_root + purge_vmap_area_list).
struct va_tree {
  rb_root root;
  list_head head;
  va_tree() = default;
  va_tree(const va_tree&) = delete;
  va_tree& operator=(const va_tree&) = delete;
  bool empty() const { return root.rb_node == nullptr; }
};

// get_subtree_max_size() — mm/vmalloc.c: an empty subtree counts 0.
inline std::uint64_t get_subtree_max_size(const rb_node* n) {
  return n == nullptr ? 0 : va_of(n)->subtree_max_size;
}

// free_vmap_area_rb_augment_cb: RB_DECLARE_CALLBACKS_MAX(static, ..., struct vmap_area, rb_node,
// unsigned long, subtree_max_size, va_size) — mm/vmalloc.c
using free_va_augment = rb_callbacks_max<vmap_area, &vmap_area::rb, std::uint64_t,
                                         &vmap_area::subtree_max_size, &va_size>;

// augment_tree_propagate_from() — mm/vmalloc.c: recompute upwards from va, stopping at the first
// node whose value does not change.
inline void augment_tree_propagate_from(vmap_area* va) { free_va_augment::propagate(&va->rb, nullptr); }

// find_va_links() — mm/vmalloc.c. Descends from the root, or (root == nullptr) from `from`;
// returns the link where va belongs and its parent, or nullptr when va overlaps an area there.
rb_node** find_va_links(const vmap_area* va, rb_root* root, rb_node* from, rb_node** parent);

// get_va_next_sibling() — mm/vmalloc.c: the list entry that will follow va once linked at `link`
// (nullptr for an empty tree).
list_head* get_va_next_sibling(rb_node* parent, rb_node** link);

// __link_va() / link_va() / link_va_augment() — mm/vmalloc.c
void link_va(vmap_area* va, va_tree& t, rb_node* parent, rb_node** link, bool augment);

// __unlink_va() / unlink_va() / unlink_va_augment() — mm/vmalloc.c
void unlink_va(vmap_area* va, va_tree& t, bool augment);

// insert_vmap_area() / insert_vmap_area_augment() — mm/vmalloc.c. False (nothing linked) when
// va overlaps an area of the tree: the kernel WARNs "vmalloc bug" and refuses too.
bool insert_vmap_area(vmap_area* va, va_tree& t);
bool insert_vmap_area_augment(vmap_area* va, rb_node* from, va_tree& t);

// __merge_or_add_vmap_area() / merge_or_add_vmap_area() / merge_or_add_vmap_area_augment() —
// mm/vmalloc.c. Returns the area that now holds va's range (va itself, or the neighbour it was
// merged into, in which case va's descriptor has been freed to `cache`), or nullptr on overlap
// (va untouched, still owned by the caller).
vmap_area* merge_or_add_vmap_area(vmap_area* va, va_tree& t, kmalloc_stub& cache, bool augment);

// __find_vmap_area() — mm/vmalloc.c: the area with va_start <= addr < va_end, or nullptr.
vmap_area* find_vmap_area_in(const va_tree& t, std::uint64_t addr);

// Free every descriptor of a tree (teardown).
void free_all(va_tree& t, kmalloc_stub& cache);

}  // namespace mmref::vmalloc
