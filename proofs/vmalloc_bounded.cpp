// proofs/vmalloc_bounded.cpp — Inv ∧ op ⇒ Inv′ for vmalloc's alloc (__alloc_vmap_area on the
// block the search chose), lazy free (free_vmap_area_noflush) and purge (__purge_vmap_area_lazy)
// over VM_BOUNDED_K symbolic vmap areas, and VM-MAP / VM-NONCONTIG for the PTE writes of a
// mapping (vmap_small_pages_range_noflush): the templates of impl/vmalloc/slots.hpp run with
// W = zword.
//
// The state: K slots {kind, start, end} in address order (kind: empty, free, busy, lazy; start
// and end any 64-bit words), the window [lo, hi) (any words), and vmap_lazy_nr (any word).
// Inv, with the templates of impl/vmalloc/invariants.hpp:
//   VM-PARTITION  the used slots come first and tile [lo, hi): each non-empty, slot 0 starting
//                 at lo, each next one where the one before ends (vm_partition_adjacent), the last
//                 ending at hi
//   shape         VM-PARTITION; busy and lazy areas whole pages (VM-RANGE's size clause; the
//                 counter counts va_size >> PAGE_SHIFT); no two free and no two lazy neighbours
//                 touch (6.1 coalesces both trees; va_can_merge)
//   VM-LAZY-ACCT  vm_lazy_acct(vmap_lazy_nr, Σ pages of the lazy slots), the pages of a slot by
//                 page numbers, (end >> PAGE_SHIFT) - (start >> PAGE_SHIFT): for whole-page areas
//                 the kernel's va_size >> PAGE_SHIFT (lemma__va_pages__page_numbers), and sums of
//                 it telescope when areas merge, which sums of (end - start) >> PAGE_SHIFT do not
//                 (both solvers time out on those). The sum is exact in 64 bits: the lazy areas
//                 lie inside a window of fewer than 2^64 bytes. The counter keeps the width the
//                 operations give it (slots_lazy_free<Bits>): the kernel's 64 bits in
//                 vmalloc_bounded_ops::real(). Areas are not bounded in size, so a counter that
//                 wraps before the sum does (32 bits: 2^32 pages, 16 TiB of lazily freed VA, half
//                 the 4-level vmalloc range) fails the proof (proofs/tests/test_vmalloc_bounded.cpp).
//   VM-DISJOINT   vm_disjoint on every pair of busy slots, and VM-NO-REUSE vm_no_reuse on every
//                 (busy, lazy) pair: both follow from VM-PARTITION (each obligation's last part,
//                 "VM-PARTITION implies <ID>").
//
// How the proofs are built (each step below was forced by the solvers' run time, Z3 4.8.12 and
// cvc5 1.0.3; each is a standard, sound step, and they are all the proof rests on beyond the
// templates):
//
// 1. Parts. Every obligation is a conjunction of lemmas, each its own query over its own fresh
//    state, with its own non-vacuity check (registry.hpp). Composing them is the chain argument
//    of proofs/buddy_bounded.cpp: a lemma proved for all states holds of the state another
//    lemma produces.
// 2. Cases and the operations written out. An operation is a select network over every slot;
//    the invariants over it cost the solvers seconds per case. So each operation is proved
//    equal, case by case, to its result written out with the slots at concrete positions
//    (lemma__slots_alloc__explicit, lemma__slots_lazy_free__explicit,
//    lemma__slots_purge_step__explicit: the slots, lo and hi; not the counter), and the
//    invariants are proved of the written-out result (J is a function of the fields, so
//    J(op(s)) = J(explicit(s)) where they are equal). The cases: alloc — the slot the search
//    chose (0 .. K-1, or any index >= K) and what happens there (FL, LE, RE, NE when the block
//    fits with room for the remainders, else nothing); lazy_free and a purge step — the slot,
//    whether it holds a busy (lazy) area, and whether the slot below and the slot above merge.
//    Each slot's "nothing changes" case is the negation of the others there, so the cases cover
//    every input (the ones not listed cannot happen: a remainder needs an empty slot above, a
//    neighbour a slot). Where nothing changes the state after is the state before, which has
//    Inv by hypothesis; the invariants' chains list only the cases that change something.
// 3. Arithmetic once. alloc's cases over the written-out result take the start candidate as a
//    fresh word `nva` with the facts lemma__slots_alloc__carve_facts proves of the cores' nva for
//    all 64-bit inputs (the area is non-empty, does not wrap and lies in the block; the fit type
//    says which remainders are non-empty); the explicit lemma gets an instance of that lemma.
// 4. VM-LAZY-ACCT in three kinds of parts: the counter (the operation's vmap_lazy_nr is the old
//    one plus or minus va_size >> PAGE_SHIFT of the area, as the operation computes it: per slot,
//    with no hypothesis; this is where a narrower counter fails), the sum (Σ over the written-out
//    result = Σ before plus or minus d, for d the area's page numbers: per case), and the bridge
//    (lemma__va_pages__page_numbers). Together: counter' = counter ± pages = Σ ± page numbers =
//    Σ'.
// 5. The purge as a chain, from the top slot down: purge = step(0) ∘ … ∘ step(K-1) ∘ begin,
//    with J_i before step i:
//        Inv(s) ⇒ J_{K-1}(begin(s)) ∧ begin(s).state = s
//        J_i(m) ∧ case ⇒ J_{i-1}(explicit step)          (every case of every step)
//        J_{-1}(m) ∧ VM-LAZY-ACCT(m) ⇒ VM-PURGE's state claims
//    For VM-PURGE, J_i is the shape, "no slot above i is lazy", and "the flush range covers
//    every lazy slot"; each step also keeps the flush range, the busy addresses and, for a
//    symbolic address x, "x is free or lazy". So at the end: nothing lazy, the counter zero (with
//    VM-LAZY-ACCT, whose parts the obligation includes), the free tree coalesced, the flush range
//    covering every purged area (begin covers every lazy slot of s; the steps keep the range and
//    make no slot lazy), and the purged VA free (free or lazy is kept, lazy is gone). The shape in
//    J makes the purge keep VM-PARTITION, hence VM-DISJOINT and VM-NO-REUSE (nothing is lazy).
// 6. Map. The window of PTEs starts at the area (any page-aligned address: a 52-bit page number
//    shifted), PFNs are any frames below MAXPHYADDR (34 bits): the ranges the preconditions give.
//    One part per area size nr = 1 .. VM_MAP_N-1, concrete, claiming each page at offset 0; one
//    part shows every offset in a page walks the page's PTE.
//
// Obligations (the bound is printed beside each: K=8 vmap areas, or VM_MAP_N=16 PTEs):
//   lemma__slots_alloc__explicit, lemma__slots_lazy_free__explicit,
//   lemma__slots_purge_step__explicit, lemma__slots_alloc__carve_facts    (2, 3)
//   alloc__preserves__VM-DISJOINT, lazy_free__preserves__VM-DISJOINT       Inv ⇒ shape′, then
//                                                                          VM-PARTITION ⇒
//                                                                          VM-DISJOINT
//   alloc__preserves__VM-NO-REUSE, lazy_free__preserves__VM-NO-REUSE       VM-PARTITION ⇒
//                                                                          VM-PARTITION′ (the
//                                                                          partition alone is
//                                                                          inductive), then
//                                                                          ⇒ VM-NO-REUSE
//   alloc__preserves__VM-LAZY-ACCT, lazy_free__preserves__VM-LAZY-ACCT,
//   purge__preserves__VM-LAZY-ACCT                                         (4)
//   purge__establishes__VM-PURGE                                           (5)
//   map__establishes__VM-MAP      after the writes, page i of the area (every i < nr, every
//                                 offset) walks (pte_decode, the walker's layout) to present with
//                                 pfn pages[i] (vm_map_page); the guard's PTE is not present; no
//                                 PTE outside the area changed; every write landed in the window.
//                                 PFNs and prot are symbolic; nothing relates one page to another.
//   map__establishes__VM-NONCONTIG  with the pages pairwise distinct (vm_area_alloc_pages hands
//                                 out distinct frames) and no other condition on them: the area's
//                                 pages walk to nr pairwise different frames, page i to pages[i].
//                                 Nothing requires pages[k+1] = pages[k] + 1.
//
// Paths (non-vacuity per path, DESIGN.md): the whole operation from a state satisfying Inv with
// the path fixed by a precondition, so the registry's non-vacuity check shows the path
// reachable; the claim is what characterises the path (how many areas of each kind it leaves).
// alloc: each fit type FL, LE, RE, NE, and NE with no descriptor for the left remainder (nothing
// changes); lazy_free: each merge direction in the purge tree (none, next, prev, both); purge:
// one lazy area in slot 3 merging with each choice of free neighbours, two lazy areas, nothing
// lazy; map: nonvacuous__map_noncontiguous_pages, 8 pages no two of which are adjacent frames
// (the VM-NONCONTIG witness). (Every case of every chain is also checked non-vacuous under its
// own hypotheses.)
#include "proofs/vmalloc_bounded.hpp"

#include <array>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "impl/picture/svg.hpp"
#include "impl/vmalloc/invariants.hpp"
#include "impl/vmalloc/slots.hpp"
#include "impl/vmalloc/va_core.hpp"
#include "model/align.hpp"
#include "model/hex.hpp"
#include "model/interval.hpp"
#include "model/pte.hpp"
#include "proofs/lemma_goal.hpp"
#include "proofs/registry.hpp"
#include "proofs/spec.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs {

