// proofs/pt_invariants.cpp — PT-WF and TLB-COHERENT: what the machine's operations write and
// decide, checked through the same templates the machine runs.
//
// PT-WF: the entries map_page, map_pmd and table population write are well formed (pte_wf),
// for every frame and protection the operations accept (the acceptance conditions below are
// the ones page_tables::map_page / map_pmd test before writing).
//
// TLB-COHERENT is per TLB entry: one entry T of one CPU, the leaf L the page tables hold at
// T's address, and whether a flush of exactly T's extent is owed to that CPU. Bound: one
// entry, one leaf, one operation (the invariant is a conjunction over entries, and each
// operation acts on every entry alike).
#include "model/interval.hpp"
#include "model/invariants.hpp"
#include "model/pte.hpp"
#include "proofs/registry.hpp"
#include "proofs/spec.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs {

namespace {
using spec::bv;

// A leaf extent: 4 KiB, 2 MiB or 1 GiB, aligned to its size, not wrapping.
struct extent {
  zword va, size;
  explicit extent(const std::string& p) : va(zword::var(p + "_va")), size(zword::var(p + "_size")) {}
  z3::expr wf() const {
    const z3::expr sizes = size.e == bv(PAGE_SIZE) || size.e == bv(PMD_SIZE) || size.e == bv(PUD_SIZE);
    return sizes && IS_ALIGNED(va, size).e && z3::ult(va.e, (va + size).e);
  }
  zword end() const { return va + size; }
};

struct tlb_state {
  extent t{"tlb"};
  zword t_pfn = zword::var("tlb_pfn"), t_flags = zword::var("tlb_flags");
  extent l{"leaf"};
  zbool l_present{zword::var("leaf_present_bit").e == bv(1)};
  zword l_pfn = zword::var("leaf_pfn"), l_flags = zword::var("leaf_flags");
  zbool owed{zword::var("owed_bit").e == bv(1)};

  // The walk at T's address finds L when L is present and covers T's first byte.
  zbool walk_ok() const { return l_present && zbool{z3::ule(l.va.e, t.va.e) && z3::ult(t.va.e, l.end().e)}; }
  zbool coherent(const zbool& present, const zbool& owed_now) const {
    const zbool ok = present && zbool{z3::ule(l.va.e, t.va.e) && z3::ult(t.va.e, l.end().e)};
    return tlb_entry_coherent(t_pfn, t.size, t_flags, ok, l_pfn, l.size, l_flags, owed_now);
  }
  std::vector<std::pair<std::string, z3::expr>> pre() const {
    return {{"TLB extent well formed", t.wf()},
            {"leaf extent well formed", l.wf()},
            {"TLB-COHERENT before", coherent(l_present, owed).e}};
  }
  std::vector<std::pair<std::string, z3::expr>> show() const {
    return {{"tlb_va", t.va.e}, {"tlb_size", t.size.e}, {"tlb_pfn", t_pfn.e}, {"leaf_va", l.va.e},
            {"leaf_size", l.size.e}, {"leaf_pfn", l_pfn.e}, {"leaf_present", l_present.e}, {"owed", owed.e}};
  }
};
}  // namespace

