// impl/vmalloc/tests/test_rbtree.cpp — the kernel red-black tree of impl/vmalloc/rbtree.hpp.
//
//   RbTree.PropertiesHoldAfterEveryStep     red-black properties + rb_first/last/next/prev walk
//                                           after every step of long random sequences
//   RbTree.ShapeMatchesTextbookOracle       same shape and colours as an independent CLRS tree
//                                           after every operation (exhaustive small cases, then
//                                           >= 100k random operations)
//   RbTree.HandTraced*                      small cases with the expected tree written out
//   RbTree.CallbacksFireAtKernelPoints      the augment callbacks, in order, for traced cases
//   RbTree.AugmentedMax*                    RB_DECLARE_CALLBACKS_MAX over a vmap_area-like node
//   RbTree.Checkers*                        each checker catches a deliberately broken tree
//
// Serialisation used in expected trees: pre-order, "<key><B|R>" per node, "." per null child,
// space-separated. Example: "2B 1R . . 3R . ." is a black 2 with red children 1 and 3.
//
// Seed: 20261122 unless MMREF_SEED is set; printed by every randomised test and part of every
// failure message.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "impl/vmalloc/rbtree.hpp"

using namespace mmref::vmalloc;

namespace {

// ---------------------------------------------------------------------------------------------
// Randomness: splitmix64, so a seed replays the same sequences with any standard library.

std::uint64_t seed_from_env() {
  const char* s = std::getenv("MMREF_SEED");
  return s ? std::strtoull(s, nullptr, 0) : 20261122;
}

struct rng64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  bool percent(unsigned p) { return next() % 100 < p; }
};

template <class T>
void shuffle(std::vector<T>& v, rng64& r) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[r.below(i)]);
}

std::vector<int> iota_keys(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}

std::size_t uz(int i) { return static_cast<std::size_t>(i); }

// ---------------------------------------------------------------------------------------------
// The tree under test, keyed by int. pool[k] is key k's node; the key sits before the rb_node so
// rb_entry really has to subtract an offset.

struct knode {
  int key = 0;
  rb_node rb;
};
const knode* kn(const rb_node* n) { return rb_entry<knode, &knode::rb>(n); }
int key_of(const rb_node* n) { return kn(n)->key; }

struct ktree {
  rb_root root;
  std::vector<knode> pool;
  std::vector<bool> present;
  std::size_t count = 0;

  explicit ktree(int key_space) : pool(uz(key_space)), present(uz(key_space), false) {
    for (int k = 0; k < key_space; ++k) pool[uz(k)].key = k;
  }
  ktree(const ktree&) = delete;
  ktree& operator=(const ktree&) = delete;

  // The kernel's insertion idiom: descend to the null link (left when smaller), rb_link_node(),
  // then rb_insert_color() — or rb_insert_augmented<A>() when A is given.
  template <class A = void>
  void insert(int k) {
    rb_node** link = &root.rb_node;
    rb_node* parent = nullptr;
    while (*link != nullptr) {
      parent = *link;
      link = k < key_of(parent) ? &parent->rb_left : &parent->rb_right;
    }
    rb_node* const n = &pool[uz(k)].rb;
    rb_link_node(n, parent, link);
    if constexpr (std::is_void_v<A>)
      rb_insert_color(n, &root);
    else
      rb_insert_augmented<A>(n, &root);
    present[uz(k)] = true;
    ++count;
  }

  template <class A = void>
  void erase(int k) {
    rb_node* const n = &pool[uz(k)].rb;
    if constexpr (std::is_void_v<A>)
      rb_erase(n, &root);
    else
      rb_erase_augmented<A>(n, &root);
    rb_clear_node(n);
    present[uz(k)] = false;
    --count;
  }

  rb_node* node(int k) { return &pool[uz(k)].rb; }
};

// Pre-order serialisation, "<key><B|R>" per node and "." per null child.
template <class KeyOf>
void serialize(const rb_node* n, KeyOf key, std::string& out) {
  if (n == nullptr) {
    out += ". ";
    return;
  }
  out += std::to_string(key(n));
  out += n->rb_black ? "B " : "R ";
  serialize(n->rb_left, key, out);
  serialize(n->rb_right, key, out);
}
std::string shape(const rb_root& root) {
  std::string s;
  serialize(root.rb_node, key_of, s);
  if (!s.empty()) s.pop_back();
  return s;
}

// ---------------------------------------------------------------------------------------------
// Red-black property checker: root black with no parent, no red node with a red child, equal
// black height on every path, parent pointers consistent with child links, in-order keys strictly
// increasing, node count. Returns "" when all hold, else what failed first.

template <class KeyOf>
struct rb_checker {
  KeyOf key;
  std::string err;
  std::size_t nodes = 0;
  const rb_node* prev = nullptr;

  void fail(const std::string& what) {
    if (err.empty()) err = what;
  }
  int black_height(const rb_node* n, const rb_node* parent) {
    if (n == nullptr) return 1;
    if (n->rb_parent_node != parent) fail("parent pointer of " + std::to_string(key(n)) + " is wrong");
    if (rb_is_red(n) && rb_is_red(parent))
      fail("red " + std::to_string(key(n)) + " under red " + std::to_string(key(parent)));
    const int lh = black_height(n->rb_left, n);
    if (prev != nullptr && !(key(prev) < key(n)))
      fail("in-order keys not increasing: " + std::to_string(key(prev)) + " then " + std::to_string(key(n)));
    prev = n;
    ++nodes;
    const int rh = black_height(n->rb_right, n);
    if (lh != rh)
      fail("black heights " + std::to_string(lh) + " / " + std::to_string(rh) + " under " +
           std::to_string(key(n)));
    return lh + (n->rb_black ? 1 : 0);
  }
};

