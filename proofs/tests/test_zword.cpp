// Tests for proofs/zword.hpp: every core, run through Z3 on random concrete inputs, gives the
// same answer as the uint64_t run. This is what lets a proof about the symbolic run speak
// about the concrete one.
#include "proofs/zword.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "model/align.hpp"
#include "model/interval.hpp"
#include "model/invariants.hpp"
#include "model/layout.hpp"
#include "model/paging.hpp"
#include "model/pte.hpp"

using namespace mmref;
using namespace mmref::proofs;

namespace {

std::uint64_t seed_from_env() {
  const char* s = std::getenv("MMREF_SEED");
  return s ? std::strtoull(s, nullptr, 0) : 20261122;
}

struct ZWord : ::testing::Test {
  z3::context ctx;
  zscope scope{ctx};
  std::uint64_t seed = seed_from_env();
  std::mt19937_64 rng{seed};
  void SetUp() override { std::printf("ZWord differential seed=%llu (MMREF_SEED=%llu to replay)\n",
                                      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed)); }

  // Random words biased toward edges: small shifts, values near 0 and 2^64, canonical VAs.
  std::uint64_t pick() {
    switch (rng() % 6) {
      case 0: return rng() % 80;
      case 1: return ~std::uint64_t{0} - rng() % 80;
      case 2: return std::uint64_t{1} << (rng() % 64);
      case 3: return 0xffffc90000000000ull + (rng() & 0xffffffffffull);
      case 4: return rng() & 0x000ffffffffff1ffull;
      default: return rng();
    }
  }

  void same(const cword& c, const zword& z, const char* what, std::uint64_t a, std::uint64_t b) {
    const auto v = value_of(z);
    ASSERT_TRUE(v.has_value()) << what << " did not fold to a numeral";
    ASSERT_EQ(*v, c.v) << what << "(" << std::hex << a << ", " << b << ") seed=" << std::dec << seed;
  }
  void same(const cbool& c, const zbool& z, const char* what, std::uint64_t a, std::uint64_t b) {
    const auto v = value_of(z);
    ASSERT_TRUE(v.has_value()) << what << " did not fold to true/false";
    ASSERT_EQ(*v, truth(c)) << what << "(" << std::hex << a << ", " << b << ") seed=" << std::dec << seed;
  }
};

constexpr int ROUNDS = 300;

}  // namespace

TEST_F(ZWord, PrimitiveOperations) {
  for (int i = 0; i < ROUNDS; ++i) {
    const std::uint64_t a = pick(), b = pick();
    const cword ca{a}, cb{b};
    const zword za = zword::lit(a), zb = zword::lit(b);
    same(ca + cb, za + zb, "add", a, b);
    same(ca - cb, za - zb, "sub", a, b);
    same(ca * cb, za * zb, "mul", a, b);
    same(ca & cb, za & zb, "and", a, b);
    same(ca | cb, za | zb, "or", a, b);
    same(ca ^ cb, za ^ zb, "xor", a, b);
    same(~ca, ~za, "not", a, b);
    same(shl(ca, cb), shl(za, zb), "shl", a, b);
    same(lshr(ca, cb), lshr(za, zb), "lshr", a, b);
    same(ashr(ca, cb), ashr(za, zb), "ashr", a, b);
    same(udiv(ca, cb), udiv(za, zb), "udiv", a, b);
    same(urem(ca, cb), urem(za, zb), "urem", a, b);
    same(ult(ca, cb), ult(za, zb), "ult", a, b);
    same(ule(ca, cb), ule(za, zb), "ule", a, b);
    same(ugt(ca, cb), ugt(za, zb), "ugt", a, b);
    same(uge(ca, cb), uge(za, zb), "uge", a, b);
    same(slt(ca, cb), slt(za, zb), "slt", a, b);
    same(sle(ca, cb), sle(za, zb), "sle", a, b);
    same(sgt(ca, cb), sgt(za, zb), "sgt", a, b);
    same(sge(ca, cb), sge(za, zb), "sge", a, b);
    same(eq(ca, cb), eq(za, zb), "eq", a, b);
    same(ne(ca, cb), ne(za, zb), "ne", a, b);
    same(select(ult(ca, cb), ca, cb), select(ult(za, zb), za, zb), "select", a, b);
  }
}

