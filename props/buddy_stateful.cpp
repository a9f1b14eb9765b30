// props/buddy_stateful.cpp — the buddy allocator's stateful test: allocations, frees,
// references, reclaim, fault injection, bad input and fragmentation against an abstract model,
// with BD-PARTITION, BD-ALIGN, BD-COALESCED, BD-ACCT, BD-WMARK and BD-REF checked after every
// command (refused bad input included) and the allocator compared with the model after every
// command.
//
// The abstract model (trusted base, docs/TRUSTED.md) is deliberately naive: the allocated
// blocks by head frame {order, refcount, compound, zone, page cache?} and the managed frames of
// each zone, counted from the memory map without the allocator (RAM less memblock-reserved
// ranges, split at the zone boundaries). Free pages of a zone are its managed frames less the
// pages of its allocated blocks. The model does not predict which frame an allocation returns
// (that is the allocator's choice): it learns the frame from the answer, checks that the answer
// is a block nobody holds, inside managed memory of a zone the gfp allows, and ended by an exit
// the gfp and the task permit; then the allocator's allocated set, orders, refcounts, compound
// heads and per-zone free counts must be exactly the model's.
//
// RapidCheck generates a whole command sequence before running it, so commands name blocks by
// handle (the n-th allocation of the sequence). A handle whose allocation failed, or whose
// block the reclaim hooks took, is skipped when it comes up. The generator's own state
// (bd_plan) knows only the handles and whether a Fragment happened; the abstract model
// (bd_model) lives beside the allocator and is updated by what the allocator answered.
//
// Machines: generated 1-64 MiB, with random zone boundaries (sometimes no DMA, no DMA32 or no
// NORMAL zone), a hole, memblock-reserved ranges, and random min_free_kbytes,
// watermark_scale_factor and THP; a second property runs longer sequences on the 4 GiB default
// machine, where Fragment exhausts ZONE_DMA only.
//
// Commands (each names the kernel function it drives):
//   AllocPages      alloc_pages / __get_free_pages: a realistic gfp composite with modifiers,
//                   order 0..11 biased small, in an ordinary, PF_MEMALLOC, OOM-victim or RT task
//   GetZeroedPage   get_zeroed_page: the frame must be zero in physical memory
//   FreePages       __free_pages / free_pages(address) with the block's order (B7 when shared)
//   GetPage/PutPage get_page / put_page: extra references
//   Reclaim         installs the kswapd, direct reclaim, compaction and OOM hooks: reclaim and
//                   a killed victim free the model's page cache (oldest first, unpinned only),
//                   zone reclaimable_pages follows it; kswapd may reclaim some now
//   FaultInjection  fail_page_alloc: fail the nth request (predicted exactly) or a seeded
//                   probability, min_order 0, ignore_gfp_reclaim off
//   BadInput        double free, free frame, wrong order, tail page, hole or reserved frame,
//                   beyond memory, two zone bits, MOVABLE|RECLAIMABLE, bits beyond the mask,
//                   bad address, last put_page of a plain high-order block, free_pages(0):
//                   each refused with its own error, the state digest unchanged
//   Fragment        takes every free page of a zone class at order 0, frees every other one:
//                   no block of order > 0 is left, and a request of order > 0 that may not
//                   reclaim fails; the rest stays as page cache
//
// Coverage is counted by the allocator (buddy_stats) and each case is tagged once. The events
// of the test's own scenario requests (Fragment's exhaustion and its probe) are subtracted, so
// an exit counts only when a generated request took it (merge_orders_max is a maximum and
// cannot be split: Fragment's frees never merge, the reclaim that follows may).
#include <rapidcheck.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "model/hex.hpp"
#include "impl/buddy/invariants.hpp"
#include "impl/buddy/page_alloc.hpp"
#include "props/pictures.hpp"
#include "props/registry.hpp"

namespace mmref::props {

namespace {

using namespace mmref::buddy;


constexpr std::uint64_t bit(unsigned order) { return std::uint64_t{1} << order; }

// A uniform draw from [lo, hi) whatever the size: rc::gen::inRange scales its range with the
// size, so that short sequences (and the first cases) would draw only the first few values.
template <class T>
rc::Gen<T> uniform(T lo, T hi) {
  return rc::gen::resize(rc::kNominalSize, rc::gen::inRange<T>(lo, hi));
}

constexpr const char* outcome_names[] = {
    "fast_path", "slow_path",  "invalid", "order_too_large", "fault_injected", "no_zone", "no_direct_reclaim",
    "pf_memalloc", "costly_noretry_compaction", "noretry", "costly", "retries_exhausted", "oom_victim",
    "nofail_no_reclaim", "would_loop_forever"};
static_assert(std::size(outcome_names) == static_cast<unsigned>(alloc_outcome::would_loop_forever) + 1);
static_assert(std::size(outcome_names) <= NR_ALLOC_OUTCOMES);
const char* name_of(alloc_outcome o) { return outcome_names[static_cast<unsigned>(o)]; }

// ---------------------------------------------------------------------------------------
// The kernel's rules the model judges answers by, restated naively.

// gfp_zone(): the highest zone a request may use (ZONE_MOVABLE needs __GFP_HIGHMEM |
// __GFP_MOVABLE; it is never populated here).
unsigned allowed_zone(gfp_t gfp) {
  if (gfp & __GFP_DMA) return ZONE_DMA;
  if (gfp & __GFP_DMA32) return ZONE_DMA32;
  if ((gfp & __GFP_HIGHMEM) && (gfp & __GFP_MOVABLE)) return ZONE_MOVABLE;
  return ZONE_NORMAL;
}
// Refused input: bits beyond __GFP_BITS_MASK, more than one of DMA/HIGHMEM/DMA32, both mobility bits.
bool gfp_valid(gfp_t gfp) {
  const int zone_bits = ((gfp & __GFP_DMA) != 0) + ((gfp & __GFP_HIGHMEM) != 0) + ((gfp & __GFP_DMA32) != 0);
  return !(gfp & ~__GFP_BITS_MASK) && zone_bits <= 1 && (gfp & GFP_MOVABLE_MASK) != GFP_MOVABLE_MASK;
}

// ---------------------------------------------------------------------------------------
// The machine of one case.

enum class variant {
  sound,
  corrupt_nr_free,  // negative: a command bumps an nr_free; BD-ACCT must catch it
  forget_b7,        // negative: the model forgets that __free_pages with other references
                    // frees a non-compound block's tail pages at once
};

struct bd_env {
  buddy_config cfg;
  variant v = variant::sound;
  bool big = false;  // the 4 GiB default machine: Fragment exhausts ZONE_DMA only
  std::uint64_t node_end = 0;
  std::vector<bool> managed_frame;                  // by pfn, below node_end
  std::array<std::uint64_t, MAX_NR_ZONES> managed{};
  std::array<bool, MAX_NR_ZONES> populated{};       // the zone has present (RAM) frames
  std::vector<mem_range> managed_ranges, unmanaged;  // unmanaged: pfn 0, holes, reserved
  std::uint64_t total_managed = 0, total_unmanaged = 0;