template <class KeyOf>
std::string check_rb(const rb_root& root, std::size_t expected_nodes, KeyOf key) {
  rb_checker<KeyOf> c{key, {}, 0, nullptr};
  if (root.rb_node != nullptr) {
    if (root.rb_node->rb_parent_node != nullptr) return "root has a parent";
    if (!root.rb_node->rb_black) return "root is red";
  }
  c.black_height(root.rb_node, nullptr);
  if (c.err.empty() && c.nodes != expected_nodes)
    c.err = "tree holds " + std::to_string(c.nodes) + " nodes, expected " + std::to_string(expected_nodes);
  return c.err;
}

// rb_first/rb_next must visit exactly the sorted key set, and rb_last/rb_prev the reverse.
std::string check_walk(const rb_root& root, const std::set<int>& keys) {
  auto it = keys.begin();
  for (const rb_node* n = rb_first(&root); n != nullptr; n = rb_next(n), ++it)
    if (it == keys.end() || *it != key_of(n)) return "rb_next walk differs at " + std::to_string(key_of(n));
  if (it != keys.end()) return "rb_next walk stops early before " + std::to_string(*it);
  auto rit = keys.rbegin();
  for (const rb_node* n = rb_last(&root); n != nullptr; n = rb_prev(n), ++rit)
    if (rit == keys.rend() || *rit != key_of(n)) return "rb_prev walk differs at " + std::to_string(key_of(n));
  if (rit != keys.rend()) return "rb_prev walk stops early before " + std::to_string(*rit);
  return {};
}

// ---------------------------------------------------------------------------------------------
// The oracle: a textbook red-black tree after Cormen, Leiserson, Rivest, Stein, "Introduction to
// Algorithms", 3rd ed., chapter 13 — RB-INSERT / RB-INSERT-FIXUP, RB-TRANSPLANT, RB-DELETE
// (successor = TREE-MINIMUM of the right subtree) / RB-DELETE-FIXUP, with a black sentinel T.nil.
// Written as structure-of-arrays over node indices: index 0 is T.nil, index k+1 holds key k.
//
// Kernel vs CLRS, checked case by case against lib/rbtree.c and include/linux/rbtree_augmented.h:
//   insert   kernel cases 1/2/3 = CLRS cases 1/2/3, same rotations, same final colours (the
//            kernel also "sets black" the subtree a rotation moves, which is black already).
//   delete   node with <= 1 child: the kernel gives the lone (red) child the node's colour (black)
//            and skips rebalancing; CLRS runs RB-DELETE-FIXUP on that red x, which only paints it
//            black. Same tree. Two children: both splice in TREE-MINIMUM(z.right), which takes
//            z's place and colour; a red right child of the successor is painted black, a black
//            successor without children starts the fix-up at the same parent (CLRS's x = T.nil
//            with x.p set by RB-TRANSPLANT, or x.p = y when y.p == z).
//   fix-up   cases 1/2/4 identical. Case 3 differs only in when colours are written: CLRS paints
//            w.left black and w red before rotating at w, then case 4 paints w (= old w.left)
//            with x.p's colour and w.right (= old w) black; the kernel rotates at the sibling
//            without recolouring and case 4 writes the same final colours (sl gets p's colour,
//            old s black, p black). Same tree after every operation.
// No case was found where the two produce different trees, so the oracle below is plain CLRS.

class clrs_tree {
 public:
  static constexpr int NIL = 0;
  static constexpr unsigned char RED = 0;
  static constexpr unsigned char BLACK = 1;

  explicit clrs_tree(int key_space)
      : key(uz(key_space) + 1, -1),
        lc(uz(key_space) + 1, NIL),
        rc(uz(key_space) + 1, NIL),
        par(uz(key_space) + 1, NIL),
        col(uz(key_space) + 1, BLACK) {}

  int root = NIL;
  std::vector<int> key, lc, rc, par;
  std::vector<unsigned char> col;

  void LEFT_ROTATE(int x) {
    const int y = rc[uz(x)];
    rc[uz(x)] = lc[uz(y)];
    if (lc[uz(y)] != NIL) par[uz(lc[uz(y)])] = x;
    par[uz(y)] = par[uz(x)];
    if (par[uz(x)] == NIL)
      root = y;
    else if (x == lc[uz(par[uz(x)])])
      lc[uz(par[uz(x)])] = y;
    else
      rc[uz(par[uz(x)])] = y;
    lc[uz(y)] = x;
    par[uz(x)] = y;
  }

  void RIGHT_ROTATE(int x) {
    const int y = lc[uz(x)];
    lc[uz(x)] = rc[uz(y)];
    if (rc[uz(y)] != NIL) par[uz(rc[uz(y)])] = x;
    par[uz(y)] = par[uz(x)];
    if (par[uz(x)] == NIL)
      root = y;
    else if (x == rc[uz(par[uz(x)])])
      rc[uz(par[uz(x)])] = y;
    else
      lc[uz(par[uz(x)])] = y;
    rc[uz(y)] = x;
    par[uz(x)] = y;
  }

  void RB_INSERT(int k) {
    const int z = k + 1;
    key[uz(z)] = k;
    int y = NIL;
    int x = root;
    while (x != NIL) {
      y = x;
      x = key[uz(z)] < key[uz(x)] ? lc[uz(x)] : rc[uz(x)];
    }
    par[uz(z)] = y;
    if (y == NIL)
      root = z;
    else if (key[uz(z)] < key[uz(y)])
      lc[uz(y)] = z;
    else
      rc[uz(y)] = z;
    lc[uz(z)] = NIL;
    rc[uz(z)] = NIL;
    col[uz(z)] = RED;
    RB_INSERT_FIXUP(z);
  }

