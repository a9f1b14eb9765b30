// proofs/buddy_bounded.cpp — Inv ∧ op ⇒ Inv′ for the buddy allocator's free (__free_one_page)
// and alloc (__rmqueue_smallest + expand), run as the templates of impl/buddy/slots.hpp over
// BOUNDED_K symbolic free blocks of one zone, [0, ZONE_FRAMES).
//
// The invariants are the templates of impl/buddy/invariants.hpp, applied to every slot and every
// pair of slots:
//   BD-ALIGN      bd_align on every valid slot
//   BD-PARTITION  bd_disjoint on every pair of valid slots; and across the operation the frames
//                 of the free blocks plus the block freed (or minus the block handed out) are the
//                 frames of the free blocks before: for every frame x, covered ⇔ covered
//   BD-COALESCED  bd_coalesced_pair on every pair of valid slots, no barrier (one zone, one
//                 mergeable migratetype: see impl/buddy/slots.hpp)
//   BD-ACCT       bd_acct per order (valid slots of order o against nr_free[o]) and
//                 bd_acct_total (NR_FREE_PAGES against Σ nr_free[o] << o)
//
// How the proofs are built (each choice below was forced by the solvers' run time, Z3 4.8.12
// and cvc5 1.0.3; each is a standard, sound step, and they are the whole of what the proof rests
// on beyond the templates):
//
// 1. Per-step lemmas, composed. Unrolled whole, free is ten merge steps deep and alloc ten expand
//    steps deep, and Z3 needs minutes for one claim. So each operation is proved as the chain of
//    its parts (impl/buddy/slots.hpp composes exactly these):
//        free  = done ∘ step(9) ∘ … ∘ step(0) ∘ begin
//        alloc = done ∘ expand(0) ∘ … ∘ expand(9) ∘ take
//    with an intermediate invariant J between parts, per ID:
//        Inv(s) ∧ pre ⇒ J_0(begin(s))   J_o(m) ⇒ J_{o+1}(step(m, o))   J_10(m) ∧ fits ⇒ ID(done(m))
//    each lemma over its own fresh symbolic state. The obligation `<op>__preserves__<ID>` is the
//    conjunction of the chain's lemmas, discharged in parts (registry.hpp): one query per lemma,
//    each with its own non-vacuity check, so every case below is shown reachable under J.
// 2. Case splits. A lemma is split into cases on its input (the block being merged has order o
//    or not; its buddy is in slot j, for each j, or nowhere; the first free slot is slot j; the
//    block taken is the slot j of order o; expand gives a half away to slot j, or none, for each
//    reason it may not). Within a case the operation's control is fixed, so the solver reasons
//    about bits, not about every path at once.
// 3. Ranges. The fresh states' pfns are 12-bit and orders 4-bit values (zero-extended: the words
//    stay 64-bit) wherever the lemma's J bounds them (valid slots, the block in hand): J includes
//    BD-ALIGN's zone bound or an explicit range, so no state J admits is left out. Fields J does
//    not bound (empty slots, counters, the request order, the frame x) are full 64-bit words.
// 4. Frames. BD-PARTITION is carried through the steps pointwise: for a symbolic frame x, at most
//    one free block (or the block in hand) holds x, with "holds" as frame_in(x, p, o) =
//    (x >> o == p >> o). The per-step lemmas prove it for every x, so it holds for all x. Three
//    lemmas, proved here for all 64-bit inputs, connect frame_in with the templates for aligned
//    blocks in a zone; the chain's first and last lemmas use instances of them (named
//    preconditions "lemma__…: …"; an instance of a proved lemma is a valid formula):
//        lemma__frame_in__in_block              in_block(x, p, o) ⇔ frame_in(x, p, o)
//        lemma__bd_disjoint__common_frame       a common frame ⇒ ¬bd_disjoint
//        lemma__bd_disjoint__frame_at_max       ¬bd_disjoint ⇒ frame max(a, b) in both
//    and the last lemma instantiates "for all x" of J at the frames max(a, b) it needs.
// 5. BD-ACCT's two equations are two chains (the per-order counts, and NR_FREE_PAGES against
//    Σ nr_free[o] << o), each with its own J, in the same obligation.
// 6. Steps written out. A merge step, take and an expand step are select chains over every slot
//    (and take over every order); J over them directly costs the solvers 1 s to over a minute per
//    case. So each is proved equal, case by case, to its result written out (merge_explicitly,
//    take_explicitly, expand_explicitly): lemma__slots_free_step__explicit,
//    lemma__slots_alloc_take__explicit, lemma__slots_alloc_expand_step__explicit, whose parts
//    include that the cases cover every input (every state with valid orders, for take; every
//    split whose result fits, for expand). The chains then prove J of the written-out result: J
//    is a function of the fields, so J(step(s)) = J(explicit(s)) by congruence. These three
//    lemmas run the operations' parts from bounded_ops; the chains' begin and done do too.
//
// The intermediate invariants (block in hand during free: c of order co, the kernel's `pfn` and
// `order`; during alloc: [pfn, pfn + 2^high), the part the caller still holds, when ok):
//   free, before step p (p = 0 .. 10):
//     BD-ALIGN      slots aligned; c aligned, in the zone
//     BD-PARTITION  slots aligned, pairwise disjoint; c aligned, in the zone; at most one of the
//                   slots and c holds frame x
//     BD-COALESCED  ranges; slots coalesced; co < p ⇒ no slot is c's buddy (the loop stopped)
//     BD-ACCT       ranges; counts = nr_free  |  NR_FREE_PAGES = Σ nr_free[o] << o + 2^co
//   alloc, before expand step q-1 (q = 10 .. 0), shape: ok ⇒ low <= high ∧ (high <= q ∨ high = low):
//     BD-ALIGN      slots aligned; kept aligned, in the zone; shape
//     BD-PARTITION  slots aligned, pairwise disjoint; kept aligned, in the zone; shape; at most
//                   one of the slots and kept holds frame x
//     BD-COALESCED  ranges; slots coalesced; kept aligned, in the zone; shape; no slot holds
//                   kept's first frame
//     BD-ACCT       ranges; kept aligned, in the zone; shape; counts = nr_free  |
//                   NR_FREE_PAGES = Σ nr_free[o] << o + (ok ? 2^high : 0)
//
// The bound: K free blocks before and after (precondition "fits": every block put back found a
// free slot), zone [0, 4096). free's precondition is the caller's: the block is allocated (apart
// from every free block), its order at most MAX_ORDER-1, its pfn aligned to it, inside the zone.
// alloc's request order is any 64-bit word (orders >= MAX_ORDER find nothing). alloc's BD-ALIGN
// claim includes the block handed out, aligned and in the zone: free's precondition.
#include "proofs/buddy_bounded.hpp"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "impl/buddy/invariants.hpp"
#include "impl/picture/svg.hpp"
#include "impl/buddy/slots.hpp"
#include "model/interval.hpp"
#include "proofs/lemma_goal.hpp"
#include "proofs/registry.hpp"
#include "proofs/spec.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs {

namespace {

using namespace mmref::buddy;
constexpr unsigned K = BOUNDED_K;
constexpr unsigned PFN_BITS = 12, ORDER_BITS = 4;
constexpr std::uint64_t ZONE_FRAMES = std::uint64_t{1} << PFN_BITS;

z3::context& ctx() { return zscope::ctx(); }
zword lit(std::uint64_t v) { return zword::lit(v); }
zword one() { return lit(1); }
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
// Fresh symbolic states (3: narrow where J bounds the field)

// A `bits`-bit value zero-extended to a word.
zword nvar(const std::string& n, unsigned bits) { return {z3::zext(ctx().bv_const(n.c_str(), bits), 64 - bits)}; }
// A field J bounds only when `when` holds: narrow then, any 64-bit word otherwise.
zword ranged(const std::string& n, unsigned bits, const zbool& when) {
  return select(when, nvar(n, bits), zword::var(n + "_any"));
}

zstate fresh_state(const std::string& p) {
  zstate s = zstate::empty(lit(0), lit(ZONE_FRAMES));
  for (unsigned i = 0; i < K; ++i) {
    const std::string n = std::to_string(i);
    s.slot[i] = {bvar(p + "valid_" + n), nvar(p + "pfn_" + n, PFN_BITS), nvar(p + "order_" + n, ORDER_BITS)};
  }
  for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o) s.nr_free[o] = zword::var(p + "nr_free_" + std::to_string(o));
  s.free_pages = zword::var(p + "free_pages");
  return s;
}
zmerge fresh_merge(const std::string& p) {
  return {fresh_state(p), nvar(p + "block_pfn", PFN_BITS), nvar(p + "block_order", ORDER_BITS)};
}
zsplit fresh_split(const std::string& p) {
  const zbool ok = bvar(p + "ok");
  return {fresh_state(p), ranged(p + "block_pfn", PFN_BITS, ok), ok, zword::var(p + "low"),
          ranged(p + "high", ORDER_BITS, ok), zword::var(p + "taken_order")};
}

// ---------------------------------------------------------------------------------------
// The invariants over slots (the templates of impl/buddy/invariants.hpp)

zbool inv_align(const zstate& s) {
  std::vector<zbool> c;
  for (const auto& x : s.slot) c.push_back(implies(x.valid, bd_align(x.pfn, x.order, s.zone_start, s.zone_end)));
  return all_of(c);
}

zbool inv_disjoint(const zstate& s) {
  std::vector<zbool> c;
  for (unsigned i = 0; i < K; ++i)
    for (unsigned j = i + 1; j < K; ++j) {
      const auto &a = s.slot[i], &b = s.slot[j];
      c.push_back(implies(a.valid && b.valid, bd_disjoint(a.pfn, a.order, b.pfn, b.order)));
    }
  return all_of(c);
}

// The buddy relation is symmetric (pfn ^ 2^o), so each unordered pair is checked once.
zbool inv_coalesced(const zstate& s) {
  std::vector<zbool> c;
  for (unsigned i = 0; i < K; ++i)
    for (unsigned j = i + 1; j < K; ++j) {
      const auto &a = s.slot[i], &b = s.slot[j];
      c.push_back(implies(a.valid && b.valid, bd_coalesced_pair(a.pfn, a.order, b.pfn, b.order, F())));
    }
  return all_of(c);
}

// BD-ACCT, the counts: valid slots of order o against nr_free[o]. The count (at most K < 16) is
// summed in 4 bits and zero-extended: the same number as a 64-bit sum, and 64-bit adders here
// cost cvc5 20 s to over a minute per merge step.
static_assert(K < 16);
zbool acct_counts(const zstate& s) {
  std::vector<zbool> c;
  for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o) {
    z3::expr counted = ctx().bv_val(0, 4);
    for (const auto& x : s.slot)
      counted = counted + z3::ite((x.valid && eq(x.order, lit(o))).e, ctx().bv_val(1, 4), ctx().bv_val(0, 4));
    c.push_back(bd_acct(zword{z3::zext(counted, 60)}, s.nr_free[o]));
  }
  return all_of(c);
}
// BD-ACCT, the total, with `extra` pages counted in NR_FREE_PAGES that are on no list (the block
// in hand).
zbool acct_total(const zstate& s, const zword& extra) {
  zword sum = extra;
  for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o) sum = sum + shl(s.nr_free[o], lit(o));
  return bd_acct_total(s.free_pages, sum);
}
zbool inv_acct(const zstate& s) { return acct_counts(s) && acct_total(s, lit(0)); }

// Valid slots within the ranges the narrow fields hold (implied by BD-ALIGN's zone bound).
zbool slot_ranges(const zstate& s) {
  std::vector<zbool> c;
  for (const auto& x : s.slot) c.push_back(implies(x.valid, ult(x.pfn, lit(ZONE_FRAMES)) && ule(x.order, lit(MAX_PAGE_ORDER))));
  return all_of(c);
}
zbool block_ranges(const zword& pfn, const zword& order) { return ult(pfn, lit(ZONE_FRAMES)) && ule(order, lit(MAX_PAGE_ORDER)); }

// Frame x lies in [pfn, pfn + 2^order): the specification of "holds a frame".
zbool in_block(const zword& x, const zword& pfn, const zword& order) { return ule(pfn, x) && ult(x, pfn + shl(one(), order)); }
// The same for an aligned block, by its prefix (4): x >> order == pfn >> order.
zbool frame_in(const zword& x, const zword& pfn, const zword& order) { return eq(lshr(x, order), lshr(pfn, order)); }

// Frame x lies in some free block of s.
zbool covered(const zstate& s, const zword& x) {
  zbool r = F();
  for (const auto& b : s.slot) r = r || (b.valid && in_block(x, b.pfn, b.order));
  return r;
}
zbool covered_f(const zstate& s, const zword& x) {
  zbool r = F();
  for (const auto& b : s.slot) r = r || (b.valid && frame_in(x, b.pfn, b.order));
  return r;
}
// At most one of the valid slots and the block in hand (`held`: it exists and holds x) holds x.
zbool at_most_one(const zstate& s, const zbool& held, const zword& x) {
  std::vector<zbool> in;
  for (const auto& b : s.slot) in.push_back(b.valid && frame_in(x, b.pfn, b.order));
  in.push_back(held);
  std::vector<zbool> c;
  for (unsigned i = 0; i < in.size(); ++i)
    for (unsigned j = i + 1; j < in.size(); ++j) c.push_back(!(in[i] && in[j]));
  return all_of(c);
}

// [pfn, pfn + 2^order) shares no frame with any free block of s.
zbool apart_from_free(const zstate& s, const zword& pfn, const zword& order) {
  std::vector<zbool> c;
  for (const auto& b : s.slot) c.push_back(implies(b.valid, bd_disjoint(pfn, order, b.pfn, b.order)));
  return all_of(c);
}
// No free block of s is the buddy of [pfn, pfn + 2^order) (BD-COALESCED's pair predicate).
zbool no_free_buddy(const zstate& s, const zword& pfn, const zword& order) {
  std::vector<zbool> c;
  for (const auto& b : s.slot) c.push_back(implies(b.valid, bd_coalesced_pair(pfn, order, b.pfn, b.order, F())));
  return all_of(c);
}
// No free block of s holds frame f.
zbool frame_free_of_slots(const zstate& s, const zword& f) {
  std::vector<zbool> c;
  for (const auto& b : s.slot) c.push_back(!(b.valid && frame_in(f, b.pfn, b.order)));
  return all_of(c);
}

// ---------------------------------------------------------------------------------------
// The frame lemmas (4), over blocks inside a zone [zs, ze); proved for all 64-bit inputs below.

