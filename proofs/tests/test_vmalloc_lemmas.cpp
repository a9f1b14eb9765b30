// Tests for proofs/lemmas_vmalloc.hpp: the vmalloc lemmas can fail. Each obligation is built again
// over a deliberately wrong core (ALIGN rounding down, an end test with <, the pre-5.18 adjustment,
// a search length one byte short, a clip that keeps [s, nva] inclusive, a merge across a guard
// page, fls off by one, ...)
// and Z3 must report it VIOLATED; a core that makes a path unreachable must make that path's
// obligation VACUOUS. And the vmalloc cores, run through Z3 on random concrete inputs, agree with
// the uint64_t run, so the lemmas about the symbolic run speak about the code that runs.
#include "proofs/lemmas_vmalloc.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>

#include "impl/vmalloc/va_core.hpp"
#include "model/align.hpp"
#include "proofs/registry.hpp"
#include "proofs/tests/harness.hpp"
#include "proofs/zword.hpp"

using namespace mmref;
using namespace mmref::proofs;

namespace {

using harness::named;

using nva_fn = std::function<zword(const zword& s, const zword& vstart, const zword& align)>;

// A copy of is_within_this_va over a given start candidate, with switches for the bugs a
// hand-written version could have. With every switch off and the kernel's candidate it is the
// kernel's function (TheHandWrittenWithinCopyIsFaithful), so a violation reported for a mutant
// comes from its bug.
struct within_bugs {
  bool strict_end = false;       // nva + size < va_end: an exact fit rejected
  bool no_vstart_check = false;  // the `nva_start_addr < vstart` wrap test dropped
  bool no_end_check = false;     // only the wrap tests: any block accepted
};

zbool within_variant(const nva_fn& nva_start, const zword& s, const zword& e, const zword& size, const zword& align,
                     const zword& vstart, within_bugs b) {
  const zword nva = nva_start(s, vstart, align);
  const zbool wraps = b.no_vstart_check ? ult(nva + size, nva) : ult(nva + size, nva) || ult(nva, vstart);
  const zbool end_ok = b.no_end_check ? zbool::lit(true) : b.strict_end ? ult(nva + size, e) : ule(nva + size, e);
  return !wraps && end_ok;
}

zword max_of(const zword& s, const zword& vstart) { return select(ugt(s, vstart), s, vstart); }

// The kernel's candidate, ALIGN(max(va_start, vstart), align), written again.
zword nva_kernel(const zword& s, const zword& vstart, const zword& align) { return ALIGN(max_of(s, vstart), align); }

vmalloc_cores with(const std::function<void(vmalloc_cores&)>& change) {
  vmalloc_cores c = vmalloc_cores::real();
  change(c);
  return c;
}

// The start candidate and the test replaced together (the test calls the candidate).
vmalloc_cores with_within(const nva_fn& nva_start, within_bugs b) {
  return with([nva_start, b](vmalloc_cores& c) {
    c.nva_start = nva_start;
    c.within = [nva_start, b](const zword& s, const zword& e, const zword& size, const zword& align, const zword& vstart) {
      return within_variant(nva_start, s, e, size, align, vstart, b);
    };
  });
}

// va_clip with one remainder bound or flag replaced.
vmalloc_cores with_clip(const std::function<void(vmalloc_cores::pieces&, const zword& s, const zword& e, const zword& nva,
                                                 const zword& size)>& change) {
  return with([change](vmalloc_cores& c) {
    c.clip = [change](const zword& s, const zword& e, const zword& nva, const zword& size) {
      vmalloc_cores::pieces p = vmalloc::va_clip(s, e, nva, size);
      change(p, s, e, nva, size);
      return p;
    };
  });
}

vmalloc_cores with_merge(const std::function<zbool(const zword&, const zword&)>& can_merge) {
  return with([can_merge](vmalloc_cores& c) { c.can_merge = can_merge; });
}

zbool merge_across_a_guard_page(const zword& l, const zword& r) { return eq(l + zword::lit(PAGE_SIZE), r); }

// One wrong core per obligation: the obligation must catch it.
// (The lambdas build their words when called, inside the discharging context's zscope.)
std::map<std::string, vmalloc_cores> mutants() {
  std::map<std::string, vmalloc_cores> m;
  m["lemma__is_within_this_va__fit_lies_inside_the_block"] =  // ALIGN rounding down
      with_within([](const zword& s, const zword& vstart, const zword& align) { return ALIGN_DOWN(max_of(s, vstart), align); }, {});
  m["lemma__is_within_this_va__start_below_the_block_only_when_vstart_is_zero"] =
      with_within(nva_kernel, {.no_vstart_check = true});
  m["lemma__is_within_this_va__decides_by_its_candidate"] = with_within(nva_kernel, {.no_vstart_check = true});
  m["lemma__is_within_this_va__rejects_only_blocks_without_a_fit"] = with_within(nva_kernel, {.strict_end = true});
  m["lemma__va_nva_start__is_the_lowest_fit"] = with([](vmalloc_cores& c) {
    // ALIGN of the next byte: an already aligned start is skipped.
    c.nva_start = [](const zword& s, const zword& vstart, const zword& align) {
      return ALIGN(max_of(s, vstart) + zword::lit(1), align);
    };
  });
  m["lemma__va_adjust_search_size__exact"] = with([](vmalloc_cores& c) {
    // Before 9333fe98d0a6 (5.18): adjusted whenever align > PAGE_SIZE, exact windows included.
    c.adjust_search_size = [](const zword&, const zword& align, const zword&, const zword&) {
      return ugt(align, zword::lit(PAGE_SIZE));
    };
  });
  m["lemma__is_within_this_va__passes_blocks_of_the_search_length"] = with([](vmalloc_cores& c) {
    c.search_length = [](const zword& size, const zword& align, const zbool& adjust) {
      return select(adjust, size + align - zword::lit(2), size);  // one byte short
    };
  });
  m["lemma__is_within_this_va__small_align_passes_blocks_of_the_size"] = with([](vmalloc_cores& c) {
    // The adjustment left on at align == PAGE_SIZE.
    c.adjust_search_size = [](const zword& size, const zword& align, const zword& vstart, const zword& vend) {
      return !(ult(align, zword::lit(PAGE_SIZE)) || (ugt(align, zword::lit(PAGE_SIZE)) && eq(vend - vstart, size)));
    };
  });
  m["nonvacuous__find_vmap_lowest_match_prunes_a_fitting_block"] = with_within(nva_kernel, {.no_end_check = true});
  m["lemma__va_clip__pieces_partition_the_block"] =  // the left remainder [s, nva] inclusive
      with_clip([](vmalloc_cores::pieces& p, const zword&, const zword&, const zword& nva, const zword&) {
        p.left_end = nva + zword::lit(1);
      });
  m["nonvacuous__va_clip_FL_FIT_TYPE"] =  // an empty right remainder reported
      with_clip([](vmalloc_cores::pieces& p, const zword&, const zword& e, const zword& nva, const zword& size) {
        p.has_right = ule(nva + size, e);
      });
  m["nonvacuous__va_clip_LE_FIT_TYPE"] =  // va->va_start += size forgotten: the right piece starts at nva
      with_clip([](vmalloc_cores::pieces& p, const zword&, const zword&, const zword& nva, const zword&) { p.right_start = nva; });
  m["nonvacuous__va_clip_RE_FIT_TYPE"] =  // va->va_end set to the allocation's end
      with_clip([](vmalloc_cores::pieces& p, const zword&, const zword&, const zword& nva, const zword& size) {
        p.left_end = nva + size;
      });
  m["nonvacuous__va_clip_NE_FIT_TYPE"] =  // lva = [s, nva] inclusive
      with_clip([](vmalloc_cores::pieces& p, const zword&, const zword&, const zword& nva, const zword&) {
        p.left_end = nva + zword::lit(1);
      });
  // Overlapping neighbours merged: [a1, b2) keeps the right one's end and drops the left one's tail.
  m["lemma__va_can_merge__union_is_exact"] = with_merge([](const zword& l, const zword& r) { return uge(l, r); });
  m["lemma__va_can_merge__never_merges_apart"] =
      with_merge([](const zword& l, const zword& r) { return eq(l, r) || merge_across_a_guard_page(l, r); });
  m["nonvacuous__merge_or_add_vmap_area_next"] = with_merge(merge_across_a_guard_page);
  m["nonvacuous__merge_or_add_vmap_area_prev"] = with_merge(merge_across_a_guard_page);
  m["nonvacuous__merge_or_add_vmap_area_both"] = with_merge(merge_across_a_guard_page);
  // Never merging: touching neighbours stay apart, the free tree is not coalesced.
  m["nonvacuous__merge_or_add_vmap_area_none"] = with_merge([](const zword&, const zword&) { return zbool::lit(false); });
  m["lemma__fls64__highest_set_bit"] = with([](vmalloc_cores& c) {
    c.fls = [](const zword& x) {  // 0-based: off by one
      zword r = zword::lit(0);
      for (unsigned i = 0; i < 64; ++i) r = select(ne(lshr(x, i), zword::lit(0)), zword::lit(i), r);
      return r;
    };
  });
  m["lemma__lazy_max_pages__fls_times_8192"] = with([](vmalloc_cores& c) {
    // log2(n) instead of fls(n) (the digest's warning, §2.2)
    c.lazy_max_pages = [](const zword& n) { return (vmalloc::fls64(n) - zword::lit(1)) * zword::lit(8192); };
  });
  m["lemma__lazy_max_pages__monotone"] = with([](vmalloc_cores& c) {
    c.lazy_max_pages = [](const zword& n) { return vmalloc::fls64(n - zword::lit(1)) * zword::lit(8192); };
  });
  return m;
}

}  // namespace

