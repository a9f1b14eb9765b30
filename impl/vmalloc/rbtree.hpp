// impl/vmalloc/rbtree.hpp — the Linux red-black tree (lib/rbtree.c, include/linux/rbtree.h,
// include/linux/rbtree_augmented.h, Linux 6.1), augmented variant included. Header-only, standard
// library only.
//
// Why exact
//   The vmap free-space search (find_vmap_lowest_match in mm/vmalloc.c) walks the free tree from
//   the root and takes the first subtree whose subtree_max_size fits. Which free area it returns
//   depends on the tree's shape, not only on the set of areas in it. To replay kernel traces the
//   tree must therefore rotate and recolour exactly as the kernel's does: after any sequence of
//   inserts (each at a given link position) and erases, same shape, same colours; and the
//   augment callbacks fire at the same points with the same arguments.
//
// Synopsis
//   rb_node, rb_root                     include/linux/rbtree_types.h (parent and colour are two
//                                        fields here; the kernel packs them in one word)
//   rb_parent(n), rb_is_red/black(n)     include/linux/rbtree.h, rbtree_augmented.h (null = black)
//   rb_empty_root, rb_empty_node,        RB_EMPTY_ROOT, RB_EMPTY_NODE, RB_CLEAR_NODE
//   rb_clear_node
//   rb_link_node(node, parent, link)     include/linux/rbtree.h: link a red leaf at `link`
//   rb_insert_color(node, root)          lib/rbtree.c = __rb_insert with no-op callbacks
//   rb_erase(node, root)                 lib/rbtree.c = __rb_erase_augmented + ____rb_erase_color
//                                        with no-op callbacks
//   rb_first/rb_last/rb_next/rb_prev     lib/rbtree.c
//   rb_replace_node(victim, new_, root)  lib/rbtree.c
//   rb_insert_augmented<A>(node, root)   include/linux/rbtree_augmented.h -> __rb_insert
//   rb_erase_augmented<A>(node, root)    include/linux/rbtree_augmented.h
//   rb_entry<Node, &Node::m>(n)          container_of (include/linux/container_of.h)
//   rb_callbacks_max<Node, &Node::rb, T, &Node::aug, compute>
//                                        RB_DECLARE_CALLBACKS_MAX (include/linux/rbtree_augmented.h)
//
//   detail::rb_insert_fixup<A>           __rb_insert()                 lib/rbtree.c
//   detail::rb_erase_fixup<A>            ____rb_erase_color()          lib/rbtree.c
//   detail::rb_erase_unlink<A>           __rb_erase_augmented()        include/linux/rbtree_augmented.h
//
// Augment callbacks are a type A with three static functions (the kernel passes a struct of
// function pointers, struct rb_augment_callbacks):
//   static void propagate(rb_node* node, rb_node* stop);  // recompute from node up to (excl.) stop
//   static void copy(rb_node* old_, rb_node* new_);       // new_ takes old_'s place: copy the value
//   static void rotate(rb_node* old_, rb_node* new_);     // new_ now heads old_'s former subtree
// rb_insert_color / rb_erase instantiate the same templates with detail::rb_no_augment, as the
// kernel instantiates its __always_inline cores with dummy_callbacks: one insert algorithm, one
// erase algorithm.
//
// Fidelity notes
//   * Every step of the two rebalancing loops and of the three erase cases is done in the kernel's
//     order, including the redundant "set black" on subtrees moved by a rotation, and the callbacks
//     fire at the same points (after the rotation's child links are written, before the parent
//     links the next step writes). The left/right mirror halves of each kernel loop are written
//     once here, over a direction `d`; child(n, d) is n->rb_left for d == false, n->rb_right for
//     d == true.
//   * Colour and parent are separate fields, so the kernel's whole-word copies of
//     __rb_parent_color ("pc") copy both fields.
//   * No WRITE_ONCE / RCU: the model is single-threaded; the order of stores therefore matters
//     only where a callback can observe it, and there it is the kernel's.
#pragma once