namespace {

using namespace mmref::vmalloc;
constexpr unsigned K = VM_BOUNDED_K;
constexpr unsigned N = VM_MAP_N;
constexpr unsigned MAXPHY = DEFAULT_MAXPHYADDR;

z3::context& ctx() { return zscope::ctx(); }
zword lit(std::uint64_t v) { return zword::lit(v); }
zbool T() { return zbool::lit(true); }
zbool F() { return zbool::lit(false); }
zbool bvar(const std::string& n) { return {ctx().bool_const(n.c_str())}; }
zbool iff(const zbool& a, const zbool& b) { return {a.e == b.e}; }
zbool all_of(const std::vector<zbool>& v) {
  zbool r = T();
  for (const zbool& b : v) r = r && b;
  return r;
}

// ---------------------------------------------------------------------------------------
// Fresh symbolic states

// N values f(0) .. f(N-1) (zword has no default constructor).
template <class T, unsigned M, class Fn>
std::array<T, M> filled_with(Fn f) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) { return std::array<T, M>{f(static_cast<unsigned>(I))...}; }(
      std::make_index_sequence<M>{});
}

// A `bits`-bit value zero-extended to a word (where the preconditions bound the field).
zword nvar(const std::string& n, unsigned bits) { return {z3::zext(ctx().bv_const(n.c_str(), bits), 64 - bits)}; }

vzstate fresh_state(const std::string& p) {
  vzstate s = vzstate::empty(zword::var(p + "lo"), zword::var(p + "hi"));
  for (unsigned i = 0; i < K; ++i) {
    const std::string n = std::to_string(i);
    // A kind: a 2-bit value zero-extended (the four kinds, nothing else).
    s.slot[i] = {nvar(p + "kind_" + n, 2), zword::var(p + "start_" + n), zword::var(p + "end_" + n)};
  }
  s.lazy_nr = zword::var(p + "vmap_lazy_nr");
  return s;
}

vzpurge fresh_purge(const std::string& p) {
  return {fresh_state(p), zword::var(p + "flush_start"), zword::var(p + "flush_end"), bvar(p + "purged"),
          zword::var(p + "nr_purged")};
}

// ---------------------------------------------------------------------------------------
// The invariants over slots (the templates of impl/vmalloc/invariants.hpp)

using slot = va_slot<zword>;
zbool used(const slot& x) { return !is_kind(x, VA_EMPTY); }
zbool busy(const slot& x) { return is_kind(x, VA_BUSY); }
zbool lazy(const slot& x) { return is_kind(x, VA_LAZY); }
zbool free_(const slot& x) { return is_kind(x, VA_FREE); }

// VM-PARTITION: the used slots come first, are non-empty, and tile [lo, hi) in address order
// (vm_partition_adjacent at each step of the walk).
zbool inv_tiling(const vzstate& s) {
  std::vector<zbool> c{used(s.slot[0]), vm_partition_adjacent(s.lo, s.slot[0].start)};
  for (unsigned k = 0; k < K; ++k) {
    const slot& x = s.slot[k];
    c.push_back(implies(used(x), ult(x.start, x.end)));
    if (k + 1 < K) {
      const slot& y = s.slot[k + 1];
      c.push_back(implies(used(y), used(x)));
      c.push_back(implies(used(x) && used(y), vm_partition_adjacent(x.end, y.start)));
      c.push_back(implies(used(x) && !used(y), vm_partition_adjacent(x.end, s.hi)));
    } else {
      c.push_back(implies(used(x), vm_partition_adjacent(x.end, s.hi)));
    }
  }
  return all_of(c);
}

// Busy and lazy areas are whole pages (VM-RANGE's size clause; vmap_lazy_nr counts
// va_size >> PAGE_SHIFT); no two free areas touch, nor two lazy ones (6.1 coalesces both trees).
zbool inv_pages_coalesced(const vzstate& s) {
  std::vector<zbool> c;
  for (unsigned k = 0; k < K; ++k) {
    const slot& x = s.slot[k];
    c.push_back(implies(busy(x) || lazy(x), IS_ALIGNED(x.end - x.start, lit(PAGE_SIZE))));
    if (k + 1 < K) {
      const slot& y = s.slot[k + 1];
      c.push_back(!(free_(x) && free_(y) && va_can_merge(x.end, y.start)));
      c.push_back(!(lazy(x) && lazy(y) && va_can_merge(x.end, y.start)));
    }
  }
  return all_of(c);
}

zbool shape(const vzstate& s) { return inv_tiling(s) && inv_pages_coalesced(s); }

// VM-DISJOINT: busy pairs.
zbool inv_vm_disjoint(const vzstate& s) {
  std::vector<zbool> c;
  for (unsigned i = 0; i < K; ++i)
    for (unsigned j = i + 1; j < K; ++j) {
      const slot &a = s.slot[i], &b = s.slot[j];
      c.push_back(implies(busy(a) && busy(b), vm_disjoint(a.start, a.end, b.start, b.end)));
    }
  return all_of(c);
}

// VM-NO-REUSE: (busy, lazy) pairs.
zbool inv_vm_no_reuse(const vzstate& s) {
  std::vector<zbool> c;
  for (unsigned i = 0; i < K; ++i)
    for (unsigned j = 0; j < K; ++j)
      if (i != j) {
        const slot &a = s.slot[i], &b = s.slot[j];
        c.push_back(implies(busy(a) && lazy(b), vm_no_reuse(a.start, a.end, b.start, b.end)));
      }
  return all_of(c);
}

// The pages of [start, end) by page numbers, (end >> PAGE_SHIFT) - (start >> PAGE_SHIFT): for a
// whole-page area the same number as the kernel's va_size >> PAGE_SHIFT
// (lemma__va_pages__page_numbers), and sums of it telescope when areas merge, which sums of
// (end - start) >> PAGE_SHIFT do not (the solvers time out on those).
zword page_numbers(const zword& start, const zword& end) { return lshr(end, lit(PAGE_SHIFT)) - lshr(start, lit(PAGE_SHIFT)); }
zword page_numbers(const slot& x) { return page_numbers(x.start, x.end); }

// Σ pages of the lazy slots (exact in 64 bits: see the header).
zword lazy_pages(const vzstate& s) {
  zword sum = lit(0);
  for (const slot& x : s.slot) sum = sum + select(lazy(x), page_numbers(x), lit(0));
  return sum;
}
zbool inv_lazy_acct(const vzstate& s) { return vm_lazy_acct(s.lazy_nr, lazy_pages(s)); }

// Inv, as the preconditions of every lemma about an operation. VM-DISJOINT and VM-NO-REUSE
// follow from the partition (partition_is: the last part of their obligations).
hyps inv_hyps(const vzstate& s) {
  return {{"VM-PARTITION (address-ordered tiling of [lo, hi))", inv_tiling(s)},
          {"busy and lazy areas whole pages; free and lazy trees coalesced", inv_pages_coalesced(s)},
          {"VM-LAZY-ACCT", inv_lazy_acct(s)}};
}
// The part of Inv the partition lemmas need (a weaker hypothesis is a stronger lemma).
hyps shape_hyps(const vzstate& s) {
  hyps h = inv_hyps(s);
  h.pop_back();
  return h;
}

// Address a lies in a slot of kind k.
zbool holds(const slot& x, va_kind k, const zword& a) { return is_kind(x, k) && ule(x.start, a) && ult(a, x.end); }
zbool covered(const vzstate& s, va_kind k, const zword& a) {
  zbool r = F();
  for (const slot& x : s.slot) r = r || holds(x, k, a);
  return r;
}

// The number of slots of kind k, summed in 4 bits (K < 16) and zero-extended.
static_assert(K < 16);
zword count(const vzstate& s, va_kind k) {
  z3::expr n = ctx().bv_val(0, 4);
  for (const slot& x : s.slot) n = n + z3::ite(is_kind(x, k).e, ctx().bv_val(1, 4), ctx().bv_val(0, 4));
  return {z3::zext(n, 60)};
}

zbool same_state(const vzstate& a, const vzstate& b) {
  std::vector<zbool> c{eq(a.lazy_nr, b.lazy_nr), eq(a.lo, b.lo), eq(a.hi, b.hi)};
  for (unsigned i = 0; i < K; ++i) {
    const slot &x = a.slot[i], &y = b.slot[i];
    c.push_back(eq(x.kind, y.kind) && eq(x.start, y.start) && eq(x.end, y.end));
  }
  return all_of(c);
}

enum class vid { partition, disjoint, no_reuse, lazy_acct };
const char* id_text(vid v) {
  switch (v) {
    case vid::partition: return inv::VM_PARTITION;
    case vid::disjoint: return inv::VM_DISJOINT;
    case vid::no_reuse: return inv::VM_NO_REUSE;
    case vid::lazy_acct: return inv::VM_LAZY_ACCT;
  }
  return "?";
}