  void RB_INSERT_FIXUP(int z) {
    while (col[uz(par[uz(z)])] == RED) {
      const int zp = par[uz(z)];
      const int zpp = par[uz(zp)];
      if (zp == lc[uz(zpp)]) {
        const int y = rc[uz(zpp)];
        if (col[uz(y)] == RED) {  // case 1
          col[uz(zp)] = BLACK;
          col[uz(y)] = BLACK;
          col[uz(zpp)] = RED;
          z = zpp;
        } else {
          if (z == rc[uz(zp)]) {  // case 2
            z = zp;
            LEFT_ROTATE(z);
          }
          col[uz(par[uz(z)])] = BLACK;  // case 3
          col[uz(par[uz(par[uz(z)])])] = RED;
          RIGHT_ROTATE(par[uz(par[uz(z)])]);
        }
      } else {
        const int y = lc[uz(zpp)];
        if (col[uz(y)] == RED) {
          col[uz(zp)] = BLACK;
          col[uz(y)] = BLACK;
          col[uz(zpp)] = RED;
          z = zpp;
        } else {
          if (z == lc[uz(zp)]) {
            z = zp;
            RIGHT_ROTATE(z);
          }
          col[uz(par[uz(z)])] = BLACK;
          col[uz(par[uz(par[uz(z)])])] = RED;
          LEFT_ROTATE(par[uz(par[uz(z)])]);
        }
      }
    }
    col[uz(root)] = BLACK;
  }

  void RB_TRANSPLANT(int u, int v) {
    if (par[uz(u)] == NIL)
      root = v;
    else if (u == lc[uz(par[uz(u)])])
      lc[uz(par[uz(u)])] = v;
    else
      rc[uz(par[uz(u)])] = v;
    par[uz(v)] = par[uz(u)];  // also for v == T.nil: RB-DELETE-FIXUP reads x.p
  }

  int TREE_MINIMUM(int x) const {
    while (lc[uz(x)] != NIL) x = lc[uz(x)];
    return x;
  }

  void RB_DELETE(int k) {
    const int z = k + 1;
    int y = z;
    unsigned char y_original_color = col[uz(y)];
    int x;
    if (lc[uz(z)] == NIL) {
      x = rc[uz(z)];
      RB_TRANSPLANT(z, rc[uz(z)]);
    } else if (rc[uz(z)] == NIL) {
      x = lc[uz(z)];
      RB_TRANSPLANT(z, lc[uz(z)]);
    } else {
      y = TREE_MINIMUM(rc[uz(z)]);
      y_original_color = col[uz(y)];
      x = rc[uz(y)];
      if (par[uz(y)] == z) {
        par[uz(x)] = y;
      } else {
        RB_TRANSPLANT(y, rc[uz(y)]);
        rc[uz(y)] = rc[uz(z)];
        par[uz(rc[uz(y)])] = y;
      }
      RB_TRANSPLANT(z, y);
      lc[uz(y)] = lc[uz(z)];
      par[uz(lc[uz(y)])] = y;
      col[uz(y)] = col[uz(z)];
    }
    if (y_original_color == BLACK) RB_DELETE_FIXUP(x);
    lc[uz(z)] = rc[uz(z)] = par[uz(z)] = NIL;
  }

  void RB_DELETE_FIXUP(int x) {
    while (x != root && col[uz(x)] == BLACK) {
      const int xp = par[uz(x)];
      if (x == lc[uz(xp)]) {
        int w = rc[uz(xp)];
        if (col[uz(w)] == RED) {  // case 1
          col[uz(w)] = BLACK;
          col[uz(xp)] = RED;
          LEFT_ROTATE(xp);
          w = rc[uz(par[uz(x)])];
        }
        if (col[uz(lc[uz(w)])] == BLACK && col[uz(rc[uz(w)])] == BLACK) {  // case 2
          col[uz(w)] = RED;
          x = par[uz(x)];
        } else {
          if (col[uz(rc[uz(w)])] == BLACK) {  // case 3
            col[uz(lc[uz(w)])] = BLACK;
            col[uz(w)] = RED;
            RIGHT_ROTATE(w);
            w = rc[uz(par[uz(x)])];
          }
          col[uz(w)] = col[uz(par[uz(x)])];  // case 4
          col[uz(par[uz(x)])] = BLACK;
          col[uz(rc[uz(w)])] = BLACK;
          LEFT_ROTATE(par[uz(x)]);
          x = root;
        }
      } else {
        int w = lc[uz(xp)];
        if (col[uz(w)] == RED) {
          col[uz(w)] = BLACK;
          col[uz(xp)] = RED;
          RIGHT_ROTATE(xp);
          w = lc[uz(par[uz(x)])];
        }
        if (col[uz(rc[uz(w)])] == BLACK && col[uz(lc[uz(w)])] == BLACK) {
          col[uz(w)] = RED;
          x = par[uz(x)];
        } else {
          if (col[uz(lc[uz(w)])] == BLACK) {
            col[uz(rc[uz(w)])] = BLACK;
            col[uz(w)] = RED;
            LEFT_ROTATE(w);
            w = lc[uz(par[uz(x)])];
          }
          col[uz(w)] = col[uz(par[uz(x)])];
          col[uz(par[uz(x)])] = BLACK;
          col[uz(lc[uz(w)])] = BLACK;
          RIGHT_ROTATE(par[uz(x)]);
          x = root;
        }
      }
    }
    col[uz(x)] = BLACK;
  }

  void serialize_from(int x, std::string& out) const {
    if (x == NIL) {
      out += ". ";
      return;
    }
    out += std::to_string(key[uz(x)]);
    out += col[uz(x)] == BLACK ? "B " : "R ";
    serialize_from(lc[uz(x)], out);
    serialize_from(rc[uz(x)], out);
  }
  std::string shape() const {
    std::string s;
    serialize_from(root, s);
    if (!s.empty()) s.pop_back();
    return s;
  }
};

// Same shape and colours, compared node by node without building strings.
bool same_tree(const rb_node* a, const clrs_tree& t, int x) {
  if (a == nullptr || x == clrs_tree::NIL) return a == nullptr && x == clrs_tree::NIL;
  return key_of(a) == t.key[uz(x)] && a->rb_black == (t.col[uz(x)] == clrs_tree::BLACK) &&
         same_tree(a->rb_left, t, t.lc[uz(x)]) && same_tree(a->rb_right, t, t.rc[uz(x)]);
}