#include <cstddef>
#include <type_traits>

namespace mmref::vmalloc {

// struct rb_node — include/linux/rbtree_types.h. rb_parent_node + rb_black stand for the kernel's
// __rb_parent_color word. A default-constructed node is "black with no parent", like a zeroed
// kernel node with RB_BLACK set; rb_link_node() makes it a red leaf.
struct rb_node {
  rb_node* rb_parent_node = nullptr;
  bool rb_black = true;
  rb_node* rb_right = nullptr;
  rb_node* rb_left = nullptr;
};

// struct rb_root — include/linux/rbtree_types.h. (`struct` in the member's type: a plain
// `rb_node* rb_node` would change the meaning of the name rb_node inside the class, which GCC
// rejects.)
struct rb_root {
  struct rb_node* rb_node = nullptr;
};

// rb_parent() — include/linux/rbtree.h
inline rb_node* rb_parent(const rb_node* n) { return n->rb_parent_node; }
// rb_is_red() / rb_is_black() — include/linux/rbtree_augmented.h. The kernel's take a non-null
// node; here a null node counts as black, as the tree's leaves do.
inline bool rb_is_black(const rb_node* n) { return n == nullptr || n->rb_black; }
inline bool rb_is_red(const rb_node* n) { return n != nullptr && !n->rb_black; }

// RB_EMPTY_ROOT / RB_EMPTY_NODE / RB_CLEAR_NODE — include/linux/rbtree.h. A cleared node is its
// own parent (and, as the kernel's word `(unsigned long)node` says, red).
inline bool rb_empty_root(const rb_root* root) { return root->rb_node == nullptr; }
inline bool rb_empty_node(const rb_node* n) { return n->rb_parent_node == n; }
inline void rb_clear_node(rb_node* n) {
  n->rb_parent_node = n;
  n->rb_black = false;
}

// rb_link_node() — include/linux/rbtree.h: node becomes a red leaf hanging at *rb_link under
// parent. The caller found rb_link by descending the tree; rb_insert_color() must follow.
inline void rb_link_node(rb_node* node, rb_node* parent, rb_node** rb_link) {
  node->rb_parent_node = parent;
  node->rb_black = false;
  node->rb_left = nullptr;
  node->rb_right = nullptr;
  *rb_link = node;
}

namespace detail {

// The node's slot on side d (false: left, true: right).
inline rb_node*& child(rb_node* n, bool d) { return d ? n->rb_right : n->rb_left; }

// rb_set_parent() — include/linux/rbtree_augmented.h: new parent, colour kept.
inline void set_parent(rb_node* n, rb_node* p) { n->rb_parent_node = p; }

// rb_set_parent_color() — include/linux/rbtree_augmented.h
inline void set_parent_color(rb_node* n, rb_node* p, bool black) {
  n->rb_parent_node = p;
  n->rb_black = black;
}

// The kernel's __rb_parent_color word, for the places that copy it whole.
struct parent_color {
  rb_node* parent;
  bool black;
};
inline parent_color get_pc(const rb_node* n) { return {n->rb_parent_node, n->rb_black}; }
inline void set_pc(rb_node* n, parent_color pc) { set_parent_color(n, pc.parent, pc.black); }

// __rb_change_child() — include/linux/rbtree_augmented.h: whichever link pointed at old_ (a child
// slot of parent, or the root when parent is null) now points at new_.
inline void change_child(rb_node* old_, rb_node* new_, rb_node* parent, rb_root* root) {
  if (parent == nullptr)
    root->rb_node = new_;
  else if (parent->rb_left == old_)
    parent->rb_left = new_;
  else
    parent->rb_right = new_;
}

// __rb_rotate_set_parents() — lib/rbtree.c: the last step of a rotation. new_ inherits old_'s
// parent and colour, old_ hangs under new_ with the given colour, and old_'s former parent (or
// the root) points at new_.
inline void rotate_set_parents(rb_node* old_, rb_node* new_, rb_root* root, bool black) {
  rb_node* const above = old_->rb_parent_node;
  set_pc(new_, get_pc(old_));
  set_parent_color(old_, new_, black);
  change_child(old_, new_, above, root);
}

// dummy_callbacks — lib/rbtree.c: what rb_insert_color() and rb_erase() are instantiated with.
struct rb_no_augment {
  static void propagate(rb_node*, rb_node*) {}
  static void copy(rb_node*, rb_node*) {}
  static void rotate(rb_node*, rb_node*) {}
};

// __rb_insert() — lib/rbtree.c. `node` was just linked red by rb_link_node(). Walk up while the
// node and its parent are both red. Cases, with P on side d of G and U the uncle on side !d:
//   1  U red: P and U black, G red, continue from G.
//   2  U black, node is P's !d child: rotate at P towards d; node takes P's place (still red).
//   3  U black: rotate at G towards !d; P takes G's place and colour (black), G goes red.
template <class Augment>
void rb_insert_fixup(rb_node* node, rb_root* root) {
  rb_node* parent = node->rb_parent_node;  // node is red: the kernel reads its word as the parent
  for (;;) {
    if (parent == nullptr) {  // node is the root: first node, or case 1 reached the top
      set_parent_color(node, nullptr, true);
      return;
    }
    if (parent->rb_black) return;

    rb_node* const gparent = parent->rb_parent_node;  // exists: a red parent is not the root
    const bool d = (gparent->rb_right == parent);      // the kernel tests "parent != gparent->rb_right"
    rb_node* tmp = child(gparent, !d);                 // the uncle

    if (tmp != nullptr && !tmp->rb_black) {
      // Case 1 — recolour; the red moves up two levels.
      set_parent_color(tmp, gparent, true);
      set_parent_color(parent, gparent, true);
      node = gparent;
      parent = node->rb_parent_node;
      set_parent_color(node, parent, false);
      continue;
    }

    tmp = child(parent, !d);
    if (node == tmp) {
      // Case 2 — node is the inner grandchild: rotate at parent so that it becomes the outer one.
      tmp = child(node, d);
      child(parent, !d) = tmp;
      child(node, d) = parent;
      if (tmp != nullptr) set_parent_color(tmp, parent, true);
      set_parent_color(parent, node, false);
      Augment::rotate(parent, node);
      parent = node;
      tmp = child(node, !d);
    }

    // Case 3 — rotate at gparent; parent heads the subtree, black; gparent goes red.
    child(gparent, d) = tmp;  // == parent's !d child
    child(parent, !d) = gparent;
    if (tmp != nullptr) set_parent_color(tmp, gparent, true);
    rotate_set_parents(gparent, parent, root, false);
    Augment::rotate(gparent, parent);
    return;
  }
}

// ____rb_erase_color() — lib/rbtree.c (exported as __rb_erase_color). Every path through
// `parent` and its child `node` (null on the first round: the erased black leaf's slot) has one
// black fewer than the others. With node on side d of P and S the sibling on side !d:
//   1  S red: rotate at P towards d; S black (P's colour), P red; node's new sibling is S's old
//      d child.
//   2  S black with two black children: S red; if P was red make it black and stop, else
//      continue from P (stop at the root).
//   3  S black, far child black, near child (sl) red: rotate at S towards !d; sl becomes the
//      sibling. No recolouring here: case 4 gives the final colours.
//   4  S black, far child red: rotate at P towards d; S takes P's colour, P and the far child go
//      black.
template <class Augment>
void rb_erase_fixup(rb_node* parent, rb_root* root) {
  rb_node* node = nullptr;
  for (;;) {
    const bool d = (parent->rb_right == node);  // the kernel tests "node != parent->rb_right"
    rb_node* sibling = child(parent, !d);
    rb_node* tmp1;
    rb_node* tmp2;

    if (!sibling->rb_black) {
      // Case 1 — rotate at parent; node keeps a black sibling.
      tmp1 = child(sibling, d);
      child(parent, !d) = tmp1;
      child(sibling, d) = parent;
      set_parent_color(tmp1, parent, true);
      rotate_set_parents(parent, sibling, root, false);
      Augment::rotate(parent, sibling);
      sibling = tmp1;
    }

    tmp1 = child(sibling, !d);  // far nephew
    if (rb_is_black(tmp1)) {
      tmp2 = child(sibling, d);  // near nephew
      if (rb_is_black(tmp2)) {
        // Case 2 — sibling goes red; the missing black moves up to parent.
        set_parent_color(sibling, parent, false);
        if (!parent->rb_black) {
          parent->rb_black = true;
        } else {
          node = parent;
          parent = node->rb_parent_node;
          if (parent != nullptr) continue;
        }
        return;
      }
      // Case 3 — rotate at sibling; the red near nephew becomes the sibling.
      tmp1 = child(tmp2, !d);
      child(sibling, d) = tmp1;
      child(tmp2, !d) = sibling;
      child(parent, !d) = tmp2;
      if (tmp1 != nullptr) set_parent_color(tmp1, sibling, true);
      Augment::rotate(sibling, tmp2);
      tmp1 = sibling;
      sibling = tmp2;
    }

    // Case 4 — rotate at parent and recolour; done.
    tmp2 = child(sibling, d);
    child(parent, !d) = tmp2;
    child(sibling, d) = parent;
    set_parent_color(tmp1, sibling, true);
    if (tmp2 != nullptr) set_parent(tmp2, parent);
    rotate_set_parents(parent, sibling, root, true);
    Augment::rotate(parent, sibling);
    return;
  }
}

// __rb_erase_augmented() — include/linux/rbtree_augmented.h. Unlinks node and returns the node
// to rebalance from (for rb_erase_fixup), or null when the colours could be fixed locally.
//   1  node has no left child: its right child (if any, necessarily red under a black node)
//      takes node's place, parent and colour. A missing black leaf needs rebalancing at parent.
//   1' node has a left child only: the same with the left child.
//   2  node has two children and its successor is its right child: the successor takes node's
//      place and colour and adopts node's left subtree.
//   3  node has two children and its successor is deeper, leftmost in the right subtree: the
//      successor's right child (child2) takes the successor's slot, then the successor takes
//      node's place and colour with both of node's subtrees.
// In 2 and 3 a child2 is red and simply goes black; otherwise a black successor leaves a black
// missing below `parent` (the successor itself in case 2, its old parent in case 3).
// Callbacks: copy(node, successor) then, in case 3, propagate(successor's old parent, successor)
// before node's left subtree moves; finally propagate(from the lowest changed node, to the root).
template <class Augment>
rb_node* rb_erase_unlink(rb_node* node, rb_root* root) {
  rb_node* child_r = node->rb_right;
  rb_node* tmp = node->rb_left;
  rb_node* parent;
  rb_node* rebalance;

  if (tmp == nullptr) {
    // Case 1
    const parent_color pc = get_pc(node);
    parent = pc.parent;
    change_child(node, child_r, parent, root);
    if (child_r != nullptr) {
      set_pc(child_r, pc);
      rebalance = nullptr;
    } else {
      rebalance = pc.black ? parent : nullptr;
    }
    tmp = parent;
  } else if (child_r == nullptr) {
    // Case 1' — the lone child is the left one.
    const parent_color pc = get_pc(node);
    set_pc(tmp, pc);
    parent = pc.parent;
    change_child(node, tmp, parent, root);
    rebalance = nullptr;
    tmp = parent;
  } else {
    rb_node* successor = child_r;
    rb_node* child2;

    tmp = child_r->rb_left;
    if (tmp == nullptr) {
      // Case 2 — the successor is node's right child.
      parent = successor;
      child2 = successor->rb_right;
      Augment::copy(node, successor);
    } else {
      // Case 3 — go down left to the successor, then splice it out of its slot.
      do {
        parent = successor;
        successor = tmp;
        tmp = tmp->rb_left;
      } while (tmp != nullptr);
      child2 = successor->rb_right;
      parent->rb_left = child2;
      successor->rb_right = child_r;
      set_parent(child_r, successor);
      Augment::copy(node, successor);
      Augment::propagate(parent, successor);
    }

    tmp = node->rb_left;
    successor->rb_left = tmp;
    set_parent(tmp, successor);

    const parent_color pc = get_pc(node);
    change_child(node, successor, pc.parent, root);

    if (child2 != nullptr) {
      set_parent_color(child2, parent, true);
      rebalance = nullptr;
    } else {
      rebalance = successor->rb_black ? parent : nullptr;
    }
    set_pc(successor, pc);
    tmp = successor;
  }

  Augment::propagate(tmp, nullptr);
  return rebalance;
}

// Offset of the rb_node member M inside Node, measured once on a value-initialised probe object
// (the standard gives no way to read it off a pointer-to-member).
template <class Node, rb_node Node::*M>
std::size_t member_offset() {
  static_assert(std::is_standard_layout_v<Node>, "rb_entry: Node must be standard-layout");
  static_assert(std::is_default_constructible_v<Node>, "rb_entry: Node must be default-constructible");
  static const std::size_t offset = [] {
    const Node probe{};
    return static_cast<std::size_t>(reinterpret_cast<const unsigned char*>(&(probe.*M)) -
                                    reinterpret_cast<const unsigned char*>(&probe));
  }();
  return offset;
}

}  // namespace detail

// rb_entry() / container_of() — include/linux/rbtree.h, include/linux/container_of.h: the Node
// whose member M is *n. Requirements: Node is standard-layout (so offsetof-style arithmetic is
// supported), default-constructible (the offset is measured on a probe object) and M is a direct
// member of Node. Null in, null out (the kernel's rb_entry_safe()).
template <class Node, rb_node Node::*M>
Node* rb_entry(rb_node* n) {
  if (n == nullptr) return nullptr;
  return reinterpret_cast<Node*>(reinterpret_cast<unsigned char*>(n) - detail::member_offset<Node, M>());
}
template <class Node, rb_node Node::*M>
const Node* rb_entry(const rb_node* n) {
  if (n == nullptr) return nullptr;
  return reinterpret_cast<const Node*>(reinterpret_cast<const unsigned char*>(n) -
                                       detail::member_offset<Node, M>());
}

// rb_insert_augmented() — include/linux/rbtree_augmented.h (-> __rb_insert_augmented()).
// The caller has linked node with rb_link_node() and brought the augmented values on the path
// down to it up to date (or, as mm/vmalloc.c does, propagates from node afterwards).
template <class Augment>
void rb_insert_augmented(rb_node* node, rb_root* root) {
  detail::rb_insert_fixup<Augment>(node, root);
}

// rb_erase_augmented() — include/linux/rbtree_augmented.h (-> __rb_erase_color()).
template <class Augment>
void rb_erase_augmented(rb_node* node, rb_root* root) {
  rb_node* const rebalance = detail::rb_erase_unlink<Augment>(node, root);
  if (rebalance != nullptr) detail::rb_erase_fixup<Augment>(rebalance, root);
}

// rb_insert_color() — lib/rbtree.c
inline void rb_insert_color(rb_node* node, rb_root* root) {
  detail::rb_insert_fixup<detail::rb_no_augment>(node, root);
}

// rb_erase() — lib/rbtree.c
inline void rb_erase(rb_node* node, rb_root* root) {
  rb_erase_augmented<detail::rb_no_augment>(node, root);
}

// rb_first() — lib/rbtree.c: the leftmost node.
inline rb_node* rb_first(const rb_root* root) {
  rb_node* n = root->rb_node;
  if (n == nullptr) return nullptr;
  while (n->rb_left != nullptr) n = n->rb_left;
  return n;
}

// rb_last() — lib/rbtree.c: the rightmost node.
inline rb_node* rb_last(const rb_root* root) {
  rb_node* n = root->rb_node;
  if (n == nullptr) return nullptr;
  while (n->rb_right != nullptr) n = n->rb_right;
  return n;
}

// rb_next() — lib/rbtree.c: in-order successor; null for the last node or a cleared node.
inline rb_node* rb_next(const rb_node* node) {
  if (rb_empty_node(node)) return nullptr;
  if (node->rb_right != nullptr) {  // leftmost of the right subtree
    rb_node* n = node->rb_right;
    while (n->rb_left != nullptr) n = n->rb_left;
    return n;
  }
  // Otherwise climb while we come from a right child; the first ancestor reached from its left
  // child is the successor.
  rb_node* parent = node->rb_parent_node;
  while (parent != nullptr && node == parent->rb_right) {
    node = parent;
    parent = node->rb_parent_node;
  }
  return parent;
}

// rb_prev() — lib/rbtree.c: the mirror of rb_next().
inline rb_node* rb_prev(const rb_node* node) {
  if (rb_empty_node(node)) return nullptr;
  if (node->rb_left != nullptr) {
    rb_node* n = node->rb_left;
    while (n->rb_right != nullptr) n = n->rb_right;
    return n;
  }
  rb_node* parent = node->rb_parent_node;
  while (parent != nullptr && node == parent->rb_left) {
    node = parent;
    parent = node->rb_parent_node;
  }
  return parent;
}

// rb_replace_node() — lib/rbtree.c: new_ takes victim's place (links and colour) without any
// rebalancing; the caller guarantees new_ sorts where victim did.
inline void rb_replace_node(rb_node* victim, rb_node* new_, rb_root* root) {
  rb_node* const parent = victim->rb_parent_node;
  *new_ = *victim;
  if (victim->rb_left != nullptr) detail::set_parent(victim->rb_left, new_);
  if (victim->rb_right != nullptr) detail::set_parent(victim->rb_right, new_);
  detail::change_child(victim, new_, parent, root);
}

// RB_DECLARE_CALLBACKS_MAX — include/linux/rbtree_augmented.h. Node embeds the rb_node RB and
// the augmented value AUG = max of COMPUTE(n) over n's subtree (mm/vmalloc.c: subtree_max_size,
// va_size). T must be ordered with `<`/`==`.
template <class Node, rb_node Node::*RB, class T, T Node::*AUG, T (*COMPUTE)(const Node*)>
struct rb_callbacks_max {
  static Node* entry(rb_node* n) { return rb_entry<Node, RB>(n); }