zbool lemma_frame_in_block(const zword& x, const zword& p, const zword& o, const zword& zs, const zword& ze) {
  return implies(bd_align(p, o, zs, ze), iff(in_block(x, p, o), frame_in(x, p, o)));
}
zbool lemma_common_frame(const zword& x, const zword& a, const zword& oa, const zword& b, const zword& ob, const zword& zs,
                         const zword& ze) {
  return implies(bd_align(a, oa, zs, ze) && bd_align(b, ob, zs, ze) && frame_in(x, a, oa) && frame_in(x, b, ob),
                 !bd_disjoint(a, oa, b, ob));
}
zword frame_max(const zword& a, const zword& b) { return select(ult(a, b), b, a); }
zbool lemma_frame_at_max(const zword& a, const zword& oa, const zword& b, const zword& ob, const zword& zs, const zword& ze) {
  const zword m = frame_max(a, b);
  return implies(bd_align(a, oa, zs, ze) && bd_align(b, ob, zs, ze) && !bd_disjoint(a, oa, b, ob),
                 frame_in(m, a, oa) && frame_in(m, b, ob));
}

// Instances in a state: every pair of slots and `extra` blocks at frame x (common frame), every
// block at x (in_block ⇔ frame_in).
struct block_ref {
  zbool valid;
  zword pfn, order;
};
std::vector<block_ref> blocks_of(const zstate& s) {
  std::vector<block_ref> v;
  for (const auto& b : s.slot) v.push_back({b.valid, b.pfn, b.order});
  return v;
}
hyps common_frame_instances(const std::vector<block_ref>& bs, const zword& x, const zstate& z) {
  hyps h;
  for (unsigned i = 0; i < bs.size(); ++i)
    for (unsigned j = i + 1; j < bs.size(); ++j)
      h.push_back({"lemma__bd_disjoint__common_frame",
                   lemma_common_frame(x, bs[i].pfn, bs[i].order, bs[j].pfn, bs[j].order, z.zone_start, z.zone_end)});
  return h;
}
hyps frame_in_block_instances(const std::vector<block_ref>& bs, const zword& x, const zstate& z) {
  hyps h;
  for (const block_ref& b : bs)
    h.push_back({"lemma__frame_in__in_block", lemma_frame_in_block(x, b.pfn, b.order, z.zone_start, z.zone_end)});
  return h;
}

// ---------------------------------------------------------------------------------------
// A chain of lemmas as one goal (1)

// A slot state in a counterexample, as a picture: the free blocks of the valid slots by order
// in the zone, with nr_free and NR_FREE_PAGES as the state holds them.
picture::state_snapshot snapshot_of(const zstate& s, const model_reader& value) {
  picture::state_snapshot p;
  picture::zone_view z;
  z.start_pfn = value(s.zone_start.e);
  z.spanned = value(s.zone_end.e) - z.start_pfn;
  z.free_pages = static_cast<std::int64_t>(value(s.free_pages.e));
  z.name = "K=" + std::to_string(K) + " slots";
  for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o) z.nr_free[o] = value(s.nr_free[o].e);
  for (unsigned i = 0; i < K; ++i) {
    if (value(s.slot[i].valid.e) == 0) continue;
    const std::uint64_t pfn = value(s.slot[i].pfn.e), order = value(s.slot[i].order.e);
    if (order < NR_PAGE_ORDERS)
      z.blocks[order].push_back(pfn);
    else
      z.name += "; slot " + std::to_string(i) + " has order " + std::to_string(order) + " (not drawn)";
  }
  p.zones.push_back(std::move(z));
  return p;
}

// The states a lemma relates (before and after a step), each with its label.
using labelled_states = std::vector<std::pair<std::string, zstate>>;

struct chain {
  std::vector<std::pair<std::string, goal>> parts;
  unsigned n = 0;
  std::string prefix;  // names the sub-chain when an ID has two (BD-ACCT: "counts: ", "total: ")

  std::string fresh(const std::string& what) { return "L" + std::to_string(n++) + "." + what + "."; }
  // One lemma: its hypotheses are the preconditions of its own query; the states, if given, are
  // drawn for a counterexample.
  void lemma(const std::string& name, const hyps& h, const zbool& claim, const labelled_states& states = {}) {
    parts.emplace_back(prefix + name, lemma_goal(h, claim, {}, states, snapshot_of));
  }
};

enum class inv_id { partition, align, coalesced, acct };
constexpr inv_id ALL_IDS[] = {inv_id::partition, inv_id::align, inv_id::coalesced, inv_id::acct};
const char* id_text(inv_id c) {
  switch (c) {
    case inv_id::partition: return BD_PARTITION;
    case inv_id::align: return BD_ALIGN;
    case inv_id::coalesced: return BD_COALESCED;
    case inv_id::acct: return BD_ACCT;
  }
  return "?";
}
// The parts of J: BD-ACCT is two chains (5).
enum class part { align, partition, coalesced, counts, total };

// Constructs a state whose first free slot is j (slots 0 .. j-1 valid, slot j empty) (2).
void first_free_is(zstate& s, unsigned j) {
  for (unsigned i = 0; i < j; ++i) s.slot[i].valid = T();
  s.slot[j].valid = F();
}

// =======================================================================================
// free

// J of free before merge step p; `x` the frame (BD-PARTITION).
zbool free_J(part id, const zmerge& m, unsigned p, const zword& x) {
  const zstate& s = m.state;
  const zbool block_ok = bd_align(m.pfn, m.order, s.zone_start, s.zone_end);
  const zbool ranges = slot_ranges(s) && block_ranges(m.pfn, m.order);
  switch (id) {
    case part::align: return inv_align(s) && block_ok;
    case part::partition:
      return inv_align(s) && block_ok && inv_disjoint(s) && at_most_one(s, frame_in(x, m.pfn, m.order), x);
    case part::coalesced: return ranges && inv_coalesced(s) && implies(ult(m.order, lit(p)), no_free_buddy(s, m.pfn, m.order));
    case part::counts: return ranges && acct_counts(s);
    case part::total: return ranges && acct_total(s, shl(one(), m.order));
  }
  return F();
}
// The frames of the free blocks and the block in hand.
zbool free_frames(const zmerge& m, const zword& x) { return covered_f(m.state, x) || frame_in(x, m.pfn, m.order); }

// The invariants begin's hypothesis needs (a subset of Inv: a weaker hypothesis is a stronger lemma).
zbool begin_inv(part id, const zstate& s) {
  switch (id) {
    case part::align: return inv_align(s);
    case part::partition: return inv_align(s) && inv_disjoint(s);
    case part::coalesced: return inv_align(s) && inv_coalesced(s);
    case part::counts: return inv_align(s) && acct_counts(s);
    case part::total: return inv_align(s) && acct_total(s, lit(0));
  }
  return F();
}

void free_begin_lemma(chain& c, const bounded_ops& ops, part id) {
  const std::string p = c.fresh("begin");
  const zstate s = fresh_state(p);
  const zword pfn = zword::var(p + "freed_pfn"), order = zword::var(p + "freed_order"), x = zword::var(p + "frame");
  const zmerge m = ops.free_begin(s, pfn, order);
  hyps h = {{"Inv", begin_inv(id, s)},
            {"freed block aligned, in the zone, apart from every free block",
             bd_align(pfn, order, s.zone_start, s.zone_end) && apart_from_free(s, pfn, order)}};
  zbool claim = free_J(id, m, 0, x);
  if (id == part::partition) {
    std::vector<block_ref> bs = blocks_of(s);
    bs.push_back({T(), pfn, order});
    for (auto& i : common_frame_instances(bs, x, s)) h.push_back(std::move(i));
    for (auto& i : frame_in_block_instances(bs, x, s)) h.push_back(std::move(i));
    claim = claim && iff(free_frames(m, x), covered(s, x) || in_block(x, pfn, order));
  }
  c.lemma("begin", h, claim, {{"before", s}, {"after", m.state}});
}