TEST(VmallocLemmas, EveryObligationIsRegisteredAndHasAMutant) {
  const auto m = mutants();
  std::set<std::string> registered;
  for (const obligation& o : all_obligations()) registered.insert(o.name);
  for (const obligation& o : vmalloc_obligations(vmalloc_cores::real())) {
    EXPECT_TRUE(registered.count(o.name)) << o.name << " is not in all_obligations()";
    EXPECT_TRUE(m.count(o.name)) << o.name << " has no mutant in this test";
  }
  EXPECT_EQ(m.size(), vmalloc_obligations(vmalloc_cores::real()).size());
}

TEST(VmallocLemmas, EachObligationCatchesItsMutant) {
  for (const auto& [name, cores] : mutants()) {
    const proof_result r = discharge(named(vmalloc_obligations(cores), name), solver_opts{});
    EXPECT_EQ(r.z3, verdict::violated) << name << ": " << verdict_text(r.z3) << " " << r.detail;
    EXPECT_FALSE(r.counterexample.empty()) << name;
    std::printf("  %-72s %s %.2fs %s\n", name.c_str(), verdict_text(r.z3), r.z3_seconds, r.detail.c_str());
  }
}

// A core that makes a path unreachable makes that path's obligation VACUOUS, not proved: the
// path obligations show reachability, not only a claim.
TEST(VmallocLemmas, AnUnreachablePathIsReportedVacuous) {
  std::map<std::string, vmalloc_cores> unreachable;
  unreachable["nonvacuous__va_clip_RE_FIT_TYPE"] = with([](vmalloc_cores& c) {
    c.classify = [](const zword& s, const zword& e, const zword& nva, const zword& size) {  // RE reported as NE
      const zword t = vmalloc::classify_va_fit_type(s, e, nva, size);
      return select(eq(t, zword::lit(vmalloc::RE_FIT_TYPE)), zword::lit(vmalloc::NE_FIT_TYPE), t);
    };
  });
  unreachable["nonvacuous__merge_or_add_vmap_area_both"] = with_merge([](const zword&, const zword&) { return zbool::lit(false); });
  unreachable["nonvacuous__find_vmap_lowest_match_prunes_a_fitting_block"] = with([](vmalloc_cores& c) {
    c.search_length = [](const zword& size, const zword&, const zbool&) { return size; };  // no widening
  });
  for (const auto& [name, cores] : unreachable) {
    const proof_result r = discharge(named(vmalloc_obligations(cores), name), solver_opts{});
    EXPECT_EQ(r.z3, verdict::vacuous) << name << ": " << verdict_text(r.z3) << " " << r.counterexample << r.detail;
    std::printf("  %-72s %s %.2fs\n", name.c_str(), verdict_text(r.z3), r.z3_seconds);
  }
}

