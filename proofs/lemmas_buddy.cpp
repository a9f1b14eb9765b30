// proofs/lemmas_buddy.cpp — impl/buddy/buddy_core.hpp: buddy index math, expand(), the watermark
// check and gfp_zone(), for all 64-bit inputs (preconditions only where the kernel has them).
//
// Every obligation runs the core templates with W = zword (through buddy_cores::real()) and
// states its claim against a specification written directly in Z3 terms below: bit extracts,
// wider bit-vectors, explicit tables, the kernel's statements in the kernel's order. Alignment
// is phrased by extracts of the low bits or by masks, never by bvurem/bvudiv.
//
// How the index lemmas stay cheap: where the order is symbolic, the specification is a
// conjunction over the concrete orders k, each guarded by `order == k` and written with
// extracts and constants for that k; the core itself runs on the symbolic order.
//
// How the watermark properties are put together. A claim that compares two runs of
// __zone_watermark_ok whose reserve cuts differ (ALLOC_HIGH never stricter, the order-0 fast
// check implies the full one) asks the solvers to relate two chains of signed shifts and
// subtractions through the final comparison; Z3 4.8.12 and cvc5 1.0.3 each take 10 to over 60
// seconds on every one of them (measured), and splitting by flag values still leaves cvc5 at
// 1-10 s per case. So those properties are proved in cheap steps over the cores and composed
// (DESIGN.md: "prove per-step lemmas and compose them"). Write U(a) and M(a) for the cores
// __zone_watermark_unusable_free and wmark_min_reduced(mark, alloc_flags), F for free_pages,
// L for lowmem_reserve.
//
//   exact       __zone_watermark_ok(a) == F - U(a) > M(a) + L (signed) and (order == 0 or a
//               usable list at an order >= order), the list walk written by bit extracts, U and
//               M by their specifications, which the cores equal:
//               lemma__zone_watermark_ok__exact, lemma__zone_watermark_unusable_free__exact,
//               lemma__wmark_min_reduced__reserve_cuts, lemma__sdiv_pow2__truncates_toward_zero.
//   never stricter, X in {ALLOC_HIGH, ALLOC_HARDER, ALLOC_OOM}: ok(a) => ok(a with X).
//               Adding X never raises M (lemma__wmark_min_reduced__<X>_never_raises_min), never
//               raises U, and lowers it only by dropping the highatomic reserve
//               (lemma__zone_watermark_unusable_free__reserve_flags_never_raise_it and the exact
//               specification), and only adds the HIGHATOMIC lists (the exact specification).
//               Dropping the reserve keeps ok (lemma__zone_watermark_ok__antitone_in_highatomic_reserve);
//               a lower M keeps ok: by "exact", ok depends on the flags only through U, M and
//               the lists, and a run without cuts has M = mark, U over all its values and any
//               lists (lemma__zone_watermark_ok__antitone_in_mark_without_cuts; M stays in
//               [0, mark] by lemma__wmark_min_reduced__between_zero_and_mark).
//   fast => full at order 0: zone_watermark_fast reads the flags only through U at order 0
//               (lemma__zone_watermark_fast_order0__exact); with ALLOC_CMA and no cut that U is
//               the highatomic reserve, ranging over every value U takes
//               (lemma__zone_watermark_fast_order0__implies_full_check_without_cuts gives ok with
//               M = mark); M(a) <= mark (between_zero_and_mark) and antitone_in_mark_without_cuts
//               give ok(a).
// Monotonicity in free pages and "order k implies order 0" are proved directly. Both quantify
// free_pages as usable + U(a) (for fixed other inputs a bijection of 64-bit words, so every
// free_pages is covered), which lets both solvers see the subtraction the two runs share.
// Likewise, where a claim is over "all alloc_flags", some obligations conjoin the 16 (or 8)
// values of the flag bits the cores read, every other bit symbolic (pin_bits).
#include "proofs/lemmas_buddy.hpp"

#include <bit>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "impl/buddy/buddy_core.hpp"
#include "proofs/registry.hpp"
#include "proofs/spec.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs {

namespace {

using namespace mmref::buddy;
using spec::bv;
using named = std::vector<std::pair<std::string, z3::expr>>;
using wargs = buddy_cores::wargs;

z3::context& ctx() { return zscope::ctx(); }

// ---------------------------------------------------------------------------------------------
// Specifications (trusted: read them against mm/page_alloc.c 6.1, mm/internal.h and
// include/linux/gfp.h)
// ---------------------------------------------------------------------------------------------

// The low k bits of v are zero: v is a multiple of 2^k.
z3::expr low_zero(const z3::expr& v, unsigned k) {
  return k == 0 ? ctx().bool_val(true) : v.extract(k - 1, 0) == ctx().bv_val(0, k);
}

// a and b agree in bits 63..k (nothing to compare when k >= 64).
z3::expr same_from(const z3::expr& a, const z3::expr& b, unsigned k) {
  return k >= 64 ? ctx().bool_val(true) : a.extract(63, k) == b.extract(63, k);
}

// The start of the lower (half = 0) or upper (half = 1) order-k half of the order-(k+1) block
// holding v: v's bits above k, then `half`, then k zero bits.
z3::expr half_block(const z3::expr& v, unsigned k, unsigned half) {
  const z3::expr top = z3::concat(v.extract(63, k + 1), ctx().bv_val(half, 1));
  return k == 0 ? top : z3::concat(top, ctx().bv_val(0, k));
}

// For every concrete order k < n: order == k implies fact(k).
z3::expr for_each_order(const z3::expr& order, unsigned n, const std::function<z3::expr(unsigned)>& fact) {
  z3::expr all = ctx().bool_val(true);
  for (unsigned k = 0; k < n; ++k) all = all && z3::implies(order == bv(k), fact(k));
  return all;
}

// 2^x for x < n, as a table (no shifter).
z3::expr pow2_below(const z3::expr& x, unsigned n) {
  z3::expr r = bv(std::uint64_t{1} << (n - 1));
  for (unsigned k = n - 1; k-- > 0;) r = z3::ite(x == bv(k), bv(std::uint64_t{1} << k), r);
  return r;
}

// Bit `bit` of x is set; an ALLOC_* flag is set.
z3::expr bit_set(const z3::expr& x, unsigned bit) { return x.extract(bit, bit) == ctx().bv_val(1, 1); }
z3::expr flag_set(const z3::expr& flags, unsigned alloc_flag) {
  return bit_set(flags, static_cast<unsigned>(std::countr_zero(alloc_flag)));
}
z3::expr alloc_harder(const z3::expr& flags) { return flag_set(flags, ALLOC_HARDER) || flag_set(flags, ALLOC_OOM); }

// C's `long / 2^k` truncates toward zero: the magnitude divided, the sign put back.
z3::expr tdiv_pow2(const z3::expr& x, unsigned k) {
  return z3::ite(z3::slt(x, bv(0)), -z3::lshr(-x, bv(k)), z3::lshr(x, bv(k)));
}

// `long min = mark` after the reserve cuts of __zone_watermark_ok (6.1), statement by statement:
//   if (alloc_flags & ALLOC_HIGH) min -= min / 2;
//   if (alloc_harder) { if (alloc_flags & ALLOC_OOM) min -= min / 2; else min -= min / 4; }
// The divisions are the core's sdiv_pow2, which lemma__sdiv_pow2__truncates_toward_zero proves
// is C's `/` on a long (chaining tdiv_pow2 instead costs both solvers over 30 s).
z3::expr min_after_cuts(const buddy_cores& c, const zword& mark, const z3::expr& flags) {
  const zword m1 = select(zbool{flag_set(flags, ALLOC_HIGH)}, mark - c.sdiv_pow2(mark, 1), mark);
  return z3::ite(flag_set(flags, ALLOC_OOM), (m1 - c.sdiv_pow2(m1, 1)).e,
                 z3::ite(flag_set(flags, ALLOC_HARDER), (m1 - c.sdiv_pow2(m1, 2)).e, m1.e));
}

// __zone_watermark_unusable_free (6.1), statement by statement:
//   unusable_free = (1 << order) - 1;
//   if (!alloc_harder) unusable_free += z->nr_reserved_highatomic;
//   if (!(alloc_flags & ALLOC_CMA)) unusable_free += NR_FREE_CMA_PAGES;
z3::expr unusable_spec(const wargs& a) {
  return (z3::shl(bv(1), a.order.e) - bv(1)) + z3::ite(alloc_harder(a.alloc_flags.e), bv(0), a.nr_reserved_highatomic.e) +
         z3::ite(flag_set(a.alloc_flags.e, ALLOC_CMA), bv(0), a.free_cma.e);
}

// The comparison of __zone_watermark_ok: `free_pages <= min + lowmem_reserve` fails, in long.
z3::expr watermark_compare(const z3::expr& free_pages, const z3::expr& unusable, const z3::expr& min,
                           const z3::expr& lowmem_reserve) {
  return z3::sgt(free_pages - unusable, min + lowmem_reserve);
}

// The order > 0 walk of __zone_watermark_ok over o in [order, MAX_ORDER): a non-empty list of a
// MIGRATE_PCPTYPES type, or of MIGRATE_HIGHATOMIC when alloc_harder (no CMA lists here).
z3::expr suitable_block_spec(const wargs& a) {
  z3::expr any = ctx().bool_val(false);
  for (unsigned o = 0; o < MAX_ORDER; ++o)
    any = any || (z3::ule(a.order.e, bv(o)) &&
                  (bit_set(a.usable_lists.e, o) || (alloc_harder(a.alloc_flags.e) && bit_set(a.highatomic_lists.e, o))));
  return any;
}

z3::expr watermark_ok_spec(const buddy_cores& c, const wargs& a) {
  return watermark_compare(a.free_pages.e, unusable_spec(a), min_after_cuts(c, a.mark, a.alloc_flags.e),
                           a.lowmem_reserve.e) &&
         (a.order.e == bv(0) || suitable_block_spec(a));
}

// include/linux/gfp.h on x86-64 (no HIGHMEM): the zone for each of the 16 combinations of
// __GFP_DMA (1), __GFP_HIGHMEM (2), __GFP_DMA32 (4), __GFP_MOVABLE (8), and whether
// GFP_ZONE_BAD flags it. A BAD combination reads table field 0, which is ZONE_DMA.
struct gfp_zone_row {
  zone_type zone;
  bool bad;
};
constexpr gfp_zone_row gfp_zone_rows[16] = {
    {ZONE_NORMAL, false},   // 0x0  (none)
    {ZONE_DMA, false},      // 0x1  DMA
    {ZONE_NORMAL, false},   // 0x2  HIGHMEM -> OPT_ZONE_HIGHMEM = NORMAL
    {ZONE_DMA, true},       // 0x3  DMA|HIGHMEM
    {ZONE_DMA32, false},    // 0x4  DMA32
    {ZONE_DMA, true},       // 0x5  DMA|DMA32
    {ZONE_DMA, true},       // 0x6  HIGHMEM|DMA32
    {ZONE_DMA, true},       // 0x7  DMA|HIGHMEM|DMA32
    {ZONE_NORMAL, false},   // 0x8  MOVABLE
    {ZONE_DMA, false},      // 0x9  MOVABLE|DMA
    {ZONE_MOVABLE, false},  // 0xA  MOVABLE|HIGHMEM
    {ZONE_DMA, true},       // 0xB  MOVABLE|HIGHMEM|DMA
    {ZONE_DMA32, false},    // 0xC  MOVABLE|DMA32
    {ZONE_DMA, true},       // 0xD  MOVABLE|DMA32|DMA
    {ZONE_DMA, true},       // 0xE  MOVABLE|DMA32|HIGHMEM
    {ZONE_DMA, true},       // 0xF  all four
};

// ---------------------------------------------------------------------------------------------
// The symbolic inputs of the watermark check, in their natural ranges.
// ---------------------------------------------------------------------------------------------

constexpr std::uint64_t PAGES_LIMIT = std::uint64_t{1} << 40;  // 4 PiB of 4 KiB pages

z3::expr below_limit(const zword& x) { return z3::ult(x.e, bv(PAGES_LIMIT)); }

constexpr std::uint64_t RESERVE_FLAGS = ALLOC_HIGH | ALLOC_HARDER | ALLOC_OOM;
static_assert(ALLOC_OOM == 0x08 && ALLOC_HARDER == 0x10 && ALLOC_HIGH == 0x20);

// f with the bits of `mask` replaced by those of `value` (concat of extracts and constants, so
// that a core masking those bits sees constants).
zword pin_bits(const zword& f, std::uint64_t mask, std::uint64_t value) {
  std::vector<z3::expr> parts;
  for (int hi = 63; hi >= 0;) {
    const bool pinned = (mask >> hi) & 1;
    int lo = hi;
    while (lo > 0 && (((mask >> (lo - 1)) & 1) != 0) == pinned) --lo;
    const unsigned h = static_cast<unsigned>(hi), l = static_cast<unsigned>(lo);
    parts.push_back(pinned ? ctx().bv_val((value >> l) & ((std::uint64_t{2} << (h - l)) - 1), h - l + 1) : f.e.extract(h, l));
    hi = lo - 1;
  }
  z3::expr r = parts[0];
  for (std::size_t i = 1; i < parts.size(); ++i) r = z3::concat(r, parts[i]);
  return zword{r};
}

// The ALLOC_* bits the watermark cores read. Claims over "all alloc_flags" are conjunctions over
// the 16 values of these bits (every other bit symbolic): together they cover every 64-bit
// alloc_flags, and in each the cores see constant flags.
constexpr std::uint64_t WMARK_FLAG_BITS = ALLOC_HIGH | ALLOC_HARDER | ALLOC_OOM | ALLOC_CMA;
constexpr std::uint64_t flag_combo(unsigned i) {
  return ((i & 1) ? ALLOC_HIGH : 0) | ((i & 2) ? ALLOC_HARDER : 0) | ((i & 4) ? ALLOC_OOM : 0) | ((i & 8) ? ALLOC_CMA : 0);
}
zword without_cuts(const zword& f) { return pin_bits(f, RESERVE_FLAGS, 0); }

struct wm_vars {
  zword free_pages = zword::var("free_pages");
  zword order = zword::var("order");
  zword mark = zword::var("mark");
  zword lowmem_reserve = zword::var("lowmem_reserve");
  zword alloc_flags = zword::var("alloc_flags");
  zword nr_reserved_highatomic = zword::var("nr_reserved_highatomic");
  zword free_cma = zword::var("free_cma");
  zword usable_lists = zword::var("usable_lists");
  zword highatomic_lists = zword::var("highatomic_lists");