  unsigned zone_by_boundary(std::uint64_t pfn) const {
    return pfn < cfg.max_dma_pfn ? ZONE_DMA : pfn < cfg.max_dma32_pfn ? ZONE_DMA32 : ZONE_NORMAL;
  }
  bool is_managed(std::uint64_t pfn) const { return pfn < node_end && managed_frame[pfn]; }
  // The n-th frame (mod the total) of a list of ranges.
  static std::uint64_t nth_frame(const std::vector<mem_range>& rs, std::uint64_t total, std::uint64_t n) {
    if (total == 0) return 0;  // no managed memory at all (everything reserved)
    n %= total;
    for (const mem_range& r : rs) {
      if (n < r.end_pfn - r.start_pfn) return r.start_pfn + n;
      n -= r.end_pfn - r.start_pfn;
    }
    return rs.front().start_pfn;
  }
};

std::string describe(const buddy_config& c) {
  std::ostringstream os;
  os << c.name << ": RAM";
  for (const mem_range& r : c.ram) os << " [" << hex(r.start_pfn) << "," << hex(r.end_pfn) << ")";
  os << ", reserved";
  for (const mem_range& r : c.reserved) os << " [" << hex(r.start_pfn) << "," << hex(r.end_pfn) << ")";
  os << ", DMA below " << hex(c.max_dma_pfn) << ", DMA32 below " << hex(c.max_dma32_pfn)
     << ", min_free_kbytes " << c.user_min_free_kbytes << ", watermark_scale_factor " << c.watermark_scale_factor
     << ", THP " << (c.thp_enabled ? "on" : "off");
  return os.str();
}

// Managed frames: RAM less memblock-reserved ranges, frame by frame.
std::shared_ptr<const bd_env> make_env(const buddy_config& cfg, variant v, bool big) {
  auto e = std::make_shared<bd_env>();
  e->cfg = cfg;
  e->v = v;
  e->big = big;
  e->node_end = cfg.ram.back().end_pfn;
  e->managed_frame.assign(e->node_end, false);
  for (const mem_range& r : cfg.ram)
    for (std::uint64_t p = r.start_pfn; p < r.end_pfn; ++p) {
      e->managed_frame[p] = true;
      e->populated[e->zone_by_boundary(p)] = true;
    }
  for (const mem_range& r : cfg.reserved)
    for (std::uint64_t p = r.start_pfn; p < std::min(r.end_pfn, e->node_end); ++p) e->managed_frame[p] = false;
  for (std::uint64_t p = 0; p < e->node_end;) {
    std::uint64_t q = p;
    while (q < e->node_end && e->managed_frame[q] == e->managed_frame[p]) ++q;
    (e->managed_frame[p] ? e->managed_ranges : e->unmanaged).push_back({p, q});
    (e->managed_frame[p] ? e->total_managed : e->total_unmanaged) += q - p;
    p = q;
  }
  for (const mem_range& r : e->managed_ranges)
    for (std::uint64_t p = r.start_pfn; p < r.end_pfn; ++p) e->managed[e->zone_by_boundary(p)]++;
  return e;
}

struct machine_params {
  buddy_config cfg;
};
void showValue(const machine_params& m, std::ostream& os) { os << describe(m.cfg); }

rc::Gen<machine_params> gen_small_machine() {
  return rc::gen::exec([] {
    const std::uint64_t mib = *rc::gen::weightedOneOf<std::uint64_t>({{4, uniform<std::uint64_t>(1, 9)},
                                                                        {4, uniform<std::uint64_t>(9, 33)},
                                                                        {2, uniform<std::uint64_t>(33, 65)}});
    const std::uint64_t pages = mib << (20 - PAGE_SHIFT);
    std::vector<mem_range> holes;
    if (*uniform(0, 3) == 0) {
      const std::uint64_t start = *uniform<std::uint64_t>(16, pages / 2);
      const std::uint64_t len = *rc::gen::element<std::uint64_t>(1, 64, 300, 2000);
      holes.push_back({start, std::min(start + len, pages * 3 / 4)});
    }
    buddy_config c = buddy_config::from_machine(machine_config::small(mib, 4, *uniform(1u, 5u), holes));
    const std::uint64_t end = c.ram.back().end_pfn;
    // Zone boundaries: from_machine's (a quarter and a half of RAM below 16 MiB, else DMA below
    // 16 MiB and no NORMAL), or anywhere, sometimes leaving out DMA, DMA32 or NORMAL.
    const int layout = *uniform(0, 10);
    if (layout >= 2) {
      const std::uint64_t dma = layout <= 3 ? *rc::gen::element<std::uint64_t>(0, 1) : *uniform<std::uint64_t>(1, end + 1);
      const std::uint64_t dma32 = layout == 4 ? end : layout == 5 ? dma : *uniform<std::uint64_t>(dma, end + 1);
      c.max_dma_pfn = dma;
      c.max_dma32_pfn = dma32;
    }
    const int nreserved = *uniform(0, 4);
    for (int i = 0; i < nreserved; ++i) {
      const std::uint64_t start = *uniform<std::uint64_t>(c.ram.front().start_pfn, end);
      c.reserved.push_back({start, start + *rc::gen::element<std::uint64_t>(1, 3, 64, 512, 1500)});
    }
    c.user_min_free_kbytes = *rc::gen::element<std::int64_t>(-1, -1, -1, -1, -1, -1, 0, 128, 1024, 4096);
    c.watermark_scale_factor = *rc::gen::element<std::uint64_t>(10, 10, 10, 10, 1, 200, 1000);
    c.thp_enabled = *rc::gen::element(true, false);
    const std::string bad = c.validate();
    if (!bad.empty()) RC_FAIL("generated an invalid machine (" + bad + "): " + describe(c));
    return machine_params{c};
  });
}

// ---------------------------------------------------------------------------------------
// The abstract model. Trusted base: keep it naive.

struct blk {
  unsigned order = 0;
  int refcount = 1;
  bool compound = false;
  unsigned zone = 0;
  bool cache = false;     // page cache: what the reclaim and OOM hooks may free
  long handle = -1;       // the plan's handle, or -1 (Fragment's pages)
  std::uint64_t age = 0;  // allocation sequence number: reclaim frees the oldest first
};

struct bd_model {
  std::map<std::uint64_t, blk> blocks;                    // allocated blocks by head frame
  std::map<long, std::uint64_t> handles;                  // plan handle -> head frame
  std::set<std::pair<std::uint64_t, std::uint64_t>> lru;  // (age, head) of page-cache blocks
  std::array<std::uint64_t, MAX_NR_ZONES> managed{};
  std::array<std::uint64_t, MAX_NR_ZONES> cache_pages{};  // kept incrementally for the hooks
  std::uint64_t age = 0;
  bool b7 = true;  // __free_pages frees a shared non-compound block's tails at once
  // fail_page_alloc as FaultInjection armed it.
  std::uint64_t fail_nth = 0;
  bool fail_random = false;

