// impl/vmalloc/list.hpp — the kernel's circular doubly linked list (include/linux/list.h), for
// the address-sorted lists that sit beside each vmap-area tree (O(1) neighbours for merging).
//
// Synopsis
//   list_head                     a link; a head is a link whose next/prev are the first/last
//   INIT_LIST_HEAD(h)             empty list: next == prev == h
//   list_add(n, h)                insert n right after h
//   list_add_tail(n, h)           insert n right before h (at the tail of the list headed by h)
//   list_del_init(n)              unlink n and make it an empty list of its own
//   list_empty(h)
//   list_splice_init(from, to)    move every entry of `from` to the front of `to`
// The entries are found from their links with container_of (vmap_area.hpp).
#pragma once

namespace mmref::vmalloc {

struct list_head {
  list_head* next = this;
  list_head* prev = this;
  list_head() = default;
  // A link belongs to one place: copying one would leave two nodes claiming the same neighbours.
  list_head(const list_head&) = delete;
  list_head& operator=(const list_head&) = delete;
};

// INIT_LIST_HEAD() — include/linux/list.h
inline void INIT_LIST_HEAD(list_head* h) { h->next = h->prev = h; }

// __list_add() — include/linux/list.h
inline void __list_add(list_head* n, list_head* prev, list_head* next) {
  next->prev = n;
  n->next = next;
  n->prev = prev;
  prev->next = n;
}

// list_add() — include/linux/list.h
inline void list_add(list_head* n, list_head* h) { __list_add(n, h, h->next); }

// list_add_tail() — include/linux/list.h
inline void list_add_tail(list_head* n, list_head* h) { __list_add(n, h->prev, h); }

// list_del_init() — include/linux/list.h
inline void list_del_init(list_head* n) {
  n->next->prev = n->prev;
  n->prev->next = n->next;
  INIT_LIST_HEAD(n);
}

// list_empty() — include/linux/list.h
inline bool list_empty(const list_head* h) { return h->next == h; }

// list_splice_init() — include/linux/list.h: `from` becomes empty, its entries go first in `to`.
inline void list_splice_init(list_head* from, list_head* to) {
  if (list_empty(from)) return;
  list_head* first = from->next;
  list_head* last = from->prev;
  list_head* at = to->next;
  first->prev = to;
  to->next = first;
  last->next = at;
  at->prev = last;
  INIT_LIST_HEAD(from);
}

}  // namespace mmref::vmalloc
