// proofs/lemmas_pte.cpp — model/pte.hpp: encode/decode at every level, for all 64-bit inputs.
#include "model/pte.hpp"
#include "proofs/registry.hpp"
#include "proofs/spec.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs {

namespace {
using spec::bv;

const char* level_tag(unsigned level) {
  switch (level) {
    case 1: return "pte";
    case 2: return "pmd";
    case 3: return "pud";
    case 4: return "p4d";
    default: return "pgd5";
  }
}

// The flag bits an entry of this level may carry: the huge layout's when PS is set at
// PMD/PUD, the 4 KiB/table layout's otherwise; PS is reserved at P4D/PGD.
z3::expr flags_fit(const zword& flags, unsigned level, unsigned maxphy) {
  const zbool huge = pte_huge(flags, level);
  const zword mask = by_kind<zword>(huge, level, pte_flags_mask, maxphy);
  z3::expr ok = (flags & ~mask).e == bv(0);
  if (level >= PT_P4D) ok = ok && (flags & zword::lit(_PAGE_PSE)).e == bv(0);
  return ok;
}
}  // namespace

void register_pte_lemmas(std::vector<obligation>& out) {
  const std::string all = "all 64-bit inputs";
  for (unsigned maxphy : {DEFAULT_MAXPHYADDR, 52u}) {
    for (unsigned level = 1; level <= 5; ++level) {
      const std::string tag = std::string(level_tag(level)) + "_maxphy" + std::to_string(maxphy);
      out.push_back({"lemma__pte_encode__decode_roundtrip_" + tag, "pte_encode/pte_decode", "lemma", all,
                     [level, maxphy](z3::context&) {
                       const zword pfn = zword::var("pfn"), flags = zword::var("flags");
                       const zbool huge = pte_huge(flags, level);
                       const zword e = pte_encode(pfn, flags, level, maxphy);
                       const pte_fields<zword> f = pte_decode(e, level, maxphy);
                       const z3::expr leaf_expected = level == PT_PTE ? zscope::ctx().bool_val(true) : huge.e;
                       const z3::expr claim = f.pfn.e == pfn.e && f.flags.e == flags.e && f.reserved_clear.e &&
                                              f.leaf.e == leaf_expected &&
                                              f.present.e == ((flags & zword::lit(_PAGE_PRESENT)).e != bv(0));
                       return spec::make({{"pfn valid for the leaf size", pte_pfn_valid(pfn, huge, level, maxphy).e},
                                          {"flags fit the level's flag field", flags_fit(flags, level, maxphy)}},
                                         claim, {{"pfn", pfn.e}, {"flags", flags.e}, {"entry", e.e}});
                     },
                     20'000'000, level == 1 && maxphy == DEFAULT_MAXPHYADDR});
    }
  }
  for (unsigned level = 1; level <= 3; ++level) {
    const unsigned maxphy = DEFAULT_MAXPHYADDR;
    out.push_back({std::string("lemma__pte_flags__never_disturb_pfn_") + level_tag(level), "pte_encode/pte_decode",
                   "lemma", all, [level, maxphy](z3::context&) {
                     // Any flag word at all, even one with bits in the PFN field: the frame
                     // number decoded is the one encoded, and the flags decoded are the
                     // given ones restricted to the flag field.
                     const zword pfn = zword::var("pfn"), flags = zword::var("flags");
                     const zbool huge = pte_huge(flags, level);
                     const zword e = pte_encode(pfn, flags, level, maxphy);
                     const pte_fields<zword> f = pte_decode(e, level, maxphy);
                     const zword mask = by_kind<zword>(huge, level, pte_flags_mask, maxphy);
                     const z3::expr claim = f.pfn.e == pfn.e && f.flags.e == (flags & mask).e;
                     return spec::make({{"pfn valid for the leaf size", pte_pfn_valid(pfn, huge, level, maxphy).e}}, claim,
                                       {{"pfn", pfn.e}, {"flags", flags.e}, {"entry", e.e}});
                   }});
  }
  out.push_back({"lemma__pte_decode__pfn_below_maxphyaddr", "pte_decode", "lemma", all, [](z3::context&) {
                   const zword e = zword::var("entry");
                   z3::expr claim = zscope::ctx().bool_val(true);
                   for (unsigned level = 1; level <= 5; ++level)
                     claim = claim && z3::ult(pte_decode(e, level, DEFAULT_MAXPHYADDR).pfn.e,
                                              bv(std::uint64_t{1} << (DEFAULT_MAXPHYADDR - PAGE_SHIFT)));
                   return spec::make({}, claim, {{"entry", e.e}});
                 }});
}

}  // namespace mmref::proofs