  // The block holding pfn, or nullptr.
  const blk* covering(std::uint64_t pfn) const {
    auto it = blocks.upper_bound(pfn);
    if (it == blocks.begin()) return nullptr;
    --it;
    return pfn - it->first < bit(it->second.order) ? &it->second : nullptr;
  }
  bool overlaps(std::uint64_t pfn, unsigned order) const {
    const auto next = blocks.lower_bound(pfn);
    return covering(pfn) || (next != blocks.end() && next->first < pfn + bit(order));
  }
  void add(std::uint64_t pfn, blk b) {
    b.age = age++;
    if (b.cache) {
      lru.insert({b.age, pfn});
      cache_pages[b.zone] += bit(b.order);
    }
    if (b.handle >= 0) handles[b.handle] = pfn;
    blocks[pfn] = b;
  }
  void make_cache(std::uint64_t pfn) {
    blk& b = blocks.at(pfn);
    if (b.cache) return;
    b.cache = true;
    lru.insert({b.age, pfn});
    cache_pages[b.zone] += bit(b.order);
  }
  void remove(std::uint64_t pfn) {
    const blk b = blocks.at(pfn);
    if (b.cache) {
      lru.erase({b.age, pfn});
      cache_pages[b.zone] -= bit(b.order);
    }
    if (b.handle >= 0) handles.erase(b.handle);
    blocks.erase(pfn);
  }
  // __free_pages(pfn, order): drop a reference; the last one frees the block. With references
  // left, a non-compound block frees every page but the first now (B7) and stays as order 0.
  void free_pages(std::uint64_t pfn) {
    blk& b = blocks.at(pfn);
    if (--b.refcount == 0) return remove(pfn);
    if (b7 && !b.compound && b.order > 0) {
      if (b.cache) cache_pages[b.zone] -= bit(b.order) - 1;
      b.order = 0;
    }
  }
  // put_page(pfn): drop a reference; the last one frees the block whole.
  void put_page(std::uint64_t pfn) {
    if (--blocks.at(pfn).refcount == 0) remove(pfn);
  }
  // put_page refuses the last reference of a non-compound block of order > 0.
  static bool put_page_refused(const blk& b) { return b.refcount == 1 && b.order > 0 && !b.compound; }
};

// ---------------------------------------------------------------------------------------
// The system under test: the allocator, the model beside it, and the hooks that play reclaim.

struct hook_cfg {
  unsigned reclaim_batch = 0;  // page-cache blocks try_to_free_pages frees per call
  int oom = 0;                 // 0: no victim; 1: a victim whose pages are freed; 2: a victim
                               //    that frees nothing yet (the OOM reaper is late)
  compact_result compact = compact_result::COMPACT_SKIPPED;
  unsigned kswapd_batch = 0;   // page-cache blocks each kswapd wakeup frees
};

struct bd_sut {
  std::shared_ptr<const bd_env> env;
  std::unique_ptr<page_alloc> pa;
  bd_model m;
  hook_cfg hooks;
  buddy_stats scenario{};  // events of Fragment's own requests: not coverage
  std::optional<std::pair<std::uint64_t, unsigned>> last_freed;
  explicit bd_sut(std::shared_ptr<const bd_env> e) : env(std::move(e)), pa(std::make_unique<page_alloc>(env->cfg)) {
    m.managed = env->managed;
    m.b7 = env->v != variant::forget_b7;
  }
};

// zone_reclaimable_pages() follows the model's page cache.
void sync_reclaimable(bd_sut& w) {
  for (unsigned z = 0; z < MAX_NR_ZONES; ++z) w.pa->zone_for_test(z).reclaimable_pages = w.m.cache_pages[z];
}

// Reclaim: frees up to n page-cache blocks, oldest first, skipping pinned ones (refcount > 1).
// Returns the pages freed.
std::uint64_t reclaim(bd_sut& w, std::uint64_t n) {
  std::uint64_t pages = 0;
  for (auto it = w.m.lru.begin(); it != w.m.lru.end() && n > 0;) {
    const std::uint64_t pfn = it->second;
    ++it;
    const blk& b = w.m.blocks.at(pfn);
    if (b.refcount != 1) continue;
    const unsigned order = b.order;
    const bd_error e = w.pa->__free_pages(pfn, order);
    if (e != bd_error::none)
      RC_FAIL("reclaim: __free_pages(" + hex(pfn) + ", " + std::to_string(order) + ") refused: " + bd_error_text(e));
    w.m.remove(pfn);
    pages += bit(order);
    --n;
  }
  sync_reclaimable(w);
  return pages;
}

void install_hooks(bd_sut& w) {
  alloc_hooks& h = w.pa->hooks;
  h.wakeup_kswapd = [&w](page_alloc& a, unsigned, unsigned, gfp_t) {
    for (unsigned z = 0; z < MAX_NR_ZONES; ++z) a.zone_for_test(z).watermark_boost = 0;  // as balance_pgdat ends
    reclaim(w, w.hooks.kswapd_batch);
  };
  h.try_to_free_pages = [&w](page_alloc&, unsigned, gfp_t) { return reclaim(w, w.hooks.reclaim_batch); };
  h.try_to_compact_pages = [&w](page_alloc&, unsigned, gfp_t, compact_priority) { return w.hooks.compact; };
  h.out_of_memory = [&w](page_alloc&, unsigned, gfp_t) {
    if (w.hooks.oom == 1) reclaim(w, 64);
    return w.hooks.oom != 0;
  };
}

// A state digest: every struct page, list, counter and pageblock type. Bad input must leave it
// exactly as it was.
std::uint64_t digest(const page_alloc& pa) {
  std::uint64_t h = 1469598103934665603ull;
  const auto mix = [&h](std::uint64_t x) {
    h = (h ^ x) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
  };
  for (unsigned z = 0; z < pa.zones().size(); ++z) {
    const zone& Z = pa.zone_at(z);
    mix(static_cast<std::uint64_t>(Z.free_pages));
    mix(Z.managed_pages);
    mix(Z.watermark_boost);
    mix(Z.boosted_watermark);
    mix(Z.nr_reserved_highatomic);
    mix(Z.reclaimable_pages);
    for (unsigned i = 0; i < NR_WMARK; ++i) mix(Z._watermark[i]);
    for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o) {
      mix(Z.area[o].nr_free);
      for (unsigned mt = 0; mt < MIGRATE_TYPES; ++mt) {
        for (std::uint64_t pfn : pa.free_list(z, o, mt)) mix(pfn);
        mix(~std::uint64_t{0});
      }
    }
  }
  for (std::uint64_t pfn = pa.memmap_start(); pfn < pa.memmap_end(); ++pfn) {
    const page& p = pa.page_at(pfn);
    mix(std::uint64_t{p.flags} | std::uint64_t{p.zone} << 8 | std::uint64_t{p.order} << 16 | std::uint64_t{p.list_mt} << 24 |
        std::uint64_t{p.alloc_order} << 32 | std::uint64_t{static_cast<std::uint32_t>(p._refcount)} << 40);
    mix(std::uint64_t{p.lru_prev} << 32 | p.lru_next);
    if ((pfn - pa.memmap_start()) % pageblock_nr_pages == 0) mix(pa.get_pageblock_migratetype(pfn));
  }
  return h;
}

// The model against the allocator: the allocated set with orders, refcounts and compound heads;
// managed and free pages per zone; the reclaimable counter.
std::string model_disagrees(const bd_sut& w) {
  const page_alloc& pa = *w.pa;
  std::ostringstream os;
  int notes = 0;
  const auto note = [&](const std::string& s) {
    if (notes++ < 12) os << "  " << s << "\n";
  };
  std::array<std::uint64_t, MAX_NR_ZONES> allocated{}, cache{};
  for (const auto& [pfn, b] : w.m.blocks) {
    allocated[b.zone] += bit(b.order);
    if (b.cache) cache[b.zone] += bit(b.order);
    const std::optional<unsigned> o = pa.allocated_order(pfn);
    if (!o) note("BD-PARTITION (model): block " + hex(pfn) + " order " + std::to_string(b.order) +
                 " is allocated in the model but not in the allocator");
  }
  for (std::uint64_t pfn = pa.memmap_start(); pfn < pa.memmap_end(); ++pfn) {
    const page& p = pa.page_at(pfn);
    if (!(p.flags & PG_alloc)) continue;
    const auto it = w.m.blocks.find(pfn);
    if (it == w.m.blocks.end()) {
      note("BD-PARTITION (model): block " + hex(pfn) + " order " + std::to_string(p.alloc_order) +
           " is allocated in the allocator but not in the model");
      continue;
    }
    const blk& b = it->second;
    if (p.alloc_order != b.order)
      note("BD-PARTITION (model): block " + hex(pfn) + " has order " + std::to_string(p.alloc_order) +
           " in the allocator, " + std::to_string(b.order) + " in the model");
    if (p._refcount != b.refcount)
      note("BD-REF (model): block " + hex(pfn) + " has refcount " + std::to_string(p._refcount) + " in the allocator, " +
           std::to_string(b.refcount) + " in the model");
    if (((p.flags & PG_head) != 0) != b.compound)
      note("BD-PARTITION (model): block " + hex(pfn) + " is " + ((p.flags & PG_head) ? "" : "not ") +
           "a compound head in the allocator");
  }
  for (unsigned z = 0; z < MAX_NR_ZONES; ++z) {
    const zone& Z = pa.zone_at(z);
    const std::string name = zone_names[z];
    if (Z.managed_pages != w.m.managed[z])
      note("BD-ACCT (model): " + name + " manages " + std::to_string(Z.managed_pages) + " pages; RAM less reserved is " +
           std::to_string(w.m.managed[z]));
    const std::int64_t model_free = static_cast<std::int64_t>(w.m.managed[z]) - static_cast<std::int64_t>(allocated[z]);
    if (Z.free_pages != model_free)
      note("BD-ACCT (model): " + name + " NR_FREE_PAGES is " + std::to_string(Z.free_pages) + "; the model has managed " +
           std::to_string(w.m.managed[z]) + " - allocated " + std::to_string(allocated[z]) + " = " +
           std::to_string(model_free));
    if (Z.reclaimable_pages != cache[z])
      note(name + " reclaimable_pages is " + std::to_string(Z.reclaimable_pages) + "; the model's page cache there is " +
           std::to_string(cache[z]));
  }
  if (notes > 12) os << "  ... " << (notes - 12) << " more\n";
  return os.str();
}

// After every command: the invariants hold, and the allocator is what the model says.
void check_after(const bd_sut& w, const std::string& after) {
  const std::vector<violation> v = check_buddy(*w.pa);
  if (!v.empty()) RC_FAIL("after " + after + ":\n" + buddy_report(v, *w.pa) + "machine: " + describe(w.env->cfg));
  const std::string d = model_disagrees(w);
  if (!d.empty())
    RC_FAIL("after " + after + ": the allocator and the model disagree\n" + d + "state judged:\n" + dump_buddy(*w.pa) +
            "machine: " + describe(w.env->cfg));
}

// Whether an allocation's answer is one the kernel's rules allow; "" when it is.
struct fault_pred {
  bool must = false, may = false;
};
fault_pred predict_fault(bd_model& m, gfp_t gfp, unsigned order) {
  // should_fail_alloc_page() with what FaultInjection arms: min_order 0, ignore_gfp_reclaim
  // off, ignore_gfp_highmem on (the kernel's default); __GFP_NOFAIL is never failed.
  if (order >= MAX_ORDER || !gfp_valid(gfp) || (gfp & __GFP_NOFAIL) || (gfp & __GFP_HIGHMEM)) return {};
  if (m.fail_nth) return {--m.fail_nth == 0, false};
  return {false, m.fail_random};
}

std::string judge(const bd_env& env, gfp_t gfp, unsigned order, const task_context& t, fault_pred fp, const alloc_result& r) {
  const alloc_outcome o = r.outcome;
  const bool ok_outcome = o == alloc_outcome::fast_path || o == alloc_outcome::slow_path;
  if (r.pfn.has_value() != ok_outcome) return "a page came with a failure outcome, or none with a success";
  if (order >= MAX_ORDER) {
    if (o != alloc_outcome::order_too_large) return "order >= MAX_ORDER must end order_too_large";
    if (r.warning.empty() != ((gfp & __GFP_NOWARN) != 0)) return "order >= MAX_ORDER warns unless __GFP_NOWARN";
    return "";
  }
  if (fp.must && o != alloc_outcome::fault_injected) return "fail_page_alloc's nth request was not failed";
  if (o == alloc_outcome::fault_injected) return fp.must || fp.may ? "" : "failed by fault injection that was not armed for it";
  const bool reclaim = gfp & __GFP_DIRECT_RECLAIM, nofail = gfp & __GFP_NOFAIL, noretry = gfp & __GFP_NORETRY;
  bool any_zone = false;
  for (unsigned z = 0; z <= allowed_zone(gfp) && z < MAX_NR_ZONES; ++z) any_zone |= env.populated[z];
  if (!any_zone) {
    // No zone: nopage at once; __GFP_NOFAIL then warns (no reclaim) or retries forever.
    const alloc_outcome want = !nofail ? alloc_outcome::no_zone
                               : reclaim ? alloc_outcome::would_loop_forever
                                         : alloc_outcome::nofail_no_reclaim;
    return o == want ? "" : std::string("no populated zone is allowed: must end ") + name_of(want);
  }
  if (ok_outcome) return r.zone <= allowed_zone(gfp) ? "" : "the page came from a zone above what the gfp allows";
  const bool costly = order > PAGE_ALLOC_COSTLY_ORDER, mayfail = gfp & __GFP_RETRY_MAYFAIL;
  bool allowed = false;
  switch (o) {
    case alloc_outcome::no_zone: allowed = false; break;
    case alloc_outcome::no_direct_reclaim: allowed = !reclaim && !nofail; break;
    case alloc_outcome::nofail_no_reclaim: allowed = !reclaim && nofail; break;
    case alloc_outcome::pf_memalloc: allowed = reclaim && !nofail && t.pf_memalloc; break;
    case alloc_outcome::costly_noretry_compaction: allowed = reclaim && !nofail && costly && noretry; break;
    case alloc_outcome::noretry: allowed = reclaim && !nofail && noretry; break;
    case alloc_outcome::costly: allowed = reclaim && !nofail && costly && !mayfail; break;
    case alloc_outcome::oom_victim: allowed = reclaim && !nofail && t.oom_victim; break;
    case alloc_outcome::retries_exhausted: allowed = reclaim && !nofail && !noretry && (!costly || mayfail); break;
    case alloc_outcome::would_loop_forever: allowed = reclaim && (nofail || (!noretry && (!costly || mayfail))); break;
    default: allowed = false; break;
  }
  return allowed ? "" : std::string("exit ") + name_of(o) + " is not one this gfp and task can take";
}

enum class api { alloc_pages, get_free_pages, get_zeroed_page };
const char* api_name(api a) {
  return a == api::alloc_pages ? "alloc_pages" : a == api::get_free_pages ? "__get_free_pages" : "get_zeroed_page";
}

std::string task_name(const task_context& t) {
  return t.pf_memalloc ? "PF_MEMALLOC" : t.oom_victim ? "oom_victim" : t.rt_task ? "rt_task" : "-";
}

// One allocation through one API, judged; on success the model gains the block.
alloc_result do_alloc(bd_sut& w, api how, gfp_t gfp, unsigned order, const task_context& task, long handle, bool cache,
                      const std::string& what) {
  page_alloc& pa = *w.pa;
  gfp_t eff = gfp;  // what reaches __alloc_pages
  if (how == api::get_zeroed_page) eff |= __GFP_ZERO, order = 0;
  if (how != api::alloc_pages) eff &= ~__GFP_HIGHMEM;
  const task_context t = how == api::alloc_pages ? task : task_context{};
  const fault_pred fp = predict_fault(w.m, eff, order);
  const std::uint64_t before = order >= MAX_ORDER ? digest(pa) : 0;
  alloc_result r;
  std::uint64_t addr = 0;
  switch (how) {
    case api::alloc_pages: r = pa.alloc_pages(gfp, order, t); break;
    case api::get_free_pages: addr = pa.__get_free_pages(gfp, order, &r); break;
    case api::get_zeroed_page: addr = pa.get_zeroed_page(gfp, &r); break;
  }
  const std::string result = std::string(" -> ") + name_of(r.outcome) + (r.pfn ? " pfn " + hex(*r.pfn) : "") +
                             " zone " + std::to_string(r.zone) + " retries " + std::to_string(r.retries);
  if (how != api::alloc_pages && addr != (r.pfn ? pa.page_address(*r.pfn) : 0))
    RC_FAIL(what + result + ": the returned address is not the page's direct-map address");
  if (const std::string why = judge(*w.env, eff, order, t, fp, r); !why.empty()) RC_FAIL(what + result + ": " + why);
  if (order >= MAX_ORDER && digest(pa) != before) RC_FAIL(what + result + ": the refused request changed the state");
  if (!r.pfn) return r;
  const std::uint64_t pfn = *r.pfn;
  if (pfn & (bit(order) - 1)) RC_FAIL(what + result + ": the block is not aligned to its order");
  for (std::uint64_t p = pfn; p < pfn + bit(order); ++p)
    if (!w.env->is_managed(p) || w.env->zone_by_boundary(p) != r.zone)
      RC_FAIL(what + result + ": frame " + hex(p) + " is not managed memory of zone " + std::to_string(r.zone));
  if (w.m.overlaps(pfn, order)) RC_FAIL(what + result + ": the block overlaps a block the model holds");
  if (eff & __GFP_ZERO) {
    for (std::uint64_t p = pfn; p < pfn + bit(order); ++p)
      if (!pa.memory().frame_is_zero(p)) RC_FAIL(what + result + ": frame " + hex(p) + " is not zero");
  } else {
    // The caller uses the memory: later zeroed allocations must not see it.
    for (std::uint64_t p = pfn; p < pfn + std::min<std::uint64_t>(bit(order), 4); ++p)
      pa.memory().write_u64((p << PAGE_SHIFT) + 8 * (p % 512), 0x6d6d726566000000ull | (p & 0xffffff));
  }
  blk b;
  b.order = order;
  b.compound = (eff & __GFP_COMP) && order > 0;
  b.zone = r.zone;
  b.cache = cache;
  b.handle = handle;
  w.m.add(pfn, b);
  if (cache) sync_reclaimable(w);
  return r;
}

// ---------------------------------------------------------------------------------------
// The generator's state: handles, and whether memory was fragmented.

struct planned {
  unsigned order = 0;
  bool compound = false;
  unsigned extra = 0;  // references taken by GetPage
};

struct bd_plan {
  std::shared_ptr<const bd_env> env;
  std::map<long, planned> live;
  long next = 0;
  int pressure = -1;  // the zone class the last Fragment exhausted, or -1
};

using bd_command = rc::state::Command<bd_plan, bd_sut>;

std::string show_of(const bd_command& c) {
  std::ostringstream os;
  c.show(os);
  return os.str();
}

// Realistic composites (include/linux/gfp_types.h) and the users they stand for.
struct gfp_choice {
  std::size_t weight;
  gfp_t gfp;
};
constexpr gfp_choice gfp_list[] = {
    {6, GFP_KERNEL},
    {2, GFP_KERNEL_ACCOUNT},
    {4, GFP_ATOMIC},
    {3, GFP_NOWAIT},
    {2, GFP_NOIO},
    {3, GFP_NOFS},
    {3, GFP_USER},
    {2, GFP_DMA},                       // bare: no reclaim, not even kswapd
    {2, GFP_KERNEL | GFP_DMA},          // ISA-era drivers
    {1, GFP_ATOMIC | GFP_DMA},
    {1, GFP_NOIO | GFP_DMA},
    {2, GFP_DMA32},
    {2, GFP_KERNEL | GFP_DMA32},        // 32-bit DMA masks
    {1, GFP_NOFS | GFP_DMA32},
    {4, GFP_HIGHUSER_MOVABLE},          // page cache, anonymous memory
    {2, GFP_USER | __GFP_MOVABLE},
    {2, GFP_KERNEL | __GFP_RECLAIMABLE},  // reclaimable slabs (dentries, inodes)
    {1, GFP_NOFS | __GFP_RECLAIMABLE},
    {1, GFP_NOWAIT | __GFP_RECLAIMABLE},
    {1, GFP_TRANSHUGE},
    {1, GFP_TRANSHUGE_LIGHT},
};

rc::Gen<gfp_t> gen_gfp(int pressure) {
  return rc::gen::exec([pressure] {
    // After a Fragment, mostly requests that can only use the exhausted zones.
    const bool in_class = pressure >= 0 && *uniform(0, 10) >= 4;
    std::vector<gfp_t> pool;
    std::size_t total = 0;
    for (const gfp_choice& c : gfp_list)
      if (!in_class || allowed_zone(c.gfp) <= static_cast<unsigned>(pressure)) total += c.weight;
    std::size_t pick = *uniform<std::size_t>(0, total);
    gfp_t gfp = 0;
    for (const gfp_choice& c : gfp_list) {
      if (in_class && allowed_zone(c.gfp) > static_cast<unsigned>(pressure)) continue;
      if (pick < c.weight) {
        gfp = c.gfp;
        break;
      }
      pick -= c.weight;
    }
    const auto with = [](int percent) { return *uniform(0, 100) >= 100 - percent; };  // shrinks to "without"
    // Under pressure the modifiers that pick slow-path exits come more often.
    const bool p = pressure >= 0;
    if (with(p ? 30 : 15)) gfp |= __GFP_NORETRY;
    if (with(30)) gfp |= __GFP_NOWARN;
    if (with(20)) gfp |= __GFP_COMP;
    if (with(10)) gfp |= __GFP_RETRY_MAYFAIL;
    if (with(p ? 12 : 6)) gfp |= __GFP_NOFAIL;
    if (with(5)) gfp |= __GFP_MEMALLOC;
    if (with(8)) gfp |= __GFP_ZERO;
    return gfp;
  });
}

rc::Gen<unsigned> gen_order(int pressure) {
  if (pressure >= 0)
    return rc::gen::weightedOneOf<unsigned>(
        {{3, rc::gen::weightedElement<unsigned>({{30, 0}, {10, 1}, {8, 2}, {7, 3}, {5, 4}, {3, 5}, {2, 6}, {2, 8}, {3, 10}, {3, 11}})},
         {5, rc::gen::weightedElement<unsigned>({{4, 1}, {3, 2}, {3, 3}, {3, 4}, {2, 5}, {1, 6}, {1, 7}, {1, 9}})}});
  return rc::gen::weightedElement<unsigned>(
      {{30, 0}, {10, 1}, {8, 2}, {7, 3}, {5, 4}, {3, 5}, {2, 6}, {2, 7}, {2, 8}, {2, 9}, {3, 10}, {3, 11}});
}

// The task: mostly an ordinary one; under pressure more often a reclaimer (PF_MEMALLOC) or an
// OOM victim, whose exits need a request that fails even on the reserves.
rc::Gen<task_context> gen_task(int pressure) {
  const bool p = pressure >= 0;
  return rc::gen::weightedElement<task_context>({{p ? 40u : 80u, task_context{}},
                                                 {p ? 18u : 7u, task_context{true, false, false}},
                                                 {p ? 30u : 7u, task_context{false, true, false}},
                                                 {p ? 12u : 6u, task_context{false, false, true}}});
}

// ---------------------------------------------------------------------------------------
// Commands. `apply` moves the plan; `run` does the operation on the allocator, judges the
// answer, moves the model, then checks everything.

struct AllocPages : bd_command {
  long id;
  gfp_t gfp;
  unsigned order;
  task_context task;
  api how;
  bool cache;
  explicit AllocPages(const bd_plan& s)
      : id(s.next), gfp(*gen_gfp(s.pressure)), order(*gen_order(s.pressure)), task(*gen_task(s.pressure)),
        how(*rc::gen::weightedElement<api>({{4, api::alloc_pages}, {1, api::get_free_pages}})),
        cache((gfp & __GFP_MOVABLE) && *uniform(0, 3) != 0) {}
  void checkPreconditions(const bd_plan& s) const override { RC_PRE(id >= s.next); }
  void apply(bd_plan& s) const override {
    s.next = id + 1;
    if (order < MAX_ORDER) s.live[id] = {order, (gfp & __GFP_COMP) && order > 0, 0};
  }
  void run(const bd_plan&, bd_sut& w) const override {
    do_alloc(w, how, gfp, order, task, id, cache, show_of(*this));
    check_after(w, show_of(*this));
  }
  void show(std::ostream& os) const override {
    os << "AllocPages(#" << id << ", " << gfp_text(gfp) << ", order " << order << ", " << api_name(how);
    if (how == api::alloc_pages) os << ", task " << task_name(task);
    os << (cache ? ", page cache" : "") << ")";
  }
};

struct GetZeroedPage : bd_command {
  long id;
  gfp_t gfp;
  explicit GetZeroedPage(const bd_plan& s) : id(s.next), gfp(*gen_gfp(s.pressure) & ~__GFP_COMP) {}
  void checkPreconditions(const bd_plan& s) const override { RC_PRE(id >= s.next); }
  void apply(bd_plan& s) const override {
    s.next = id + 1;
    s.live[id] = {0, false, 0};
  }
  void run(const bd_plan&, bd_sut& w) const override {
    do_alloc(w, api::get_zeroed_page, gfp, 0, {}, id, false, show_of(*this));
    check_after(w, show_of(*this));
  }
  void show(std::ostream& os) const override { os << "GetZeroedPage(#" << id << ", " << gfp_text(gfp) << ")"; }
};

// A handle of the plan, for the commands that act on a block.
long pick_handle(const bd_plan& s, bool for_put) {
  std::vector<long> ids;
  for (const auto& [id, p] : s.live)
    if (!for_put || p.extra > 0 || p.order == 0 || p.compound) ids.push_back(id);
  return ids.empty() ? -1 : *rc::gen::elementOf(ids);
}

struct FreePages : bd_command {
  long id;
  bool by_address;
  explicit FreePages(const bd_plan& s) : id(pick_handle(s, false)), by_address(*uniform(0, 3) == 0) {}
  void checkPreconditions(const bd_plan& s) const override { RC_PRE(s.live.count(id) > 0); }
  void apply(bd_plan& s) const override {
    planned& p = s.live.at(id);
    if (p.extra == 0) return void(s.live.erase(id));
    --p.extra;
    if (!p.compound) p.order = 0;
  }
  void run(const bd_plan&, bd_sut& w) const override {
    const auto h = w.m.handles.find(id);
    if (h != w.m.handles.end()) {
      const std::uint64_t pfn = h->second;
      const blk b = w.m.blocks.at(pfn);
      const bd_error e =
          by_address ? w.pa->free_pages(w.pa->page_address(pfn), b.order) : w.pa->__free_pages(pfn, b.order);
      if (e != bd_error::none) RC_FAIL(show_of(*this) + ": freeing block " + hex(pfn) + " order " + std::to_string(b.order) +
                                       " was refused: " + bd_error_text(e));
      if (b.refcount == 1) w.last_freed = {pfn, b.order};
      w.m.free_pages(pfn);
      if (b.cache) sync_reclaimable(w);
    }
    check_after(w, show_of(*this));
  }
  void show(std::ostream& os) const override { os << "FreePages(#" << id << (by_address ? ", free_pages(address)" : "") << ")"; }
};

struct GetPage : bd_command {
  long id;
  explicit GetPage(const bd_plan& s) : id(pick_handle(s, false)) {}
  void checkPreconditions(const bd_plan& s) const override { RC_PRE(s.live.count(id) > 0); }
  void apply(bd_plan& s) const override { s.live.at(id).extra++; }
  void run(const bd_plan&, bd_sut& w) const override {
    const auto h = w.m.handles.find(id);
    if (h != w.m.handles.end()) {
      const bd_error e = w.pa->get_page(h->second);
      if (e != bd_error::none) RC_FAIL(show_of(*this) + ": get_page(" + hex(h->second) + ") refused: " + bd_error_text(e));
      w.m.blocks.at(h->second).refcount++;
    }
    check_after(w, show_of(*this));
  }
  void show(std::ostream& os) const override { os << "GetPage(#" << id << ")"; }
};

struct PutPage : bd_command {
  long id;
  explicit PutPage(const bd_plan& s) : id(pick_handle(s, true)) {}
  void checkPreconditions(const bd_plan& s) const override {
    RC_PRE(s.live.count(id) > 0);
    const planned& p = s.live.at(id);
    RC_PRE(p.extra > 0 || p.order == 0 || p.compound);
  }
  void apply(bd_plan& s) const override {
    planned& p = s.live.at(id);
    if (p.extra > 0) --p.extra;
    else s.live.erase(id);
  }
  void run(const bd_plan&, bd_sut& w) const override {
    const auto h = w.m.handles.find(id);
    if (h != w.m.handles.end()) {
      const std::uint64_t pfn = h->second;
      const blk b = w.m.blocks.at(pfn);
      const bd_error expect = bd_model::put_page_refused(b) ? bd_error::wrong_order : bd_error::none;
      const bd_error e = w.pa->put_page(pfn);
      if (e != expect)
        RC_FAIL(show_of(*this) + ": put_page(" + hex(pfn) + ") said '" + bd_error_text(e) + "', expected '" +
                bd_error_text(expect) + "'");
      if (e == bd_error::none) w.m.put_page(pfn);
      if (b.cache) sync_reclaimable(w);
    }
    check_after(w, show_of(*this));
  }
  void show(std::ostream& os) const override { os << "PutPage(#" << id << ")"; }
};

const char* compact_name(compact_result r) {
  switch (r) {
    case compact_result::COMPACT_SKIPPED: return "SKIPPED";
    case compact_result::COMPACT_DEFERRED: return "DEFERRED";
    case compact_result::COMPACT_CONTINUE: return "CONTINUE";
    case compact_result::COMPACT_COMPLETE: return "COMPLETE";
    case compact_result::COMPACT_PARTIAL_SKIPPED: return "PARTIAL_SKIPPED";
    case compact_result::COMPACT_SUCCESS: return "SUCCESS";
    default: return "?";
  }
}

constexpr std::uint64_t ALL = ~std::uint64_t{0};

// Installs the reclaim, compaction, kswapd and OOM hooks with new parameters, and lets kswapd
// reclaim some page cache now. Nothing moves pages but reclaim: compaction only reports.
struct Reclaim : bd_command {
  hook_cfg cfg;
  std::uint64_t now;
  explicit Reclaim(const bd_plan&)
      : cfg{*rc::gen::element(0u, 0u, 1u, 4u, 32u), *rc::gen::element(0, 1, 2),
            *rc::gen::element(compact_result::COMPACT_SKIPPED, compact_result::COMPACT_DEFERRED,
                              compact_result::COMPACT_CONTINUE, compact_result::COMPACT_COMPLETE,
                              compact_result::COMPACT_PARTIAL_SKIPPED, compact_result::COMPACT_SUCCESS),
            *rc::gen::element(0u, 0u, 1u, 8u)},
        now(*rc::gen::element<std::uint64_t>(0, 0, 8, 64, ALL)) {}
  void apply(bd_plan& s) const override {
    if (now == ALL) s.pressure = -1;
  }
  void run(const bd_plan&, bd_sut& w) const override {
    w.hooks = cfg;
    install_hooks(w);
    reclaim(w, now);
    check_after(w, show_of(*this));
  }
  void show(std::ostream& os) const override {
    os << "Reclaim(direct " << cfg.reclaim_batch << ", oom " << (cfg.oom == 0 ? "no victim" : cfg.oom == 1 ? "kill" : "late")
       << ", compaction " << compact_name(cfg.compact) << ", kswapd " << cfg.kswapd_batch << ", now "
       << (now == ALL ? std::string("all") : std::to_string(now)) << ")";
  }
};

struct FaultInjection : bd_command {
  int mode;  // 0 off, 1 nth, 2 probability
  std::uint64_t nth;
  unsigned probability;
  std::int64_t times;
  std::uint64_t seed;
  explicit FaultInjection(const bd_plan&)
      : mode(*rc::gen::weightedElement<int>({{2, 0}, {5, 1}, {3, 2}})), nth(*uniform<std::uint64_t>(1, 5)),
        probability(*rc::gen::element(10u, 50u, 100u)), times(*rc::gen::element<std::int64_t>(-1, 1, 3)),
        seed(*uniform<std::uint64_t>(1, 1000)) {}
  void run(const bd_plan&, bd_sut& w) const override {
    fail_page_alloc_attr a;
    a.min_order = 0;
    a.ignore_gfp_reclaim = false;
    if (mode == 1) a.nth = nth;
    if (mode == 2) a.probability = probability, a.times = times, a.seed = seed;
    w.pa->fail_attr = a;
    w.m.fail_nth = a.nth;
    w.m.fail_random = mode == 2;
    check_after(w, show_of(*this));
  }
  void show(std::ostream& os) const override {
    os << "FaultInjection(";
    if (mode == 0) os << "off";
    if (mode == 1) os << "nth " << nth;
    if (mode == 2) os << "probability " << probability << "%, times " << times << ", seed " << seed;
    os << ")";
  }
};

// Bad input: each kind must be refused with its own error and change nothing.
struct BadInput : bd_command {
  int kind;
  std::uint64_t r1, r2;
  unsigned order;
  explicit BadInput(const bd_plan&)
      : kind(*uniform(0, 12)), r1(*uniform<std::uint64_t>(0, 1u << 30)),
        r2(*uniform<std::uint64_t>(0, 1u << 30)), order(*uniform(0u, 13u)) {}

