// Tests for proofs/lemmas_buddy.hpp: the buddy lemmas can fail. Each obligation is built again
// over a deliberately wrong core (a buddy found with + instead of ^, a watermark compared with
// >= or unsigned, a fast check that does not clamp, ...) and Z3 must report it VIOLATED. And the
// buddy cores, run through Z3 on random concrete inputs, agree with the uint64_t run, so the
// lemmas about the symbolic run speak about the code that runs.
#include "proofs/lemmas_buddy.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>

#include "impl/buddy/buddy_core.hpp"
#include "proofs/registry.hpp"
#include "proofs/tests/harness.hpp"
#include "proofs/zword.hpp"

using namespace mmref;
using namespace mmref::proofs;

namespace {

using harness::named;

using wargs = buddy::wmark_args<zword>;

// Copies of the watermark cores with switches for the bugs a hand-written version could have.
// With every switch off each is the kernel's function (checked below for the whole check), so a
// violation reported for a mutant comes from its bug.
struct min_bugs {
  bool high_raises_min = false;          // ALLOC_HIGH: min += min / 2
  bool harder_raises_min = false;        // ALLOC_HARDER: min += min / 4
  bool oom_harder_cuts_swapped = false;  // ALLOC_OOM cuts min / 4, ALLOC_HARDER min / 2
  bool harder_as_oom = false;            // ALLOC_HARDER cuts min / 2, as ALLOC_OOM does
};

zword min_variant(const zword& mark, const zword& flags, min_bugs b) {
  using namespace mmref::buddy;
  const zword zero = zword::lit(0);
  const zbool high = ne(flags & zword::lit(ALLOC_HIGH), zero);
  const zbool oom = ne(flags & zword::lit(ALLOC_OOM), zero);
  const zbool harder = ne(flags & zword::lit(ALLOC_HARDER | ALLOC_OOM), zero);
  const zword half = sdiv_pow2(mark, 1);
  const zword m1 = select(high, b.high_raises_min ? mark + half : mark - half, mark);
  zword cut = select(oom, sdiv_pow2(m1, 1), sdiv_pow2(m1, 2));
  if (b.oom_harder_cuts_swapped) cut = select(oom, sdiv_pow2(m1, 2), sdiv_pow2(m1, 1));
  if (b.harder_as_oom) cut = sdiv_pow2(m1, 1);
  if (b.harder_raises_min) cut = select(oom, sdiv_pow2(m1, 1), zero - sdiv_pow2(m1, 2));
  return select(harder, m1 - cut, m1);
}

struct wm_bugs {
  bool ge = false;                   // free_pages >= min + reserve passes (the off-by-one fixed in 2011)
  bool unsigned_cmp = false;         // the comparison done unsigned (the signedness bug fixed in 2012)
  bool reversed = false;             // free_pages < min + reserve passes
  bool harder_pays_highatomic = false;  // the highatomic reserve counted *with* ALLOC_HARDER, not without
  bool highatomic_credited = false;  // free_pages += nr_reserved_highatomic instead of -=
  bool order_cost_credited = false;  // free_pages += (1 << order) - 1 instead of -=
};

zword unusable_variant(const wargs& a, wm_bugs b) {
  using namespace mmref::buddy;
  const zword zero = zword::lit(0), one = zword::lit(1);
  const zbool harder = ne(a.alloc_flags & zword::lit(ALLOC_HARDER | ALLOC_OOM), zero);
  const zbool cma = ne(a.alloc_flags & zword::lit(ALLOC_CMA), zero);
  const zword cost = shl(one, a.order) - one;
  zword highatomic = select(harder, zero, a.nr_reserved_highatomic);
  if (b.harder_pays_highatomic) highatomic = select(harder, a.nr_reserved_highatomic, zero);
  if (b.highatomic_credited) highatomic = zero - highatomic;
  return (b.order_cost_credited ? zero - cost : cost) + highatomic + select(cma, zero, a.free_cma);
}

zbool watermark_ok_variant(const wargs& a, wm_bugs b) {
  using namespace mmref::buddy;
  const zword zero = zword::lit(0);
  const zbool harder = ne(a.alloc_flags & zword::lit(ALLOC_HARDER | ALLOC_OOM), zero);
  const zword free_pages = a.free_pages - unusable_variant(a, b);
  const zword rhs = buddy::wmark_min_reduced(a.mark, a.alloc_flags) + a.lowmem_reserve;
  const zbool above = b.unsigned_cmp ? ugt(free_pages, rhs)
                      : b.ge         ? sge(free_pages, rhs)
                      : b.reversed   ? slt(free_pages, rhs)
                                     : sgt(free_pages, rhs);
  const zword lists = (a.usable_lists | select(harder, a.highatomic_lists, zero)) & zword::lit(0x7ff);
  return above && (eq(a.order, zero) || ne(lshr(lists, a.order), zero));
}

buddy_cores with_watermark(wm_bugs b) {
  buddy_cores c = buddy_cores::real();
  c.watermark_ok = [b](const wargs& a) { return watermark_ok_variant(a, b); };
  return c;
}

buddy_cores with_min(min_bugs b) {
  buddy_cores c = buddy_cores::real();
  c.min_reduced = [b](const zword& mark, const zword& flags) { return min_variant(mark, flags, b); };
  return c;
}

buddy_cores with_unusable(wm_bugs b) {
  buddy_cores c = buddy_cores::real();
  c.unusable_free = [b](const wargs& a) { return unusable_variant(a, b); };
  return c;
}

buddy_cores with(const std::function<void(buddy_cores&)>& change) {
  buddy_cores c = buddy_cores::real();
  change(c);
  return c;
}

// A fast check without the min(free_pages, reserved) clamp: a negative difference compares as
// a huge unsigned one.
zbool fast_unclamped(const wargs& a) {
  wargs a0 = a;
  a0.order = zword::lit(0);
  return ugt(a.free_pages - buddy::__zone_watermark_unusable_free(a0), a.mark + a.lowmem_reserve);
}

// One wrong core per obligation: the obligation must catch it.
// (The lambdas build their words when called, inside the discharging context's zscope.)
std::map<std::string, buddy_cores> mutants() {
  std::map<std::string, buddy_cores> m;
  m["lemma__pfn_aligned_to_order__exact"] = with([](buddy_cores& c) {
    c.aligned_to_order = [](const zword& pfn, const zword& order) { return eq(pfn & shl(zword::lit(1), order), zword::lit(0)); };
  });
  m["lemma__find_buddy_pfn__the_other_half_of_the_parent"] = with([](buddy_cores& c) {
    c.find_buddy_pfn = [](const zword& pfn, const zword& order) { return pfn + shl(zword::lit(1), order); };
  });
  m["lemma__buddy_combined_pfn__is_the_parent_block"] = with([](buddy_cores& c) {
    c.combined_pfn = [](const zword& pfn, const zword& b) { return pfn | b; };
  });
  m["lemma__block_in_zone__exact"] = with([](buddy_cores& c) {
    c.block_in_zone = [](const zword& pfn, const zword& order, const zword& start, const zword& end) {
      return ule(start, pfn) && ult(pfn, end) && ult(shl(zword::lit(1), order), end - pfn);
    };
  });
  m["lemma__expand__pieces_partition_the_block"] = with([](buddy_cores& c) {
    c.expand_upper_half = [](const zword& pfn, const zword& high) { return pfn + shl(zword::lit(1), high + zword::lit(1)); };
  });
  m["lemma__expand_upper_half__is_the_buddy_of_the_kept_half"] = with([](buddy_cores& c) {
    c.expand_upper_half = [](const zword& pfn, const zword& high) { return pfn - shl(zword::lit(1), high); };
  });
  m["lemma__sdiv_pow2__truncates_toward_zero"] = with([](buddy_cores& c) {
    c.sdiv_pow2 = [](const zword& x, unsigned k) { return ashr(x, zword::lit(k)); };  // floors
  });
  m["lemma__wmark_min_reduced__reserve_cuts"] = with_min({.harder_as_oom = true});
  m["lemma__wmark_min_reduced__between_zero_and_mark"] = with_min({.high_raises_min = true});
  m["lemma__wmark_min_reduced__ALLOC_HIGH_never_raises_min"] = with_min({.high_raises_min = true});
  m["lemma__wmark_min_reduced__ALLOC_HARDER_never_raises_min"] = with_min({.harder_raises_min = true});
  m["lemma__wmark_min_reduced__ALLOC_OOM_never_raises_min"] = with_min({.oom_harder_cuts_swapped = true});
  m["lemma__zone_watermark_unusable_free__exact"] = with_unusable({.harder_pays_highatomic = true});
  m["lemma__zone_watermark_unusable_free__reserve_flags_never_raise_it"] =
      with_unusable({.harder_pays_highatomic = true});
  m["lemma__zone_watermark_ok__exact"] = with_watermark({.unsigned_cmp = true});
  m["lemma__zone_watermark_ok__strict_at_the_boundary"] = with_watermark({.ge = true});
  m["lemma__zone_watermark_ok__monotone_in_free_pages"] = with_watermark({.unsigned_cmp = true});
  m["lemma__zone_watermark_ok__order_k_implies_order_0"] = with_watermark({.order_cost_credited = true});
  m["lemma__zone_watermark_ok__antitone_in_highatomic_reserve"] = with_watermark({.highatomic_credited = true});
  m["lemma__zone_watermark_ok__antitone_in_mark_without_cuts"] = with_watermark({.reversed = true});
  m["lemma__zone_watermark_fast_order0__exact"] = with([](buddy_cores& c) { c.watermark_fast_order0 = fast_unclamped; });
  m["lemma__zone_watermark_fast_order0__implies_full_check_without_cuts"] =
      with([](buddy_cores& c) { c.watermark_fast_order0 = fast_unclamped; });
  m["lemma__gfp_zone__table_exhaustive"] = with([](buddy_cores& c) {
    // The table index not multiplied by GFP_ZONES_SHIFT.
    c.gfp_zone = [](const zword& gfp) {
      return lshr(zword::lit(buddy::GFP_ZONE_TABLE), gfp & zword::lit(buddy::GFP_ZONEMASK)) & zword::lit(3);
    };
  });
  return m;
}

}  // namespace

