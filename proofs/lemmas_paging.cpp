// proofs/lemmas_paging.cpp — model/paging.hpp, for all 64-bit inputs, 4- and 5-level.
#include "model/paging.hpp"
#include "proofs/registry.hpp"
#include "proofs/spec.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs {

namespace {
using spec::bv;

std::array<zword, MAX_LEVELS> index_vars() {
  return {zword::var("i_pte"), zword::var("i_pmd"), zword::var("i_pud"), zword::var("i_p4d"), zword::var("i_pgd5")};
}
}  // namespace

void register_paging_lemmas(std::vector<obligation>& out) {
  const std::string all = "all 64-bit inputs";
  for (unsigned levels : {4u, 5u}) {
    const std::string L = levels == 4 ? "l4" : "l5";
    const unsigned n = va_bits(levels);

    out.push_back({"lemma__is_canonical__sign_extension_definition_" + L, "is_canonical", "lemma", all,
                   [levels, n](z3::context&) {
                     const zword va = zword::var("va");
                     return spec::make({}, is_canonical(va, levels).e == spec::canonical(va.e, n), {{"va", va.e}});
                   },
                   20'000'000, levels == 4});

    out.push_back({"lemma__compose_va__inverts_decompose_" + L, "compose_va/pt_index", "lemma", all,
                   [levels, n](z3::context&) {
                     const zword va = zword::var("va");
                     const zword back = compose_va(decompose_va(va, levels), page_offset(va), levels);
                     return spec::make({{"va canonical", spec::canonical(va.e, n)}}, back.e == va.e,
                                       {{"va", va.e}, {"composed", back.e}});
                   },
                   20'000'000, levels == 4});

    out.push_back({"lemma__decompose_va__inverts_compose_" + L, "compose_va/pt_index", "lemma", all,
                   [levels, n](z3::context&) {
                     const std::array<zword, MAX_LEVELS> idx = index_vars();
                     const zword off = zword::var("offset");
                     std::vector<std::pair<std::string, z3::expr>> pre{{"offset < 4096", z3::ult(off.e, bv(PAGE_SIZE))}};
                     std::vector<std::pair<std::string, z3::expr>> show{{"offset", off.e}};
                     for (unsigned l = 1; l <= levels; ++l) {
                       pre.push_back({"index " + std::to_string(l) + " < 512", z3::ult(idx[l - 1].e, bv(PTRS_PER_TABLE))});
                       show.push_back({"index " + std::to_string(l), idx[l - 1].e});
                     }
                     const zword va = compose_va(idx, off, levels);
                     z3::expr claim = spec::canonical(va.e, n) && page_offset(va).e == off.e;
                     for (unsigned l = 1; l <= levels; ++l) claim = claim && pt_index(va, l).e == idx[l - 1].e;
                     show.push_back({"va", va.e});
                     return spec::make(std::move(pre), claim, std::move(show));
                   }});

    out.push_back({"lemma__pt_index__is_the_level_bit_field_" + L, "pt_index", "lemma", all, [levels](z3::context&) {
                     const zword va = zword::var("va");
                     z3::expr claim = page_offset(va).e == z3::zext(va.e.extract(PAGE_SHIFT - 1, 0), 64 - PAGE_SHIFT);
                     for (unsigned l = 1; l <= levels; ++l) {
                       const unsigned lo = level_shift(l);
                       claim = claim && pt_index(va, l).e == z3::zext(va.e.extract(lo + PT_INDEX_BITS - 1, lo), 64 - PT_INDEX_BITS);
                     }
                     return spec::make({}, claim, {{"va", va.e}});
                   }});
  }
}

}  // namespace mmref::proofs