  // A managed frame no block of the model holds, or nullopt.
  std::optional<std::uint64_t> free_frame(const bd_sut& w) const {
    if (w.env->total_managed == 0) return std::nullopt;
    std::uint64_t pfn = bd_env::nth_frame(w.env->managed_ranges, w.env->total_managed, r1);
    for (int i = 0; i < 4096; ++i, ++pfn)
      if (w.env->is_managed(pfn) && !w.m.covering(pfn)) return pfn;
    return std::nullopt;
  }
  // A block of the model (of order >= min_order, refcount 1 and not compound if asked).
  std::optional<std::uint64_t> some_block(const bd_sut& w, unsigned min_order, bool last_ref_plain) const {
    std::vector<std::uint64_t> c;
    for (const auto& [pfn, b] : w.m.blocks)
      if (b.order >= min_order && (!last_ref_plain || bd_model::put_page_refused(b))) c.push_back(pfn);
    if (c.empty()) return std::nullopt;
    return c[r1 % c.size()];
  }

  void run(const bd_plan&, bd_sut& w) const override {
    page_alloc& pa = *w.pa;
    const std::uint64_t before = digest(pa);
    std::string what;
    bd_error got = bd_error::none, expect = bd_error::none;
    const auto frame_op = [&](std::uint64_t pfn, bd_error e) {
      expect = e;
      switch (r2 % 3) {
        case 0: what = "__free_pages(" + hex(pfn) + ", " + std::to_string(order) + ")", got = pa.__free_pages(pfn, order); break;
        case 1: what = "get_page(" + hex(pfn) + ")", got = pa.get_page(pfn); break;
        default: what = "put_page(" + hex(pfn) + ")", got = pa.put_page(pfn); break;
      }
    };
    const auto bad_gfp = [&](gfp_t gfp, bd_error e) {
      expect = e;
      alloc_result r;
      if (r2 % 3 == 2 && !(gfp & __GFP_HIGHMEM)) {
        what = "get_zeroed_page(" + hex(gfp) + ")";
        if (pa.get_zeroed_page(gfp, &r) != 0) RC_FAIL(show_of(*this) + ": " + what + " returned a page");
      } else {
        what = "alloc_pages(" + hex(gfp) + ", " + std::to_string(order) + ")";
        r = pa.alloc_pages(gfp, order);
      }
      if (r.pfn || r.outcome != alloc_outcome::invalid) RC_FAIL(show_of(*this) + ": " + what + " was not refused as invalid");
      got = r.error;
    };
    const gfp_t base = gfp_list[r1 % std::size(gfp_list)].gfp;
    int k = kind;
    std::optional<std::uint64_t> target;
    // Kinds that need a suitable block or frame fall back to a frame beyond memory.
    if (k == 0) {  // double free of the block freed last, while it is still free
      if (w.last_freed && w.env->is_managed(w.last_freed->first) && !w.m.covering(w.last_freed->first)) {
        expect = bd_error::free_block;
        what = "__free_pages(" + hex(w.last_freed->first) + ", " + std::to_string(w.last_freed->second) + ") again";
        got = pa.__free_pages(w.last_freed->first, w.last_freed->second);
      } else {
        k = 1;
      }
    }
    if (k == 1) {  // a free frame
      if ((target = free_frame(w))) frame_op(*target, bd_error::free_block);
      else k = 4;
    }
    if (k == 2) {  // freeing a block with another order
      if ((target = some_block(w, 0, false))) {
        const unsigned held = w.m.blocks.at(*target).order;
        const unsigned wrong = (held + 1 + static_cast<unsigned>(r2 % 10)) % NR_PAGE_ORDERS;
        expect = bd_error::wrong_order;
        if (r2 % 2) what = "free_pages(address of " + hex(*target) + ", " + std::to_string(wrong) + ")",
                    got = pa.free_pages(pa.page_address(*target), wrong);
        else what = "__free_pages(" + hex(*target) + ", " + std::to_string(wrong) + ")", got = pa.__free_pages(*target, wrong);
      } else {
        k = 4;
      }
    }
    if (k == 3) {  // a tail page of an allocated block
      if ((target = some_block(w, 1, false))) {
        const unsigned held = w.m.blocks.at(*target).order;
        frame_op(*target + 1 + r2 % (bit(held) - 1), bd_error::tail_page);
      } else {
        k = 4;
      }
    }
    if (k == 5) frame_op(bd_env::nth_frame(w.env->unmanaged, w.env->total_unmanaged, r1), bd_error::outside_zones);  // hole, reserved
    if (k == 6) {
      constexpr gfp_t bad[] = {__GFP_DMA | __GFP_DMA32, __GFP_DMA | __GFP_HIGHMEM, __GFP_DMA32 | __GFP_HIGHMEM,
                               __GFP_MOVABLE | __GFP_DMA | __GFP_DMA32};
      bad_gfp((base & ~GFP_ZONEMASK) | bad[r2 % std::size(bad)], bd_error::invalid_gfp_zone);
    }
    if (k == 7) bad_gfp(base | __GFP_MOVABLE | __GFP_RECLAIMABLE, bd_error::invalid_migratetype);
    if (k == 8) bad_gfp(base | (gfp_t{1} << (__GFP_BITS_SHIFT + r2 % (32 - __GFP_BITS_SHIFT))), bd_error::invalid_gfp_bits);
    if (k == 9) {  // not a direct-map address
      const std::uint64_t po = pa.config().page_offset;
      const std::uint64_t addrs[] = {po - PAGE_SIZE * (1 + r1 % 16),
                                     pa.page_address(bd_env::nth_frame(w.env->managed_ranges, w.env->total_managed, r1)) +
                                         8 * (1 + r2 % 511),
                                     po + ((pa.memmap_end() + r1) << PAGE_SHIFT), 0x00007f0000000000ull + (r1 << PAGE_SHIFT)};
      const std::uint64_t a = addrs[r2 % std::size(addrs)];
      expect = bd_error::bad_address;
      what = "free_pages(" + hex(a) + ", " + std::to_string(order) + ")";
      got = pa.free_pages(a, order);
    }
    if (k == 10) {  // put_page on the last reference of a non-compound block of order > 0
      if ((target = some_block(w, 1, true))) {
        expect = bd_error::wrong_order;
        what = "put_page(" + hex(*target) + ") on the last reference of order " + std::to_string(w.m.blocks.at(*target).order);
        got = pa.put_page(*target);
      } else {
        k = 4;
      }
    }
    if (k == 11) {  // free_pages(0) is ignored
      expect = bd_error::none;
      what = "free_pages(0, " + std::to_string(order) + ")";
      got = pa.free_pages(0, order);
    }
    if (k == 4) frame_op(r1 % 2 ? std::uint64_t{1} << 40 : pa.memmap_end() + r1, bd_error::outside_zones);  // beyond memory
    if (got != expect)
      RC_FAIL(show_of(*this) + ": " + what + " said '" + bd_error_text(got) + "', expected '" + bd_error_text(expect) + "'");
    if (digest(pa) != before) RC_FAIL(show_of(*this) + ": " + what + " was refused but changed the state\n" + dump_buddy(pa));
    check_after(w, show_of(*this) + ": " + what);
  }
  void show(std::ostream& os) const override {
    static constexpr const char* kinds[] = {"double free", "free frame", "wrong order", "tail page", "beyond memory",
                                            "hole or reserved frame", "gfp with two zones", "gfp MOVABLE|RECLAIMABLE",
                                            "gfp bits beyond the mask", "bad address", "last put_page of order > 0",
                                            "free_pages(0)"};
    os << "BadInput(" << kinds[kind] << ", " << r1 << ", " << r2 << ", order " << order << ")";
  }
};

constexpr gfp_t class_bits(unsigned cls) { return cls == ZONE_DMA ? __GFP_DMA : cls == ZONE_DMA32 ? __GFP_DMA32 : 0; }

// The fragmentation scenario: take every free page of the zones a class may use (order 0, no
// watermarks), then free the even ones whose buddy is still held. No free block of order > 0
// is left on the mergeable lists of those zones; a request of order > 0 that may not reclaim
// must fail. The odd pages stay as page cache for the reclaim hooks.
struct Fragment : bd_command {
  unsigned cls;
  unsigned probe_order;
  gfp_t probe_mobility;
  explicit Fragment(const bd_plan& s)
      : cls(s.env->big ? ZONE_DMA : *rc::gen::weightedElement<unsigned>({{2, ZONE_DMA}, {3, ZONE_DMA32}, {7, ZONE_NORMAL}})),
        probe_order(*uniform(1u, MAX_ORDER)),
        probe_mobility(*rc::gen::element<gfp_t>(0, __GFP_MOVABLE, __GFP_RECLAIMABLE)) {}
  void apply(bd_plan& s) const override { s.pressure = static_cast<int>(cls); }
  void run(const bd_plan&, bd_sut& w) const override {
    page_alloc& pa = *w.pa;
    const fail_page_alloc_attr saved = pa.fail_attr;
    pa.fail_attr = fail_page_alloc_attr{};  // the scenario's own requests are not fault-injected
    const buddy_stats s0 = pa.stats();
    const gfp_t gfp = GFP_ATOMIC | __GFP_MEMALLOC | __GFP_NOWARN | class_bits(cls);
    std::vector<std::uint64_t> got;
    for (;;) {
      const alloc_result r = pa.alloc_pages(gfp, 0);
      if (!r.pfn) {
        if (r.outcome != alloc_outcome::no_direct_reclaim && r.outcome != alloc_outcome::no_zone)
          RC_FAIL(show_of(*this) + ": exhausting ended " + name_of(r.outcome));
        break;
      }
      if (w.m.overlaps(*r.pfn, 0) || !w.env->is_managed(*r.pfn))
        RC_FAIL(show_of(*this) + ": exhausting got frame " + hex(*r.pfn) + ", which is held or not managed");
      blk b;
      b.zone = r.zone;
      w.m.add(*r.pfn, b);
      got.push_back(*r.pfn);
    }
    std::size_t freed = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      const std::uint64_t pfn = got[i];
      if (pfn % 2 == 0 && w.m.covering(pfn ^ 1)) {
        if (i + 16 >= got.size()) pa.memory().write_u64(pfn << PAGE_SHIFT, 0x6672616700000000ull | pfn);
        const bd_error e = pa.__free_pages(pfn, 0);
        if (e != bd_error::none) RC_FAIL(show_of(*this) + ": freeing " + hex(pfn) + " was refused: " + bd_error_text(e));
        w.m.remove(pfn);
        ++freed;
      } else {
        w.m.make_cache(pfn);
      }
    }
    sync_reclaimable(w);
    for (unsigned z = 0; z <= cls; ++z)
      for (unsigned o = 1; o < NR_PAGE_ORDERS; ++o)
        for (unsigned mt = 0; mt < MIGRATE_PCPTYPES; ++mt)
          if (!pa.free_list(z, o, mt).empty())
            RC_FAIL(show_of(*this) + ": a free block of order " + std::to_string(o) + " is left in " + zone_names[z] + "\n" +
                    dump_buddy(pa));
    // The probe: no reclaim, no kswapd, no reserves.
    const gfp_t probe = __GFP_NOWARN | class_bits(cls) | probe_mobility;
    const alloc_result r = pa.alloc_pages(probe, probe_order);
    bool any_zone = false;
    for (unsigned z = 0; z <= cls; ++z) any_zone |= w.env->populated[z];
    if (r.pfn || r.outcome != (any_zone ? alloc_outcome::no_direct_reclaim : alloc_outcome::no_zone))
      RC_FAIL(show_of(*this) + ": after fragmenting, " + gfp_text(probe) + " order " + std::to_string(probe_order) +
              " ended " + name_of(r.outcome) + (r.pfn ? " with frame " + hex(*r.pfn) : ""));
    pa.fail_attr = saved;
    // Fragment's own requests are not coverage.
    const buddy_stats& s1 = pa.stats();
    buddy_stats& sc = w.scenario;
    sc.zone_fallbacks += s1.zone_fallbacks - s0.zone_fallbacks;
    sc.mt_fallbacks += s1.mt_fallbacks - s0.mt_fallbacks;
    sc.wmark_refusals += s1.wmark_refusals - s0.wmark_refusals;
    sc.to_tail += s1.to_tail - s0.to_tail;
    sc.pageblock_steals += s1.pageblock_steals - s0.pageblock_steals;
    for (unsigned o = 0; o < NR_ALLOC_OUTCOMES; ++o) sc.outcomes[o] += s1.outcomes[o] - s0.outcomes[o];
    check_after(w, show_of(*this) + " (took " + std::to_string(got.size()) + " pages, freed " + std::to_string(freed) + ")");
  }
  void show(std::ostream& os) const override {
    os << "Fragment(" << zone_names[cls] << " and below, probe order " << probe_order
       << (probe_mobility ? std::string(" ") + gfp_text(probe_mobility) : std::string()) << ")";
  }
};