// Two kernel trees (keys read by ka / kb) with the same shape, keys and colours.
template <class KA, class KB>
bool same_shape(const rb_node* a, KA ka, const rb_node* b, KB kb) {
  if (a == nullptr || b == nullptr) return a == nullptr && b == nullptr;
  return static_cast<std::uint64_t>(ka(a)) == static_cast<std::uint64_t>(kb(b)) && a->rb_black == b->rb_black &&
         same_shape(a->rb_left, ka, b->rb_left, kb) && same_shape(a->rb_right, ka, b->rb_right, kb);
}

// Both serialisations around their first difference, for a readable failure message.
std::string show_difference(const std::string& ours, const std::string& theirs) {
  std::size_t i = 0;
  while (i < ours.size() && i < theirs.size() && ours[i] == theirs[i]) ++i;
  const std::size_t from = i > 120 ? i - 120 : 0;
  return "first difference at character " + std::to_string(i) + "\n  ours:   ..." + ours.substr(from, 240) +
         "\n  theirs: ..." + theirs.substr(from, 240);
}

// A kernel tree and the oracle driven in lock-step.
struct twin {
  ktree k;
  clrs_tree c;
  std::size_t ops = 0;
  explicit twin(int key_space) : k(key_space), c(key_space) {}

  void insert(int key) {
    k.insert(key);
    c.RB_INSERT(key);
    ++ops;
  }
  void erase(int key) {
    k.erase(key);
    c.RB_DELETE(key);
    ++ops;
  }
  bool same() const { return same_tree(k.root.rb_node, c, c.root); }
  std::string difference() const { return show_difference(shape(k.root), c.shape()); }
};

// ---------------------------------------------------------------------------------------------
// The augmented node: a vmap_area of the free tree (mm/vmalloc.c): va_start, va_end, the rb_node,
// subtree_max_size = the largest va_end - va_start in the subtree.

struct vnode {
  std::uint64_t va_start = 0;
  std::uint64_t va_end = 0;
  rb_node rb;
  std::uint64_t subtree_max_size = 0;
};
std::uint64_t vsize(const vnode* v) { return v->va_end - v->va_start; }
using vaug = rb_callbacks_max<vnode, &vnode::rb, std::uint64_t, &vnode::subtree_max_size, &vsize>;

vnode* vn(rb_node* n) { return rb_entry<vnode, &vnode::rb>(n); }
const vnode* vn(const rb_node* n) { return rb_entry<vnode, &vnode::rb>(n); }
std::uint64_t vkey(const rb_node* n) { return vn(n)->va_start; }

// Recomputes every subtree maximum from scratch; "" when each stored value is right.
struct aug_checker {
  std::string err;
  std::uint64_t walk(const rb_node* n) {
    if (n == nullptr) return 0;
    const std::uint64_t l = walk(n->rb_left);
    const std::uint64_t r = walk(n->rb_right);
    const std::uint64_t m = std::max({vsize(vn(n)), l, r});
    if (vn(n)->subtree_max_size != m && err.empty())
      err = "subtree_max_size of the area at " + std::to_string(vn(n)->va_start) + " is " +
            std::to_string(vn(n)->subtree_max_size) + ", recomputed " + std::to_string(m);
    return m;
  }
};
std::string check_aug(const rb_root& root) {
  aug_checker c;
  c.walk(root.rb_node);
  return c.err;
}

// Free areas in disjoint slots: slot i's area lies inside [i * kSlot, (i + 1) * kSlot).
constexpr std::uint64_t kSlot = 4096;

enum class insert_protocol {
  vmalloc,     // link_va() + augment_tree_propagate_from(): insert with a stale value, then set
               // it to 0 and propagate from the new node (mm/vmalloc.c)
  documented,  // Documentation/core-api/rbtree.rst: raise the values on the way down, give the
               // new node its own size, then rb_insert_augmented() alone
};

template <class Aug>
struct vtree {
  rb_root root;
  std::vector<vnode> pool;
  std::vector<bool> present;
  std::size_t count = 0;

  explicit vtree(std::size_t slots) : pool(slots), present(slots, false) {}
  vtree(const vtree&) = delete;
  vtree& operator=(const vtree&) = delete;

  void set_extent(std::size_t slot, std::uint64_t offset, std::uint64_t size) {
    vnode& v = pool[slot];
    v.va_start = slot * kSlot + offset;
    v.va_end = v.va_start + size;
  }

  // find_va_links()-style descent: left when the new area ends at or before the node's start,
  // right when it starts at or after the node's end.
  void insert(std::size_t slot, insert_protocol proto, std::uint64_t stale_value) {
    vnode& v = pool[slot];
    rb_node** link = &root.rb_node;
    rb_node* parent = nullptr;
    while (*link != nullptr) {
      parent = *link;
      vnode* const t = vn(parent);
      if (proto == insert_protocol::documented && t->subtree_max_size < vsize(&v)) t->subtree_max_size = vsize(&v);
      link = v.va_end <= t->va_start ? &parent->rb_left : &parent->rb_right;
    }
    v.subtree_max_size = proto == insert_protocol::vmalloc ? stale_value : vsize(&v);
    rb_link_node(&v.rb, parent, link);
    rb_insert_augmented<Aug>(&v.rb, &root);
    if (proto == insert_protocol::vmalloc) {
      v.subtree_max_size = 0;
      Aug::propagate(&v.rb, nullptr);
    }
    present[slot] = true;
    ++count;
  }

  void erase(std::size_t slot) {
    rb_erase_augmented<Aug>(&pool[slot].rb, &root);
    rb_clear_node(&pool[slot].rb);
    present[slot] = false;
    --count;
  }

  // The area changes size in place (e.g. adjust_va_to_fit_type() clipping it, or a merge
  // growing it), then augment_tree_propagate_from().
  void resize(std::size_t slot, std::uint64_t offset, std::uint64_t size) {
    set_extent(slot, offset, size);
    Aug::propagate(&pool[slot].rb, nullptr);
  }
};

// A random extent that fits in one slot.
std::pair<std::uint64_t, std::uint64_t> random_extent(rng64& r) {
  const std::uint64_t offset = r.next() % (kSlot / 2);
  const std::uint64_t size = 1 + r.next() % (kSlot - offset);
  return {offset, size};
}