TEST(BuddyLemmas, EveryObligationIsRegisteredAndHasAMutant) {
  const auto m = mutants();
  std::set<std::string> registered;
  for (const obligation& o : all_obligations()) registered.insert(o.name);
  for (const obligation& o : buddy_obligations(buddy_cores::real())) {
    EXPECT_TRUE(registered.count(o.name)) << o.name << " is not in all_obligations()";
    EXPECT_TRUE(m.count(o.name)) << o.name << " has no mutant in this test";
  }
  EXPECT_EQ(m.size(), buddy_obligations(buddy_cores::real()).size());
}

TEST(BuddyLemmas, EachObligationCatchesItsMutant) {
  for (const auto& [name, cores] : mutants()) {
    const proof_result r = discharge(named(buddy_obligations(cores), name), solver_opts{});
    EXPECT_EQ(r.z3, verdict::violated) << name << ": " << verdict_text(r.z3) << " " << r.detail;
    EXPECT_FALSE(r.counterexample.empty()) << name;
    std::printf("  %-70s %s %.2fs\n", name.c_str(), verdict_text(r.z3), r.z3_seconds);
  }
}

// The mutant copies themselves are faithful: with no switch on they prove the exact lemmas, so
// the violations above come from the bugs, not from the copies.
TEST(BuddyLemmas, TheWatermarkCopiesWithoutBugsAreExact) {
  buddy_cores c = with_watermark({});
  c.min_reduced = [](const zword& mark, const zword& flags) { return min_variant(mark, flags, {}); };
  c.unusable_free = [](const wargs& a) { return unusable_variant(a, {}); };
  const std::vector<obligation> v = buddy_obligations(c);
  for (const char* name : {"lemma__zone_watermark_ok__exact", "lemma__wmark_min_reduced__reserve_cuts",
                           "lemma__zone_watermark_unusable_free__exact"}) {
    const proof_result r = discharge(named(v, name), solver_opts{});
    EXPECT_EQ(r.z3, verdict::proved) << name << ": " << r.counterexample << r.detail;
  }
}