TEST_F(ZWord, AlignmentCores) {
  for (int i = 0; i < ROUNDS; ++i) {
    const std::uint64_t x = pick(), a = std::uint64_t{1} << (rng() % 64);
    same(ALIGN(cword{x}, cword{a}), ALIGN(zword::lit(x), zword::lit(a)), "ALIGN", x, a);
    same(ALIGN_DOWN(cword{x}, cword{a}), ALIGN_DOWN(zword::lit(x), zword::lit(a)), "ALIGN_DOWN", x, a);
    same(IS_ALIGNED(cword{x}, cword{a}), IS_ALIGNED(zword::lit(x), zword::lit(a)), "IS_ALIGNED", x, a);
    same(align_up_checked(cword{x}, cword{a}).overflow, align_up_checked(zword::lit(x), zword::lit(a)).overflow,
         "align_up_checked.overflow", x, a);
    same(PAGE_ALIGN(cword{x}), PAGE_ALIGN(zword::lit(x)), "PAGE_ALIGN", x, 0);
    same(is_power_of_2(cword{x}), is_power_of_2(zword::lit(x)), "is_power_of_2", x, 0);
    same(PFN_PHYS(cword{x}), PFN_PHYS(zword::lit(x)), "PFN_PHYS", x, 0);
    same(PHYS_PFN(cword{x}), PHYS_PFN(zword::lit(x)), "PHYS_PFN", x, 0);
    same(direct_map_va(cword{x}, cword{a}), direct_map_va(zword::lit(x), zword::lit(a)), "__va", x, a);
  }
}

TEST_F(ZWord, PagingCores) {
  for (int i = 0; i < ROUNDS; ++i) {
    const std::uint64_t va = pick();
    for (unsigned levels : {4u, 5u}) {
      same(is_canonical(cword{va}, levels), is_canonical(zword::lit(va), levels), "is_canonical", va, levels);
      for (unsigned l = 1; l <= levels; ++l)
        same(pt_index(cword{va}, l), pt_index(zword::lit(va), l), "pt_index", va, l);
      const auto ci = decompose_va(cword{va}, levels);
      const auto zi = decompose_va(zword::lit(va), levels);
      same(compose_va(ci, page_offset(cword{va}), levels), compose_va(zi, page_offset(zword::lit(va)), levels),
           "compose_va", va, levels);
    }
  }
}

TEST_F(ZWord, PteCores) {
  for (int i = 0; i < ROUNDS; ++i) {
    const std::uint64_t pfn = pick(), flags = pick(), entry = pick();
    for (unsigned maxphy : {40u, 46u, 52u}) {
      for (unsigned level = 1; level <= 5; ++level) {
        same(pte_encode(cword{pfn}, cword{flags}, level, maxphy), pte_encode(zword::lit(pfn), zword::lit(flags), level, maxphy),
             "pte_encode", pfn, flags);
        const auto cf = pte_decode(cword{entry}, level, maxphy);
        const auto zf = pte_decode(zword::lit(entry), level, maxphy);
        same(cf.pfn, zf.pfn, "pte_decode.pfn", entry, level);
        same(cf.flags, zf.flags, "pte_decode.flags", entry, level);
        same(cf.present, zf.present, "pte_decode.present", entry, level);
        same(cf.leaf, zf.leaf, "pte_decode.leaf", entry, level);
        same(cf.reserved_clear, zf.reserved_clear, "pte_decode.reserved_clear", entry, level);
        same(pte_wf(cword{entry}, level, maxphy), pte_wf(zword::lit(entry), level, maxphy), "pte_wf", entry, level);
        const cbool ch{(flags & 1) != 0};
        const zbool zh = zbool::lit((flags & 1) != 0);
        same(pte_pfn_valid(cword{pfn}, ch, level, maxphy), pte_pfn_valid(zword::lit(pfn), zh, level, maxphy),
             "pte_pfn_valid", pfn, level);
      }
    }
  }
}

TEST_F(ZWord, IntervalAndInvariantCores) {
  for (int i = 0; i < ROUNDS; ++i) {
    const std::uint64_t a = pick(), b = pick(), c = pick(), d = pick();
    same(overlaps(cword{a}, cword{b}, cword{c}, cword{d}), overlaps(zword::lit(a), zword::lit(b), zword::lit(c), zword::lit(d)),
         "overlaps", a, c);
    same(contains(cword{a}, cword{b}, cword{c}, cword{d}), contains(zword::lit(a), zword::lit(b), zword::lit(c), zword::lit(d)),
         "contains", a, c);
    const bool ok = rng() & 1, owed = rng() & 1;
    const std::uint64_t ad = rng() & 0x61;  // A, D, or P differing between the TLB and the walk
    same(tlb_entry_coherent(cword{a}, cword{b}, cword{c}, cbool{ok}, cword{a}, cword{d}, cword{c ^ ad}, cbool{owed}),
         tlb_entry_coherent(zword::lit(a), zword::lit(b), zword::lit(c), zbool::lit(ok), zword::lit(a), zword::lit(d),
                            zword::lit(c ^ ad), zbool::lit(owed)),
         "tlb_entry_coherent", a, b);
  }
}