  wargs args() const {
    return {free_pages, order, mark, lowmem_reserve, alloc_flags, nr_reserved_highatomic, free_cma, usable_lists,
            highatomic_lists};
  }
  // Page counts in [0, 2^40), order < MAX_ORDER. alloc_flags and the list masks are not
  // constrained at all (the cores read only their ALLOC_* bits and bits 0..MAX_ORDER-1).
  named pre(bool with_free_pages = true, bool with_order = true) const {
    named p{{"mark < 2^40", below_limit(mark)},
            {"lowmem_reserve < 2^40", below_limit(lowmem_reserve)},
            {"nr_reserved_highatomic < 2^40", below_limit(nr_reserved_highatomic)},
            {"free_cma < 2^40", below_limit(free_cma)}};
    if (with_free_pages) p.push_back({"free_pages < 2^40", below_limit(free_pages)});
    if (with_order) p.push_back({"order < MAX_ORDER", z3::ult(order.e, bv(MAX_ORDER))});
    return p;
  }
  named show() const {
    return {{"free_pages", free_pages.e},         {"order", order.e},
            {"mark", mark.e},                     {"lowmem_reserve", lowmem_reserve.e},
            {"alloc_flags", alloc_flags.e},       {"nr_reserved_highatomic", nr_reserved_highatomic.e},
            {"free_cma", free_cma.e},             {"usable_lists", usable_lists.e},
            {"highatomic_lists", highatomic_lists.e}};
  }
};

// The watermark inputs with free_pages written as usable + U(a) (see the header comment).
struct wm_usable {
  wm_vars v;
  zword usable = zword::var("usable");
  wargs a;
  explicit wm_usable(const buddy_cores& c) : a(v.args()) { a.free_pages = usable + c.unusable_free(a); }
  named pre() const { return plus_free(v.pre(false)); }
  named show() const {
    named s = v.show();
    s[0] = {"free_pages", a.free_pages.e};
    return s;
  }