// ---------------------------------------------------------------------------------------------
// Differential: every buddy core through Z3 at random concrete inputs equals the uint64_t run.
// ---------------------------------------------------------------------------------------------

namespace {

struct BuddyZWord : ::testing::Test {
  z3::context ctx;
  zscope scope{ctx};
  std::uint64_t seed = [] {
    const char* s = std::getenv("MMREF_SEED");
    return s ? std::strtoull(s, nullptr, 0) : 20261122;
  }();
  std::mt19937_64 rng{seed};
  void SetUp() override {
    std::printf("BuddyZWord differential seed=%llu (MMREF_SEED=%llu to replay)\n", static_cast<unsigned long long>(seed),
                static_cast<unsigned long long>(seed));
  }

  // Page counts, orders and masks biased toward the edges: small, near 2^40, negative as a long.
  std::uint64_t pick() {
    switch (rng() % 6) {
      case 0: return rng() % 80;
      case 1: return ~std::uint64_t{0} - rng() % 80;
      case 2: return std::uint64_t{1} << (rng() % 64);
      case 3: return (std::uint64_t{1} << 40) - rng() % 80;
      case 4: return rng() & 0xfffff;
      default: return rng();
    }
  }
  std::uint64_t pick_order() { return rng() % 4 == 0 ? rng() % 70 : rng() % 12; }