// ---------------------------------------------------------------------------------------------

struct RbTree : ::testing::Test {
  std::uint64_t seed = seed_from_env();
  void SetUp() override {
    std::printf("rbtree seed=%llu (MMREF_SEED=%llu to replay)\n", static_cast<unsigned long long>(seed),
                static_cast<unsigned long long>(seed));
  }
  std::string tag(const std::string& what) const { return "seed=" + std::to_string(seed) + " " + what; }
};

// 1. Red-black properties and the ordered walk after every step.
TEST_F(RbTree, PropertiesHoldAfterEveryStep) {
  rng64 r{seed};
  struct run {
    int key_space;
    std::size_t steps;
    unsigned insert_percent;
  };
  std::size_t total = 0;
  for (const run& cfg : {run{16, 4000, 50}, run{300, 20000, 60}, run{2000, 20000, 75}, run{2000, 20000, 35}}) {
    SCOPED_TRACE(tag("key space " + std::to_string(cfg.key_space)));
    ktree t(cfg.key_space);
    std::set<int> keys;
    for (std::size_t step = 0; step < cfg.steps; ++step) {
      const int k = static_cast<int>(r.below(uz(cfg.key_space)));
      const bool want_insert = r.percent(cfg.insert_percent);
      std::string op;
      if (!t.present[uz(k)] && (want_insert || keys.empty())) {
        t.insert(k);
        keys.insert(k);
        op = "insert " + std::to_string(k);
      } else if (t.present[uz(k)] && !want_insert) {
        t.erase(k);
        keys.erase(k);
        op = "erase " + std::to_string(k);
      } else {
        continue;
      }
      ++total;
      std::string err = check_rb(t.root, keys.size(), key_of);
      if (err.empty()) err = check_walk(t.root, keys);
      ASSERT_EQ(err, "") << "after step " << step << " (" << op << ")";
    }
    // Drain what is left, checking every erase.
    std::vector<int> rest(keys.begin(), keys.end());
    shuffle(rest, r);
    for (int k : rest) {
      t.erase(k);
      keys.erase(k);
      ++total;
      std::string err = check_rb(t.root, keys.size(), key_of);
      if (err.empty()) err = check_walk(t.root, keys);
      ASSERT_EQ(err, "") << "after draining erase " << k;
    }
    EXPECT_EQ(t.root.rb_node, nullptr);
  }
  std::printf("  %zu operations checked\n", total);
}

// 2. Shape fidelity against the CLRS oracle, after every operation.
TEST_F(RbTree, ShapeMatchesTextbookOracle) {
  rng64 r{seed};
  std::size_t exhaustive_ops = 0;
  std::size_t random_ops = 0;

  // (a) Exhaustive: up to 5 keys every insertion order with every erase order; 6 and 7 keys
  // every insertion order with a random erase order.
  auto order = [](const std::vector<int>& v) {
    std::string o;
    for (int k : v) o += std::to_string(k) + " ";
    return o;
  };
  for (int n = 1; n <= 7; ++n) {
    SCOPED_TRACE(tag("exhaustive n=" + std::to_string(n)));
    std::vector<int> ins = iota_keys(n);
    do {
      std::vector<int> del = iota_keys(n);
      bool more_erase_orders = true;
      if (n > 5) shuffle(del, r);
      while (more_erase_orders) {
        twin t(n);
        for (int k : ins) {
          t.insert(k);
          ASSERT_TRUE(t.same()) << "inserting " << order(ins) << ": after insert " << k << "\n" << t.difference();
        }
        for (int k : del) {
          t.erase(k);
          ASSERT_TRUE(t.same()) << "inserting " << order(ins) << "then erasing " << order(del) << ": after erase "
                                << k << "\n" << t.difference();
        }
        exhaustive_ops += t.ops;
        more_erase_orders = n <= 5 && std::next_permutation(del.begin(), del.end());
      }
    } while (std::next_permutation(ins.begin(), ins.end()));
  }

  // (b) Random: fill in random order then drain in random order, for growing sizes.
  for (int n : {100, 1000, 5000}) {
    SCOPED_TRACE(tag("fill/drain n=" + std::to_string(n)));
    twin t(n);
    std::vector<int> ins = iota_keys(n);
    shuffle(ins, r);
    for (int k : ins) {
      t.insert(k);
      ASSERT_TRUE(t.same()) << "after insert " << k << "\n" << t.difference();
    }
    std::vector<int> del = iota_keys(n);
    shuffle(del, r);
    for (int k : del) {
      t.erase(k);
      ASSERT_TRUE(t.same()) << "after erase " << k << "\n" << t.difference();
    }
    random_ops += t.ops;
  }

  // (c) Random interleavings: inserts and erases mixed, the tree hovering around a target size.
  struct mix {
    int key_space;
    std::size_t ops;
    std::size_t target;
  };
  for (const mix& m : {mix{64, 30000, 32}, mix{512, 30000, 200}, mix{4096, 30000, 1500}}) {
    SCOPED_TRACE(tag("interleaved key space " + std::to_string(m.key_space)));
    twin t(m.key_space);
    std::vector<int> in_tree;
    std::vector<int> out_of_tree = iota_keys(m.key_space);
    while (t.ops < m.ops) {
      const bool do_insert = in_tree.empty() || (!out_of_tree.empty() && r.percent(in_tree.size() < m.target ? 70 : 30));
      std::vector<int>& from = do_insert ? out_of_tree : in_tree;
      std::vector<int>& to = do_insert ? in_tree : out_of_tree;
      const std::size_t i = r.below(from.size());
      const int k = from[i];
      from[i] = from.back();
      from.pop_back();
      to.push_back(k);
      if (do_insert)
        t.insert(k);
      else
        t.erase(k);
      ASSERT_TRUE(t.same()) << (do_insert ? "after insert " : "after erase ") << k << " (op " << t.ops << ")\n"
                            << t.difference();
    }
    random_ops += t.ops;
  }

  // (d) Structured orders: ascending and descending fills; erasing always the root, the minimum,
  // the maximum.
  for (int pattern = 0; pattern < 3; ++pattern) {
    SCOPED_TRACE("structured pattern " + std::to_string(pattern));
    const int n = 2000;
    twin t(n);
    for (int i = 0; i < n; ++i) {
      const int k = pattern == 1 ? n - 1 - i : i;
      t.insert(k);
      ASSERT_TRUE(t.same()) << "after insert " << k << "\n" << t.difference();
    }
    while (t.k.root.rb_node != nullptr) {
      const rb_node* victim = pattern == 0 ? t.k.root.rb_node : pattern == 1 ? rb_first(&t.k.root) : rb_last(&t.k.root);
      const int k = key_of(victim);
      t.erase(k);
      ASSERT_TRUE(t.same()) << "after erase " << k << "\n" << t.difference();
    }
    random_ops += t.ops;
  }

  std::printf("  %zu exhaustive + %zu random/structured operations, each compared with the oracle\n",
              exhaustive_ops, random_ops);
  EXPECT_GE(random_ops, 100000u);
}