// A merge step at o, written out (6): the cases, on its input. idle: the block in hand has
// another order. no buddy: order o, and no free block is its buddy. buddy in slot j: order o,
// slot j is the first free block that is its buddy.
enum class merge_kind { idle, no_buddy, buddy };
struct merge_case {
  std::string what;
  merge_kind kind;
  unsigned slot;
};
std::vector<merge_case> merge_cases() {
  std::vector<merge_case> v{{"idle", merge_kind::idle, K}, {"no buddy", merge_kind::no_buddy, K}};
  for (unsigned j = 0; j < K; ++j) v.push_back({"buddy in slot " + std::to_string(j), merge_kind::buddy, j});
  return v;
}

// Slot x holds the buddy of the order-o block at pfn.
zbool is_buddy_slot(const free_slot<zword>& x, const zword& pfn, unsigned o) {
  return x.valid && eq(x.order, lit(o)) && eq(x.pfn, __find_buddy_pfn(pfn, lit(o)));
}

hyps merge_case_hyps(const merge_case& mc, unsigned o, const zmerge& m) {
  if (mc.kind == merge_kind::idle) return {{"order != " + std::to_string(o), !eq(m.order, lit(o))}};
  hyps h{{"order == " + std::to_string(o), eq(m.order, lit(o))}};
  for (unsigned i = 0; i < K; ++i) {
    if (mc.kind == merge_kind::no_buddy || i < mc.slot)
      h.push_back({"slot " + std::to_string(i) + " is not the buddy", !is_buddy_slot(m.state.slot[i], m.pfn, o)});
    if (mc.kind == merge_kind::buddy && i == mc.slot)
      h.push_back({"slot " + std::to_string(i) + " is the buddy", is_buddy_slot(m.state.slot[i], m.pfn, o)});
  }
  return h;
}

// What the step gives: unchanged, or the buddy off its list (nr_free[o] one less) and the block
// in hand the combined one of order o + 1.
zmerge merge_explicitly(const merge_case& mc, const zmerge& m, unsigned o) {
  if (mc.kind != merge_kind::buddy) return m;
  zmerge n = m;
  n.state.slot[mc.slot].valid = F();
  n.state.nr_free[o] = n.state.nr_free[o] - one();
  n.pfn = buddy_combined_pfn(m.pfn, m.state.slot[mc.slot].pfn);
  n.order = lit(o + 1);
  return n;
}

zbool same_state(const zstate& a, const zstate& b) {
  std::vector<zbool> c{eq(a.free_pages, b.free_pages), iff(a.fits, b.fits), eq(a.zone_start, b.zone_start), eq(a.zone_end, b.zone_end)};
  for (unsigned i = 0; i < K; ++i) {
    const auto &x = a.slot[i], &y = b.slot[i];
    c.push_back(iff(x.valid, y.valid) && eq(x.pfn, y.pfn) && eq(x.order, y.order));
  }
  for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o) c.push_back(eq(a.nr_free[o], b.nr_free[o]));
  return all_of(c);
}
zbool same_merge(const zmerge& a, const zmerge& b) { return same_state(a.state, b.state) && eq(a.pfn, b.pfn) && eq(a.order, b.order); }

void free_step_lemmas(chain& c, part id, unsigned o) {
  for (const merge_case& mc : merge_cases()) {
    const std::string p = c.fresh("step" + std::to_string(o) + "." + mc.what);
    const zmerge m = fresh_merge(p);
    const zword x = zword::var(p + "frame");
    hyps h = merge_case_hyps(mc, o, m);
    h.push_back({"J", free_J(id, m, o, x)});
    const zmerge n = merge_explicitly(mc, m, o);
    zbool claim = free_J(id, n, o + 1, x);
    if (id == part::partition) claim = claim && iff(free_frames(n, x), free_frames(m, x));
    c.lemma("merge step " + std::to_string(o) + ", " + mc.what, h, claim, {{"before", m.state}, {"after", n.state}});
  }
}

void free_done_lemmas(chain& c, const bounded_ops& ops, part id) {
  const auto one_case = [&](const std::string& what, const std::function<void(zmerge&)>& setup) {
    const std::string p = c.fresh("done." + what);
    zmerge m = fresh_merge(p);
    setup(m);
    const zword x = zword::var(p + "frame");
    const zfree_result r = ops.free_done(m);
    const zstate& t = r.state;
    hyps h = {{"J", free_J(id, m, MAX_ORDER - 1, x)}, {"the result fits in K slots", t.fits}};
    zbool claim = F();
    switch (id) {
      case part::align: claim = inv_align(t); break;
      case part::coalesced: claim = inv_coalesced(t); break;
      case part::counts: claim = acct_counts(t); break;
      case part::total: claim = acct_total(t, lit(0)); break;
      case part::partition: {
        // The new pairs (the block put back against each slot) from J at the frame max(a, b).
        for (const auto& b : m.state.slot) {
          const zword f = frame_max(m.pfn, b.pfn);
          h.push_back({"J at frame max(block, slot)", !(b.valid && frame_in(f, m.pfn, m.order) && frame_in(f, b.pfn, b.order))});
          h.push_back({"lemma__bd_disjoint__frame_at_max",
                       lemma_frame_at_max(m.pfn, m.order, b.pfn, b.order, m.state.zone_start, m.state.zone_end)});
        }
        std::vector<block_ref> bs = blocks_of(m.state);
        bs.push_back({T(), m.pfn, m.order});
        for (auto& i : frame_in_block_instances(bs, x, m.state)) h.push_back(std::move(i));
        claim = inv_disjoint(t) && iff(covered(t, x), free_frames(m, x));
        break;
      }
    }
    c.lemma("done, " + what, h, claim, {{"before", m.state}, {"after", t}});
  };
  if (id == part::total) {
    for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o)
      one_case("order " + std::to_string(o), [o](zmerge& m) { m.order = lit(o); });
  } else {
    for (unsigned j = 0; j < K; ++j) one_case("first free slot " + std::to_string(j), [j](zmerge& m) { first_free_is(m.state, j); });
  }
}

std::vector<std::pair<std::string, goal>> free_chain(const bounded_ops& ops, inv_id id) {
  chain c;
  std::vector<part> parts;
  switch (id) {
    case inv_id::partition: parts = {part::partition}; break;
    case inv_id::align: parts = {part::align}; break;
    case inv_id::coalesced: parts = {part::coalesced}; break;
    case inv_id::acct: parts = {part::counts, part::total}; break;
  }
  for (part p : parts) {
    c.prefix = p == part::counts ? "counts: " : p == part::total ? "total: " : "";
    free_begin_lemma(c, ops, p);
    for (unsigned o = 0; o + 1 < MAX_ORDER; ++o) free_step_lemmas(c, p, o);
    free_done_lemmas(c, ops, p);
  }
  return std::move(c.parts);
}

// =======================================================================================
// alloc

zbool alloc_shape(const zsplit& sp, unsigned q) {
  return implies(sp.ok, ule(sp.low, sp.high) && (ule(sp.high, lit(q)) || eq(sp.high, sp.low)));
}