  static std::uint64_t value(const zword& z) {
    const auto v = value_of(z);
    EXPECT_TRUE(v.has_value()) << "did not fold to a numeral";
    return v.value_or(0xdeadbeef);
  }
  static bool value(const zbool& z) {
    const auto v = value_of(z);
    EXPECT_TRUE(v.has_value()) << "did not fold to true/false";
    return v.value_or(false);
  }
};

}  // namespace

TEST_F(BuddyZWord, IndexMathAgrees) {
  for (int i = 0; i < 300; ++i) {
    const std::uint64_t pfn = pick(), order = pick_order(), start = pick(), end = pick(), other = pick();
    const cword cp{pfn}, co{order};
    const zword zp = zword::lit(pfn), zo = zword::lit(order);
    const std::string at = "pfn=" + std::to_string(pfn) + " order=" + std::to_string(order) + " seed=" + std::to_string(seed);
    EXPECT_EQ(value(buddy::__find_buddy_pfn(zp, zo)), buddy::__find_buddy_pfn(cp, co).v) << at;
    EXPECT_EQ(value(buddy::buddy_combined_pfn(zp, zword::lit(other))), buddy::buddy_combined_pfn(cp, cword{other}).v) << at;
    EXPECT_EQ(value(buddy::pfn_aligned_to_order(zp, zo)), truth(buddy::pfn_aligned_to_order(cp, co))) << at;
    EXPECT_EQ(value(buddy::expand_upper_half(zp, zo)), buddy::expand_upper_half(cp, co).v) << at;
    EXPECT_EQ(value(buddy::block_in_zone(zp, zo, zword::lit(start), zword::lit(end))),
              truth(buddy::block_in_zone(cp, co, cword{start}, cword{end})))
        << at;
    EXPECT_EQ(value(buddy::gfp_zone(zp)), buddy::gfp_zone(cp).v) << at;
    EXPECT_EQ(value(buddy::gfp_zone_bad(zp)), truth(buddy::gfp_zone_bad(cp))) << at;
  }
}

TEST_F(BuddyZWord, WatermarkCheckAgrees) {
  const std::uint64_t flag_bits = buddy::ALLOC_WMARK_MASK | buddy::ALLOC_NO_WATERMARKS | buddy::ALLOC_OOM |
                                  buddy::ALLOC_HARDER | buddy::ALLOC_HIGH | buddy::ALLOC_CPUSET | buddy::ALLOC_CMA |
                                  buddy::ALLOC_NOFRAGMENT | buddy::ALLOC_KSWAPD;
  for (int i = 0; i < 300; ++i) {
    const std::uint64_t v[9] = {pick(), pick_order(), pick(), pick(), rng() % 8 == 0 ? rng() : rng() & flag_bits,
                                pick(), rng() % 2 ? 0 : pick(), rng() & 0xfff, rng() & 0xfff};
    const buddy::wmark_args<cword> c{{v[0]}, {v[1]}, {v[2]}, {v[3]}, {v[4]}, {v[5]}, {v[6]}, {v[7]}, {v[8]}};
    const buddy::wmark_args<zword> z{zword::lit(v[0]), zword::lit(v[1]), zword::lit(v[2]),
                                     zword::lit(v[3]), zword::lit(v[4]), zword::lit(v[5]),
                                     zword::lit(v[6]), zword::lit(v[7]), zword::lit(v[8])};
    const std::string at = "free=" + std::to_string(v[0]) + " order=" + std::to_string(v[1]) + " mark=" +
                           std::to_string(v[2]) + " flags=" + std::to_string(v[4]) + " seed=" + std::to_string(seed);
    EXPECT_EQ(value(buddy::sdiv_pow2(z.mark, 1)), buddy::sdiv_pow2(c.mark, 1).v) << at;
    EXPECT_EQ(value(buddy::sdiv_pow2(z.mark, 2)), buddy::sdiv_pow2(c.mark, 2).v) << at;
    EXPECT_EQ(value(buddy::wmark_min_reduced(z.mark, z.alloc_flags)), buddy::wmark_min_reduced(c.mark, c.alloc_flags).v)
        << at;
    EXPECT_EQ(value(buddy::__zone_watermark_unusable_free(z)), buddy::__zone_watermark_unusable_free(c).v) << at;
    EXPECT_EQ(value(buddy::__zone_watermark_ok(z)), truth(buddy::__zone_watermark_ok(c))) << at;
    EXPECT_EQ(value(buddy::zone_watermark_fast_order0(z)), truth(buddy::zone_watermark_fast_order0(c))) << at;
  }
}