// 3. Hand-traced small cases.

// Inserting 1..7 ascending. Step by step (P parent, G grandparent, U uncle):
//   1: root, black.                       "1B . ."
//   2: red right child of 1.              "1B . 2R . ."
//   3: P=2 red, U null: case 3, rotate left at 1.            "2B 1R . . 3R . ."
//   4: P=3 red, U=1 red: case 1, recolour; 2 is root: black.  "2B 1B . . 3B . 4R . ."
//   5: P=4 red, U null: case 3, rotate left at 3.            "2B 1B . . 4B 3R . . 5R . ."
//   6: P=5 red, U=3 red: case 1; 4 red under black 2: stop.  "2B 1B . . 4R 3B . . 5B . 6R . ."
//   7: P=6 red, U null: case 3, rotate left at 5.            "2B 1B . . 4R 3B . . 6B 5R . . 7R . ."
TEST_F(RbTree, HandTracedAscendingInserts) {
  const char* expected[] = {
      "1B . .",
      "1B . 2R . .",
      "2B 1R . . 3R . .",
      "2B 1B . . 3B . 4R . .",
      "2B 1B . . 4B 3R . . 5R . .",
      "2B 1B . . 4R 3B . . 5B . 6R . .",
      "2B 1B . . 4R 3B . . 6B 5R . . 7R . .",
  };
  ktree t(8);
  for (int k = 1; k <= 7; ++k) {
    t.insert(k);
    EXPECT_EQ(shape(t.root), expected[k - 1]) << "after inserting " << k;
  }
}

// Zig-zag: 3, 1, 2. Inserting 2 (right child of the red left child 1): case 2 rotates left at 1,
// then case 3 rotates right at 3.
TEST_F(RbTree, HandTracedInnerGrandchild) {
  ktree t(4);
  t.insert(3);
  t.insert(1);
  EXPECT_EQ(shape(t.root), "3B 1R . . .");
  t.insert(2);
  EXPECT_EQ(shape(t.root), "2B 1R . . 3R . .");
}

// Erases from the 1..7 tree "2B 1B . . 4R 3B . . 6B 5R . . 7R . .".
TEST_F(RbTree, HandTracedErases) {
  auto build = [](ktree& t) {
    for (int k = 1; k <= 7; ++k) t.insert(k);
    ASSERT_EQ(shape(t.root), "2B 1B . . 4R 3B . . 6B 5R . . 7R . .");
  };
  {
    // Erase the root 2: two children, the successor 3 is deeper (leftmost under 4): erase case 3.
    // 3 takes 2's place and colour; 3 was a black leaf, so rebalance at its old parent 4 with
    // node = null on the left: sibling 6 black with red far child 7 -> case 4, rotate left at 4:
    // 6 takes 4's colour (red), 4 and 7 black, 5 moves under 4.
    ktree t(8);
    build(t);
    t.erase(2);
    EXPECT_EQ(shape(t.root), "3B 1B . . 6R 4B . 5R . . 7B . .");
  }
  {
    // Erase 6: two children, the successor 7 is its right child: erase case 2. 7 takes 6's place
    // and colour (black) and adopts 5; 7 was red, so nothing to rebalance.
    ktree t(8);
    build(t);
    t.erase(6);
    EXPECT_EQ(shape(t.root), "2B 1B . . 4R 3B . . 7B 5R . . .");
  }
  {
    // Erase 4 (red, two children): the successor 5 is deeper (leftmost under 6), a red leaf:
    // it takes 4's place and colour, nothing to rebalance.
    ktree t(8);
    build(t);
    t.erase(4);
    EXPECT_EQ(shape(t.root), "2B 1B . . 5R 3B . . 6B . 7R . .");
  }
  {
    // Erase the black leaf 1: rebalance at 2, sibling 4 red -> fix-up case 1 (rotate left at 2,
    // 4 becomes the black root, 2 red); new sibling 3 has no red child -> case 2: 3 red, and
    // since 2 is red, 2 turns black and the fix-up ends.
    ktree t(8);
    build(t);
    t.erase(1);
    EXPECT_EQ(shape(t.root), "4B 2B . 3R . . 6B 5R . . 7R . .");
  }
  {
    // Fix-up case 3: 2, 1, 4, 3 gives "2B 1B . . 4B 3R . . ."; erasing 1 leaves node = null left
    // of 2 with sibling 4 whose near child 3 is red and far child null -> rotate right at 4
    // (case 3), then case 4 rotates left at 2: 3 takes 2's colour.
    ktree t(5);
    for (int k : {2, 1, 4, 3}) t.insert(k);
    ASSERT_EQ(shape(t.root), "2B 1B . . 4B 3R . . .");
    t.erase(1);
    EXPECT_EQ(shape(t.root), "3B 2B . . 4B . .");
  }
}