 private:
  named plus_free(named p) const {
    p.push_back({"free_pages < 2^40", below_limit(a.free_pages)});
    return p;
  }
};

named plus(named a, named b) {
  for (auto& x : b) a.push_back(std::move(x));
  return a;
}

const char* alloc_flag_name(unsigned f) {
  switch (f) {
    case ALLOC_HIGH: return "ALLOC_HIGH";
    case ALLOC_HARDER: return "ALLOC_HARDER";
    default: return "ALLOC_OOM";
  }
}

}  // namespace

buddy_cores buddy_cores::real() {
  buddy_cores c;
  c.find_buddy_pfn = [](const zword& pfn, const zword& order) { return buddy::__find_buddy_pfn(pfn, order); };
  c.combined_pfn = [](const zword& pfn, const zword& b) { return buddy::buddy_combined_pfn(pfn, b); };
  c.aligned_to_order = [](const zword& pfn, const zword& order) { return buddy::pfn_aligned_to_order(pfn, order); };
  c.expand_upper_half = [](const zword& pfn, const zword& high) { return buddy::expand_upper_half(pfn, high); };
  c.block_in_zone = [](const zword& pfn, const zword& order, const zword& start, const zword& end) {
    return buddy::block_in_zone(pfn, order, start, end);
  };
  c.sdiv_pow2 = [](const zword& x, unsigned k) { return buddy::sdiv_pow2(x, k); };
  c.min_reduced = [](const zword& mark, const zword& flags) { return buddy::wmark_min_reduced(mark, flags); };
  c.unusable_free = [](const wargs& a) { return buddy::__zone_watermark_unusable_free(a); };
  c.watermark_ok = [](const wargs& a) { return buddy::__zone_watermark_ok(a); };
  c.watermark_fast_order0 = [](const wargs& a) { return buddy::zone_watermark_fast_order0(a); };
  c.gfp_zone = [](const zword& gfp) { return buddy::gfp_zone(gfp); };
  c.gfp_zone_bad = [](const zword& gfp) { return buddy::gfp_zone_bad(gfp); };
  return c;
}