// The hand-written copy of is_within_this_va with no switch on, over the kernel's candidate,
// proves the lemmas its mutants break: the violations above come from the bugs, not the copy.
TEST(VmallocLemmas, TheHandWrittenWithinCopyIsFaithful) {
  const std::vector<obligation> v = vmalloc_obligations(with_within(nva_kernel, {}));
  for (const char* name : {"lemma__is_within_this_va__fit_lies_inside_the_block",
                           "lemma__is_within_this_va__decides_by_its_candidate",
                           "lemma__is_within_this_va__start_below_the_block_only_when_vstart_is_zero",
                           "lemma__is_within_this_va__rejects_only_blocks_without_a_fit",
                           "nonvacuous__find_vmap_lowest_match_prunes_a_fitting_block"}) {
    const proof_result r = discharge(named(v, name), solver_opts{});
    EXPECT_EQ(r.z3, verdict::proved) << name << ": " << verdict_text(r.z3) << " " << r.counterexample << r.detail;
  }
}

// ---------------------------------------------------------------------------------------------
// Differential: every vmalloc core through Z3 at random concrete inputs equals the uint64_t run.
// ---------------------------------------------------------------------------------------------

namespace {

struct VmallocZWord : ::testing::Test {
  z3::context ctx;
  zscope scope{ctx};
  std::uint64_t seed = [] {
    const char* s = std::getenv("MMREF_SEED");
    return s ? std::strtoull(s, nullptr, 0) : 20261122;
  }();
  std::mt19937_64 rng{seed};
  void SetUp() override {
    std::printf("VmallocZWord differential seed=%llu (MMREF_SEED=%llu to replay)\n", static_cast<unsigned long long>(seed),
                static_cast<unsigned long long>(seed));
  }