// J of alloc before expand step q-1; `x` the frame (BD-PARTITION).
zbool alloc_J(part id, const zsplit& sp, unsigned q, const zword& x) {
  const zstate& s = sp.state;
  const zbool kept_ok = implies(sp.ok, bd_align(sp.pfn, sp.high, s.zone_start, s.zone_end));
  const zbool shape = alloc_shape(sp, q);
  switch (id) {
    case part::align: return inv_align(s) && kept_ok && shape;
    case part::partition:
      return inv_align(s) && inv_disjoint(s) && kept_ok && shape && at_most_one(s, sp.ok && frame_in(x, sp.pfn, sp.high), x);
    case part::coalesced:
      return slot_ranges(s) && inv_coalesced(s) && kept_ok && shape && implies(sp.ok, frame_free_of_slots(s, sp.pfn));
    case part::counts: return slot_ranges(s) && kept_ok && shape && acct_counts(s);
    case part::total: return slot_ranges(s) && kept_ok && shape && acct_total(s, select(sp.ok, shl(one(), sp.high), lit(0)));
  }
  return F();
}
zbool alloc_frames(const zsplit& sp, const zword& x) { return covered_f(sp.state, x) || (sp.ok && frame_in(x, sp.pfn, sp.high)); }

// Every field of the two splits and their states is equal.
zbool same_split(const zsplit& a, const zsplit& b) {
  return same_state(a.state, b.state) && iff(a.ok, b.ok) && eq(a.pfn, b.pfn) && eq(a.low, b.low) && eq(a.high, b.high) &&
         eq(a.taken_order, b.taken_order);
}

// ---------------------------------------------------------------------------------------
// alloc's parts, written out (6). take() and an expand step are select chains over every slot
// and order; J over them costs the solvers 1 to over 30 s per case. So each is proved once,
// case by case, equal to its result written out (lemma__slots_alloc_take__explicit,
// lemma__slots_alloc_expand_step__explicit), and the chains prove J of the written-out result.
// J is a function of the fields, so J(part(s)) = J(explicit(s)) by congruence.

// take(): the cases, on the input. slot < K: the block taken is slot `slot`: a free block of
// order `taken` >= request, the first of that order, and no free block has an order in
// [request, taken). slot = K: no free block has an order >= request. (One case per slot with a
// symbolic order is fewer cases, but each then takes both solvers minutes.)
struct take_case {
  std::string what;
  unsigned slot, taken;
};
std::vector<take_case> take_cases() {
  std::vector<take_case> v;
  for (unsigned o = 0; o < MAX_ORDER; ++o)
    for (unsigned j = 0; j < K; ++j) v.push_back({"order " + std::to_string(o) + " from slot " + std::to_string(j), j, o});
  v.push_back({"nothing taken", K, 0});
  return v;
}

// The hypotheses of case `tc` on state s and request.
hyps take_case_hyps(const take_case& tc, const zstate& s, const zword& request) {
  hyps h;
  if (tc.slot == K) {
    for (unsigned i = 0; i < K; ++i)
      h.push_back({"slot " + std::to_string(i) + " is not a free block of an order >= request",
                   !(s.slot[i].valid && ule(request, s.slot[i].order))});
    return h;
  }
  const auto& t = s.slot[tc.slot];
  h.push_back({"slot " + std::to_string(tc.slot) + " is a free block of order " + std::to_string(tc.taken),
               t.valid && eq(t.order, lit(tc.taken))});
  h.push_back({"request <= " + std::to_string(tc.taken), ule(request, lit(tc.taken))});
  for (unsigned i = 0; i < K; ++i) {
    const auto& b = s.slot[i];
    if (i < tc.slot)
      h.push_back({"slot " + std::to_string(i) + " is not a free block of order " + std::to_string(tc.taken),
                   !(b.valid && eq(b.order, lit(tc.taken)))});
    if (i != tc.slot)
      h.push_back({"slot " + std::to_string(i) + " is not a free block of an order in [request, taken)",
                   !(b.valid && ule(request, b.order) && ult(b.order, lit(tc.taken)))});
  }
  return h;
}

// What take() gives in case `tc`: the slot off the list, nr_free[taken] one less, the block held
// whole (high = taken); or nothing.
zsplit take_explicitly(const take_case& tc, const zstate& s, const zword& request) {
  zsplit e{s, lit(0), F(), request, lit(0), lit(0)};
  if (tc.slot == K) return e;
  e.state.slot[tc.slot].valid = F();
  e.state.nr_free[tc.taken] = e.state.nr_free[tc.taken] - one();
  e.pfn = s.slot[tc.slot].pfn;
  e.ok = T();
  e.high = e.taken_order = lit(tc.taken);
  return e;
}

// An expand step at h: the cases, on its input. Nothing given away: nothing held, high <= h, or
// low > h. A half given (held, low <= h < high): to the first free slot, `slot`.
enum class expand_kind { nothing_held, high_at_most_h, low_above_h, give };
struct expand_case {
  std::string what;
  expand_kind kind;
  unsigned slot;
};
std::vector<expand_case> expand_cases() {
  std::vector<expand_case> v{{"nothing held", expand_kind::nothing_held, K},
                             {"high <= h", expand_kind::high_at_most_h, K},
                             {"low > h", expand_kind::low_above_h, K}};
  for (unsigned j = 0; j < K; ++j) v.push_back({"half to slot " + std::to_string(j), expand_kind::give, j});
  return v;
}

// The hypotheses of case `ec` of the step at h on split sp.
hyps expand_case_hyps(const expand_case& ec, unsigned hgt, const zsplit& sp) {
  switch (ec.kind) {
    case expand_kind::nothing_held: return {{"nothing held", !sp.ok}};
    case expand_kind::high_at_most_h: return {{"held, high <= h", sp.ok && !ult(lit(hgt), sp.high)}};
    case expand_kind::low_above_h: return {{"held, low > h", sp.ok && !ule(sp.low, lit(hgt))}};
    case expand_kind::give: {
      hyps h{{"held, low <= h < high", sp.ok && ule(sp.low, lit(hgt)) && ult(lit(hgt), sp.high)}};
      for (unsigned i = 0; i < ec.slot; ++i) h.push_back({"slot " + std::to_string(i) + " is taken", sp.state.slot[i].valid});
      h.push_back({"slot " + std::to_string(ec.slot) + " is free", !sp.state.slot[ec.slot].valid});
      return h;
    }
  }
  return {};
}

// What the step gives: unchanged, or the upper half [pfn + 2^h, pfn + 2^(h+1)) in slot `slot`,
// nr_free[h] one more, high = h.
zsplit expand_explicitly(const expand_case& ec, const zsplit& sp, unsigned hgt) {
  if (ec.kind != expand_kind::give) return sp;
  zsplit e = sp;
  e.state.slot[ec.slot] = {T(), expand_upper_half(sp.pfn, lit(hgt)), lit(hgt)};
  e.state.nr_free[hgt] = e.state.nr_free[hgt] + one();
  e.high = lit(hgt);
  return e;
}

void alloc_take_lemmas(chain& c, part id) {
  for (const take_case& tc : take_cases()) {
    const std::string p = c.fresh("take." + tc.what);
    const zword request = zword::var(p + "request_order"), x = zword::var(p + "frame");
    const zstate s = fresh_state(p);
    hyps h = take_case_hyps(tc, s, request);
    const zsplit sp = take_explicitly(tc, s, request);
    h.push_back({"Inv", begin_inv(id, s)});
    zbool claim = alloc_J(id, sp, MAX_ORDER - 1, x);
    if (id == part::partition) {
      for (auto& i : common_frame_instances(blocks_of(s), x, s)) h.push_back(std::move(i));
      for (auto& i : frame_in_block_instances(blocks_of(s), x, s)) h.push_back(std::move(i));
      claim = claim && iff(alloc_frames(sp, x), covered(s, x));
    }
    if (id == part::coalesced && tc.slot < K) {
      // No other slot holds the first frame of the slot taken: from BD-PARTITION before.
      h.push_back({"BD-PARTITION before", inv_disjoint(s)});
      const auto& k = s.slot[tc.slot];
      for (unsigned i = 0; i < K; ++i)
        if (i != tc.slot)
          h.push_back({"lemma__bd_disjoint__common_frame",
                       lemma_common_frame(k.pfn, s.slot[i].pfn, s.slot[i].order, k.pfn, k.order, s.zone_start, s.zone_end)});
    }
    c.lemma("take, " + tc.what, h, claim, {{"before", s}, {"after", sp.state}});
  }
}