// What each ID's chain carries from state to state, and assumes of the state before (a weaker
// hypothesis is a stronger lemma):
//   VM-DISJOINT   the whole shape (partition, whole pages, coalesced): the inductive invariant
//                 the other proofs assume (VM-LAZY-ACCT needs whole pages, VM-PURGE coalescing);
//   VM-NO-REUSE   the partition alone, which is inductive by itself under alloc and lazy_free;
//   VM-LAZY-ACCT  nothing (its parts take what they need: the case).
hyps inv_for(vid v, const vzstate& s) {
  if (v == vid::lazy_acct) return {};
  if (v == vid::no_reuse) return {{"VM-PARTITION (address-ordered tiling of [lo, hi))", inv_tiling(s)}};
  return shape_hyps(s);
}
zbool carried(vid v, const vzstate& t) { return v == vid::no_reuse ? inv_tiling(t) : shape(t); }

// ---------------------------------------------------------------------------------------
// A chain of lemmas as one obligation's parts

named show_state(const vzstate& s, const std::string& tag) {
  named v;
  for (unsigned i = 0; i < K; ++i) {
    const std::string n = tag + "slot " + std::to_string(i);
    v.push_back({n + " kind", s.slot[i].kind.e});
    v.push_back({n + " start", s.slot[i].start.e});
    v.push_back({n + " end", s.slot[i].end.e});
  }
  v.push_back({tag + "vmap_lazy_nr", s.lazy_nr.e});
  return v;
}

// A slot state in a counterexample, as a picture: the used slots in slot order (not sorted: a
// counterexample may be out of order), each with its number, in one strip.
picture::state_snapshot snapshot_of(const vzstate& s, const model_reader& value) {
  picture::state_snapshot p;
  p.has_va = true;
  p.lazy_nr = value(s.lazy_nr.e);
  p.vmalloc_start = value(s.lo.e);
  p.vmalloc_end = value(s.hi.e);
  picture::va_strip strip{"the used slots in slot order (K=" + std::to_string(K) + "), window [lo, hi) = [" + hex(p.vmalloc_start) +
                              ", " + hex(p.vmalloc_end) + "), vmap_lazy_nr " + std::to_string(p.lazy_nr),
                          {}};
  for (unsigned i = 0; i < K; ++i) {
    const std::uint64_t kind = value(s.slot[i].kind.e);
    if (kind == VA_EMPTY) continue;
    const picture::va_kind k = kind == VA_BUSY ? picture::va_kind::busy : kind == VA_LAZY ? picture::va_kind::lazy : picture::va_kind::free;
    picture::va_piece x{value(s.slot[i].start.e), value(s.slot[i].end.e), k, false, "slot " + std::to_string(i)};
    if (x.start >= x.end) x.note += " (start >= end)";
    strip.pieces.push_back(std::move(x));
  }
  p.strips.push_back(std::move(strip));
  p.legend = {{picture::va_kind::busy, "busy"}, {picture::va_kind::lazy, "lazy"}, {picture::va_kind::free, "free"}};
  return p;
}

// The states a lemma relates (before and after an operation), each with its label.
using labelled_states = std::vector<std::pair<std::string, vzstate>>;

struct chain {
  std::vector<std::pair<std::string, goal>> parts;
  unsigned n = 0;

  std::string fresh(const std::string& what) { return "L" + std::to_string(n++) + "." + what + "."; }
  // One lemma; the states, if given, are shown in a counterexample and drawn.
  void lemma(const std::string& name, const hyps& h, const zbool& claim, named show = {}, const labelled_states& states = {}) {
    for (const auto& [label, st] : states)
      for (auto& x : show_state(st, label + ": ")) show.push_back(std::move(x));
    parts.emplace_back(name, lemma_goal(h, claim, std::move(show), states, snapshot_of));
  }
};

// The last part of a VM-DISJOINT or VM-NO-REUSE obligation: the partition implies it.
void partition_is(chain& c, vid v) {
  const std::string p = c.fresh("partition");
  const vzstate t = fresh_state(p);
  c.lemma(std::string("VM-PARTITION implies ") + id_text(v), {{"VM-PARTITION", inv_tiling(t)}},
          v == vid::disjoint ? inv_vm_disjoint(t) : inv_vm_no_reuse(t), {}, {{"the state", t}});
}


// ---------------------------------------------------------------------------------------
// The operations written out, case by case. An operation is a select network over every slot;
// the invariants over it cost the solvers seconds per case. So each operation is proved equal,
// case by case, to its result written out with the slots at concrete positions
// (lemma__slots_alloc__explicit, lemma__slots_lazy_free__explicit,
// lemma__slots_purge_step__explicit), and the invariants are proved of the written-out result.
// The invariants are functions of the fields, so ID(op(s)) = ID(explicit(s)) where they are
// equal. The written-out results leave vmap_lazy_nr (and the purge's flush range and count) to
// the operation: those fields come from ops, so a wrong counter fails the ID's own lemmas.

// Slots, lo and hi equal (not the counter).
zbool same_slots(const vzstate& a, const vzstate& b) {
  std::vector<zbool> c{eq(a.lo, b.lo), eq(a.hi, b.hi)};
  for (unsigned i = 0; i < K; ++i) {
    const slot &x = a.slot[i], &y = b.slot[i];
    c.push_back(eq(x.kind, y.kind) && eq(x.start, y.start) && eq(x.end, y.end));
  }
  return all_of(c);
}

// The slot index parts: slot j < K, or (j == K) any index >= K.
zword index_for(unsigned j, const std::string& p, hyps& h) {
  if (j < K) return lit(j);
  const zword idx = zword::var(p + "idx");
  h.push_back({"idx >= K (no slot)", uge(idx, lit(K))});
  return idx;
}
std::string index_name(unsigned j) { return j < K ? "slot " + std::to_string(j) : "no slot (idx >= K)"; }

// VM-PURGE of the state after the purge: nothing lazy, counter zero, free space coalesced (the
// flush range and "back in free space" are carried by the chain, see the header).
zbool purge_done(const vzstate& t) {
  std::vector<zbool> c{eq(t.lazy_nr, lit(0))};
  for (unsigned k = 0; k < K; ++k) {
    c.push_back(!lazy(t.slot[k]));
    if (k + 1 < K) c.push_back(!(free_(t.slot[k]) && free_(t.slot[k + 1]) && va_can_merge(t.slot[k].end, t.slot[k + 1].start)));
  }
  return all_of(c);
}

// ---- alloc

struct request {
  zword size, align, vstart, vend;
};
request fresh_request(const std::string& p) {
  return {zword::var(p + "size"), zword::var(p + "align"), zword::var(p + "vstart"), zword::var(p + "vend")};
}
// alloc_vmap_area's argument check: `!size || offset_in_page(size) || !is_power_of_2(align)`
// is -EINVAL before anything happens.
zbool request_ok(const request& r) {
  return ne(r.size, lit(0)) && IS_ALIGNED(r.size, lit(PAGE_SIZE)) && is_power_of_2(r.align);
}

// A case of alloc: the slot the search chose (K: an index >= K), and what happens: a fit type,
// or NOTHING_FIT for "nothing changes".
struct alloc_case {
  unsigned j;
  fit_type t;
  std::string name() const {
    static const char* fits[] = {"nothing changes", "FL", "LE", "RE", "NE"};
    return (j < K ? "slot " + std::to_string(j) : std::string("no slot (idx >= K)")) + ", " + fits[t];
  }
};
unsigned remainders(fit_type t) { return t == NE_FIT_TYPE ? 2 : t == LE_FIT_TYPE || t == RE_FIT_TYPE ? 1 : 0; }
// Every case that can happen: a fit of type t at slot j needs remainders(t) empty slots above j.
std::vector<alloc_case> alloc_cases(bool with_unchanged) {
  std::vector<alloc_case> v;
  for (unsigned j = 0; j < K; ++j) {
    for (fit_type t : {FL_FIT_TYPE, LE_FIT_TYPE, RE_FIT_TYPE, NE_FIT_TYPE})
      if (j + remainders(t) < K) v.push_back({j, t});
    if (with_unchanged) v.push_back({j, NOTHING_FIT});
  }
  if (with_unchanged) v.push_back({K, NOTHING_FIT});
  return v;
}

// The block, the start candidate and the fit type at slot j.
struct carve {
  slot b;
  zword nva, type;
  zbool fits;  // free, is_within_this_va, vend, not NOTHING_FIT
};
carve carve_at(const vzstate& s, unsigned j, const request& q) {
  const slot& b = s.slot[j];
  const zword nva = va_nva_start(b.start, q.vstart, q.align);
  const zword type = classify_va_fit_type(b.start, b.end, nva, q.size);
  return {b, nva, type,
          free_(b) && is_within_this_va(b.start, b.end, q.size, q.align, q.vstart) && va_fits_vend(nva, q.size, q.vend) &&
              ne(type, lit(NOTHING_FIT))};
}
// Empty slots at the top for t's remainders.
zbool room_for(const vzstate& s, fit_type t) {
  zbool r = T();
  for (unsigned k = 0; k < remainders(t); ++k) r = r && is_kind(s.slot[K - 1 - k], VA_EMPTY);
  return r;
}

