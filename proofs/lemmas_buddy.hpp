// proofs/lemmas_buddy.hpp — the buddy allocator's arithmetic cores (impl/buddy/buddy_core.hpp)
// as proof obligations. The cores come in as parameters so that a test can put a deliberately
// wrong variant in one slot and watch the lemma about it fail (proofs/tests/test_buddy_lemmas.cpp).
//
// Synopsis
//   buddy_cores              one std::function per core, over zword.
//   buddy_cores::real()      the templates of impl/buddy/buddy_core.hpp instantiated with W = zword:
//                            what register_buddy_lemmas() proves things about.
//   buddy_obligations(c)     every buddy lemma, built over the cores `c`, in a stable order.
//
// register_buddy_lemmas() (proofs/registry.hpp) appends buddy_obligations(buddy_cores::real()).
#pragma once

#include <functional>
#include <vector>

#include "impl/buddy/buddy_core.hpp"
#include "proofs/registry.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs {

struct buddy_cores {
  using wargs = buddy::wmark_args<zword>;
  std::function<zword(const zword& pfn, const zword& order)> find_buddy_pfn;        // __find_buddy_pfn
  std::function<zword(const zword& pfn, const zword& buddy_pfn)> combined_pfn;      // buddy_combined_pfn
  std::function<zbool(const zword& pfn, const zword& order)> aligned_to_order;      // pfn_aligned_to_order
  std::function<zword(const zword& pfn, const zword& high)> expand_upper_half;      // expand_upper_half
  std::function<zbool(const zword& pfn, const zword& order, const zword& start, const zword& end)>
      block_in_zone;                                                                 // block_in_zone
  std::function<zword(const zword& x, unsigned k)> sdiv_pow2;                       // sdiv_pow2
  std::function<zword(const zword& mark, const zword& alloc_flags)> min_reduced;    // wmark_min_reduced
  std::function<zword(const wargs&)> unusable_free;                                 // __zone_watermark_unusable_free
  std::function<zbool(const wargs&)> watermark_ok;                                  // __zone_watermark_ok
  std::function<zbool(const wargs&)> watermark_fast_order0;                         // zone_watermark_fast_order0
  std::function<zword(const zword& gfp)> gfp_zone;                                   // gfp_zone
  std::function<zbool(const zword& gfp)> gfp_zone_bad;                               // gfp_zone_bad

  static buddy_cores real();
};

std::vector<obligation> buddy_obligations(const buddy_cores& c);

}  // namespace mmref::proofs