void alloc_expand_lemmas(chain& c, part id, unsigned hgt) {
  for (const expand_case& ec : expand_cases()) {
    const std::string p = c.fresh("expand" + std::to_string(hgt) + "." + ec.what);
    const zsplit sp = fresh_split(p);
    hyps h = expand_case_hyps(ec, hgt, sp);
    const zsplit n = expand_explicitly(ec, sp, hgt);
    const zword x = zword::var(p + "frame");
    h.push_back({"J", alloc_J(id, sp, hgt + 1, x)});
    zbool claim = alloc_J(id, n, hgt, x);
    if (id == part::partition) {
      claim = claim && iff(alloc_frames(n, x), alloc_frames(sp, x));
      if (ec.kind == expand_kind::give) {
        // The half against each slot: J (at the frame max(half, slot)) says no slot shares a
        // frame with the block held, which holds the half.
        const zword half = expand_upper_half(sp.pfn, lit(hgt));
        for (unsigned i = 0; i < K; ++i) {
          if (i == ec.slot) continue;
          const auto& b = sp.state.slot[i];
          const zword f = frame_max(half, b.pfn);
          h.push_back({"J at frame max(half, slot)", !(sp.ok && frame_in(f, sp.pfn, sp.high) && b.valid && frame_in(f, b.pfn, b.order))});
          h.push_back({"lemma__bd_disjoint__frame_at_max",
                       lemma_frame_at_max(half, lit(hgt), b.pfn, b.order, sp.state.zone_start, sp.state.zone_end)});
        }
      }
    }
    c.lemma("expand step " + std::to_string(hgt) + ", " + ec.what, h, claim, {{"before", sp.state}, {"after", n.state}});
  }
}

void alloc_done_lemmas(chain& c, const bounded_ops& ops, part id) {
  const auto one_case = [&](const std::string& what, const std::function<void(zsplit&)>& setup) {
    const std::string p = c.fresh("done." + what);
    zsplit sp = fresh_split(p);
    setup(sp);
    const zword x = zword::var(p + "frame");
    const zalloc_result r = ops.alloc_done(sp);
    const zstate& t = r.state;
    hyps h = {{"J", alloc_J(id, sp, 0, x)}};
    zbool claim = eq(r.pfn, sp.pfn) && iff(r.ok, sp.ok);
    switch (id) {
      case part::align: claim = claim && inv_align(t) && implies(r.ok, bd_align(r.pfn, sp.low, t.zone_start, t.zone_end)); break;
      case part::coalesced: claim = claim && inv_coalesced(t); break;
      case part::counts: claim = claim && acct_counts(t); break;
      case part::total: claim = claim && acct_total(t, lit(0)); break;
      case part::partition: {
        for (const auto& b : sp.state.slot) {
          const zword f = frame_max(sp.pfn, b.pfn);
          h.push_back({"J at frame max(block, slot)",
                       !(sp.ok && b.valid && frame_in(f, sp.pfn, sp.high) && frame_in(f, b.pfn, b.order))});
          h.push_back({"lemma__bd_disjoint__frame_at_max",
                       lemma_frame_at_max(sp.pfn, sp.high, b.pfn, b.order, sp.state.zone_start, sp.state.zone_end)});
        }
        std::vector<block_ref> bs = blocks_of(sp.state);
        bs.push_back({sp.ok, sp.pfn, sp.low});
        for (auto& i : frame_in_block_instances(bs, x, sp.state)) h.push_back(std::move(i));
        claim = claim && inv_disjoint(t) && implies(r.ok, apart_from_free(t, r.pfn, sp.low)) &&
                iff(covered(t, x) || (r.ok && in_block(x, r.pfn, sp.low)), alloc_frames(sp, x));
        break;
      }
    }
    c.lemma("done, " + what, h, claim, {{"before", sp.state}, {"after", t}});
  };
  one_case("nothing held", [](zsplit& sp) { sp.ok = F(); });
  if (id == part::total) {
    for (unsigned o = 0; o < MAX_ORDER; ++o)
      one_case("order " + std::to_string(o), [o](zsplit& sp) {
        sp.ok = T();
        sp.low = sp.high = lit(o);  // J's shape at q = 0
      });
  } else {
    one_case("block held", [](zsplit& sp) {
      sp.ok = T();
      sp.high = sp.low;  // J's shape at q = 0
    });
  }
}

std::vector<std::pair<std::string, goal>> alloc_chain(const bounded_ops& ops, inv_id id) {
  chain c;
  std::vector<part> parts;
  switch (id) {
    case inv_id::partition: parts = {part::partition}; break;
    case inv_id::align: parts = {part::align}; break;
    case inv_id::coalesced: parts = {part::coalesced}; break;
    case inv_id::acct: parts = {part::counts, part::total}; break;
  }
  for (part p : parts) {
    c.prefix = p == part::counts ? "counts: " : p == part::total ? "total: " : "";
    alloc_take_lemmas(c, p);
    for (unsigned h = MAX_PAGE_ORDER; h-- > 0;) alloc_expand_lemmas(c, p, h);
    alloc_done_lemmas(c, ops, p);
  }
  return std::move(c.parts);
}

// =======================================================================================
// Paths: the whole operation from a state satisfying all four invariants, the path fixed by a
// precondition. The registry's non-vacuity check (the preconditions are satisfiable) shows the
// path reachable; the chains above prove the invariants on every path. The claim is what
// characterises the path in the counters: which nr_free moved, and by how much.

template <class R>
using path_fn = std::function<std::pair<std::string, zbool>(const zstate& before, const zword& order, const R& r)>;

named inv_before(const zstate& s) {
  return {{"BD-PARTITION before", inv_disjoint(s).e},
          {"BD-ALIGN before", inv_align(s).e},
          {"BD-COALESCED before", inv_coalesced(s).e},
          {"BD-ACCT before", inv_acct(s).e}};
}

goal free_path(const bounded_ops& ops, const path_fn<zfree_result>& path, const std::function<zbool(const zstate&, const zfree_result&)>& claim) {
  const zstate s = fresh_state("");
  const zword pfn = zword::var("freed_pfn"), order = zword::var("freed_order");
  const zfree_result r = compose_free(ops, s, pfn, order);
  named pre = inv_before(s);
  pre.push_back({"freed block aligned, in the zone, apart from every free block",
                 (bd_align(pfn, order, s.zone_start, s.zone_end) && apart_from_free(s, pfn, order)).e});
  pre.push_back({"the result fits in K slots", r.state.fits.e});
  auto [pname, pcond] = path(s, order, r);
  pre.push_back({pname, pcond.e});
  named show = {{"freed_pfn", pfn.e}, {"freed_order", order.e}, {"merged_pfn", r.merged_pfn.e}, {"merged_order", r.merged_order.e}};
  return spec::make(std::move(pre), claim(s, r).e, std::move(show));
}