hyps alloc_case_hyps(const vzstate& s, const request& q, const alloc_case& ac, const zword& idx) {
  if (ac.j == K) return {{"idx >= K (no slot)", uge(idx, lit(K))}};
  const carve cv = carve_at(s, ac.j, q);
  if (ac.t == NOTHING_FIT) {
    zbool any = F();
    for (fit_type t : {FL_FIT_TYPE, LE_FIT_TYPE, RE_FIT_TYPE, NE_FIT_TYPE})
      any = any || (cv.fits && eq(cv.type, lit(t)) && room_for(s, t));
    return {{"no fit with room at slot " + std::to_string(ac.j), !any}};
  }
  return {{"slot " + std::to_string(ac.j) + " is free and the request fits it", cv.fits},
          {std::string("the fit type is ") + alloc_case{ac.j, ac.t}.name(), eq(cv.type, lit(ac.t))},
          {"empty slots at the top for the remainders", room_for(s, ac.t)}};
}

// The state after case ac (a carve at start candidate nva): slots below j as they were, the
// pieces in address order, the slots above j moved up by the number of remainders; the counter
// as `lazy_nr`.
vzstate alloc_explicitly(const vzstate& s, const zword& size, const alloc_case& ac, const zword& nva, const zword& lazy_nr) {
  vzstate t = s;
  t.lazy_nr = lazy_nr;
  if (ac.t == NOTHING_FIT) return t;
  const slot& b = s.slot[ac.j];
  const slot left{lit(VA_FREE), b.start, nva}, area{lit(VA_BUSY), nva, nva + size}, right{lit(VA_FREE), nva + size, b.end};
  std::vector<slot> pieces;
  if (ac.t == RE_FIT_TYPE || ac.t == NE_FIT_TYPE) pieces.push_back(left);
  pieces.push_back(area);
  if (ac.t == LE_FIT_TYPE || ac.t == NE_FIT_TYPE) pieces.push_back(right);
  const unsigned d = static_cast<unsigned>(pieces.size()) - 1;
  for (unsigned k = ac.j; k < K; ++k) t.slot[k] = k - ac.j <= d ? pieces[k - ac.j] : s.slot[k - d];
  return t;
}

// What a carve of fit type t at start candidate a leaves, as facts about numbers: the area
// [a, a + size) is non-empty, does not wrap and lies in the block [bs, be), and the fit type
// says which remainders are non-empty. lemma__slots_alloc__carve_facts proves them of the
// cores' nva; the invariants' lemmas below take any a that has them.
zbool carve_facts(const zword& bs, const zword& be, const zword& a, const zword& size, fit_type t) {
  // The remainders as va_clip tests them: left when va_start < nva, right when nva + size < va_end.
  const zbool left = ult(bs, a), right = ult(a + size, be);
  const zbool edges = t == FL_FIT_TYPE   ? !left && !right
                      : t == LE_FIT_TYPE ? !left && right
                      : t == RE_FIT_TYPE ? left && !right
                                         : left && right;
  return ule(bs, a) && ult(a, a + size) && ule(a + size, be) && edges;
}

// ---- merges (lazy_free into the purge tree, a purge step into the free tree)

// A case of a merge at slot i: the area there is of the kind the operation takes (busy for
// lazy_free, lazy for a purge step) and merges with its `prev` and `next` neighbours or not;
// or (acts = false) the slot holds something else and nothing changes. i = K: an index >= K.
struct merge_case {
  unsigned i;
  bool acts, prev, next;
  std::string name() const {
    if (i == K) return "no slot (idx >= K)";
    const std::string at = "slot " + std::to_string(i);
    if (!acts) return at + ", nothing to do";
    return at + ", merges with " + (prev && next ? "both" : prev ? "prev" : next ? "next" : "neither");
  }
};
std::vector<merge_case> merge_cases(bool with_idle, bool with_no_slot) {
  std::vector<merge_case> v;
  for (unsigned i = 0; i < K; ++i) {
    for (bool pv : {false, true})
      for (bool nx : {false, true})
        if ((!pv || i > 0) && (!nx || i + 1 < K)) v.push_back({i, true, pv, nx});
    if (with_idle) v.push_back({i, false, false, false});
  }
  if (with_no_slot) v.push_back({K, false, false, false});
  return v;
}

// The neighbour below / above slot i is of kind `into` and touches it.
zbool merges_prev(const vzstate& s, unsigned i, va_kind into) {
  return i > 0 ? is_kind(s.slot[i - 1], into) && va_can_merge(s.slot[i - 1].end, s.slot[i].start) : F();
}
zbool merges_next(const vzstate& s, unsigned i, va_kind into) {
  return i + 1 < K ? is_kind(s.slot[i + 1], into) && va_can_merge(s.slot[i].end, s.slot[i + 1].start) : F();
}

hyps merge_case_hyps(const vzstate& s, const merge_case& mc, va_kind from, va_kind into, const zword& idx) {
  const std::string kind = from == VA_BUSY ? "busy" : "lazy";
  if (mc.i == K) return {{"idx >= K (no slot)", uge(idx, lit(K))}};
  const std::string at = "slot " + std::to_string(mc.i);
  if (!mc.acts) return {{at + " is not " + kind, !is_kind(s.slot[mc.i], from)}};
  return {{at + " is " + kind, is_kind(s.slot[mc.i], from)},
          {std::string("the slot below ") + (mc.prev ? "merges" : "does not merge"), iff(merges_prev(s, mc.i, into), mc.prev ? T() : F())},
          {std::string("the slot above ") + (mc.next ? "merges" : "does not merge"), iff(merges_next(s, mc.i, into), mc.next ? T() : F())}};
}

// The state after case mc: the merged area (kind `into`) in the lowest slot it covers, the
// slots above it closed up, empty slots shifted in at the top; the counter as `lazy_nr`.
vzstate merge_explicitly(const vzstate& s, const merge_case& mc, va_kind into, const zword& lazy_nr) {
  vzstate t = s;
  t.lazy_nr = lazy_nr;
  if (!mc.acts) return t;
  const unsigned i = mc.i, pos = mc.prev ? i - 1 : i, d = (mc.prev ? 1u : 0u) + (mc.next ? 1u : 0u);
  t.slot[pos] = {lit(into), mc.prev ? s.slot[i - 1].start : s.slot[i].start, mc.next ? s.slot[i + 1].end : s.slot[i].end};
  for (unsigned k = pos + 1; k < K; ++k) t.slot[k] = slot_or_empty(s, k + d);
  return t;
}

// ---------------------------------------------------------------------------------------
// The explicit lemmas: each operation equals its written-out result, case by case. Their cases
// cover every input: the "nothing changes" case of a slot is the negation of the others there
// (a carve, or a merge of either kind with each neighbour, is always one of the listed cases;
// the ones left out cannot happen: a remainder needs an empty slot above j, a neighbour a slot).

std::vector<std::pair<std::string, goal>> alloc_explicit_chain(const vmalloc_bounded_ops& ops) {
  chain c;
  for (const alloc_case& ac : alloc_cases(true)) {
    const std::string p = c.fresh("alloc." + std::to_string(ac.j) + "." + std::to_string(ac.t));
    const vzstate s = fresh_state(p);
    const request q = fresh_request(p);
    const zword idx = ac.j < K ? lit(ac.j) : zword::var(p + "idx");
    const vzalloc r = ops.alloc(s, idx, q.size, q.align, q.vstart, q.vend);
    const vzstate e = alloc_explicitly(s, q.size, ac, carve_at(s, ac.j < K ? ac.j : 0, q).nva, s.lazy_nr);
    hyps h = alloc_case_hyps(s, q, ac, idx);
    h.push_back({"the request passes alloc_vmap_area's check", request_ok(q)});
    if (ac.j < K) h.push_back({"slot " + std::to_string(ac.j) + " is non-empty if used", implies(!is_kind(s.slot[ac.j], VA_EMPTY), ult(s.slot[ac.j].start, s.slot[ac.j].end))});
    if (ac.t != NOTHING_FIT) {
      const carve cv = carve_at(s, ac.j, q);
      h.push_back({"lemma__slots_alloc__carve_facts (an instance)",
                   implies(ult(cv.b.start, cv.b.end) && request_ok(q) && cv.fits && eq(cv.type, lit(ac.t)),
                           carve_facts(cv.b.start, cv.b.end, cv.nva, q.size, ac.t))});
    }
    zbool claim = same_slots(r.state, e) && iff(r.ok, ac.t == NOTHING_FIT ? F() : T());
    if (ac.t != NOTHING_FIT) claim = claim && eq(r.fit, lit(ac.t)) && eq(r.addr, carve_at(s, ac.j, q).nva);
    named show = {{"ok", r.ok.e}, {"addr", r.addr.e}, {"fit", r.fit.e}};
    const labelled_states states{{"before", s}, {"after", r.state}};
    c.lemma(ac.name(), h, claim, std::move(show), states);
  }
  return std::move(c.parts);
}