// rb_replace_node, rb_clear_node / rb_empty_node and rb_entry on a member that is not first.
TEST_F(RbTree, ReplaceClearAndEntry) {
  ktree t(8);
  for (int k = 1; k <= 7; ++k) t.insert(k);
  // Replace 4 by a fresh node carrying the same key: links and colour move over.
  knode fresh;
  fresh.key = 4;
  rb_replace_node(t.node(4), &fresh.rb, &t.root);
  EXPECT_EQ(shape(t.root), "2B 1B . . 4R 3B . . 6B 5R . . 7R . .");
  EXPECT_EQ(t.root.rb_node->rb_right, &fresh.rb);
  EXPECT_EQ(rb_parent(t.node(3)), &fresh.rb);
  EXPECT_EQ(rb_parent(t.node(6)), &fresh.rb);
  EXPECT_EQ(check_rb(t.root, 7, key_of), "");

  rb_node lone;
  EXPECT_FALSE(rb_empty_node(&lone));
  rb_clear_node(&lone);
  EXPECT_TRUE(rb_empty_node(&lone));
  EXPECT_EQ(rb_next(&lone), nullptr);
  EXPECT_EQ(rb_prev(&lone), nullptr);

  EXPECT_EQ(kn(t.node(5)), &t.pool[5]);
  EXPECT_EQ((rb_entry<knode, &knode::rb>(static_cast<rb_node*>(nullptr))), nullptr);
  vnode v;
  EXPECT_EQ(vn(&v.rb), &v);
}

// The callbacks, recorded, for traced cases: when rotate/copy/propagate fire and with what.
struct recorder {
  inline static std::vector<std::string> log;
  static std::string name(const rb_node* n) { return n == nullptr ? "-" : std::to_string(key_of(n)); }
  static void propagate(rb_node* n, rb_node* stop) { log.push_back("propagate " + name(n) + " " + name(stop)); }
  static void copy(rb_node* o, rb_node* n) { log.push_back("copy " + name(o) + " " + name(n)); }
  static void rotate(rb_node* o, rb_node* n) { log.push_back("rotate " + name(o) + " " + name(n)); }
};

TEST_F(RbTree, CallbacksFireAtKernelPoints) {
  using v = std::vector<std::string>;
  {
    // 3, 1, 2: __rb_insert case 2 rotate(parent 1, node 2), then case 3 rotate(gparent 3, 2).
    ktree t(4);
    recorder::log.clear();
    for (int k : {3, 1, 2}) t.insert<recorder>(k);
    EXPECT_EQ(recorder::log, (v{"rotate 1 2", "rotate 3 2"}));
  }
  ktree t(8);
  for (int k = 1; k <= 7; ++k) t.insert<recorder>(k);
  {
    // Erase 2 (successor 3 deeper, under 4): copy(2, 3), propagate(4 up to 3) before 3 moves,
    // propagate(3 to the root), then ____rb_erase_color case 4: rotate(4, 6).
    recorder::log.clear();
    t.erase<recorder>(2);
    EXPECT_EQ(recorder::log, (v{"copy 2 3", "propagate 4 3", "propagate 3 -", "rotate 4 6"}));
    EXPECT_EQ(shape(t.root), "3B 1B . . 6R 4B . 5R . . 7B . .");
  }
  {
    // Erase the red 6 (its successor 7 is its right child, black, without children): erase case
    // 2, copy(6, 7), propagate(7 to the root). 7 took 6's red and left a black missing on its
    // right: fix-up at 7 with node = null on the right; sibling 4 has only a red near child 5 ->
    // case 3 rotate(4, 5), then case 4 rotate(7, 5): 5 takes 7's red, 4 and 7 black.
    recorder::log.clear();
    t.erase<recorder>(6);
    EXPECT_EQ(recorder::log, (v{"copy 6 7", "propagate 7 -", "rotate 4 5", "rotate 7 5"}));
    EXPECT_EQ(shape(t.root), "3B 1B . . 5R 4B . . 7B . .");
  }
  {
    // Erase the black leaf 1: propagate(3 to the root); fix-up at 3, sibling 5 red -> case 1
    // rotate(3, 5); new sibling 4 has no red child -> case 2: 4 red, 3 (red) turns black.
    recorder::log.clear();
    t.erase<recorder>(1);
    EXPECT_EQ(recorder::log, (v{"propagate 3 -", "rotate 3 5"}));
    EXPECT_EQ(shape(t.root), "5B 3B . 4R . . 7B . .");
  }
}

// 4. Augmented: RB_DECLARE_CALLBACKS_MAX over a vmap_area-like node, both insertion protocols,
// erases, and in-place resizes followed by propagation.
void augmented_random_run(RbTree& fx, insert_protocol proto, std::size_t slots, std::size_t ops) {
  rng64 r{fx.seed ^ (proto == insert_protocol::vmalloc ? 0x1111u : 0x2222u)};
  vtree<vaug> t(slots);
  ktree plain(static_cast<int>(slots));  // the same operations through rb_insert_color/rb_erase
  auto plain_key = [](const rb_node* n) { return key_of(n); };
  auto slot_key = [](const rb_node* n) { return vkey(n) / kSlot; };
  for (std::size_t op = 0; op < ops; ++op) {
    const std::size_t s = r.below(slots);
    const unsigned dice = static_cast<unsigned>(r.below(100));
    std::string what;
    if (!t.present[s]) {
      const auto [offset, size] = random_extent(r);
      t.set_extent(s, offset, size);
      t.insert(s, proto, r.next());  // a stale value: link_va() must not depend on it
      plain.insert(static_cast<int>(s));
      what = "insert slot " + std::to_string(s);
    } else if (dice < 45) {
      t.erase(s);
      plain.erase(static_cast<int>(s));
      what = "erase slot " + std::to_string(s);
    } else {
      // Shrink (clip from the front and/or the back) or grow within the slot.
      const auto [offset, size] = random_extent(r);
      t.resize(s, offset, size);
      what = "resize slot " + std::to_string(s) + " to " + std::to_string(size);
    }
    std::string err = check_aug(t.root);
    if (err.empty()) err = check_rb(t.root, t.count, vkey);
    ASSERT_EQ(err, "") << fx.tag("after op " + std::to_string(op) + ": " + what);
    // The augmented and the plain instantiation are one algorithm: same shape.
    if (!same_shape(t.root.rb_node, slot_key, plain.root.rb_node, plain_key)) {
      std::string a;
      std::string b;
      serialize(t.root.rb_node, slot_key, a);
      serialize(plain.root.rb_node, plain_key, b);
      FAIL() << fx.tag("augmented and plain trees differ after op " + std::to_string(op) + ": " + what) << "\n"
             << show_difference(a, b);
    }
  }
}