void register_pt_invariant_proofs(std::vector<obligation>& out) {
  const unsigned maxphy = DEFAULT_MAXPHYADDR;
  const std::string all = "all 64-bit inputs";

  out.push_back({"map_page__establishes__PT-WF", "PT-WF", "lemma", all,
                 [maxphy](z3::context&) {
                   const zword pfn = zword::var("pfn"), prot = zword::var("prot");
                   const zword e = pte_encode(pfn, prot, PT_PTE, maxphy);
                   return spec::make(
                       {{"pfn accepted", pte_pfn_valid(pfn, zbool::lit(false), PT_PTE, maxphy).e},
                        {"prot accepted", (prot & ~zword::lit(pte_flags_mask(leaf_kind::page_4k))).e == bv(0) &&
                                              (prot & zword::lit(_PAGE_PRESENT)).e != bv(0)}},
                       pte_wf(e, PT_PTE, maxphy).e && pte_decode(e, PT_PTE, maxphy).pfn.e == pfn.e,
                       {{"pfn", pfn.e}, {"prot", prot.e}, {"entry", e.e}});
                 },
                 20'000'000, true});

  out.push_back({"map_pmd__establishes__PT-WF", "PT-WF", "lemma", all, [maxphy](z3::context&) {
                   const zword pfn = zword::var("pfn"), prot = zword::var("prot");
                   const zword leaf_prot = prot | zword::lit(_PAGE_PSE);
                   const zword e = pte_encode(pfn, leaf_prot, PT_PMD, maxphy);
                   const pte_fields<zword> f = pte_decode(e, PT_PMD, maxphy);
                   return spec::make(
                       {{"pfn accepted", pte_pfn_valid(pfn, zbool::lit(true), PT_PMD, maxphy).e},
                        {"prot accepted", (leaf_prot & ~zword::lit(pte_flags_mask(leaf_kind::pmd_2m))).e == bv(0) &&
                                              (prot & zword::lit(_PAGE_PRESENT)).e != bv(0)}},
                       pte_wf(e, PT_PMD, maxphy).e && f.leaf.e && f.pfn.e == pfn.e,
                       {{"pfn", pfn.e}, {"prot", prot.e}, {"entry", e.e}});
                 }});

  out.push_back({"populate_table__establishes__PT-WF", "PT-WF", "lemma", all, [maxphy](z3::context&) {
                   const zword pfn = zword::var("table_pfn");
                   z3::expr claim = zscope::ctx().bool_val(true);
                   for (unsigned level = 2; level <= 5; ++level) {
                     const zword e = pte_encode(pfn, zword::lit(_KERNPG_TABLE), level, maxphy);
                     const pte_fields<zword> f = pte_decode(e, level, maxphy);
                     claim = claim && pte_wf(e, level, maxphy).e && !f.leaf.e && f.pfn.e == pfn.e;
                   }
                   return spec::make({{"table frame below MAXPHYADDR",
                                       z3::ult(pfn.e, bv(std::uint64_t{1} << (maxphy - PAGE_SHIFT)))}},
                                     claim, {{"table_pfn", pfn.e}});
                 }});

  const std::string per_entry = "1 TLB entry x 1 leaf";

  out.push_back({"unmap__preserves__TLB-COHERENT", "TLB-COHERENT", "bounded", per_entry,
                 [](z3::context&) {
                   const tlb_state s;
                   // machine::unmap clears L and records a flush owed for exactly L's extent.
                   const zbool present_after = zbool::lit(false);
                   const zbool owed_after = s.owed || zbool{s.l_present.e && (s.l.va.e == s.t.va.e) && (s.l.size.e == s.t.size.e)};
                   return spec::make(s.pre(), s.coherent(present_after, owed_after).e, s.show());
                 },
                 20'000'000, true});

  out.push_back({"map__preserves__TLB-COHERENT", "TLB-COHERENT", "bounded", per_entry, [](z3::context&) {
                   tlb_state s;
                   // Mapping installs a new leaf only where none is present; the TLB and the
                   // owed flushes are untouched (a map needs no flush).
                   const extent m{"new"};
                   const zword m_pfn = zword::var("new_pfn"), m_flags = zword::var("new_flags");
                   std::vector<std::pair<std::string, z3::expr>> pre = s.pre();
                   pre.push_back({"nothing mapped at T's address", (!s.walk_ok()).e});
                   pre.push_back({"new leaf well formed", m.wf()});
                   const zbool covers{z3::ule(m.va.e, s.t.va.e) && z3::ult(s.t.va.e, m.end().e)};
                   const zbool ok_after = covers;
                   const z3::expr claim =
                       tlb_entry_coherent(s.t_pfn, s.t.size, s.t_flags, ok_after, m_pfn, m.size, m_flags, s.owed).e;
                   return spec::make(std::move(pre), claim, s.show());
                 }});

  out.push_back({"flush__preserves__TLB-COHERENT", "TLB-COHERENT", "bounded", per_entry, [](z3::context&) {
                   const tlb_state s;
                   // flush_tlb_kernel_range(f_start, f_end): T is dropped when it overlaps
                   // the range, and the owed flush for T's extent is discharged when it does.
                   const zword f_start = zword::var("flush_start"), f_end = zword::var("flush_end");
                   const zbool hit = overlaps(s.t.va, s.t.end(), f_start, f_end);
                   const zbool owed_after = s.owed && !hit;
                   const z3::expr claim = z3::implies(!hit.e, s.coherent(s.l_present, owed_after).e);
                   std::vector<std::pair<std::string, z3::expr>> show = s.show();
                   show.push_back({"flush_start", f_start.e});
                   show.push_back({"flush_end", f_end.e});
                   return spec::make(s.pre(), claim, std::move(show));
                 }});
}

}  // namespace mmref::proofs