std::vector<std::pair<std::string, goal>> lazy_free_explicit_chain(const vmalloc_bounded_ops& ops) {
  chain c;
  for (const merge_case& mc : merge_cases(true, true)) {
    const std::string p = c.fresh("lazy_free." + mc.name());
    const vzstate s = fresh_state(p);
    const zword idx = mc.i < K ? lit(mc.i) : zword::var(p + "idx");
    const vzlazy r = ops.lazy_free(s, idx);
    const vzstate e = merge_explicitly(s, mc, VA_LAZY, s.lazy_nr);
    const zbool claim = same_slots(r.state, e) && iff(r.ok, mc.acts ? T() : F()) && iff(r.merged.prev, mc.prev ? T() : F()) &&
                        iff(r.merged.next, mc.next ? T() : F());
    named show = {{"ok", r.ok.e}, {"merged prev", r.merged.prev.e}, {"merged next", r.merged.next.e}};
    const labelled_states states{{"before", s}, {"after", r.state}};
    c.lemma(mc.name(), merge_case_hyps(s, mc, VA_BUSY, VA_LAZY, idx), claim, std::move(show), states);
  }
  return std::move(c.parts);
}

std::vector<std::pair<std::string, goal>> purge_step_explicit_chain(const vmalloc_bounded_ops& ops) {
  chain c;
  for (const merge_case& mc : merge_cases(true, false)) {
    const std::string p = c.fresh("purge_step." + mc.name());
    const vzpurge m = fresh_purge(p);
    const vzpurge r = ops.purge_step(m, mc.i);
    const vzstate e = merge_explicitly(m.state, mc, VA_FREE, m.state.lazy_nr);
    const zbool claim = same_slots(r.state, e) && eq(r.flush_start, m.flush_start) && eq(r.flush_end, m.flush_end) &&
                        iff(r.purged, m.purged);
    named show;
    const labelled_states states{{"before", m.state}, {"after", r.state}};
    c.lemma(mc.name(), merge_case_hyps(m.state, mc, VA_LAZY, VA_FREE, lit(mc.i)), claim, std::move(show), states);
  }
  return std::move(c.parts);
}

// ---------------------------------------------------------------------------------------
// The invariants of each operation, case by case over the written-out results. The cases
// where nothing changes are left out: there the state after is the state before (the explicit
// lemmas), which satisfies Inv by hypothesis.

std::vector<std::pair<std::string, goal>> alloc_chain(const vmalloc_bounded_ops& ops, vid v) {
  chain c;
  for (const alloc_case& ac : alloc_cases(false)) {
    const std::string p = c.fresh("alloc." + std::to_string(ac.j) + "." + std::to_string(ac.t));
    const vzstate s = fresh_state(p);
    const request q = fresh_request(p);
    const zword a = zword::var(p + "nva");
    const slot& b = s.slot[ac.j];
    hyps h = inv_for(v, s);
    h.push_back({"size is a non-zero whole number of pages", ne(q.size, lit(0)) && IS_ALIGNED(q.size, lit(PAGE_SIZE))});
    h.push_back({"slot " + std::to_string(ac.j) + " is free", free_(b)});
    h.push_back({std::string("the carve facts of ") + ac.name() + " (lemma__slots_alloc__carve_facts)", carve_facts(b.start, b.end, a, q.size, ac.t)});
    h.push_back({"empty slots at the top for the remainders", room_for(s, ac.t)});
    const vzalloc r = ops.alloc(s, lit(ac.j), q.size, q.align, q.vstart, q.vend);
    const vzstate t = alloc_explicitly(s, q.size, ac, a, r.state.lazy_nr);
    named show = {{"size", q.size.e}, {"nva", a.e}};
    const labelled_states states{{"before", s}, {"after", t}};
    if (v == vid::lazy_acct)
      c.lemma("the sum, " + ac.name(), h, eq(lazy_pages(t), lazy_pages(s)), std::move(show), states);
    else
      c.lemma(ac.name(), h, carried(v, t), std::move(show), states);
  }
  // VM-LAZY-ACCT: alloc leaves the counter alone, whatever the slot and the outcome.
  if (v == vid::lazy_acct)
    for (unsigned j = 0; j <= K; ++j) {
      const std::string p = c.fresh("alloc.counter." + std::to_string(j));
      const vzstate s = fresh_state(p);
      const request q = fresh_request(p);
      hyps h;
      const zword idx = index_for(j, p, h);
      const vzalloc r = ops.alloc(s, idx, q.size, q.align, q.vstart, q.vend);
      c.lemma("the counter, " + index_name(j), h, eq(r.state.lazy_nr, s.lazy_nr), {{"before", s.lazy_nr.e}, {"after", r.state.lazy_nr.e}});
    }
  if (v == vid::disjoint || v == vid::no_reuse) partition_is(c, v);
  return std::move(c.parts);
}

// lemma__slots_alloc__carve_facts: for each fit type, the cores' carve has carve_facts, for all
// 64-bit block bounds and requests that pass the argument check.
std::vector<std::pair<std::string, goal>> carve_facts_chain() {
  chain c;
  for (fit_type t : {FL_FIT_TYPE, LE_FIT_TYPE, RE_FIT_TYPE, NE_FIT_TYPE}) {
    const std::string p = c.fresh("carve." + std::to_string(t));
    const zword bs = zword::var(p + "va_start"), be = zword::var(p + "va_end");
    const request q = fresh_request(p);
    const zword nva = va_nva_start(bs, q.vstart, q.align);
    const hyps h{{"the block is non-empty", ult(bs, be)},
                 {"the request passes alloc_vmap_area's check", request_ok(q)},
                 {"is_within_this_va and the vend check pass", is_within_this_va(bs, be, q.size, q.align, q.vstart) && va_fits_vend(nva, q.size, q.vend)},
                 {std::string("the fit type is ") + alloc_case{0, t}.name().substr(8), eq(classify_va_fit_type(bs, be, nva, q.size), lit(t))}};
    c.lemma(alloc_case{0, t}.name().substr(8), h, carve_facts(bs, be, nva, q.size, t),
            {{"va_start", bs.e}, {"va_end", be.e}, {"size", q.size.e}, {"align", q.align.e}, {"vstart", q.vstart.e}, {"nva", nva.e}});
  }
  return std::move(c.parts);
}

// VM-LAZY-ACCT of an operation that adds `sign` times the pages of one area to the counter
// (lazy_free: +1, a purge step: -1), in three kinds of parts:
//   the counter   the operation's vmap_lazy_nr is the old one plus (minus) va_size >> PAGE_SHIFT
//                 of that area, as the operation computes it (per slot; a narrower counter fails
//                 here);
//   the sum       Σ page numbers of the lazy slots after = before plus (minus) d, for any d equal
//                 to the area's page numbers (per case, over the written-out result);
//   the bridge    lemma__va_pages__page_numbers: for a whole-page area, va_size >> PAGE_SHIFT
//                 equals its page numbers.
// Together: counter' = counter ± pages = Σ ± page numbers = Σ'.
zbool counter_moved(const zword& after, const zword& before, const slot& x, int sign) {
  return eq(after, sign > 0 ? before + va_pages(x.start, x.end) : before - va_pages(x.start, x.end));
}

void page_numbers_bridge(chain& c) {
  const std::string p = c.fresh("bridge");
  const zword st = zword::var(p + "start"), en = zword::var(p + "end");
  c.lemma("lemma__va_pages__page_numbers",
          {{"start <= end", ule(st, en)}, {"a whole number of pages", IS_ALIGNED(en - st, lit(PAGE_SIZE))}},
          eq(va_pages(st, en), page_numbers(st, en)), {{"start", st.e}, {"end", en.e}});
}

std::vector<std::pair<std::string, goal>> lazy_free_chain(const vmalloc_bounded_ops& ops, vid v) {
  chain c;
  if (v == vid::lazy_acct) {
    page_numbers_bridge(c);
    for (unsigned j = 0; j <= K; ++j) {
      const std::string p = c.fresh("lazy_free.counter." + std::to_string(j));
      const vzstate s = fresh_state(p);
      hyps h;
      const zword idx = index_for(j, p, h);
      const vzlazy r = ops.lazy_free(s, idx);
      const zbool unchanged = eq(r.state.lazy_nr, s.lazy_nr);
      c.lemma("the counter, " + index_name(j), h,
              j < K ? select(busy(s.slot[j]), counter_moved(r.state.lazy_nr, s.lazy_nr, s.slot[j], +1), unchanged) : unchanged,
              {{"vmap_lazy_nr before", s.lazy_nr.e},
               {"pages of the area freed", va_pages(s.slot[j < K ? j : 0].start, s.slot[j < K ? j : 0].end).e},
               {"vmap_lazy_nr after", r.state.lazy_nr.e}});
    }
  }
  for (const merge_case& mc : merge_cases(false, false)) {
    const std::string p = c.fresh("lazy_free." + mc.name());
    const vzstate s = fresh_state(p);
    hyps h = inv_for(v, s);
    for (auto& x : merge_case_hyps(s, mc, VA_BUSY, VA_LAZY, lit(mc.i))) h.push_back(std::move(x));
    const vzlazy r = ops.lazy_free(s, lit(mc.i));
    const vzstate t = merge_explicitly(s, mc, VA_LAZY, r.state.lazy_nr);
    named show;
    const labelled_states states{{"before", s}, {"after", t}};
    if (v == vid::lazy_acct) {
      const zword d = zword::var(p + "d");
      h.push_back({"d is the freed area's page numbers", eq(d, page_numbers(s.slot[mc.i]))});
      c.lemma("the sum, " + mc.name(), h, eq(lazy_pages(t), lazy_pages(s) + d), std::move(show), states);
    } else {
      c.lemma(mc.name(), h, carried(v, t), std::move(show), states);
    }
  }
  if (v == vid::disjoint || v == vid::no_reuse) partition_is(c, v);
  return std::move(c.parts);
}