goal alloc_path(const bounded_ops& ops, const path_fn<zalloc_result>& path, const std::function<zbool(const zstate&, const zword&, const zalloc_result&)>& claim) {
  const zstate s = fresh_state("");
  const zword order = zword::var("request_order");
  const zalloc_result r = compose_alloc(ops, s, order);
  named pre = inv_before(s);
  pre.push_back({"the result fits in K slots", r.state.fits.e});
  auto [pname, pcond] = path(s, order, r);
  pre.push_back({pname, pcond.e});
  named show = {{"request_order", order.e}, {"ok", r.ok.e}, {"pfn", r.pfn.e}, {"taken_order", r.taken_order.e}};
  return spec::make(std::move(pre), claim(s, order, r).e, std::move(show));
}

}  // namespace

bounded_ops bounded_ops::real() {
  return {[](const zstate& s, const zword& pfn, const zword& order) { return slots_free_begin(s, pfn, order); },
          [](const zmerge& m, unsigned o) { return slots_free_step(m, o); },
          [](const zmerge& m) { return slots_free_done(m); },
          [](const zstate& s, const zword& order) { return slots_alloc_take(s, order); },
          [](const zsplit& sp, unsigned h) { return slots_alloc_expand_step(sp, h); },
          [](const zsplit& sp) { return slots_alloc_done(sp); }};
}

// As slots_free composes its parts.
zfree_result compose_free(const bounded_ops& ops, const zstate& s, const zword& pfn, const zword& order) {
  zmerge m = ops.free_begin(s, pfn, order);
  for (unsigned o = 0; o + 1 < MAX_ORDER; ++o) m = ops.free_step(m, o);
  return ops.free_done(m);
}

// As slots_alloc composes its parts.
zalloc_result compose_alloc(const bounded_ops& ops, const zstate& s, const zword& order) {
  zsplit sp = ops.alloc_take(s, order);
  for (unsigned h = MAX_PAGE_ORDER; h-- > 0;) sp = ops.alloc_expand_step(sp, h);
  return ops.alloc_done(sp);
}