TEST_F(RbTree, AugmentedMaxVmallocProtocol) { augmented_random_run(*this, insert_protocol::vmalloc, 600, 30000); }

TEST_F(RbTree, AugmentedMaxDocumentedProtocol) {
  augmented_random_run(*this, insert_protocol::documented, 600, 30000);
}

// Traced augmented case: areas of sizes 1, 1, 100 at slots 1, 2, 3 (documented protocol). The
// third insert rotates left at 1 (insert case 3): rotate(1, 2) gives 2 the old subtree value 100
// and recomputes 1 alone = 1.
TEST_F(RbTree, AugmentedMaxTraced) {
  vtree<vaug> t(4);
  t.set_extent(1, 0, 1);
  t.insert(1, insert_protocol::documented, 0);
  t.set_extent(2, 0, 1);
  t.insert(2, insert_protocol::documented, 0);
  t.set_extent(3, 0, 100);
  t.insert(3, insert_protocol::documented, 0);
  EXPECT_EQ(t.root.rb_node, &t.pool[2].rb);
  EXPECT_EQ(t.pool[2].subtree_max_size, 100u);
  EXPECT_EQ(t.pool[1].subtree_max_size, 1u);
  EXPECT_EQ(t.pool[3].subtree_max_size, 100u);
  // Clip area 3 to 10: propagation lowers 3 and then the root.
  t.resize(3, 0, 10);
  EXPECT_EQ(t.pool[3].subtree_max_size, 10u);
  EXPECT_EQ(t.pool[2].subtree_max_size, 10u);
  // Move area 1 inside its slot, same size: propagation stops at once (value unchanged).
  t.resize(1, 5, 1);
  EXPECT_EQ(check_aug(t.root), "");
}

// 5. The checkers can fail.

TEST_F(RbTree, CheckersCatchBrokenRbTrees) {
  auto fresh = [](ktree& t) {
    for (int k = 1; k <= 7; ++k) t.insert(k);
    ASSERT_EQ(check_rb(t.root, 7, key_of), "");
  };
  {
    ktree t(8);
    fresh(t);
    t.node(3)->rb_black = false;  // red 3 under red 4
    EXPECT_NE(check_rb(t.root, 7, key_of).find("red 3 under red 4"), std::string::npos);
  }
  {
    ktree t(8);
    fresh(t);
    t.node(1)->rb_black = false;  // 2-1 path loses a black
    EXPECT_NE(check_rb(t.root, 7, key_of).find("black heights"), std::string::npos);
  }
  {
    ktree t(8);
    fresh(t);
    t.node(5)->rb_parent_node = t.node(4);
    EXPECT_NE(check_rb(t.root, 7, key_of).find("parent pointer of 5"), std::string::npos);
  }
  {
    ktree t(8);
    fresh(t);
    std::swap(t.pool[5].key, t.pool[7].key);  // keys out of order
    EXPECT_NE(check_rb(t.root, 7, key_of).find("not increasing"), std::string::npos);
    std::swap(t.pool[5].key, t.pool[7].key);
    std::set<int> wrong{1, 2, 3, 4, 5, 6};
    EXPECT_NE(check_walk(t.root, wrong), "");
  }
  {
    // The oracle comparison notices one recoloured node.
    twin tw(16);
    for (int k = 0; k < 16; ++k) tw.insert(k);
    ASSERT_TRUE(tw.same());
    tw.k.node(15)->rb_black = !tw.k.node(15)->rb_black;
    EXPECT_FALSE(tw.same());
    EXPECT_NE(tw.difference().find("first difference"), std::string::npos);
  }
}

// Deliberately wrong callbacks: rotate() that forgets to recompute the old node.
struct broken_rotate {
  static void propagate(rb_node* n, rb_node* stop) { vaug::propagate(n, stop); }
  static void copy(rb_node* o, rb_node* n) { vaug::copy(o, n); }
  static void rotate(rb_node* o, rb_node* n) { vn(n)->subtree_max_size = vn(o)->subtree_max_size; }
};

TEST_F(RbTree, CheckersCatchBrokenAugmentation) {
  rng64 r{seed};
  {
    // A corrupted value anywhere is found.
    vtree<vaug> t(256);
    for (std::size_t s = 0; s < 256; ++s) {
      const auto [offset, size] = random_extent(r);
      t.set_extent(s, offset, size);
      t.insert(s, insert_protocol::vmalloc, r.next());
    }
    ASSERT_EQ(check_aug(t.root), "");
    const std::size_t victim = r.below(256);
    t.pool[victim].subtree_max_size += 1;
    EXPECT_NE(check_aug(t.root), "") << tag("corrupted slot " + std::to_string(victim));
    t.pool[victim].subtree_max_size -= 1;
    ASSERT_EQ(check_aug(t.root), "");
    vnode* const top = vn(t.root.rb_node);
    top->subtree_max_size = 0;
    EXPECT_NE(check_aug(t.root), "");
  }
  {
    // The traced case above with the broken rotate: node 1 keeps the stale 100.
    vtree<broken_rotate> t(4);
    t.set_extent(1, 0, 1);
    t.insert(1, insert_protocol::documented, 0);
    t.set_extent(2, 0, 1);
    t.insert(2, insert_protocol::documented, 0);
    t.set_extent(3, 0, 100);
    t.insert(3, insert_protocol::documented, 0);
    EXPECT_EQ(t.pool[1].subtree_max_size, 100u);
    EXPECT_NE(check_aug(t.root).find("is 100, recomputed 1"), std::string::npos);
  }
}

}  // namespace