// ---------------------------------------------------------------------------------------
// purge: the chain of its parts (steps from the top slot down)

zbool not_lazy_above(const vzstate& s, int i) {
  std::vector<zbool> c;
  for (int k = i + 1; k < static_cast<int>(K); ++k) c.push_back(!lazy(s.slot[static_cast<unsigned>(k)]));
  return all_of(c);
}
zbool flush_covers_lazy(const vzpurge& m) {
  std::vector<zbool> c;
  for (const slot& x : m.state.slot) c.push_back(implies(lazy(x), vm_purge_covers(m.flush_start, m.flush_end, x.start, x.end)));
  return all_of(c);
}

// J_i: before step i (i = K-1 .. 0; J_-1 after the last). purge: the partition, nothing lazy
// above slot i, the flush range covering every lazy slot.
enum class pj { shape, purge };
zbool purge_J(pj id, const vzpurge& m, int i) {
  const vzstate& s = m.state;
  return id == pj::shape ? shape(s) : shape(s) && not_lazy_above(s, i) && flush_covers_lazy(m);
}
// Free or lazy: the VA a purge moves between the two.
zbool free_or_lazy(const vzstate& s, const zword& x) { return covered(s, VA_FREE, x) || covered(s, VA_LAZY, x); }

// purge's begin: the state as it was, nothing purged yet.
void purge_begin_lemma(chain& c, const vmalloc_bounded_ops& ops, const hyps& extra, const std::function<zbool(const vzpurge&)>& more) {
  const std::string p = c.fresh("begin");
  const vzstate s = fresh_state(p);
  const vzpurge m = ops.purge_begin(s);
  hyps h = shape_hyps(s);
  for (const auto& x : extra) h.push_back(x);
  named show = {{"flush_start", m.flush_start.e}, {"flush_end", m.flush_end.e}, {"purged", m.purged.e}};
  c.lemma("begin", h, same_state(m.state, s) && eq(m.nr_purged, lit(0)) && more(m), std::move(show));
}

// VM-LAZY-ACCT over the purge: the counter and the sum each drop by the pages of the area a
// step purges (see lazy_free's), begin changes nothing.
void purge_lazy_acct_parts(chain& c, const vmalloc_bounded_ops& ops) {
  page_numbers_bridge(c);
  purge_begin_lemma(c, ops, {}, [](const vzpurge&) { return T(); });
  for (unsigned i = K; i-- > 0;) {
    const std::string p = c.fresh("purge.counter." + std::to_string(i));
    const vzpurge m = fresh_purge(p);
    const vzpurge r = ops.purge_step(m, i);
    const slot& x = m.state.slot[i];
    c.lemma("the counter, step " + std::to_string(i), {},
            select(lazy(x), counter_moved(r.state.lazy_nr, m.state.lazy_nr, x, -1), eq(r.state.lazy_nr, m.state.lazy_nr)),
            {{"vmap_lazy_nr before", m.state.lazy_nr.e}, {"pages of the area purged", va_pages(x.start, x.end).e},
             {"vmap_lazy_nr after", r.state.lazy_nr.e}});
  }
  for (const merge_case& mc : merge_cases(false, false)) {
    const std::string p = c.fresh("purge.sum." + mc.name());
    const vzpurge m = fresh_purge(p);
    const vzstate t = merge_explicitly(m.state, mc, VA_FREE, m.state.lazy_nr);
    const zword d = zword::var(p + "d");
    hyps h = merge_case_hyps(m.state, mc, VA_LAZY, VA_FREE, lit(mc.i));
    h.push_back({"d is the purged area's page numbers", eq(d, page_numbers(m.state.slot[mc.i]))});
    named show;
    const labelled_states states{{"before", m.state}, {"after", t}};
    c.lemma("the sum, step " + mc.name(), h, eq(lazy_pages(t) + d, lazy_pages(m.state)), std::move(show), states);
  }
}

std::vector<std::pair<std::string, goal>> purge_chain(const vmalloc_bounded_ops& ops, pj id, vid v) {
  chain c;
  if (v == vid::lazy_acct) {
    purge_lazy_acct_parts(c, ops);
    return std::move(c.parts);
  }
  purge_begin_lemma(c, ops, {}, [id](const vzpurge& m) { return purge_J(id, m, static_cast<int>(K) - 1); });
  for (const merge_case& mc : merge_cases(true, false)) {
    const int i = static_cast<int>(mc.i);
    const std::string p = c.fresh("step." + mc.name());
    const vzpurge m = fresh_purge(p);
    const vzpurge r = ops.purge_step(m, mc.i);
    vzpurge n = r;
    n.state = merge_explicitly(m.state, mc, VA_FREE, r.state.lazy_nr);
    const zword x = zword::var(p + "x");
    zbool claim = purge_J(id, n, i - 1);
    if (id == pj::purge)
      claim = claim && eq(n.flush_start, m.flush_start) && eq(n.flush_end, m.flush_end) &&
              iff(covered(n.state, VA_BUSY, x), covered(m.state, VA_BUSY, x)) &&
              iff(free_or_lazy(n.state, x), free_or_lazy(m.state, x));
    hyps h{{"J_" + std::to_string(i), purge_J(id, m, i)}};
    for (auto& y : merge_case_hyps(m.state, mc, VA_LAZY, VA_FREE, lit(mc.i))) h.push_back(std::move(y));
    named show;
    const labelled_states states{{"before", m.state}, {"after", n.state}};
    show.push_back({"x", x.e});
    c.lemma("step " + mc.name(), h, claim, std::move(show), states);
  }
  if (id == pj::purge) {
    // After the last step: nothing lazy, the free tree coalesced, and with VM-LAZY-ACCT (its
    // parts follow) the counter zero.
    const std::string p = c.fresh("done");
    const vzpurge m = fresh_purge(p);
    c.lemma("done", {{"J_-1", purge_J(id, m, -1)}, {"VM-LAZY-ACCT", inv_lazy_acct(m.state)}}, purge_done(m.state));
    purge_lazy_acct_parts(c, ops);
    partition_is(c, vid::no_reuse);
  }
  if (v == vid::disjoint || v == vid::no_reuse) partition_is(c, v);
  return std::move(c.parts);
}

// ---------------------------------------------------------------------------------------
// map

struct map_input {
  vzptes t;
  zword e0;  // the window entry of the area's first page
  zword addr, nr;
  vzpages pages;
  zword prot;
};

// The window is the area's own PTEs and what follows: its base is the area's address, any
// page-aligned address (a 52-bit page number shifted). PFNs: any frame below MAXPHYADDR (34
// bits). These are the ranges the preconditions give, so no state they admit is left out.
map_input fresh_map(const std::string& p, unsigned nr) {
  const zword base = shl(nvar(p + "area_pfn", 52), lit(PAGE_SHIFT));
  const auto vars = [&](const std::string& name, unsigned bits) {
    return filled_with<zword, N>([&](unsigned k) { return bits == 64 ? zword::var(p + name + std::to_string(k)) : nvar(p + name + std::to_string(k), bits); });
  };
  return {vzptes{base, vars("pte_", 64), T()}, lit(0), base, lit(nr), vars("page_", MAXPHY - PAGE_SHIFT), zword::var(p + "prot")};
}

zbool present(const zword& pte) { return pte_decode(pte, PT_PTE, MAXPHY).present; }

// What a mapping starts from.
hyps map_hyps(const map_input& in) {
  hyps h{{"the area and its guard page lie in the window", ule(in.e0 + in.nr + lit(1), lit(N))},
         {"the prot is present", ne(in.prot & lit(_PAGE_PRESENT), lit(0))}};
  std::vector<zbool> none;
  for (unsigned e = 0; e < N; ++e)
    none.push_back(implies(ule(in.e0, lit(e)) && ule(lit(e), in.e0 + in.nr), !present(in.t.pte[e])));
  h.push_back({"no PTE of the area or its guard is present (its VA was free: VM-NO-STRAY)", all_of(none)});
  return h;
}

zbool pages_distinct(const map_input& in, unsigned nr) {
  std::vector<zbool> c;
  for (unsigned k = 0; k < nr; ++k)
    for (unsigned l = k + 1; l < nr; ++l) c.push_back(ne(in.pages[k], in.pages[l]));
  return all_of(c);
}
zbool pages_nowhere_adjacent(const map_input& in, unsigned nr) {
  std::vector<zbool> c;
  for (unsigned k = 0; k < nr; ++k)
    for (unsigned l = 0; l < nr; ++l)
      if (k != l) c.push_back(ne(in.pages[k] + lit(1), in.pages[l]));
  return all_of(c);
}

// The translation of page i (offset off) after the mapping t.
pte_fields<zword> walk(const vzptes& t, const map_input& in, const zword& i, const zword& off) {
  return pte_decode(pte_window_lookup(t, in.addr + shl(i, lit(PAGE_SHIFT)) + off), PT_PTE, MAXPHY);
}