// Negative harness only: bumps one nr_free. The property that includes it must fail under
// BD-ACCT and shrink to a short sequence.
struct CorruptNrFreeForTest : bd_command {
  unsigned zone_pick, order;
  explicit CorruptNrFreeForTest(const bd_plan&) : zone_pick(*uniform(0u, 3u)), order(*uniform(0u, NR_PAGE_ORDERS)) {}
  void run(const bd_plan&, bd_sut& w) const override {
    unsigned z = zone_pick;
    for (unsigned i = 0; i < 3 && !w.pa->zone_at(z).managed_zone(); ++i) z = (z + 1) % 3;
    w.pa->zone_for_test(z).area[order].nr_free++;
    check_after(w, show_of(*this));
  }
  void show(std::ostream& os) const override { os << "CorruptNrFreeForTest(zone " << zone_pick << ", order " << order << ")"; }
};

// The command mix. Commands on a block fall back to an allocation when the plan has none.
rc::Gen<std::shared_ptr<const bd_command>> gen_command(const bd_plan& s) {
  return rc::gen::exec([s]() -> std::shared_ptr<const bd_command> {
    const bool negative_nr_free = s.env->v == variant::corrupt_nr_free;
    int k = *rc::gen::weightedElement<int>({{14, 0}, {6, 1}, {2, 2}, {3, 3}, {2, 4}, {2, 5}, {2, 6}, {4, 7}, {3, 8},
                                            {negative_nr_free ? 1u : 0u, 9}});
    if ((k == 1 || k == 3) && s.live.empty()) k = 0;
    if (k == 4 && pick_handle(s, true) < 0) k = 0;
    switch (k) {
      case 0: return std::make_shared<AllocPages>(s);
      case 1: return std::make_shared<FreePages>(s);
      case 2: return std::make_shared<GetZeroedPage>(s);
      case 3: return std::make_shared<GetPage>(s);
      case 4: return std::make_shared<PutPage>(s);
      case 5: return std::make_shared<Reclaim>(s);
      case 6: return std::make_shared<FaultInjection>(s);
      case 7: return std::make_shared<BadInput>(s);
      case 8: return std::make_shared<Fragment>(s);
      default: return std::make_shared<CorruptNrFreeForTest>(s);
    }
  });
}

