// proofs/lemmas_vmalloc.hpp — the KVA allocator's arithmetic cores (impl/vmalloc/va_core.hpp) as
// proof obligations. The cores come in as parameters so that a test can put a deliberately wrong
// variant in one slot and watch the lemma about it fail (proofs/tests/test_vmalloc_lemmas.cpp).
//
// Synopsis
//   vmalloc_cores             one std::function per core, over zword.
//   vmalloc_cores::real()     the templates of impl/vmalloc/va_core.hpp instantiated with
//                             W = zword: what register_vmalloc_lemmas() proves things about.
//   vmalloc_obligations(c)    every vmalloc lemma and path witness, built over the cores `c`, in a
//                             stable order.
//
// register_vmalloc_lemmas() (proofs/registry.hpp) appends vmalloc_obligations(vmalloc_cores::real()).
#pragma once

#include <functional>
#include <vector>

#include "impl/vmalloc/va_core.hpp"
#include "proofs/registry.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs {

struct vmalloc_cores {
  using pieces = vmalloc::va_pieces<zword>;
  // va_nva_start: ALIGN(max(va_start, vstart), align)
  std::function<zword(const zword& va_start, const zword& vstart, const zword& align)> nva_start;
  // is_within_this_va
  std::function<zbool(const zword& va_start, const zword& va_end, const zword& size, const zword& align,
                      const zword& vstart)>
      within;
  // va_search_length: find_vmap_lowest_match's pruning length
  std::function<zword(const zword& size, const zword& align, const zbool& adjust)> search_length;
  // va_adjust_search_size: __alloc_vmap_area's adjust_search_size
  std::function<zbool(const zword& size, const zword& align, const zword& vstart, const zword& vend)> adjust_search_size;
  // va_fits_vend: __alloc_vmap_area's `nva_start_addr + size > vend` check, negated
  std::function<zbool(const zword& nva, const zword& size, const zword& vend)> fits_vend;
  // classify_va_fit_type
  std::function<zword(const zword& va_start, const zword& va_end, const zword& nva, const zword& size)> classify;
  // va_clip: the remainders adjust_va_to_fit_type leaves
  std::function<pieces(const zword& va_start, const zword& va_end, const zword& nva, const zword& size)> clip;
  // va_can_merge: __merge_or_add_vmap_area's adjacency test
  std::function<zbool(const zword& left_end, const zword& right_start)> can_merge;
  // fls64: fls()
  std::function<zword(const zword& x)> fls;
  // lazy_max_pages
  std::function<zword(const zword& online_cpus)> lazy_max_pages;

  static vmalloc_cores real();
};

std::vector<obligation> vmalloc_obligations(const vmalloc_cores& c);

}  // namespace mmref::proofs