// VM-MAP after the mapping: page i (i < nr, any offset) translates to pages[i]; the guard is not
// present; nothing outside the area changed; every write landed in the window.
zbool vm_map_claim(const vzptes& t, const map_input& in, unsigned nr, const zword& off) {
  std::vector<zbool> c{t.fits, !present(pte_window_lookup(t, in.addr + shl(in.nr, lit(PAGE_SHIFT))))};
  for (unsigned i = 0; i < nr; ++i) {
    const pte_fields<zword> f = walk(t, in, lit(i), off);
    c.push_back(vm_map_page(f.present, f.pfn, in.pages[i]));
  }
  for (unsigned e = 0; e < N; ++e)
    c.push_back(implies(!(ule(in.e0, lit(e)) && ult(lit(e), in.e0 + in.nr)), eq(t.pte[e], in.t.pte[e])));
  return all_of(c);
}

// VM-NONCONTIG's claim: the area's pages translate to nr pairwise different frames, page i to
// pages[i].
zbool vm_noncontig_claim(const vzptes& t, const map_input& in, unsigned nr, const zword& off) {
  std::vector<zbool> c;
  std::vector<pte_fields<zword>> f;
  for (unsigned i = 0; i < nr; ++i) {
    f.push_back(walk(t, in, lit(i), off));
    c.push_back(vm_map_page(f.back().present, f.back().pfn, in.pages[i]));
  }
  for (unsigned i = 0; i < nr; ++i)
    for (unsigned j = i + 1; j < nr; ++j) c.push_back(ne(f[i].pfn, f[j].pfn));
  return all_of(c);
}

std::vector<std::pair<std::string, goal>> map_chain(const vmalloc_bounded_ops& ops, bool noncontig) {
  chain c;
  for (unsigned nr = 1; nr < N; ++nr) {
    const std::string p = c.fresh("map" + std::to_string(nr));
    const map_input in = fresh_map(p, nr);
    hyps h = map_hyps(in);
    const vzptes t = ops.map(in.t, in.addr, in.nr, in.pages, in.prot);
    named show = {{"addr", in.addr.e}};
    for (unsigned k = 0; k < nr; ++k) show.push_back({"page_" + std::to_string(k), in.pages[k].e});
    if (noncontig) h.push_back({"the pages are pairwise distinct", pages_distinct(in, nr)});
    c.lemma(std::to_string(nr) + " pages", h, noncontig ? vm_noncontig_claim(t, in, nr, lit(0)) : vm_map_claim(t, in, nr, lit(0)), std::move(show));
  }
  if (!noncontig) {
    // Every address of a page uses the page's PTE: the claims above at offset 0 hold at every
    // offset.
    const std::string p = c.fresh("offset");
    const map_input in = fresh_map(p, 1);
    const zword va = shl(nvar(p + "page", 52), lit(PAGE_SHIFT)), off = nvar(p + "offset", PAGE_SHIFT);
    c.lemma("any offset in a page walks the page's PTE", {},
            eq(pte_window_lookup(in.t, va + off), pte_window_lookup(in.t, va)), {{"page", va.e}, {"offset", off.e}});
  }
  return std::move(c.parts);
}

// ---------------------------------------------------------------------------------------
// Paths: the whole operation from a state satisfying Inv, the path fixed by a precondition.

goal alloc_path(const vmalloc_bounded_ops& ops, const std::string& path_name,
                const std::function<zbool(const vzstate&, const vzalloc&)>& path,
                const std::function<zbool(const vzstate&, const vzalloc&)>& claim) {
  const vzstate s = fresh_state("");
  const request q = fresh_request("");
  const zword idx = zword::var("idx");
  const vzalloc r = ops.alloc(s, idx, q.size, q.align, q.vstart, q.vend);
  named pre;
  for (const auto& [n, e] : inv_hyps(s)) pre.push_back({n + " before", e.e});
  pre.push_back({"the request passes alloc_vmap_area's check", request_ok(q).e});
  pre.push_back({path_name, path(s, r).e});
  named show = {{"idx", idx.e}, {"size", q.size.e}, {"align", q.align.e}, {"vstart", q.vstart.e}, {"vend", q.vend.e},
                {"addr", r.addr.e}, {"fit", r.fit.e}};
  return spec::make(std::move(pre), claim(s, r).e, std::move(show));
}

goal lazy_free_path(const vmalloc_bounded_ops& ops, const std::string& path_name,
                    const std::function<zbool(const vzstate&, const vzlazy&)>& path,
                    const std::function<zbool(const vzstate&, const vzlazy&)>& claim) {
  const vzstate s = fresh_state("");
  const zword idx = zword::var("idx");
  const vzlazy r = ops.lazy_free(s, idx);
  named pre;
  for (const auto& [n, e] : inv_hyps(s)) pre.push_back({n + " before", e.e});
  pre.push_back({path_name, path(s, r).e});
  named show = {{"idx", idx.e}, {"ok", r.ok.e}};
  return spec::make(std::move(pre), claim(s, r).e, std::move(show));
}

goal purge_path(const vmalloc_bounded_ops& ops, const std::string& path_name, const std::function<zbool(const vzstate&)>& path,
                const std::function<zbool(const vzstate&, const vzpurge&)>& claim) {
  const vzstate s = fresh_state("");
  const vzpurge r = compose_purge(ops, s);
  named pre;
  for (const auto& [n, e] : inv_hyps(s)) pre.push_back({n + " before", e.e});
  pre.push_back({path_name, path(s).e});
  named show = {{"flush_start", r.flush_start.e}, {"flush_end", r.flush_end.e}, {"nr_purged", r.nr_purged.e}};
  return spec::make(std::move(pre), claim(s, r).e, std::move(show));
}

zbool nothing_lazy(const vzstate& t) { return eq(count(t, VA_LAZY), lit(0)); }

// One lazy area, in slot 3 (any slot would do; a concrete one keeps the whole purge cheap for
// the solvers), the slots beside it free (so they merge: in a partition neighbours touch) or
// busy, nothing else lazy.
constexpr unsigned PATH_SLOT = 3;
zbool one_lazy_area(const vzstate& s, bool next, bool prev) {
  std::vector<zbool> c{lazy(s.slot[PATH_SLOT]), is_kind(s.slot[PATH_SLOT + 1], next ? VA_FREE : VA_BUSY),
                       is_kind(s.slot[PATH_SLOT - 1], prev ? VA_FREE : VA_BUSY)};
  for (unsigned k = 0; k < K; ++k)
    if (k != PATH_SLOT) c.push_back(!lazy(s.slot[k]));
  return all_of(c);
}

}  // namespace

vmalloc_bounded_ops vmalloc_bounded_ops::real() {
  return {[](const vzstate& s, const zword& idx, const zword& size, const zword& align, const zword& vstart,
             const zword& vend) { return slots_alloc(s, idx, size, align, vstart, vend); },
          [](const vzstate& s, const zword& idx) { return slots_lazy_free(s, idx); },
          [](const vzstate& s) { return slots_purge_begin(s); },
          [](const vzpurge& p, unsigned i) { return slots_purge_step(p, i); },
          [](const vzptes& t, const zword& addr, const zword& nr, const vzpages& pages, const zword& prot) {
            return slots_map(t, addr, nr, pages, prot);
          }};
}

// As slots_purge composes its parts.
vzpurge compose_purge(const vmalloc_bounded_ops& ops, const vzstate& s) {
  vzpurge p = ops.purge_begin(s);
  for (unsigned i = K; i-- > 0;) p = ops.purge_step(p, i);
  return p;
}