// One case: boot, compare with the model, run a command sequence of at least `floor` (up to
// the case's size) commands, and tag the case once with the events the allocator counted.
void run_case(const buddy_config& cfg, variant v, bool big, int floor, const std::string& property) {
  const auto env = make_env(cfg, v, big);
  bd_sut w(env);
  check_after(w, "boot");
  bd_plan s0;
  s0.env = env;
  const auto cmds = *rc::gen::withSize(
      [s0, floor](int size) { return rc::gen::resize(std::max(size, floor), rc::state::gen::commands(s0, gen_command)); });
  run_with_pictures(
      cmds, s0, w, property,
      [&env] { return std::make_unique<bd_sut>(env); },
      [](const bd_sut& x, const std::string& title) { return picture::svg_state(nullptr, *x.pa, title); });

  const buddy_stats& st = w.pa->stats();
  const buddy_stats& sc = w.scenario;
  if (st.merge_orders_max >= 3) RC_TAG("merge across >= 3 orders in one free");
  if (st.zone_fallbacks > sc.zone_fallbacks) RC_TAG("zone fallback");
  if (st.mt_fallbacks > sc.mt_fallbacks) RC_TAG("migratetype fallback");
  if (st.pageblock_steals > sc.pageblock_steals) RC_TAG("pageblock stolen");
  if (st.wmark_refusals > sc.wmark_refusals) RC_TAG("watermark refusal");
  if (st.to_tail > sc.to_tail) RC_TAG("merged block placed at the tail");
  if (st.highatomic_reserved) RC_TAG("highatomic pageblock reserved");
  if (st.refused) RC_TAG("bad input refused");
  for (unsigned o = 0; o < std::size(outcome_names); ++o)
    if (st.outcomes[o] > sc.outcomes[o]) RC_TAG(std::string("exit: ") + outcome_names[o]);
}

}  // namespace