std::vector<obligation> buddy_obligations(const buddy_cores& c) {
  std::vector<obligation> out;
  const std::string all = "all 64-bit inputs";

  // ---------------------------------------------------------------------------------------------
  // Buddy index math (__free_one_page, mm/internal.h)
  // ---------------------------------------------------------------------------------------------

  out.push_back({"lemma__pfn_aligned_to_order__exact", "pfn_aligned_to_order BD-ALIGN", "lemma", all + ", order < 64",
                 [c](z3::context&) {
                   const zword pfn = zword::var("pfn"), order = zword::var("order");
                   const z3::expr core = c.aligned_to_order(pfn, order).e;
                   return spec::make({{"order < 64", z3::ult(order.e, bv(64))}},
                                     for_each_order(order.e, 64, [&](unsigned k) { return core == low_zero(pfn.e, k); }),
                                     {{"pfn", pfn.e}, {"order", order.e}});
                 },
                 20'000'000, true});

  // The buddy is the one other order-aligned block inside the same order+1 block: aligned, not
  // pfn, and equal to pfn in every bit above `order`. Those three facts determine it.
  out.push_back({"lemma__find_buddy_pfn__the_other_half_of_the_parent", "__find_buddy_pfn BD-ALIGN BD-COALESCED",
                 "lemma", all + ", order < 64",
                 [c](z3::context&) {
                   const zword pfn = zword::var("pfn"), order = zword::var("order");
                   const zword b = c.find_buddy_pfn(pfn, order);
                   const z3::expr claim =
                       b.e != pfn.e && c.find_buddy_pfn(b, order).e == pfn.e &&
                       for_each_order(order.e, 64, [&](unsigned k) { return low_zero(b.e, k) && same_from(b.e, pfn.e, k + 1); });
                   return spec::make({{"order < 64", z3::ult(order.e, bv(64))},
                                      {"pfn aligned to order", for_each_order(order.e, 64, [&](unsigned k) { return low_zero(pfn.e, k); })}},
                                     claim, {{"pfn", pfn.e}, {"order", order.e}, {"buddy", b.e}});
                 },
                 20'000'000, true});

  // __free_one_page merges pfn with its buddy into the block at combined_pfn of order+1. It is
  // the parent exactly: the lower of the two, and for order k, with P the bits of pfn above k,
  // the parent is P·0·0^k and the two blocks are P·0·0^k and P·1·0^k in some order: the lower
  // and upper halves of [parent, parent + 2^(k+1)), each 2^k frames, disjoint, covering it.
  // Either half may be the one being freed.
  out.push_back({"lemma__buddy_combined_pfn__is_the_parent_block", "buddy_combined_pfn BD-ALIGN BD-COALESCED", "lemma",
                 all + ", order < 63",
                 [c](z3::context&) {
                   const zword pfn = zword::var("pfn"), order = zword::var("order");
                   const zword b = c.find_buddy_pfn(pfn, order);
                   const zword parent = c.combined_pfn(pfn, b);
                   const z3::expr claim =
                       parent.e == z3::ite(z3::ult(pfn.e, b.e), pfn.e, b.e) && c.combined_pfn(b, pfn).e == parent.e &&
                       for_each_order(order.e, 63, [&](unsigned k) {
                         const z3::expr lower = half_block(pfn.e, k, 0), upper = half_block(pfn.e, k, 1);
                         return parent.e == lower && ((pfn.e == lower && b.e == upper) || (pfn.e == upper && b.e == lower));
                       });
                   return spec::make({{"order < 63", z3::ult(order.e, bv(63))},
                                      {"pfn aligned to order", for_each_order(order.e, 63, [&](unsigned k) { return low_zero(pfn.e, k); })}},
                                     claim, {{"pfn", pfn.e}, {"order", order.e}, {"buddy", b.e}, {"combined", parent.e}});
                 }});

  // [pfn, pfn + 2^order) inside [start, end), with the sum taken in 66 bits so it cannot wrap.
  // Orders below MAX_ORDER, as every caller has them (over all 64 orders: 0.3 s Z3, 1 s cvc5).
  out.push_back({"lemma__block_in_zone__exact", "block_in_zone BD-ALIGN", "lemma", all + ", order < MAX_ORDER",
                 [c](z3::context&) {
                   const zword pfn = zword::var("pfn"), order = zword::var("order");
                   const zword start = zword::var("zone_start_pfn"), end = zword::var("zone_end_pfn");
                   const auto w = [](const z3::expr& x) { return z3::zext(x, 2); };
                   const z3::expr size = w(z3::shl(bv(1), order.e));
                   const z3::expr inside = z3::ule(start.e, pfn.e) && z3::ule(w(pfn.e) + size, w(end.e));
                   return spec::make({{"order < MAX_ORDER", z3::ult(order.e, bv(MAX_ORDER))}},
                                     c.block_in_zone(pfn, order, start, end).e == inside,
                                     {{"pfn", pfn.e}, {"order", order.e}, {"start", start.e}, {"end", end.e}});
                 }});

  // ---------------------------------------------------------------------------------------------
  // expand() (mm/page_alloc.c 6.1): a block of order `high` split down to `low`
  // ---------------------------------------------------------------------------------------------

  // The pieces expand() gives away, expand_upper_half(pfn, h) of order h for h = high-1 .. low,
  // and the block the caller keeps, [pfn, pfn + 2^low), are each aligned to their order, lie
  // inside [pfn, pfn + 2^high), do not overlap, and their sizes add up to 2^high: a partition.
  // high and low are symbolic; the loop runs over the MAX_PAGE_ORDER concrete steps h, each
  // guarded by low <= h < high. Offsets from pfn keep the sums small (no wrap at 2^64).
  out.push_back({"lemma__expand__pieces_partition_the_block", "expand_upper_half BD-ALIGN BD-PARTITION", "lemma",
                 "all 64-bit pfn, 0 <= low < high <= MAX_PAGE_ORDER",
                 [c](z3::context&) {
                   const zword pfn = zword::var("pfn"), high = zword::var("high"), low = zword::var("low");
                   const z3::expr size_high = pow2_below(high.e, MAX_ORDER), size_low = pow2_below(low.e, MAX_ORDER);
                   struct piece {
                     z3::expr active, off, size;
                   };
                   std::vector<piece> pieces{{ctx().bool_val(true), bv(0), size_low}};  // what the caller keeps
                   z3::expr claim = for_each_order(low.e, MAX_PAGE_ORDER, [&](unsigned k) { return low_zero(pfn.e, k); });
                   z3::expr total = size_low;
                   for (unsigned h = 0; h < MAX_PAGE_ORDER; ++h) {
                     const z3::expr active = z3::ule(low.e, bv(h)) && z3::ult(bv(h), high.e);
                     const zword start = c.expand_upper_half(pfn, zword::lit(h));
                     const z3::expr size = bv(std::uint64_t{1} << h), off = start.e - pfn.e;
                     claim = claim && z3::implies(active, low_zero(start.e, h) && z3::ule(off, size_high - size));
                     total = total + z3::ite(active, size, bv(0));
                     pieces.push_back({active, off, size});
                   }
                   claim = claim && total == size_high;
                   for (std::size_t i = 0; i < pieces.size(); ++i)
                     for (std::size_t j = i + 1; j < pieces.size(); ++j) {
                       const piece &p = pieces[i], &q = pieces[j];
                       claim = claim && z3::implies(p.active && q.active,
                                                    z3::ule(p.off + p.size, q.off) || z3::ule(q.off + q.size, p.off));
                     }
                   return spec::make({{"high <= MAX_PAGE_ORDER", z3::ule(high.e, bv(MAX_PAGE_ORDER))},
                                      {"low < high", z3::ult(low.e, high.e)},
                                      {"pfn aligned to high", for_each_order(high.e, MAX_ORDER, [&](unsigned k) { return low_zero(pfn.e, k); })}},
                                     claim, {{"pfn", pfn.e}, {"high", high.e}, {"low", low.e}});
                 }});

  // The half expand() gives away at order h is the buddy of the half it keeps, and merges back
  // into the block it came from when the kept half is freed.
  out.push_back({"lemma__expand_upper_half__is_the_buddy_of_the_kept_half", "expand_upper_half BD-COALESCED", "lemma",
                 all + ", h < 63",
                 [c](z3::context&) {
                   const zword pfn = zword::var("pfn"), h = zword::var("h");
                   const zword upper = c.expand_upper_half(pfn, h);
                   const z3::expr claim =
                       upper.e != pfn.e && c.find_buddy_pfn(pfn, h).e == upper.e && c.combined_pfn(pfn, upper).e == pfn.e &&
                       for_each_order(h.e, 63, [&](unsigned k) { return low_zero(upper.e, k) && same_from(upper.e, pfn.e, k + 1); });
                   return spec::make({{"h < 63", z3::ult(h.e, bv(63))},
                                      {"pfn aligned to h+1", for_each_order(h.e, 63, [&](unsigned k) { return low_zero(pfn.e, k + 1); })}},
                                     claim, {{"pfn", pfn.e}, {"h", h.e}, {"upper", upper.e}});
                 }});

  // ---------------------------------------------------------------------------------------------
  // The watermark check (mm/page_alloc.c 6.1): its parts
  // ---------------------------------------------------------------------------------------------

  out.push_back({"lemma__sdiv_pow2__truncates_toward_zero", "sdiv_pow2 BD-WMARK", "lemma", all + ", k in {1, 2}",
                 [c](z3::context&) {
                   const zword x = zword::var("x");
                   return spec::make({}, c.sdiv_pow2(x, 1).e == tdiv_pow2(x.e, 1) && c.sdiv_pow2(x, 2).e == tdiv_pow2(x.e, 2),
                                     {{"x", x.e}});
                 }});

  // The reserve cuts for every 64-bit mark (negative ones too) and every flag combination (the
  // eight combinations of the three reserve bits, every other bit symbolic).
  out.push_back({"lemma__wmark_min_reduced__reserve_cuts", "wmark_min_reduced BD-WMARK", "lemma", all,
                 [c](z3::context&) {
                   const zword mark = zword::var("mark"), flags = zword::var("alloc_flags");
                   z3::expr claim = ctx().bool_val(true);
                   for (unsigned i = 0; i < 8; ++i) {
                     const zword f = pin_bits(flags, RESERVE_FLAGS, flag_combo(i));
                     claim = claim && c.min_reduced(mark, f).e == min_after_cuts(c, mark, f.e);
                   }
                   return spec::make({}, claim, {{"mark", mark.e}, {"alloc_flags", flags.e}});
                 }});

  out.push_back({"lemma__wmark_min_reduced__between_zero_and_mark", "wmark_min_reduced BD-WMARK", "lemma",
                 "mark < 2^40, all flags",
                 [c](z3::context&) {
                   const zword mark = zword::var("mark"), flags = zword::var("alloc_flags");
                   const zword m = c.min_reduced(mark, flags);
                   return spec::make({{"mark < 2^40", below_limit(mark)}}, z3::sge(m.e, bv(0)) && z3::sle(m.e, mark.e),
                                     {{"mark", mark.e}, {"alloc_flags", flags.e}, {"min", m.e}});
                 }});

  // For every flag word f: min(f | X) <= min(f). For ALLOC_HIGH the claim is split: when f has
  // it the two runs are one; otherwise f is one of the four values of the other two reserve bits
  // (every other bit symbolic), X pinned to 0 before and 1 after (cvc5: 0.8 s instead of 2.7 s;
  // for HARDER and OOM the plain form is the faster one).
  for (unsigned f : {ALLOC_HIGH, ALLOC_HARDER, ALLOC_OOM}) {
    out.push_back({"lemma__wmark_min_reduced__" + std::string(alloc_flag_name(f)) + "_never_raises_min",
                   "wmark_min_reduced BD-WMARK", "lemma", "mark < 2^40, all flags", [c, f](z3::context&) {
                     const zword mark = zword::var("mark"), flags = zword::var("alloc_flags");
                     z3::expr claim = z3::sle(c.min_reduced(mark, flags | zword::lit(f)).e, c.min_reduced(mark, flags).e);
                     if (f == ALLOC_HIGH) {
                       claim = ctx().bool_val(true);
                       for (unsigned i = 0; i < 8; ++i) {
                         const std::uint64_t others = flag_combo(i);
                         if (others & f) continue;
                         const zword before = c.min_reduced(mark, pin_bits(flags, RESERVE_FLAGS, others));
                         const zword after = c.min_reduced(mark, pin_bits(flags, RESERVE_FLAGS, others | f));
                         claim = claim && z3::sle(after.e, before.e);
                       }
                     }
                     return spec::make({{"mark < 2^40", below_limit(mark)}}, claim, {{"mark", mark.e}, {"alloc_flags", flags.e}});
                   }});
  }

  out.push_back({"lemma__zone_watermark_unusable_free__exact", "__zone_watermark_unusable_free BD-WMARK", "lemma", all,
                 [c](z3::context&) {
                   const wm_vars v;
                   return spec::make({}, c.unusable_free(v.args()).e == unusable_spec(v.args()), v.show());
                 }});

  out.push_back({"lemma__zone_watermark_unusable_free__reserve_flags_never_raise_it",
                 "__zone_watermark_unusable_free BD-WMARK", "lemma", "page counts < 2^40, order < 11, all flags",
                 [c](z3::context&) {
                   const wm_vars v;
                   const zword before = c.unusable_free(v.args());
                   z3::expr claim = ctx().bool_val(true);
                   for (unsigned f : {ALLOC_HIGH, ALLOC_HARDER, ALLOC_OOM}) {
                     wargs more = v.args();
                     more.alloc_flags = v.alloc_flags | zword::lit(f);
                     claim = claim && z3::ule(c.unusable_free(more).e, before.e);
                   }
                   return spec::make(v.pre(false), claim, v.show());
                 }});

  // ---------------------------------------------------------------------------------------------
  // The watermark check as a whole
  // ---------------------------------------------------------------------------------------------

  const std::string natural = "page counts < 2^40, order < 11, all flags and list masks";

  // Exactness, for every 64-bit input (the kernel's long arithmetic wraps as the words do).
  out.push_back({"lemma__zone_watermark_ok__exact", "__zone_watermark_ok BD-WMARK", "lemma", all,
                 [c](z3::context&) {
                   const wm_vars v;
                   z3::expr claim = ctx().bool_val(true);
                   for (unsigned i = 0; i < 16; ++i) {
                     wargs a = v.args();
                     a.alloc_flags = pin_bits(v.alloc_flags, WMARK_FLAG_BITS, flag_combo(i));
                     claim = claim && c.watermark_ok(a).e == watermark_ok_spec(c, a);
                   }
                   return spec::make({}, claim, v.show());
                 }});

  // The strict comparison: with no reserve cut (no ALLOC_HIGH, ALLOC_HARDER, ALLOC_OOM), order 0
  // fails with exactly mark + lowmem_reserve usable pages and succeeds with one more.
  out.push_back({"lemma__zone_watermark_ok__strict_at_the_boundary", "__zone_watermark_ok BD-WMARK", "lemma",
                 "page counts < 2^40, order 0, all flags without reserve cuts, all list masks",
                 [c](z3::context&) {
                   const wm_vars v;
                   wargs at = v.args();
                   at.order = zword::lit(0);
                   at.alloc_flags = without_cuts(v.alloc_flags);
                   const z3::expr unusable =
                       v.nr_reserved_highatomic.e + z3::ite(flag_set(v.alloc_flags.e, ALLOC_CMA), bv(0), v.free_cma.e);
                   at.free_pages = zword{v.mark.e + v.lowmem_reserve.e + unusable};
                   wargs above = at;
                   above.free_pages = zword{at.free_pages.e + bv(1)};
                   return spec::make(v.pre(false, false), !c.watermark_ok(at).e && c.watermark_ok(above).e,
                                     plus(v.show(), {{"free_pages at the boundary", at.free_pages.e}}));
                 }});

  out.push_back({"lemma__zone_watermark_ok__monotone_in_free_pages", "__zone_watermark_ok BD-WMARK", "lemma", natural,
                 [c](z3::context&) {
                   const wm_usable u(c);
                   const zword extra = zword::var("extra");  // more_free_pages = free_pages + extra
                   wargs a2 = u.a;
                   a2.free_pages = u.a.free_pages + extra;
                   return spec::make(plus(u.pre(), {{"more_free_pages < 2^40", below_limit(a2.free_pages)},
                                                    {"more_free_pages >= free_pages", z3::uge(a2.free_pages.e, u.a.free_pages.e)}}),
                                     z3::implies(c.watermark_ok(u.a).e, c.watermark_ok(a2).e),
                                     plus(u.show(), {{"more_free_pages", a2.free_pages.e}}));
                 }});

  out.push_back({"lemma__zone_watermark_ok__order_k_implies_order_0", "__zone_watermark_ok BD-WMARK", "lemma", natural,
                 [c](z3::context&) {
                   const wm_usable u(c);
                   wargs a0 = u.a;
                   a0.order = zword::lit(0);
                   return spec::make(u.pre(), z3::implies(c.watermark_ok(u.a).e, c.watermark_ok(a0).e), u.show());
                 }});

  // Steps of "ALLOC_HIGH/HARDER/OOM never stricter" and "fast implies full" (header comment).
  out.push_back({"lemma__zone_watermark_ok__antitone_in_highatomic_reserve", "__zone_watermark_ok BD-WMARK", "lemma",
                 natural,
                 [c](z3::context&) {
                   const wm_usable u(c);
                   const zword less = zword::var("less_highatomic");
                   wargs a2 = u.a;
                   a2.nr_reserved_highatomic = less;
                   return spec::make(plus(u.pre(), {{"less_highatomic <= nr_reserved_highatomic",
                                                     z3::ule(less.e, u.v.nr_reserved_highatomic.e)}}),
                                     z3::implies(c.watermark_ok(u.a).e, c.watermark_ok(a2).e),
                                     plus(u.show(), {{"less_highatomic", less.e}}));
                 }});

  out.push_back({"lemma__zone_watermark_ok__antitone_in_mark_without_cuts", "__zone_watermark_ok BD-WMARK", "lemma",
                 "page counts < 2^40, order < 11, all flags without reserve cuts, all list masks",
                 [c](z3::context&) {
                   wm_usable u(c);
                   u.a.alloc_flags = without_cuts(u.v.alloc_flags);
                   u.a.free_pages = u.usable + c.unusable_free(u.a);
                   const zword less = zword::var("less_mark");
                   wargs a2 = u.a;
                   a2.mark = less;
                   return spec::make(plus(u.pre(), {{"less_mark <= mark", z3::ule(less.e, u.v.mark.e)}}),
                                     z3::implies(c.watermark_ok(u.a).e, c.watermark_ok(a2).e),
                                     plus(u.show(), {{"less_mark", less.e}}));
                 }});

  // zone_watermark_fast() may answer true at order 0 without the full check.
  out.push_back({"lemma__zone_watermark_fast_order0__exact", "zone_watermark_fast_order0 BD-WMARK", "lemma", all,
                 [c](z3::context&) {
                   const wm_vars v;
                   z3::expr claim = ctx().bool_val(true);
                   for (unsigned i = 0; i < 16; ++i) {
                     wargs a = v.args();
                     a.alloc_flags = pin_bits(v.alloc_flags, WMARK_FLAG_BITS, flag_combo(i));
                     wargs a0 = a;
                     a0.order = zword::lit(0);
                     const z3::expr f = v.free_pages.e, reserved = unusable_spec(a0);
                     const z3::expr usable = f - z3::ite(z3::slt(f, reserved), f, reserved);  // long min(), signed
                     // long > unsigned long + long: the usual arithmetic conversions make it unsigned.
                     claim = claim && c.watermark_fast_order0(a).e == z3::ugt(usable, v.mark.e + v.lowmem_reserve.e);
                   }
                   return spec::make({}, claim, v.show());
                 }});

  // With ALLOC_CMA and no cut, the order-0 unusable count is exactly nr_reserved_highatomic;
  // letting it range over [0, 2^42) covers every value U takes at order 0 in the natural range,
  // and the fast check reads the flags only through that count.
  out.push_back({"lemma__zone_watermark_fast_order0__implies_full_check_without_cuts",
                 "zone_watermark_fast_order0 BD-WMARK", "lemma",
                 "page counts < 2^40, reserve < 2^42, order 0, ALLOC_CMA, no reserve cut, all other flags and list masks",
                 [c](z3::context&) {
                   const wm_vars v;
                   wargs a = v.args();
                   a.order = zword::lit(0);
                   a.alloc_flags = pin_bits(v.alloc_flags, WMARK_FLAG_BITS, ALLOC_CMA);
                   named pre{{"free_pages < 2^40", below_limit(v.free_pages)},
                             {"mark < 2^40", below_limit(v.mark)},
                             {"lowmem_reserve < 2^40", below_limit(v.lowmem_reserve)},
                             {"nr_reserved_highatomic < 2^42", z3::ult(v.nr_reserved_highatomic.e, bv(std::uint64_t{1} << 42))}};
                   return spec::make(std::move(pre), z3::implies(c.watermark_fast_order0(a).e, c.watermark_ok(a).e),
                                     v.show());
                 }});

  // ---------------------------------------------------------------------------------------------
  // gfp_zone() (include/linux/gfp.h)
  // ---------------------------------------------------------------------------------------------

  // One symbolic gfp (all 2^64 words, so every upper-bit pattern) covers the 16 zone-bit
  // combinations at once; each is checked against its row of the table.
  out.push_back({"lemma__gfp_zone__table_exhaustive", "gfp_zone", "exhaustive", "all 16 zone-bit combinations",
                 [c](z3::context&) {
                   const zword gfp = zword::var("gfp");
                   const zword zone = c.gfp_zone(gfp);
                   const zbool bad = c.gfp_zone_bad(gfp);
                   const z3::expr bits = gfp.e.extract(3, 0);
                   z3::expr claim = ctx().bool_val(true);
                   for (unsigned i = 0; i < 16; ++i) {
                     const gfp_zone_row& r = gfp_zone_rows[i];
                     claim = claim && z3::implies(bits == ctx().bv_val(i, 4),
                                                  zone.e == bv(r.zone) && bad.e == ctx().bool_val(r.bad));
                   }
                   return spec::make({}, claim, {{"gfp", gfp.e}, {"gfp_zone(gfp)", zone.e}});
                 },
                 20'000'000, true});

  return out;
}

void register_buddy_lemmas(std::vector<obligation>& out) {
  for (obligation& o : buddy_obligations(buddy_cores::real())) out.push_back(std::move(o));
}

}  // namespace mmref::proofs