std::vector<obligation> vmalloc_bounded_obligations(const vmalloc_bounded_ops& ops) {
  std::vector<obligation> out;
  const std::string bound = "K=" + std::to_string(K) + " vmap areas, 64-bit addresses and counter";
  const std::string map_bound = "VM_MAP_N=" + std::to_string(N) + " PTEs, areas of 1.." + std::to_string(N - 1) +
                                " pages, 64-bit addresses and PFNs";
  const auto parts = [](auto f) { return [f](z3::context&) { return f(); }; };

  // The operations written out (their chains rest on these).
  out.push_back({"lemma__slots_alloc__explicit", "__alloc_vmap_area", "bounded", bound, nullptr, 20'000'000, false,
                 parts([ops] { return alloc_explicit_chain(ops); })});
  out.push_back({"lemma__slots_lazy_free__explicit", "free_vmap_area_noflush", "bounded", bound, nullptr, 20'000'000, false,
                 parts([ops] { return lazy_free_explicit_chain(ops); })});
  out.push_back({"lemma__slots_purge_step__explicit", "__purge_vmap_area_lazy", "bounded", bound, nullptr, 20'000'000, false,
                 parts([ops] { return purge_step_explicit_chain(ops); })});
  out.push_back({"lemma__slots_alloc__carve_facts", "va_nva_start is_within_this_va va_fits_vend classify_va_fit_type", "lemma",
                 "all 64-bit inputs", nullptr, 20'000'000, false, parts([] { return carve_facts_chain(); })});
  // VM-PARTITION (the address-ordered tiling) is what carries VM-DISJOINT and VM-NO-REUSE from
  // state to state: their obligations are the partition's chain, then the lemma "VM-PARTITION
  // implies <ID>" as the last part (so VM-DISJOINT's obligations prove VM-PARTITION too; the
  // registry's naming rule keeps `proves` to the ID in the name).
  for (vid v : {vid::disjoint, vid::no_reuse, vid::lazy_acct})
    out.push_back({std::string("alloc__preserves__") + id_text(v), id_text(v), "bounded", bound, nullptr, 20'000'000, false,
                   parts([ops, v] { return alloc_chain(ops, v); })});
  for (vid v : {vid::disjoint, vid::no_reuse, vid::lazy_acct})
    out.push_back({std::string("lazy_free__preserves__") + id_text(v), id_text(v), "bounded", bound, nullptr, 20'000'000, false,
                   parts([ops, v] { return lazy_free_chain(ops, v); })});
  // purge: VM-PURGE's chain carries the partition (J includes it), and after a purge nothing is
  // lazy, so VM-NO-REUSE holds trivially.
  out.push_back({"purge__preserves__VM-LAZY-ACCT", "VM-LAZY-ACCT", "bounded", bound, nullptr, 20'000'000, false,
                 parts([ops] { return purge_chain(ops, pj::shape, vid::lazy_acct); })});
  out.push_back({"purge__establishes__VM-PURGE", "VM-PURGE", "bounded", bound, nullptr,
                 20'000'000, false, parts([ops] { return purge_chain(ops, pj::purge, vid::disjoint); })});
  out.push_back({"map__establishes__VM-MAP", "VM-MAP", "bounded", map_bound, nullptr, 20'000'000, false,
                 parts([ops] { return map_chain(ops, false); })});
  out.push_back({"map__establishes__VM-NONCONTIG", "VM-NONCONTIG", "bounded", map_bound, nullptr, 20'000'000, false,
                 parts([ops] { return map_chain(ops, true); })});

  // alloc: each fit type. Claim: one more busy area; free areas one fewer (FL), as many (LE,
  // RE: the block shrinks), one more (NE: it splits); vmap_lazy_nr unchanged.
  const std::string all_ids = "VM-PARTITION VM-DISJOINT VM-NO-REUSE VM-LAZY-ACCT";
  const struct {
    const char* name;
    fit_type fit;
    int free_delta;
  } fits[] = {{"FL", FL_FIT_TYPE, -1}, {"LE", LE_FIT_TYPE, 0}, {"RE", RE_FIT_TYPE, 0}, {"NE", NE_FIT_TYPE, 1}};
  for (const auto& f : fits) {
    const fit_type ft = f.fit;
    const int d = f.free_delta;
    out.push_back({std::string("nonvacuous__alloc_fit_") + f.name, all_ids, "bounded", bound, [ops, ft, d, name = f.name](z3::context&) {
                     return alloc_path(
                         ops, std::string("path: the area is carved, ") + name + "_FIT_TYPE",
                         [ft](const vzstate&, const vzalloc& r) { return r.ok && eq(r.fit, lit(ft)); },
                         [d](const vzstate& s, const vzalloc& r) {
                           const zword fb = count(s, VA_FREE), fa = count(r.state, VA_FREE);
                           const zbool free_ok = d < 0 ? eq(fa + lit(1), fb) : d == 0 ? eq(fa, fb) : eq(fa, fb + lit(1));
                           return free_ok && eq(count(r.state, VA_BUSY), count(s, VA_BUSY) + lit(1)) &&
                                  eq(r.state.lazy_nr, s.lazy_nr);
                         });
                   }});
  }
  // alloc: NE with no descriptor for the left remainder (adjust_va_to_fit_type fails): nothing
  // changes.
  out.push_back({"nonvacuous__alloc_ne_without_descriptor", all_ids, "bounded", bound, [ops](z3::context&) {
                   return alloc_path(
                       ops, "path: an NE fit, and fewer than two empty slots",
                       [](const vzstate&, const vzalloc& r) { return !r.ok && eq(r.fit, lit(NE_FIT_TYPE)); },
                       [](const vzstate& s, const vzalloc& r) { return same_state(r.state, s); });
                 }});

  // lazy_free: each merge direction in the purge tree. Claim: lazy areas +1 - merges; the
  // counter grew by the pages freed.
  const struct {
    const char* name;
    bool next, prev;
  } merges[] = {{"none", false, false}, {"next", true, false}, {"prev", false, true}, {"both", true, true}};
  for (const auto& m : merges) {
    const bool nx = m.next, pv = m.prev;
    out.push_back({std::string("nonvacuous__lazy_free_merge_") + m.name, all_ids, "bounded", bound, [ops, nx, pv](z3::context&) {
                     return lazy_free_path(
                         ops, std::string("path: a busy area freed, merged with") + (nx ? " next" : "") + (pv ? " prev" : "") + (nx || pv ? "" : " nothing"),
                         [nx, pv](const vzstate&, const vzlazy& r) {
                           return r.ok && iff(r.merged.next, nx ? T() : F()) && iff(r.merged.prev, pv ? T() : F());
                         },
                         [nx, pv](const vzstate& s, const vzlazy& r) {
                           const zword la = count(r.state, VA_LAZY), lb = count(s, VA_LAZY);
                           const unsigned merged = (nx ? 1u : 0u) + (pv ? 1u : 0u);
                           const zbool lazy_ok = merged == 0 ? eq(la, lb + lit(1)) : merged == 1 ? eq(la, lb) : eq(la + lit(1), lb);
                           return lazy_ok && eq(count(r.state, VA_BUSY) + lit(1), count(s, VA_BUSY));
                         });
                   }});
  }

  // purge: each merge direction into the free tree, for one lazy area. Claim: nothing lazy,
  // counter zero, free areas +1 - merges.
  for (const auto& m : merges) {
    const bool nx = m.next, pv = m.prev;
    out.push_back({std::string("nonvacuous__purge_merge_") + m.name, "VM-PURGE VM-LAZY-ACCT", "bounded", bound, [ops, nx, pv](z3::context&) {
                     return purge_path(
                         ops, std::string("path: one lazy area, free neighbours:") + (nx ? " next" : "") + (pv ? " prev" : "") + (nx || pv ? "" : " none"),
                         [nx, pv](const vzstate& s) { return one_lazy_area(s, nx, pv); },
                         [nx, pv](const vzstate& s, const vzpurge& r) {
                           const zword fa = count(r.state, VA_FREE), fb = count(s, VA_FREE);
                           const unsigned merged = (nx ? 1u : 0u) + (pv ? 1u : 0u);
                           const zbool free_ok = merged == 0 ? eq(fa, fb + lit(1)) : merged == 1 ? eq(fa, fb) : eq(fa + lit(1), fb);
                           return free_ok && nothing_lazy(r.state) && r.purged && eq(r.nr_purged, lit(1));
                         });
                   }});
  }
  out.push_back({"nonvacuous__purge_two_lazy_areas", "VM-PURGE VM-LAZY-ACCT", "bounded", bound, [ops](z3::context&) {
                   return purge_path(
                       ops, "path: two lazy areas: slots free, lazy, busy, lazy, free, busy, then empty",
                       [](const vzstate& s) {
                         const va_kind kinds[K] = {VA_FREE, VA_LAZY, VA_BUSY, VA_LAZY, VA_FREE, VA_BUSY, VA_EMPTY, VA_EMPTY};
                         std::vector<zbool> c;
                         for (unsigned k = 0; k < K; ++k) c.push_back(is_kind(s.slot[k], kinds[k]));
                         return all_of(c);
                       },
                       [](const vzstate&, const vzpurge& r) {
                         return nothing_lazy(r.state) && r.purged && eq(r.nr_purged, lit(2)) && eq(count(r.state, VA_FREE), lit(2)) &&
                                eq(count(r.state, VA_BUSY), lit(2));
                       });
                 }});
  out.push_back({"nonvacuous__purge_nothing_lazy", "VM-PURGE VM-LAZY-ACCT", "bounded", bound, [ops](z3::context&) {
                   return purge_path(
                       ops, "path: nothing lazy, some area busy or free",
                       [](const vzstate& s) { return eq(count(s, VA_LAZY), lit(0)); },
                       [](const vzstate& s, const vzpurge& r) { return !r.purged && same_state(r.state, s); });
                 }});

  // map: the VM-NONCONTIG witness: 8 or more pages, no two of them adjacent frames.
  out.push_back({"nonvacuous__map_noncontiguous_pages", "VM-NONCONTIG VM-MAP", "bounded", map_bound, [ops](z3::context&) {
                   constexpr unsigned nr = 8;
                   const map_input in = fresh_map("", nr);
                   named pre;
                   for (const auto& [n, e] : map_hyps(in)) pre.push_back({n, e.e});
                   pre.push_back({"the pages are pairwise distinct", pages_distinct(in, nr).e});
                   pre.push_back({"path: no two pages are adjacent frames", pages_nowhere_adjacent(in, nr).e});
                   const vzptes t = ops.map(in.t, in.addr, in.nr, in.pages, in.prot);
                   const zword off = nvar("offset", PAGE_SHIFT);
                   named show = {{"addr", in.addr.e}};
                   for (unsigned k = 0; k < nr; ++k) show.push_back({"page_" + std::to_string(k), in.pages[k].e});
                   return spec::make(std::move(pre), vm_noncontig_claim(t, in, nr, off).e, std::move(show));
                 }});
  return out;
}

void register_vmalloc_bounded_proofs(std::vector<obligation>& out) {
  for (obligation& o : vmalloc_bounded_obligations(vmalloc_bounded_ops::real())) out.push_back(std::move(o));
}

}  // namespace mmref::proofs