void register_buddy_stateful(std::vector<property>& out, std::vector<property>& negative) {
  const std::vector<std::string> ids{"BD-PARTITION", "BD-ALIGN", "BD-COALESCED", "BD-ACCT", "BD-WMARK", "BD-REF"};
  // Minimum shares sit at a third or less of what seeds reach (the rarest exits, oom_victim and
  // costly_noretry_compaction, land at 5-14% over random seeds), so that random seeds and the
  // sanitizer build's quarter of the cases pass too; every exit of __alloc_pages is gated.
  out.push_back({"buddy_stateful", ids, "stateful", 200, 100,
                 {{"merge across >= 3 orders in one free", 0.3},
                  {"zone fallback", 0.05},
                  {"migratetype fallback", 0.5},
                  {"watermark refusal", 0.3},
                  {"bad input refused", 0.3},
                  {"exit: fast_path", 0.5},
                  {"exit: slow_path", 0.1},
                  {"exit: invalid", 0.1},
                  {"exit: order_too_large", 0.1},
                  {"exit: fault_injected", 0.15},
                  {"exit: no_zone", 0.05},
                  {"exit: no_direct_reclaim", 0.15},
                  {"exit: pf_memalloc", 0.05},
                  {"exit: costly_noretry_compaction", 0.03},
                  {"exit: noretry", 0.08},
                  {"exit: costly", 0.08},
                  {"exit: retries_exhausted", 0.08},
                  {"exit: oom_victim", 0.02},
                  {"exit: nofail_no_reclaim", 0.05},
                  {"exit: would_loop_forever", 0.08}},
                 make_property([] { run_case((*gen_small_machine()).cfg, variant::sound, false, 20, "buddy_stateful"); })});
  // 4 GiB: every check is O(frames) (~10 ms a command), so few cases of longer sequences.
  out.push_back({"buddy_stateful_default_machine", ids, "stateful", 6, 120,
                 {{"exit: fast_path", 0.5}, {"migratetype fallback", 0.5}},
                 make_property([] { run_case(buddy_config::default_machine(), variant::sound, true, 50, "buddy_stateful_default_machine"); })});
  negative.push_back({"negative__buddy_stateful_corrupt_nr_free", {"BD-ACCT"}, "negative", 100, 30, {},
                      make_property([] { run_case((*gen_small_machine()).cfg, variant::corrupt_nr_free, false, 5, "negative__buddy_stateful_corrupt_nr_free"); })});
  negative.push_back({"negative__buddy_stateful_model_forgets_b7", {"BD-PARTITION", "BD-ACCT"}, "negative", 200, 40, {},
                      make_property([] { run_case((*gen_small_machine()).cfg, variant::forget_b7, false, 10, "negative__buddy_stateful_model_forgets_b7"); })});
}

}  // namespace mmref::props