std::vector<obligation> buddy_bounded_obligations(const bounded_ops& ops) {
  std::vector<obligation> out;
  const std::string bound = "K=" + std::to_string(K) + " free blocks, zone [0, " + std::to_string(ZONE_FRAMES) + "), 64-bit words";
  const std::string all_64 = "all 64-bit inputs";
  const std::string all_ids = "BD-PARTITION BD-ALIGN BD-COALESCED BD-ACCT";

  // The frame lemmas (4), for blocks in any zone [zs, ze).
  out.push_back({"lemma__frame_in__in_block", "in_block frame_in", "lemma", all_64, [](z3::context&) {
                   const zword x = zword::var("x"), p = zword::var("pfn"), o = zword::var("order"), zs = zword::var("zs"),
                               ze = zword::var("ze");
                   return spec::make({}, lemma_frame_in_block(x, p, o, zs, ze).e, {{"x", x.e}, {"pfn", p.e}, {"order", o.e}});
                 }});
  out.push_back({"lemma__bd_disjoint__common_frame", "bd_disjoint frame_in", "lemma", all_64, [](z3::context&) {
                   const zword x = zword::var("x"), a = zword::var("a"), oa = zword::var("oa"), b = zword::var("b"),
                               ob = zword::var("ob"), zs = zword::var("zs"), ze = zword::var("ze");
                   return spec::make({}, lemma_common_frame(x, a, oa, b, ob, zs, ze).e,
                                     {{"x", x.e}, {"a", a.e}, {"oa", oa.e}, {"b", b.e}, {"ob", ob.e}});
                 }});
  out.push_back({"lemma__bd_disjoint__frame_at_max", "bd_disjoint frame_in", "lemma", all_64, [](z3::context&) {
                   const zword a = zword::var("a"), oa = zword::var("oa"), b = zword::var("b"), ob = zword::var("ob"),
                               zs = zword::var("zs"), ze = zword::var("ze");
                   return spec::make({}, lemma_frame_at_max(a, oa, b, ob, zs, ze).e, {{"a", a.e}, {"oa", oa.e}, {"b", b.e}, {"ob", ob.e}});
                 }});

  // The merge step written out (6), case by case; the free chains rest on it.
  out.push_back({"lemma__slots_free_step__explicit", "__free_one_page", "bounded", bound, nullptr, 20'000'000, false,
                 [ops](z3::context&) {
                   chain c;
                   for (unsigned o = 0; o + 1 < MAX_ORDER; ++o) {
                     for (const merge_case& mc : merge_cases()) {
                       const std::string p = c.fresh("step" + std::to_string(o) + "." + mc.what);
                       const zmerge m = fresh_merge(p);
                       const zmerge n = ops.free_step(m, o);
                       c.lemma("step " + std::to_string(o) + ", " + mc.what, merge_case_hyps(mc, o, m),
                               same_merge(n, merge_explicitly(mc, m, o)), {{"before", m.state}, {"after", n.state}});
                     }
                     // The cases cover every input.
                     const std::string p = c.fresh("step" + std::to_string(o) + ".cover");
                     const zmerge m = fresh_merge(p);
                     zbool any = F();
                     for (const merge_case& mc : merge_cases()) {
                       zbool in_case = T();
                       for (const auto& [n, e] : merge_case_hyps(mc, o, m)) in_case = in_case && e;
                       any = any || in_case;
                     }
                     c.lemma("step " + std::to_string(o) + ": the cases cover every input", {}, any);
                   }
                   return std::move(c.parts);
                 }});
  // alloc's parts written out (6), case by case; the alloc chains rest on these.
  out.push_back({"lemma__slots_alloc_take__explicit", "__rmqueue_smallest", "bounded", bound, nullptr, 20'000'000, false,
                 [ops](z3::context&) {
                   chain c;
                   for (const take_case& tc : take_cases()) {
                     const std::string p = c.fresh("take." + tc.what);
                     const zword request = zword::var(p + "request_order");
                     const zstate s = fresh_state(p);
                     const zsplit sp = ops.alloc_take(s, request);
                     c.lemma(tc.what, take_case_hyps(tc, s, request), same_split(sp, take_explicitly(tc, s, request)),
                             {{"before", s}, {"after", sp.state}});
                   }
                   // The cases cover every state whose free blocks have valid orders (BD-ALIGN),
                   // in two steps (at once, cvc5 does not finish): the smallest order >= request
                   // with a free block is some o, or there is none; given o, the first free
                   // block of order o is some slot j.
                   const auto conj = [](const hyps& hs) {
                     zbool r = T();
                     for (const auto& [n, e] : hs) r = r && e;
                     return r;
                   };
                   const auto smallest_is = [](const zstate& s, const zword& request, unsigned o) {
                     zbool has = F(), below = F();
                     for (const auto& b : s.slot) {
                       has = has || (b.valid && eq(b.order, lit(o)));
                       below = below || (b.valid && ule(request, b.order) && ult(b.order, lit(o)));
                     }
                     return ule(request, lit(o)) && has && !below;
                   };
                   {
                     const std::string p = c.fresh("take.cover");
                     const zstate s = fresh_state(p);
                     const zword request = zword::var(p + "request_order");
                     hyps h;
                     for (unsigned i = 0; i < K; ++i)
                       h.push_back({"slot " + std::to_string(i) + ": order <= MAX_ORDER-1",
                                    implies(s.slot[i].valid, ule(s.slot[i].order, lit(MAX_PAGE_ORDER)))});
                     zbool any = conj(take_case_hyps(take_cases().back(), s, request));
                     for (unsigned o = 0; o < MAX_ORDER; ++o) any = any || smallest_is(s, request, o);
                     c.lemma("the cases cover every state: the smallest order taken", h, any);
                   }
                   for (unsigned o = 0; o < MAX_ORDER; ++o) {
                     const std::string p = c.fresh("take.cover" + std::to_string(o));
                     const zstate s = fresh_state(p);
                     const zword request = zword::var(p + "request_order");
                     zbool any = F();
                     for (const take_case& tc : take_cases())
                       if (tc.slot < K && tc.taken == o) any = any || conj(take_case_hyps(tc, s, request));
                     c.lemma("the cases cover every state: order " + std::to_string(o) + ", the slot taken",
                             {{"the smallest order >= request with a free block is " + std::to_string(o), smallest_is(s, request, o)}}, any);
                   }
                   return std::move(c.parts);
                 }});
  out.push_back({"lemma__slots_alloc_expand_step__explicit", "expand", "bounded", bound, nullptr, 20'000'000, false,
                 [ops](z3::context&) {
                   chain c;
                   for (unsigned hgt = MAX_PAGE_ORDER; hgt-- > 0;)
                     for (const expand_case& ec : expand_cases()) {
                       const std::string p = c.fresh("expand" + std::to_string(hgt) + "." + ec.what);
                       const zsplit sp = fresh_split(p);
                       const zsplit n = ops.alloc_expand_step(sp, hgt);
                       c.lemma("step " + std::to_string(hgt) + ", " + ec.what, expand_case_hyps(ec, hgt, sp),
                               same_split(n, expand_explicitly(ec, sp, hgt)), {{"before", sp.state}, {"after", n.state}});
                     }
                   // The cases cover every split, but one whose half finds no free slot: the step
                   // drops the half and `fits` turns false for good (outside the bound).
                   for (unsigned hgt = MAX_PAGE_ORDER; hgt-- > 0;) {
                     const std::string p = c.fresh("expand" + std::to_string(hgt) + ".cover");
                     const zsplit sp = fresh_split(p);
                     zbool any = F();
                     for (const expand_case& ec : expand_cases()) {
                       zbool in_case = T();
                       for (const auto& [n, e] : expand_case_hyps(ec, hgt, sp)) in_case = in_case && e;
                       any = any || in_case;
                     }
                     const zsplit n = ops.alloc_expand_step(sp, hgt);
                     c.lemma("step " + std::to_string(hgt) + ": the cases cover every split whose result fits",
                             {{"the result fits in K slots", n.state.fits}, {"it fitted before", sp.state.fits}}, any);
                   }
                   return std::move(c.parts);
                 }});

  for (inv_id id : ALL_IDS)
    out.push_back({std::string("free__preserves__") + id_text(id), id_text(id), "bounded", bound,
                   nullptr, 20'000'000, false, [ops, id](z3::context&) { return free_chain(ops, id); }});
  for (inv_id id : ALL_IDS)
    out.push_back({std::string("alloc__preserves__") + id_text(id), id_text(id), "bounded", bound,
                   nullptr, 20'000'000, false, [ops, id](z3::context&) { return alloc_chain(ops, id); }});

  // free: merge at each order. Freed at order 0 and merged exactly m times, the block merges at
  // orders 0 .. m-1 and goes on the list at order m (m = 10: MAX_ORDER-1, where the loop ends).
  // Claim: nr_free[0 .. m-1] each one less, nr_free[m] one more.
  for (unsigned m = 0; m < MAX_ORDER && m <= K; ++m)
    out.push_back({"nonvacuous__free_merges_" + std::to_string(m), all_ids, "bounded", bound, [ops, m](z3::context&) {
                     return free_path(
                         ops,
                         [m](const zstate&, const zword& order, const zfree_result& r) {
                           return std::pair{"path: freed at order 0, merges exactly " + std::to_string(m) + " times",
                                            eq(order, lit(0)) && eq(r.merged_order, lit(m))};
                         },
                         [m](const zstate& s, const zfree_result& r) {
                           std::vector<zbool> c;
                           for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o)
                             c.push_back(eq(r.state.nr_free[o], s.nr_free[o] + lit(o == m ? 1 : 0) - lit(o < m ? 1 : 0)));
                           return all_of(c);
                         });
                   }});
  // free: the loop bound. A block of order MAX_ORDER-1 whose buddy is free stays unmerged (the
  // exception BD-COALESCED makes for the largest order).
  out.push_back({"nonvacuous__free_no_merge_at_max_order", all_ids, "bounded", bound, [ops](z3::context&) {
                   return free_path(
                       ops,
                       [](const zstate& s, const zword& order, const zfree_result& r) {
                         zbool buddy_free = F();
                         for (const auto& b : s.slot)
                           buddy_free = buddy_free || (b.valid && eq(b.order, order) && eq(b.pfn, __find_buddy_pfn(r.merged_pfn, order)));
                         return std::pair{std::string("path: freed at order MAX_ORDER-1 with its buddy free"),
                                          eq(order, lit(MAX_PAGE_ORDER)) && buddy_free};
                       },
                       [](const zstate& s, const zfree_result& r) {
                         return eq(r.merged_order, lit(MAX_PAGE_ORDER)) &&
                                eq(r.state.nr_free[MAX_PAGE_ORDER], s.nr_free[MAX_PAGE_ORDER] + one());
                       });
                 }});
  // alloc: a split of each depth. Depth 0 takes a block of the requested order; depth d >= 1 is
  // the fallback to a larger order (no free block of the requested order) and gives away d upper
  // halves. Claim: nr_free[request .. request+d-1] each one more, nr_free[request+d] one less.
  for (unsigned d = 0; d < MAX_ORDER && d <= K; ++d)
    out.push_back({"nonvacuous__alloc_splits_" + std::to_string(d), all_ids, "bounded", bound, [ops, d](z3::context&) {
                     return alloc_path(
                         ops,
                         [d](const zstate&, const zword& order, const zalloc_result& r) {
                           return std::pair{"path: takes a block " + std::to_string(d) + " orders above the request",
                                            r.ok && eq(r.taken_order - order, lit(d))};
                         },
                         [d](const zstate& s, const zword& order, const zalloc_result& r) {
                           std::vector<zbool> c;
                           for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o) {
                             const zbool given = ule(order, lit(o)) && ult(lit(o), order + lit(d));
                             const zbool taken = eq(lit(o), order + lit(d));
                             c.push_back(eq(r.state.nr_free[o], s.nr_free[o] + select(given, one(), lit(0)) - select(taken, one(), lit(0))));
                           }
                           return all_of(c);
                         });
                   }});
  // alloc: nothing free at or above the requested order, though some block is free. Claim:
  // nothing changes.
  out.push_back({"nonvacuous__alloc_fails", all_ids, "bounded", bound, [ops](z3::context&) {
                   return alloc_path(
                       ops,
                       [](const zstate& s, const zword&, const zalloc_result& r) {
                         return std::pair{std::string("path: no free block at or above the request, some block free"),
                                          !r.ok && s.slot[0].valid};
                       },
                       [](const zstate& s, const zword&, const zalloc_result& r) {
                         std::vector<zbool> c{eq(r.state.free_pages, s.free_pages)};
                         for (unsigned i = 0; i < K; ++i) c.push_back(iff(r.state.slot[i].valid, s.slot[i].valid));
                         for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o) c.push_back(eq(r.state.nr_free[o], s.nr_free[o]));
                         return all_of(c);
                       });
                 }});
  return out;
}

void register_buddy_bounded_proofs(std::vector<obligation>& out) {
  for (obligation& o : buddy_bounded_obligations(bounded_ops::real())) out.push_back(std::move(o));
}

}  // namespace mmref::proofs
