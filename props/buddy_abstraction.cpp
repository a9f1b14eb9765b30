// props/buddy_abstraction.cpp — the abstraction function of the bounded buddy proofs commutes
// with the allocator: for every free and every allocation the real allocator performs,
//     alpha(op(real)) == slots_op(alpha(real))
// where alpha (impl/buddy/slots.hpp) reads one zone's free lists of one migratetype as slots,
// and slots_free / slots_alloc are the templates proofs/buddy_bounded.cpp proves BD-PARTITION,
// BD-ALIGN, BD-COALESCED and BD-ACCT of (there with W = zword, here with W = cword). States are
// compared as multisets of (pfn, order), with every nr_free and NR_FREE_PAGES; an allocation
// must also hand out the same frame, and a free must leave the block slots_free merged to as a
// free head of the merged order.
//
// The regime alpha is exact in (slots.hpp says why): one zone (RAM inside ZONE_DMA32), every
// pageblock MOVABLE (as boot leaves them) and every request MOVABLE, so no migratetype fallback,
// no merge barrier, and no highatomic reserve (no ALLOC_HARDER request). The property checks
// it is in that regime before every step (only_migratetype). Allocations go through the real
// alloc_pages with GFP_NOWAIT | __GFP_MOVABLE, watermarks and all: when the watermark check
// refuses a request that rmqueue would have served, the allocator must leave the free lists
// exactly as they were (the slots operations model rmqueue, not the watermark gate), and the
// case is counted as such.
//
// Machines: a zone of 64 .. 4096 frames (the bounded proofs' zone is 4096 frames), starting at
// a random pfn in DMA32, sometimes with memblock-reserved ranges; min_free_kbytes 0 or small.
// Slots: alpha is taken with K = 4096, enough for any state here; a case is tagged when some
// step started from a state of at most SLOTS_K (the bounded proofs' K) free blocks.
//
// The negative property runs the same check against a deliberately wrong composition of the
// slot operations (an expand that keeps the order-`low` upper half) and must fail, shrunk.
#include <rapidcheck.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "impl/buddy/invariants.hpp"
#include "impl/buddy/page_alloc.hpp"
#include "impl/buddy/slots.hpp"
#include "props/registry.hpp"

