// props/core_roundtrip.cpp — round-trip properties of the arithmetic cores: a second kind of
// evidence beside the Z3 lemmas, run on the concrete backend with random inputs.
#include <rapidcheck.h>

#include "model/align.hpp"
#include "model/paging.hpp"
#include "model/pte.hpp"
#include "props/registry.hpp"

namespace mmref::props {

namespace {

rc::Gen<std::uint64_t> gen_canonical(unsigned levels) {
  return rc::gen::map(rc::gen::arbitrary<std::uint64_t>(),
                      [levels](std::uint64_t x) { return sign_extend(cword{x}, va_bits(levels)).v; });
}

rc::Gen<unsigned> gen_levels() { return rc::gen::element(4u, 5u); }

}  // namespace

void register_core_roundtrips(std::vector<property>& out) {
  out.push_back({"roundtrip_compose_decompose", {"compose_va/pt_index"}, "round-trip", 2000, 100, {},
                 make_property([] {
                   const unsigned levels = *gen_levels();
                   const std::uint64_t va = *gen_canonical(levels);
                   RC_ASSERT(canonical(va, levels));
                   const auto idx = decompose_va(cword{va}, levels);
                   RC_ASSERT(compose_va(idx, page_offset(cword{va}), levels).v == va);
                 })});
  out.push_back({"roundtrip_canonical_definition", {"is_canonical"}, "round-trip", 2000, 100, {},
                 make_property([] {
                   const unsigned levels = *gen_levels();
                   const std::uint64_t va = *rc::gen::oneOf(gen_canonical(levels), rc::gen::arbitrary<std::uint64_t>());
                   const unsigned n = va_bits(levels);
                   const std::uint64_t top = va >> (n - 1);  // bits 63..n-1
                   const bool definition = top == 0 || top == (~0ull >> (n - 1));
                   RC_ASSERT(canonical(va, levels) == definition);
                 })});
  out.push_back({"roundtrip_pte_encode_decode", {"pte_encode/pte_decode"}, "round-trip", 2000, 100, {},
                 make_property([] {
                   const unsigned level = *rc::gen::inRange(1u, 6u);
                   const unsigned maxphy = *rc::gen::inRange(36u, 53u);
                   const bool huge = (level == PT_PMD || level == PT_PUD) && *rc::gen::arbitrary<bool>();
                   const unsigned align_shift = huge ? (level == PT_PMD ? 9u : 18u) : 0u;
                   const std::uint64_t limit = std::uint64_t{1} << (maxphy - PAGE_SHIFT);
                   const std::uint64_t pfn = (*rc::gen::inRange<std::uint64_t>(0, limit) >> align_shift) << align_shift;
                   const leaf_kind kind = huge ? (level == PT_PMD ? leaf_kind::pmd_2m : leaf_kind::pud_1g)
                                               : (level == PT_PTE ? leaf_kind::page_4k : leaf_kind::table);
                   std::uint64_t flags = *rc::gen::arbitrary<std::uint64_t>() & pte_flags_mask(kind);
                   if (level == PT_PMD || level == PT_PUD) flags = huge ? flags | _PAGE_PSE : flags & ~_PAGE_PSE;
                   if (level >= PT_P4D) flags &= ~_PAGE_PSE;
                   const std::uint64_t e = pte_encode(cword{pfn}, cword{flags}, level, maxphy).v;
                   const auto f = pte_decode(cword{e}, level, maxphy);
                   RC_ASSERT(f.pfn.v == pfn);
                   RC_ASSERT(f.flags.v == flags);
                   RC_ASSERT(truth(f.reserved_clear));
                   RC_ASSERT(truth(f.leaf) == (level == PT_PTE || huge));
                 })});
  out.push_back({"roundtrip_align_exact", {"ALIGN", "PAGE_ALIGN"}, "round-trip", 2000, 100, {},
                 make_property([] {
                   const unsigned s = *rc::gen::inRange(0u, 64u);
                   const std::uint64_t a = std::uint64_t{1} << s;
                   const std::uint64_t x = *rc::gen::oneOf(rc::gen::arbitrary<std::uint64_t>(),
                                                           rc::gen::map(rc::gen::inRange<std::uint64_t>(0, 4096),
                                                                        [](std::uint64_t d) { return ~std::uint64_t{0} - d; }));
                   const auto r = align_up_checked(cword{x}, cword{a});
                   // Independent arithmetic with division: the smallest multiple of a at or above
                   // x is x itself or (x / a + 1) * a, which fits when x / a + 1 <= (2^64-1) / a.
                   const std::uint64_t q = x / a;
                   const bool fits = x % a == 0 || q + 1 <= ~std::uint64_t{0} / a;
                   RC_ASSERT(truth(r.overflow) == !fits);
                   if (fits) RC_ASSERT(r.value.v == (x % a == 0 ? x : (q + 1) * a));
                   RC_ASSERT(IS_ALIGNED(cword{x}, cword{a}).v == (x % a == 0));
                 })});
}

}  // namespace mmref::props