  // Addresses biased toward the edges: small, near 2^64 (where ALIGN and the end wrap), page
  // aligned, in the vmalloc window, and near a previous pick (so blocks touch and fits are exact).
  std::uint64_t last = 0;
  std::uint64_t pick() {
    switch (rng() % 7) {
      case 0: last = rng() % 80; break;
      case 1: last = ~std::uint64_t{0} - rng() % 0x3000; break;
      case 2: last = (rng() & 0xffff) << PAGE_SHIFT; break;
      case 3: last = 0xffffc90000000000 + ((rng() & 0xfffff) << PAGE_SHIFT); break;
      case 4: last = last + (rng() % 5) * PAGE_SIZE - 2 * PAGE_SIZE; break;
      case 5: last = last + rng() % 3 - 1; break;
      default: last = rng(); break;
    }
    return last;
  }
  std::uint64_t pick_align() {
    switch (rng() % 4) {
      case 0: return std::uint64_t{1} << (rng() % 64);
      case 1: return std::uint64_t{1} << (rng() % 22);
      case 2: return rng() % 3 == 0 ? 0 : rng() % 9000;  // not a power of two: the cores are total
      default: return PAGE_SIZE;
    }
  }
  std::uint64_t pick_size() {
    switch (rng() % 4) {
      case 0: return (1 + rng() % 64) * PAGE_SIZE;
      case 1: return rng() % 3 == 0 ? 0 : rng();
      case 2: return ~std::uint64_t{0} - (rng() % 4) * PAGE_SIZE + 1;
      default: return pick();
    }
  }

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

TEST_F(VmallocZWord, FitAndSearchAgree) {
  using namespace mmref::vmalloc;
  int accepted = 0, rejected = 0, below_max = 0, adjusted = 0;
  for (int i = 0; i < 400; ++i) {
    const std::uint64_t s = pick(), e = pick(), size = pick_size(), align = pick_align(), vstart = pick(), vend = pick();
    const cword cs{s}, ce{e}, csize{size}, calign{align}, cvstart{vstart}, cvend{vend};
    const zword zs = zword::lit(s), ze = zword::lit(e), zsize = zword::lit(size), zalign = zword::lit(align),
                zvstart = zword::lit(vstart), zvend = zword::lit(vend);
    char at[200];
    std::snprintf(at, sizeof at, "s=%#llx e=%#llx size=%#llx align=%#llx vstart=%#llx vend=%#llx seed=%llu",
                  static_cast<unsigned long long>(s), static_cast<unsigned long long>(e), static_cast<unsigned long long>(size),
                  static_cast<unsigned long long>(align), static_cast<unsigned long long>(vstart),
                  static_cast<unsigned long long>(vend), static_cast<unsigned long long>(seed));
    const cword cnva = va_nva_start(cs, cvstart, calign);
    EXPECT_EQ(value(va_nva_start(zs, zvstart, zalign)), cnva.v) << at;
    EXPECT_EQ(value(is_within_this_va(zs, ze, zsize, zalign, zvstart)), truth(is_within_this_va(cs, ce, csize, calign, cvstart)))
        << at;
    for (bool adj : {false, true})
      EXPECT_EQ(value(va_search_length(zsize, zalign, zbool::lit(adj))), va_search_length(csize, calign, cbool{adj}).v) << at;
    EXPECT_EQ(value(va_adjust_search_size(zsize, zalign, zvstart, zvend)),
              truth(va_adjust_search_size(csize, calign, cvstart, cvend)))
        << at;
    EXPECT_EQ(value(va_fits_vend(zword::lit(cnva.v), zsize, zvend)), truth(va_fits_vend(cnva, csize, cvend))) << at;
    (truth(is_within_this_va(cs, ce, csize, calign, cvstart)) ? accepted : rejected)++;
    below_max += cnva.v < std::max(s, vstart);  // ALIGN wrapped (or align is not a power of two)
    adjusted += truth(va_adjust_search_size(csize, calign, cvstart, cvend));
  }
  // The inputs reach both answers and the wrap: a differential that never sees them proves little.
  std::printf("  accepted %d, rejected %d, nva below max(va_start, vstart) %d, adjusted %d\n", accepted, rejected, below_max,
              adjusted);
  EXPECT_GT(accepted, 20);
  EXPECT_GT(rejected, 20);
  EXPECT_GT(below_max, 0);
  EXPECT_GT(adjusted, 20);
}

TEST_F(VmallocZWord, ClipAndMergeAgree) {
  using namespace mmref::vmalloc;
  int types[5] = {};
  for (int i = 0; i < 400; ++i) {
    // nva and size near the block's edges half of the time, so every fit type comes up.
    const std::uint64_t s = pick(), e = rng() % 2 ? s + (rng() % 8) * PAGE_SIZE : pick();
    const std::uint64_t nva = rng() % 2 ? s + (rng() % 4) * PAGE_SIZE : pick();
    const std::uint64_t size = rng() % 2 ? e - nva - (rng() % 3) * PAGE_SIZE : pick_size();
    const cword cs{s}, ce{e}, cn{nva}, cz{size};
    const zword zs = zword::lit(s), ze = zword::lit(e), zn = zword::lit(nva), zz = zword::lit(size);
    const std::string at = "s=" + std::to_string(s) + " e=" + std::to_string(e) + " nva=" + std::to_string(nva) +
                           " size=" + std::to_string(size) + " seed=" + std::to_string(seed);
    EXPECT_EQ(value(classify_va_fit_type(zs, ze, zn, zz)), classify_va_fit_type(cs, ce, cn, cz).v) << at;
    const va_pieces<cword> cp = va_clip(cs, ce, cn, cz);
    const va_pieces<zword> zp = va_clip(zs, ze, zn, zz);
    EXPECT_EQ(value(zp.left_start), cp.left_start.v) << at;
    EXPECT_EQ(value(zp.left_end), cp.left_end.v) << at;
    EXPECT_EQ(value(zp.right_start), cp.right_start.v) << at;
    EXPECT_EQ(value(zp.right_end), cp.right_end.v) << at;
    EXPECT_EQ(value(zp.has_left), truth(cp.has_left)) << at;
    EXPECT_EQ(value(zp.has_right), truth(cp.has_right)) << at;
    EXPECT_EQ(value(va_can_merge(ze, zs)), truth(va_can_merge(ce, cs))) << at;
    EXPECT_EQ(value(va_can_merge(ze, ze)), truth(va_can_merge(ce, ce))) << at;
    types[classify_va_fit_type(cs, ce, cn, cz).v]++;
  }
  std::printf("  NOTHING %d, FL %d, LE %d, RE %d, NE %d\n", types[0], types[1], types[2], types[3], types[4]);
  for (int t : types) EXPECT_GT(t, 0) << "every fit type must come up";
}

TEST_F(VmallocZWord, FlsAndLazyMaxPagesAgree) {
  using namespace mmref::vmalloc;
  for (int i = 0; i < 300; ++i) {
    const std::uint64_t n = i < 70 ? static_cast<std::uint64_t>(i) : rng() % 2 ? rng() >> (rng() % 64) : pick();
    const std::string at = "n=" + std::to_string(n) + " seed=" + std::to_string(seed);
    EXPECT_EQ(value(fls64(zword::lit(n))), fls64(cword{n}).v) << at;
    EXPECT_EQ(value(vmalloc::lazy_max_pages(zword::lit(n))), lazy_max_pages_for(n)) << at;
  }
}