namespace mmref::props {

namespace {

using namespace mmref::buddy;

// The slot operations under test: the real templates, or a deliberately wrong composition.
enum class slot_variant { real, expand_keeps_low_half };

template <unsigned K>
slot_alloc_result<cword, K> alloc_op(const slot_state<cword, K>& s, unsigned order, slot_variant v) {
  if (v == slot_variant::real) return slots_alloc(s, cword{order});
  // The mutation: expand's loop stops one order early (`while (high > low + 1)`), so the upper
  // half of order `low` is never given back.
  slot_split<cword, K> sp = slots_alloc_take(s, cword{order});
  for (unsigned h = MAX_PAGE_ORDER; h-- > 0;)
    if (h != order) sp = slots_alloc_expand_step(sp, h);
  return slots_alloc_done(sp);
}

// A slot state as what the kernel's lists mean: the sorted (pfn, order) of its free blocks,
// nr_free per order, NR_FREE_PAGES.
struct flat {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> blocks;
  std::vector<std::uint64_t> nr_free;
  std::uint64_t free_pages = 0;
  bool operator==(const flat&) const = default;
};

template <unsigned K>
flat flatten(const slot_state<cword, K>& s) {
  flat f;
  for (const auto& x : s.slot)
    if (x.valid.v) f.blocks.emplace_back(x.pfn.v, x.order.v);
  std::sort(f.blocks.begin(), f.blocks.end());
  for (const cword& n : s.nr_free) f.nr_free.push_back(n.v);
  f.free_pages = s.free_pages.v;
  return f;
}

std::string show(const flat& f) {
  std::ostringstream os;
  os << "free_pages " << f.free_pages << ", nr_free [";
  for (std::size_t o = 0; o < f.nr_free.size(); ++o) os << (o ? " " : "") << f.nr_free[o];
  os << "], blocks {";
  for (std::size_t i = 0; i < f.blocks.size(); ++i) {
    if (i == 12) {
      os << " ... " << f.blocks.size() - 12 << " more";
      break;
    }
    os << (i ? " " : "") << "0x" << std::hex << f.blocks[i].first << std::dec << "/" << f.blocks[i].second;
  }
  os << "}";
  return os.str();
}

// Where two flattened states first differ, for the failure report.
std::string difference(const flat& want, const flat& got) {
  std::ostringstream os;
  if (want.free_pages != got.free_pages) os << " NR_FREE_PAGES " << want.free_pages << " vs " << got.free_pages << ";";
  for (std::size_t o = 0; o < want.nr_free.size(); ++o)
    if (want.nr_free[o] != got.nr_free[o]) os << " nr_free[" << o << "] " << want.nr_free[o] << " vs " << got.nr_free[o] << ";";
  std::vector<std::pair<std::uint64_t, std::uint64_t>> only_want, only_got;
  std::set_difference(want.blocks.begin(), want.blocks.end(), got.blocks.begin(), got.blocks.end(), std::back_inserter(only_want));
  std::set_difference(got.blocks.begin(), got.blocks.end(), want.blocks.begin(), want.blocks.end(), std::back_inserter(only_got));
  for (const auto& [p, o] : only_want) os << " block 0x" << std::hex << p << std::dec << "/" << o << " only in the allocator;";
  for (const auto& [p, o] : only_got) os << " block 0x" << std::hex << p << std::dec << "/" << o << " only in the slots;";
  return os.str();
}

// ---------------------------------------------------------------------------------------
// Generated input

struct abs_machine {
  std::uint64_t start_pfn = 0, frames = 0;
  std::vector<mem_range> reserved;
  std::int64_t min_free_kbytes = 0;
};
void showValue(const abs_machine& m, std::ostream& os) {
  os << "zone DMA32 [0x" << std::hex << m.start_pfn << ", 0x" << m.start_pfn + m.frames << std::dec << ") " << m.frames
     << " frames, min_free_kbytes " << m.min_free_kbytes << ", reserved";
  for (const mem_range& r : m.reserved) os << " [0x" << std::hex << r.start_pfn << ", 0x" << r.end_pfn << std::dec << ")";
}

template <class T>
rc::Gen<T> uniform(T lo, T hi) {
  return rc::gen::resize(rc::kNominalSize, rc::gen::inRange<T>(lo, hi));
}

rc::Gen<abs_machine> gen_machine() {
  return rc::gen::exec([] {
    abs_machine m;
    m.frames = *rc::gen::weightedOneOf<std::uint64_t>(
        {{2, rc::gen::element<std::uint64_t>(64, 128, 256, 1024, 4096)},
         {2, uniform<std::uint64_t>(64, 512)},
         {1, uniform<std::uint64_t>(512, 4097)}});
    // In DMA32 (above MAX_DMA_PFN): an aligned start, or any.
    m.start_pfn = MAX_DMA_PFN + *rc::gen::weightedOneOf<std::uint64_t>(
                                    {{1, rc::gen::just<std::uint64_t>(0)}, {2, uniform<std::uint64_t>(0, 1 << 16)}});
    const int nreserved = *rc::gen::weightedElement<int>({{3, 0}, {2, 1}, {1, 3}});
    for (int i = 0; i < nreserved; ++i) {
      const std::uint64_t at = m.start_pfn + *uniform<std::uint64_t>(0, m.frames);
      m.reserved.push_back({at, std::min(at + *rc::gen::element<std::uint64_t>(1, 7, 100), m.start_pfn + m.frames)});
    }
    std::sort(m.reserved.begin(), m.reserved.end(), [](const mem_range& a, const mem_range& b) { return a.start_pfn < b.start_pfn; });
    m.min_free_kbytes = *rc::gen::element<std::int64_t>(0, 0, 16, 64, 128);
    return m;
  });
}

buddy_config config_of(const abs_machine& m) {
  buddy_config c;
  c.name = "abstraction";
  c.ram = {{m.start_pfn, m.start_pfn + m.frames}};
  // memblock.reserved may overlap; merge touching ranges as memblock does.
  for (const mem_range& r : m.reserved) {
    if (!c.reserved.empty() && r.start_pfn <= c.reserved.back().end_pfn)
      c.reserved.back().end_pfn = std::max(c.reserved.back().end_pfn, r.end_pfn);
    else
      c.reserved.push_back(r);
  }
  c.max_dma_pfn = MAX_DMA_PFN;
  c.max_dma32_pfn = MAX_DMA32_PFN;
  c.user_min_free_kbytes = m.min_free_kbytes;
  c.thp_enabled = false;
  return c;
}

// One step: allocate at `order`, or free the `pick`-th held block (mod the number held).
struct step {
  bool alloc = true;
  unsigned order = 0;
  std::uint64_t pick = 0;
};
void showValue(const step& s, std::ostream& os) {
  if (s.alloc)
    os << "alloc_pages(GFP_NOWAIT|__GFP_MOVABLE, " << s.order << ")";
  else
    os << "__free_pages(held block #" << s.pick << ")";
}

rc::Gen<step> gen_step() {
  return rc::gen::weightedOneOf<step>(
      {{5, rc::gen::map(rc::gen::weightedElement<unsigned>(
                            {{30, 0}, {10, 1}, {8, 2}, {7, 3}, {5, 4}, {4, 5}, {3, 6}, {2, 7}, {2, 8}, {2, 9}, {2, 10}}),
                        [](unsigned o) { return step{true, o, 0}; })},
       {5, rc::gen::map(rc::gen::arbitrary<std::uint64_t>(), [](std::uint64_t p) { return step{false, 0, p}; })}});
}

constexpr gfp_t ABS_GFP = GFP_NOWAIT | __GFP_MOVABLE | __GFP_NOWARN;

// ---------------------------------------------------------------------------------------
// The check

struct case_events {
  bool small_state = false, merged = false, merged3 = false, split = false, split3 = false, failed = false,
       refused = false;
};

struct case_state {
  page_alloc pa;
  std::vector<std::pair<std::uint64_t, unsigned>> held;  // blocks this case allocated, by head
  case_events ev;
};

[[noreturn]] void fail_step(std::size_t i, const step& st, const std::string& what) {
  RC_FAIL("abstraction (BD-PARTITION BD-ALIGN BD-COALESCED BD-ACCT) violated: alpha does not commute with step " +
          std::to_string(i) + " (" + rc::toString(st) + "): " + what);
}

// One step with alpha taken over K slots (K leaves room for what the step may add: expand gives
// back at most MAX_ORDER-1 halves, a free at most one block).
template <unsigned K>
void check_step(case_state& c, std::size_t i, const step& st, slot_variant v) {
  constexpr unsigned zi = ZONE_DMA32;
  page_alloc& pa = c.pa;
  const auto alpha_now = [&]() {
    if (!only_migratetype(pa, zi, MIGRATE_MOVABLE))
      fail_step(i, st, "left the regime: a non-MOVABLE free list of the zone holds a block");
    const auto s = alpha<K>(pa, zi, MIGRATE_MOVABLE);
    if (!s) fail_step(i, st, "more than K free blocks");
    return *s;
  };
  const slot_state<cword, K> before = alpha_now();
  if (flatten(before).blocks.size() <= SLOTS_K) c.ev.small_state = true;
  if (st.alloc) {
    const alloc_result r = pa.alloc_pages(ABS_GFP, st.order);
    const auto want = alloc_op(before, st.order, v);
    const flat after = flatten(alpha_now());
    if (!r.ok()) {
      // Refused: nothing may have changed. When rmqueue had a block, the watermark refused.
      if (after != flatten(before)) fail_step(i, st, "a refused allocation changed the free lists:" + difference(after, flatten(before)));
      (want.ok.v ? c.ev.refused : c.ev.failed) = true;
      return;
    }
    if (!want.ok.v) fail_step(i, st, "the allocator found a block where the slots have none of order >= " + std::to_string(st.order));
    if (*r.pfn != want.pfn.v) {
      std::ostringstream os;
      os << "the allocator handed out pfn 0x" << std::hex << *r.pfn << ", the slots 0x" << want.pfn.v;
      fail_step(i, st, os.str());
    }
    if (!want.state.fits.v) fail_step(i, st, "the slots ran out of room");
    const flat got = flatten(want.state);
    if (after != got)
      fail_step(i, st, "after the allocation:" + difference(after, got) + "\n  allocator " + show(after) + "\n  slots     " + show(got));
    const std::uint64_t depth = want.taken_order.v - st.order;
    c.ev.split = c.ev.split || depth >= 1;
    c.ev.split3 = c.ev.split3 || depth >= 3;
    c.held.emplace_back(*r.pfn, st.order);
  } else {
    if (c.held.empty()) return;
    const std::size_t k = st.pick % c.held.size();
    const auto [pfn, order] = c.held[k];
    c.held.erase(c.held.begin() + static_cast<std::ptrdiff_t>(k));
    const bd_error e = pa.__free_pages(pfn, order);
    if (e != bd_error::none) fail_step(i, st, std::string("__free_pages refused a held block: ") + bd_error_text(e));
    const auto want = slots_free(before, cword{pfn}, cword{order});
    if (!want.state.fits.v) fail_step(i, st, "the slots ran out of room");
    const flat after = flatten(alpha_now());
    const flat got = flatten(want.state);
    if (after != got)
      fail_step(i, st, "after the free:" + difference(after, got) + "\n  allocator " + show(after) + "\n  slots     " + show(got));
    const page& head = pa.page_at(want.merged_pfn.v);
    if (!(head.flags & PG_buddy) || head.order != want.merged_order.v)
      fail_step(i, st, "the block slots_free merged to is not a free head of its order in the allocator");
    c.ev.merged = c.ev.merged || want.merged_order.v > order;
    c.ev.merged3 = c.ev.merged3 || want.merged_order.v >= order + 3;
  }
}

void run_case(slot_variant v) {
  const abs_machine m = *gen_machine();
  const auto steps = *rc::gen::container<std::vector<step>>(gen_step());
  case_state c{page_alloc(config_of(m)), {}, {}};
  for (std::size_t i = 0; i < steps.size(); ++i) {
    // The smallest K that holds the state and what the step adds (at most 10 blocks).
    std::uint64_t blocks = 0;
    for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o) blocks += c.pa.zone_at(ZONE_DMA32).area[o].nr_free;
    if (blocks + MAX_ORDER <= 16)
      check_step<16>(c, i, steps[i], v);
    else if (blocks + MAX_ORDER <= 128)
      check_step<128>(c, i, steps[i], v);
    else if (blocks + MAX_ORDER <= 1024)
      check_step<1024>(c, i, steps[i], v);
    else
      check_step<4096>(c, i, steps[i], v);
  }
  if (c.ev.small_state) RC_TAG("a step from at most SLOTS_K free blocks");
  if (c.ev.merged) RC_TAG("free merged");
  if (c.ev.merged3) RC_TAG("free merged across >= 3 orders");
  if (c.ev.split) RC_TAG("alloc split a larger block");
  if (c.ev.split3) RC_TAG("alloc split >= 3 orders deep");
  if (c.ev.failed) RC_TAG("alloc found no block");
  if (c.ev.refused) RC_TAG("watermark refused a block rmqueue had");
}

}  // namespace

void register_buddy_abstraction(std::vector<property>& out, std::vector<property>& negative) {
  const std::vector<std::string> ids{"BD-PARTITION", "BD-ALIGN", "BD-COALESCED", "BD-ACCT"};
  out.push_back({"buddy_abstraction_commutes", ids, "commuting", 500, 200,
                 {{"a step from at most SLOTS_K free blocks", 0.3},
                  {"free merged", 0.5},
                  {"free merged across >= 3 orders", 0.15},
                  {"alloc split a larger block", 0.5},
                  {"alloc split >= 3 orders deep", 0.2},
                  {"alloc found no block", 0.02},
                  {"watermark refused a block rmqueue had", 0.02}},
                 make_property([] { run_case(slot_variant::real); })});
  negative.push_back({"negative__buddy_abstraction_expand_keeps_low_half", ids, "negative", 100, 30, {},
                      make_property([] { run_case(slot_variant::expand_keeps_low_half); })});
}

}  // namespace mmref::props
