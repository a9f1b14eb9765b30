// model/invariants.hpp — PT-WF and TLB-COHERENT: the per-entry predicates (word templates,
// shared with proofs/) and the checkers that apply them to a live machine.
//
// Synopsis
//   pte_wf(entry, level, maxphy)          (model/pte.hpp) PT-WF for one entry.
//   tlb_entry_coherent(...)               TLB-COHERENT for one TLB entry.
//   check_PT_WF(m)                        every table frame distinct and allocated, every
//                                         present entry well formed, no vmalloc/module leaf
//                                         maps a table frame, every leaf address canonical.
//   check_TLB_COHERENT(m)                 every TLB entry on every CPU matches the page tables
//                                         or a flush of exactly its extent is owed to it.
//   check_machine(m)                      both; `report` renders violations with a dump of
//                                         the state they were judged on.
//
// The checkers are part of the trusted base (docs/TRUSTED.md): each has a negative test that
// corrupts a state on purpose and expects its ID.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/machine.hpp"
#include "model/pte.hpp"
#include "model/word.hpp"

namespace mmref {

inline constexpr const char* PT_WF = "PT-WF";
inline constexpr const char* TLB_COHERENT = "TLB-COHERENT";

// TLB-COHERENT for one entry: the walk at the entry's address yields the same frame, size and
// flags (A and D may have been set since the fill), or the entry's range is owed a flush on
// this CPU.
template <word W>
constexpr bool_t<W> tlb_entry_coherent(W tlb_pfn, W tlb_size, W tlb_flags, bool_t<W> walk_ok, W walk_pfn,
                                       W walk_size, W walk_flags, bool_t<W> owed) {
  const W ad = ~W::lit(_PAGE_ACCESSED | _PAGE_DIRTY);
  return owed || (walk_ok && eq(tlb_pfn, walk_pfn) && eq(tlb_size, walk_size) &&
                  eq(tlb_flags & ad, walk_flags & ad));
}

struct violation {
  std::string id;      // invariant ID from DESIGN.md
  std::string detail;  // what was found where
};

std::vector<violation> check_PT_WF(const machine& m);
std::vector<violation> check_TLB_COHERENT(const machine& m);
std::vector<violation> check_machine(const machine& m);

// A readable dump of the state: present leaves, table frames, TLBs and owed flushes.
std::string dump_machine(const machine& m, std::size_t max_lines = 64);
// Violations followed by the dump, or "" when there are none.
std::string report(const std::vector<violation>& v, const machine& m);

}  // namespace mmref