  // RBNAME_compute_max(): max over the node and its children's stored values. With `exit`, a
  // value equal to the stored one is not written and true is returned (propagation may stop).
  static bool compute_max(Node* node, bool exit) {
    T max = COMPUTE(node);
    const rb_node& link = node->*RB;
    if (link.rb_left != nullptr) {
      const T& v = entry(link.rb_left)->*AUG;
      if (max < v) max = v;
    }
    if (link.rb_right != nullptr) {
      const T& v = entry(link.rb_right)->*AUG;
      if (max < v) max = v;
    }
    if (exit && node->*AUG == max) return true;
    node->*AUG = max;
    return false;
  }

  // RBNAME_propagate(): recompute from rb upwards, stopping before `stop` or at the first node
  // whose value does not change.
  static void propagate(rb_node* rb, rb_node* stop) {
    while (rb != stop) {
      Node* const node = entry(rb);
      if (compute_max(node, true)) break;
      rb = rb_parent(&(node->*RB));
    }
  }

  // RBNAME_copy(): the successor takes over the erased node's subtree value.
  static void copy(rb_node* rb_old, rb_node* rb_new) { entry(rb_new)->*AUG = entry(rb_old)->*AUG; }

  // RBNAME_rotate(): new heads old's former subtree (same value); old is recomputed below it.
  static void rotate(rb_node* rb_old, rb_node* rb_new) {
    Node* const old_node = entry(rb_old);
    entry(rb_new)->*AUG = old_node->*AUG;
    compute_max(old_node, false);
  }
};

}  // namespace mmref::vmalloc
