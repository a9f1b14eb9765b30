// proofs/lemmas_vmalloc.cpp — impl/vmalloc/va_core.hpp: the fit (is_within_this_va, the start
// candidate, the vend check), the kernel's widened search length, the clip of a free block by
// fit type, the merge of neighbours and lazy_max_pages(), for all 64-bit inputs.
//
// Every obligation runs the core templates with W = zword (through vmalloc_cores::real()) and
// states its claim against a specification written directly in Z3 terms below. Sums that could
// wrap are taken in 65 bits (`wide`), so "ends at or below e, no wrap" is one comparison that
// does not reuse the core's own wrap test. Alignment is a mask (v & (align - 1) == 0 with align a
// power of two), never bvurem/bvudiv (DESIGN.md). Interval facts are stated per address: a
// symbolic x, with x in [lo, hi) as lo <= x < hi; a claim over x holds for every address.
//
// What the lemmas say, in the kernel's terms (linux-vmalloc.md §1.3–1.5, §9 items 7–8):
//   the fit       lemma__is_within_this_va__fit_lies_inside_the_block: an accepted free block
//                 [s, e) holds the aligned allocation inside [vstart, vend) (VM-RANGE) and inside
//                 the block (VM-DISJOINT: carved only from free space), and the carve is never
//                 NOTHING_FIT. Its precondition vstart != 0 is needed: with vstart = 0 a block in
//                 the top align-1 bytes makes ALIGN wrap to 0, which is accepted
//                 (lemma__is_within_this_va__start_below_the_block_only_when_vstart_is_zero; the
//                 kernel's classify_va_fit_type then answers NOTHING_FIT and __alloc_vmap_area
//                 WARNs; no kernel caller passes vstart = 0).
//   exactness     lemma__is_within_this_va__decides_by_its_candidate (the test is "nva >= vstart
//                 and [nva, nva + size) ends inside the block, no wrap", for every input);
//                 lemma__va_nva_start__is_the_lowest_fit (every aligned a >= max(s, vstart) is
//                 >= nva); lemma__is_within_this_va__rejects_only_blocks_without_a_fit (no aligned
//                 a >= max(s, vstart) with a + size <= e exists when the test says no: the
//                 negated goal asserts such an a).
//   the search    lemma__is_within_this_va__passes_blocks_of_the_search_length: with the
//                 adjustment on, every block of at least size + align - 1 bytes above vstart is
//                 accepted, so pruning by that length never skips a block that long;
//                 lemma__is_within_this_va__small_align_passes_blocks_of_the_size: with
//                 align <= PAGE_SIZE the length is size and every page-aligned block of size bytes
//                 is accepted (the kernel's reason for turning the adjustment off); and the witness
//                 nonvacuous__find_vmap_lowest_match_prunes_a_fitting_block: a page-aligned block
//                 shorter than the search length that is_within_this_va accepts — pruned subtrees
//                 can hide real fits (§1.5 consequences 1 and 2).
//   the clip      lemma__va_clip__pieces_partition_the_block, and one path per fit type
//                 (nonvacuous__va_clip_FL_FIT_TYPE ... NE), each reached from the allocator's own
//                 choice of nva and stating adjust_va_to_fit_type's assignments for that type.
//   the merge     lemma__va_can_merge__union_is_exact, lemma__va_can_merge__never_merges_apart,
//                 and one path per outcome of __merge_or_add_vmap_area (next, prev, both, none),
//                 each with the kernel's assignments and the result coalesced.
//   lazy purge    lemma__fls64__highest_set_bit, lemma__lazy_max_pages__fls_times_8192,
//                 lemma__lazy_max_pages__monotone.
//
// How the fit lemmas stay cheap. Z3 4.8.12 takes 10 s to over a minute on any single query that
// mixes a symbolic power-of-two mask (ALIGN) with ordering facts about several 64-bit sums
// (measured: the search-length lemma whole, 52 s; pinning align to each of its 64 values in one
// query, worse; cvc5 1.0.3 stays near 1-3 s). Two standard steps keep every query near a
// second (DESIGN.md: "prove per-step lemmas and compose them"):
//   - completeness takes, as a named precondition, an instance of a lemma proved above for every
//     input (lemma__va_nva_start__is_the_lowest_fit at its a): a valid formula, so assuming it
//     loses no input, and the solver no longer re-derives it through the mask;
//   - the search-length lemma is proved in parts (registry.hpp): each part is either about a core
//     alone (the test decides by its candidate; the candidate's bounds from ALIGN; the adjusted
//     length) or about sums alone with the candidate a free word n, in the shape both solvers
//     handle (a bound on n, then one addition of size with its own no-wrap condition). Its
//     comment gives the composition; every part holds for all values of its own variables, so
//     instances of the parts compose.
//
// Note: the running allocator (impl/vmalloc/kva_modern.cpp, vmap_area.cpp) calls
// is_within_this_va, va_nva_start, va_search_length, va_adjust_search_size, va_fits_vend,
// classify_va_fit_type and lazy_max_pages; it writes the clip's and the merge's assignments
// by hand in its switch and its neighbour tests. The path obligations below state exactly those
// assignments next to the cores, so a reader can compare the two.
#include "proofs/lemmas_vmalloc.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "impl/vmalloc/va_core.hpp"
#include "model/align.hpp"
#include "proofs/registry.hpp"
#include "proofs/spec.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs {

namespace {

using namespace mmref::vmalloc;
using spec::bv;
using named = std::vector<std::pair<std::string, z3::expr>>;

z3::context& ctx() { return zscope::ctx(); }

named plus(named a, named b) {
  for (auto& x : b) a.push_back(std::move(x));
  return a;
}

// ---------------------------------------------------------------------------------------------
// Specifications (trusted: read them against mm/vmalloc.c 6.1 and include/linux/align.h)
// ---------------------------------------------------------------------------------------------

// A power of two: exactly one bit set, by mask.
z3::expr pow2(const z3::expr& a) { return a != bv(0) && (a & (a - bv(1))) == bv(0); }

// v is a multiple of the power of two a: its low log2(a) bits are zero, by mask.
z3::expr aligned(const z3::expr& v, const z3::expr& a) { return (v & (a - bv(1))) == bv(0); }

z3::expr page_aligned(const z3::expr& v) { return spec::low_bits_zero(v, PAGE_SHIFT); }

// 65-bit values: sums of two words cannot wrap.
z3::expr wide(const z3::expr& v) { return z3::zext(v, 1); }
z3::expr two_to_64() { return z3::concat(ctx().bv_val(1, 1), ctx().bv_val(0, 64)); }

// [a, a + size) ends at or below `limit`, the sum taken without wrapping.
z3::expr ends_by(const z3::expr& a, const z3::expr& size, const z3::expr& limit) {
  return z3::ule(wide(a) + wide(size), wide(limit));
}

// x in the half-open interval [lo, hi).
z3::expr in(const z3::expr& x, const z3::expr& lo, const z3::expr& hi) { return z3::ule(lo, x) && z3::ult(x, hi); }

// ---------------------------------------------------------------------------------------------
// The symbolic inputs of one request against one free block.
// ---------------------------------------------------------------------------------------------

struct request {
  zword s = zword::var("va_start"), e = zword::var("va_end");
  zword size = zword::var("size"), align = zword::var("align");
  zword vstart = zword::var("vstart"), vend = zword::var("vend");

  // alloc_vmap_area(): BUG_ON(offset_in_page(size)), BUG_ON(!is_power_of_2(align)); size 0 is
  // refused before (__get_vm_area_node / __vmalloc_node_range).
  named pre() const {
    return {{"align is a power of two", pow2(align.e)},
            {"size > 0", size.e != bv(0)},
            {"size is a page multiple", page_aligned(size.e)}};
  }
  named show() const {
    return {{"va_start", s.e}, {"va_end", e.e}, {"size", size.e}, {"align", align.e}, {"vstart", vstart.e}, {"vend", vend.e}};
  }
};

using parts_t = std::vector<std::pair<std::string, goal>>;

// What is_within_this_va should decide for a candidate start n: n at or above vstart, and
// [n, n + size) ends inside the block without wrapping.
z3::expr accepts(const z3::expr& n, const request& r) { return z3::uge(n, r.vstart.e) && ends_by(n, r.size.e, r.e.e); }

// size + align - 1 < 2^64: the search length does not wrap.
z3::expr size_align_fits(const request& r) { return z3::ule(wide(r.size.e) + wide(r.align.e), two_to_64()); }

// is_within_this_va decides by its candidate nva = va_nva_start(...): for every input (the
// preconditions `pre` only carry a lemma's assumptions into the non-vacuity check).
goal decides_by_candidate(const vmalloc_cores& c, const request& r, named pre) {
  const zword nva = c.nva_start(r.s, r.vstart, r.align);
  return spec::make(std::move(pre), c.within(r.s, r.e, r.size, r.align, r.vstart).e == accepts(nva.e, r),
                    plus(r.show(), {{"nva", nva.e}}));
}

// The candidate is aligned, at or above va_start and vstart, and at or below every aligned a at
// or above both.
goal candidate_is_lowest(const vmalloc_cores& c) {
  const request r;
  const zword a = zword::var("a");
  const zword nva = c.nva_start(r.s, r.vstart, r.align);
  return spec::make({{"align is a power of two", pow2(r.align.e)},
                     {"a is aligned, a >= va_start, a >= vstart",
                      aligned(a.e, r.align.e) && z3::uge(a.e, r.s.e) && z3::uge(a.e, r.vstart.e)}},
                    z3::ule(nva.e, a.e) && aligned(nva.e, r.align.e) && z3::uge(nva.e, r.s.e) && z3::uge(nva.e, r.vstart.e),
                    {{"va_start", r.s.e}, {"vstart", r.vstart.e}, {"align", r.align.e}, {"a", a.e}, {"nva", nva.e}});
}

}  // namespace

vmalloc_cores vmalloc_cores::real() {
  vmalloc_cores c;
  c.nva_start = [](const zword& s, const zword& vstart, const zword& align) { return va_nva_start(s, vstart, align); };
  c.within = [](const zword& s, const zword& e, const zword& size, const zword& align, const zword& vstart) {
    return is_within_this_va(s, e, size, align, vstart);
  };
  c.search_length = [](const zword& size, const zword& align, const zbool& adjust) {
    return va_search_length(size, align, adjust);
  };
  c.adjust_search_size = [](const zword& size, const zword& align, const zword& vstart, const zword& vend) {
    return va_adjust_search_size(size, align, vstart, vend);
  };
  c.fits_vend = [](const zword& nva, const zword& size, const zword& vend) { return va_fits_vend(nva, size, vend); };
  c.classify = [](const zword& s, const zword& e, const zword& nva, const zword& size) {
    return classify_va_fit_type(s, e, nva, size);
  };
  c.clip = [](const zword& s, const zword& e, const zword& nva, const zword& size) { return va_clip(s, e, nva, size); };
  c.can_merge = [](const zword& left_end, const zword& right_start) { return va_can_merge(left_end, right_start); };
  c.fls = [](const zword& x) { return fls64(x); };
  c.lazy_max_pages = [](const zword& n) { return vmalloc::lazy_max_pages(n); };
  return c;
}

std::vector<obligation> vmalloc_obligations(const vmalloc_cores& c) {
  std::vector<obligation> out;
  const std::string all = "all 64-bit inputs";
  const std::string req = "all 64-bit inputs, align a power of two, size > 0 a page multiple";

  // ---------------------------------------------------------------------------------------------
  // The fit: is_within_this_va, va_nva_start, va_fits_vend (__alloc_vmap_area steps 2-4)
  // ---------------------------------------------------------------------------------------------

  out.push_back({"lemma__is_within_this_va__fit_lies_inside_the_block", "is_within_this_va VM-RANGE VM-DISJOINT", "lemma",
                 req + ", vstart != 0",
                 [c](z3::context&) {
                   const request r;
                   const zword nva = c.nva_start(r.s, r.vstart, r.align);
                   const z3::expr claim = aligned(nva.e, r.align.e) && z3::uge(nva.e, r.vstart.e) &&
                                          ends_by(nva.e, r.size.e, r.vend.e) && z3::uge(nva.e, r.s.e) &&
                                          ends_by(nva.e, r.size.e, r.e.e) &&
                                          c.classify(r.s, r.e, nva, r.size).e != bv(NOTHING_FIT);
                   return spec::make(plus(r.pre(), {{"vstart != 0", r.vstart.e != bv(0)},
                                                    {"is_within_this_va", c.within(r.s, r.e, r.size, r.align, r.vstart).e},
                                                    {"nva + size <= vend", c.fits_vend(nva, r.size, r.vend).e}}),
                                     claim, plus(r.show(), {{"nva", nva.e}}));
                 },
                 20'000'000, true});

  // The one way an accepted start lies below the block: ALIGN wrapped to 0 and vstart is 0.
  // The kernel's classify_va_fit_type catches it (NOTHING_FIT).
  out.push_back({"lemma__is_within_this_va__start_below_the_block_only_when_vstart_is_zero", "is_within_this_va VM-RANGE",
                 "lemma", req,
                 [c](z3::context&) {
                   const request r;
                   const zword nva = c.nva_start(r.s, r.vstart, r.align);
                   return spec::make(plus(r.pre(), {{"is_within_this_va", c.within(r.s, r.e, r.size, r.align, r.vstart).e},
                                                    {"nva < va_start", z3::ult(nva.e, r.s.e)}}),
                                     nva.e == bv(0) && r.vstart.e == bv(0) && c.classify(r.s, r.e, nva, r.size).e == bv(NOTHING_FIT),
                                     plus(r.show(), {{"nva", nva.e}}));
                 }});

  // Lowest-ness: the candidate is at or below every aligned start at or above max(va_start,
  // vstart) (whether or not one fits), and is itself aligned and at or above both.
  out.push_back({"lemma__va_nva_start__is_the_lowest_fit", "va_nva_start", "lemma", "all 64-bit inputs, align a power of two",
                 [c](z3::context&) { return candidate_is_lowest(c); }});

  // is_within_this_va accepts exactly when its candidate is at or above vstart and the
  // allocation from it ends inside the block without wrapping.
  out.push_back({"lemma__is_within_this_va__decides_by_its_candidate", "is_within_this_va VM-RANGE", "lemma", all,
                 [c](z3::context&) {
                   const request r;
                   return decides_by_candidate(c, r, {});
                 }});

  // Completeness of the exact test: a rejected block holds no fit. The claim is "no aligned a
  // fits"; its negation, which the solvers refute, asserts that some a does. One precondition is
  // an instance, at this a, of lemma__va_nva_start__is_the_lowest_fit (proved above for every
  // input, so the instance is a valid formula): with it both solvers answer in about a second;
  // without it Z3 needs 6.5 s (measured).
  out.push_back({"lemma__is_within_this_va__rejects_only_blocks_without_a_fit", "is_within_this_va", "lemma", req,
                 [c](z3::context&) {
                   const request r;
                   const zword a = zword::var("a");
                   const zword nva = c.nva_start(r.s, r.vstart, r.align);
                   const z3::expr above = aligned(a.e, r.align.e) && z3::uge(a.e, r.s.e) && z3::uge(a.e, r.vstart.e);
                   return spec::make(
                       plus(r.pre(), {{"!is_within_this_va", !c.within(r.s, r.e, r.size, r.align, r.vstart).e},
                                      {"lemma__va_nva_start__is_the_lowest_fit, at a: a aligned, >= va_start, >= vstart => "
                                       "nva <= a, nva >= vstart",
                                       z3::implies(above, z3::ule(nva.e, a.e) && z3::uge(nva.e, r.vstart.e))}}),
                       !(above && ends_by(a.e, r.size.e, r.e.e)), plus(r.show(), {{"a (a fit the test missed)", a.e}, {"nva", nva.e}}));
                 }});

  // ---------------------------------------------------------------------------------------------
  // The search length (find_vmap_lowest_match, __alloc_vmap_area step 1)
  // ---------------------------------------------------------------------------------------------

  out.push_back({"lemma__va_adjust_search_size__exact", "va_adjust_search_size", "lemma", all,
                 [c](z3::context&) {
                   const zword size = zword::var("size"), align = zword::var("align"), vstart = zword::var("vstart"),
                               vend = zword::var("vend");
                   const z3::expr off = z3::ule(align.e, bv(PAGE_SIZE)) || vend.e - vstart.e == size.e;
                   return spec::make({}, c.adjust_search_size(size, align, vstart, vend).e == !off,
                                     {{"size", size.e}, {"align", align.e}, {"vstart", vstart.e}, {"vend", vend.e}});
                 }});

  // With the adjustment on, a block at least as long as the search length, above vstart, is
  // always accepted: pruning subtrees whose largest block is shorter skips no such block.
  // In parts (header), with M = align - 1:
  //   decides    within(s, e) == accepts(nva), under the lemma's preconditions
  //   length     the adjusted length is size + M, which does not wrap    (the cores)
  //   room       s + (size + M) <= e => s + M does not wrap, (s + M) + size <= e   (every M)
  //   candidate  vstart <= s, s + M no wrap => s <= nva <= s + M         (the core)
  //   fits       vstart <= s, n in [s, s + M], (s + M) + size <= e => accepts(n)  (every n, M)
  // Under the preconditions: length turns "the block holds length bytes" into s + (size + M)
  // <= e; room gives its two steps; candidate places nva in [s, s + M]; fits at n = nva gives
  // accepts(nva); decides gives within.
  out.push_back({"lemma__is_within_this_va__passes_blocks_of_the_search_length", "va_search_length is_within_this_va",
                 "lemma", req + ", align > PAGE_SIZE, size + align - 1 < 2^64", nullptr, 20'000'000, false,
                 [c](z3::context&) {
                   parts_t p;
                   {
                     const request r;
                     const zbool adjust = c.adjust_search_size(r.size, r.align, r.vstart, r.vend);
                     const zword len = c.search_length(r.size, r.align, adjust);
                     p.emplace_back("decides: is_within_this_va decides by its candidate (under the lemma's preconditions)",
                                    decides_by_candidate(
                                        c, r,
                                        plus(r.pre(), {{"align > PAGE_SIZE", z3::ugt(r.align.e, bv(PAGE_SIZE))},
                                                       {"adjust_search_size", adjust.e},
                                                       {"size + align - 1 < 2^64", size_align_fits(r)},
                                                       {"the block holds length bytes: va_start + length <= va_end, no wrap",
                                                        ends_by(r.s.e, len.e, r.e.e)},
                                                       {"vstart <= va_start", z3::ule(r.vstart.e, r.s.e)}})));
                   }
                   {
                     const request r;
                     const zbool adjust = c.adjust_search_size(r.size, r.align, r.vstart, r.vend);
                     const zword len = c.search_length(r.size, r.align, adjust);
                     const z3::expr m = r.align.e - bv(1);
                     p.emplace_back("length: the adjusted search length is size + (align - 1), no wrap",
                                    spec::make({{"align > PAGE_SIZE", z3::ugt(r.align.e, bv(PAGE_SIZE))},
                                                {"adjust_search_size", adjust.e},
                                                {"size + align - 1 < 2^64", size_align_fits(r)}},
                                               len.e == r.size.e + m && z3::uge(r.size.e + m, r.size.e),
                                               plus(r.show(), {{"length", len.e}})));
                   }
                   {
                     const zword s = zword::var("va_start"), e = zword::var("va_end"), size = zword::var("size"),
                                 m = zword::var("mask");
                     p.emplace_back("room: a block holding size + mask bytes holds mask bytes, then size more",
                                    spec::make({{"size + mask does not wrap", z3::uge(size.e + m.e, size.e)},
                                                {"va_start + (size + mask) <= va_end, no wrap", ends_by(s.e, size.e + m.e, e.e)}},
                                               z3::uge(s.e + m.e, s.e) && ends_by(s.e + m.e, size.e, e.e),
                                               {{"va_start", s.e}, {"va_end", e.e}, {"size", size.e}, {"mask", m.e}}));
                   }
                   {
                     const request r;
                     const zword nva = c.nva_start(r.s, r.vstart, r.align);
                     const z3::expr m = r.align.e - bv(1);
                     p.emplace_back("candidate: from va_start above vstart, the candidate lies in [va_start, va_start + align - 1]",
                                    spec::make({{"align is a power of two", pow2(r.align.e)},
                                                {"vstart <= va_start", z3::ule(r.vstart.e, r.s.e)},
                                                {"va_start + align - 1 does not wrap", z3::uge(r.s.e + m, r.s.e)}},
                                               z3::uge(nva.e, r.s.e) && z3::ule(nva.e, r.s.e + m),
                                               plus(r.show(), {{"nva", nva.e}})));
                   }
                   {
                     const request r;
                     const zword n = zword::var("n"), m = zword::var("mask");
                     p.emplace_back("fits: a start in [va_start, va_start + mask] fits when va_start + mask + size <= va_end",
                                    spec::make({{"vstart <= va_start", z3::ule(r.vstart.e, r.s.e)},
                                                {"va_start + mask does not wrap", z3::uge(r.s.e + m.e, r.s.e)},
                                                {"(va_start + mask) + size <= va_end, no wrap", ends_by(r.s.e + m.e, r.size.e, r.e.e)},
                                                {"va_start <= n <= va_start + mask", z3::uge(n.e, r.s.e) && z3::ule(n.e, r.s.e + m.e)}},
                                               accepts(n.e, r), plus(r.show(), {{"n", n.e}, {"mask", m.e}})));
                   }
                   return p;
                 }});

  // align <= PAGE_SIZE: no adjustment, the length is size, and since every free block starts
  // page aligned, a block of size bytes above vstart is accepted: the search is exact.
  out.push_back({"lemma__is_within_this_va__small_align_passes_blocks_of_the_size", "va_search_length is_within_this_va",
                 "lemma", req + ", align <= PAGE_SIZE, va_start page aligned",
                 [c](z3::context&) {
                   const request r;
                   const zbool adjust = c.adjust_search_size(r.size, r.align, r.vstart, r.vend);
                   const zword len = c.search_length(r.size, r.align, adjust);
                   return spec::make(plus(r.pre(), {{"align <= PAGE_SIZE", z3::ule(r.align.e, bv(PAGE_SIZE))},
                                                    {"va_start page aligned", page_aligned(r.s.e)},
                                                    {"the block holds size bytes: va_start + size <= va_end, no wrap",
                                                     ends_by(r.s.e, r.size.e, r.e.e)},
                                                    {"vstart <= va_start", z3::ule(r.vstart.e, r.s.e)}}),
                                     !adjust.e && len.e == r.size.e && c.within(r.s, r.e, r.size, r.align, r.vstart).e,
                                     plus(r.show(), {{"length", len.e}}));
                 }});

  // The documented skipped case (§1.5 consequences 1-2): with the adjustment on, a page-aligned
  // free block shorter than size + align - 1 (but at least size) that is_within_this_va accepts,
  // with the fit below vend. The preconditions are the path; the registry's non-vacuity check
  // shows it reachable. The claim: the fit pruning hides is a real one.
  out.push_back({"nonvacuous__find_vmap_lowest_match_prunes_a_fitting_block", "va_search_length is_within_this_va", "lemma",
                 req + ", page-aligned block and window",
                 [c](z3::context&) {
                   const request r;
                   const zbool adjust = c.adjust_search_size(r.size, r.align, r.vstart, r.vend);
                   const zword len = c.search_length(r.size, r.align, adjust);
                   const zword nva = c.nva_start(r.s, r.vstart, r.align);
                   const zword block = r.e - r.s;
                   return spec::make(
                       plus(r.pre(), {{"align > PAGE_SIZE", z3::ugt(r.align.e, bv(PAGE_SIZE))},
                                      {"adjust_search_size", adjust.e},
                                      {"size + align - 1 < 2^64", z3::ule(wide(r.size.e) + wide(r.align.e), two_to_64())},
                                      {"va_start, va_end, vstart, vend page aligned",
                                       page_aligned(r.s.e) && page_aligned(r.e.e) && page_aligned(r.vstart.e) && page_aligned(r.vend.e)},
                                      {"0 < vstart <= va_start <= va_end", r.vstart.e != bv(0) && z3::ule(r.vstart.e, r.s.e) && z3::ule(r.s.e, r.e.e)},
                                      {"path: size <= va_end - va_start < length", z3::ule(r.size.e, block.e) && z3::ult(block.e, len.e)},
                                      {"path: is_within_this_va", c.within(r.s, r.e, r.size, r.align, r.vstart).e},
                                      {"path: nva + size <= vend", c.fits_vend(nva, r.size, r.vend).e}}),
                       aligned(nva.e, r.align.e) && z3::uge(nva.e, r.s.e) && ends_by(nva.e, r.size.e, r.e.e),
                       plus(r.show(), {{"length", len.e}, {"nva", nva.e}}));
                 }});

  // ---------------------------------------------------------------------------------------------
  // The clip: classify_va_fit_type and va_clip (adjust_va_to_fit_type)
  // ---------------------------------------------------------------------------------------------

  // For every valid fit [nva, nva + size) in [s, e): the remainders and the allocation partition
  // the block, address by address; each remainder is reported exactly when it is non-empty; and
  // the fit type names which remainders exist.
  out.push_back({"lemma__va_clip__pieces_partition_the_block", "va_clip classify_va_fit_type VM-PARTITION VM-DISJOINT",
                 "lemma", all + ", a valid fit: va_start <= nva, nva + size <= va_end without wrap",
                 [c](z3::context&) {
                   const zword s = zword::var("va_start"), e = zword::var("va_end"), nva = zword::var("nva"),
                               size = zword::var("size"), x = zword::var("x");
                   const vmalloc_cores::pieces p = c.clip(s, e, nva, size);
                   const z3::expr type = c.classify(s, e, nva, size).e;
                   const z3::expr in_block = in(x.e, s.e, e.e), in_left = in(x.e, p.left_start.e, p.left_end.e),
                                  in_right = in(x.e, p.right_start.e, p.right_end.e),
                                  in_alloc = in(x.e, nva.e, nva.e + size.e);
                   const z3::expr hl = p.has_left.e, hr = p.has_right.e;
                   const z3::expr claim =
                       (in_block == (in_left || in_right || in_alloc)) && !(in_left && in_alloc) && !(in_right && in_alloc) &&
                       !(in_left && in_right) && z3::ule(p.left_start.e, p.left_end.e) &&
                       z3::ule(p.right_start.e, p.right_end.e) && hl == z3::ult(p.left_start.e, p.left_end.e) &&
                       hr == z3::ult(p.right_start.e, p.right_end.e) &&
                       (type == bv(FL_FIT_TYPE)) == (!hl && !hr) && (type == bv(LE_FIT_TYPE)) == (!hl && hr) &&
                       (type == bv(RE_FIT_TYPE)) == (hl && !hr) && (type == bv(NE_FIT_TYPE)) == (hl && hr);
                   return spec::make({{"va_start <= nva", z3::ule(s.e, nva.e)},
                                      {"nva + size <= va_end, no wrap", ends_by(nva.e, size.e, e.e)}},
                                     claim,
                                     {{"va_start", s.e}, {"va_end", e.e}, {"nva", nva.e}, {"size", size.e}, {"x", x.e},
                                      {"fit type", type}, {"left_end", p.left_end.e}, {"right_start", p.right_start.e}});
                 },
                 20'000'000, true});

  // One path per fit type, from the allocator's own choice (an accepted block, the fit below
  // vend): the type is reachable, and the remainders are adjust_va_to_fit_type's assignments.
  struct fit_path {
    fit_type type;
    const char* name;
    const char* what;  // the kernel's statements
  };
  for (const fit_path f : {fit_path{FL_FIT_TYPE, "FL_FIT_TYPE", "no remainder: the descriptor is freed"},
                           fit_path{LE_FIT_TYPE, "LE_FIT_TYPE", "right only: va->va_start += size"},
                           fit_path{RE_FIT_TYPE, "RE_FIT_TYPE", "left only: va->va_end = nva_start_addr"},
                           fit_path{NE_FIT_TYPE, "NE_FIT_TYPE",
                                    "both: lva = [va_start, nva_start_addr), va->va_start = nva_start_addr + size"}}) {
    out.push_back({std::string("nonvacuous__va_clip_") + f.name, "va_clip classify_va_fit_type VM-PARTITION VM-DISJOINT",
                   "lemma", req + ", vstart != 0", [c, f](z3::context&) {
                     const request r;
                     const zword nva = c.nva_start(r.s, r.vstart, r.align);
                     const vmalloc_cores::pieces p = c.clip(r.s, r.e, nva, r.size);
                     const z3::expr hl = p.has_left.e, hr = p.has_right.e;
                     z3::expr claim = ctx().bool_val(true);
                     switch (f.type) {
                       case FL_FIT_TYPE:
                         claim = !hl && !hr && nva.e == r.s.e && nva.e + r.size.e == r.e.e;
                         break;
                       case LE_FIT_TYPE:
                         claim = !hl && hr && nva.e == r.s.e && p.right_start.e == r.s.e + r.size.e && p.right_end.e == r.e.e;
                         break;
                       case RE_FIT_TYPE:
                         claim = hl && !hr && p.left_start.e == r.s.e && p.left_end.e == nva.e && nva.e + r.size.e == r.e.e;
                         break;
                       default:
                         claim = hl && hr && p.left_start.e == r.s.e && p.left_end.e == nva.e &&
                                 p.right_start.e == nva.e + r.size.e && p.right_end.e == r.e.e;
                         break;
                     }
                     return spec::make(plus(r.pre(), {{"vstart != 0", r.vstart.e != bv(0)},
                                                      {"is_within_this_va", c.within(r.s, r.e, r.size, r.align, r.vstart).e},
                                                      {"nva + size <= vend", c.fits_vend(nva, r.size, r.vend).e},
                                                      {std::string("path: ") + f.name + " (" + f.what + ")",
                                                       c.classify(r.s, r.e, nva, r.size).e == bv(f.type)}}),
                                       claim,
                                       plus(r.show(), {{"nva", nva.e}, {"left_end", p.left_end.e}, {"right_start", p.right_start.e}}));
                   }});
  }

  // ---------------------------------------------------------------------------------------------
  // The merge: va_can_merge (__merge_or_add_vmap_area)
  // ---------------------------------------------------------------------------------------------

  // Two intervals the test lets merge, [a1, b1) then [a2, b2): [a1, b2) holds exactly their
  // addresses, and they share none.
  out.push_back({"lemma__va_can_merge__union_is_exact", "va_can_merge VM-PARTITION", "lemma",
                 all + ", well-formed intervals",
                 [c](z3::context&) {
                   const zword a1 = zword::var("left_start"), b1 = zword::var("left_end"), a2 = zword::var("right_start"),
                               b2 = zword::var("right_end"), x = zword::var("x");
                   const z3::expr l = in(x.e, a1.e, b1.e), r = in(x.e, a2.e, b2.e);
                   return spec::make({{"left_start <= left_end", z3::ule(a1.e, b1.e)},
                                      {"right_start <= right_end", z3::ule(a2.e, b2.e)},
                                      {"va_can_merge(left_end, right_start)", c.can_merge(b1, a2).e}},
                                     z3::ule(a1.e, b2.e) && in(x.e, a1.e, b2.e) == (l || r) && !(l && r),
                                     {{"left_start", a1.e}, {"left_end", b1.e}, {"right_start", a2.e}, {"right_end", b2.e}, {"x", x.e}});
                 }});

  out.push_back({"lemma__va_can_merge__never_merges_apart", "va_can_merge VM-PARTITION", "lemma",
                 all + ", non-empty intervals with a gap between them",
                 [c](z3::context&) {
                   const zword a1 = zword::var("a_start"), b1 = zword::var("a_end"), a2 = zword::var("b_start"),
                               b2 = zword::var("b_end");
                   return spec::make({{"a non-empty", z3::ult(a1.e, b1.e)},
                                      {"b non-empty", z3::ult(a2.e, b2.e)},
                                      {"a gap between them", z3::ult(b1.e, a2.e) || z3::ult(b2.e, a1.e)}},
                                     !c.can_merge(b1, a2).e && !c.can_merge(b2, a1).e,
                                     {{"a_start", a1.e}, {"a_end", b1.e}, {"b_start", a2.e}, {"b_end", b2.e}});
                 }});

  // One path per outcome of __merge_or_add_vmap_area: va = [vs, ve) freed between its free
  // neighbours prev = [ps, pe) and next = [ns, nf) (find_va_links refuses overlaps, so
  // pe <= vs < ve <= ns). The kernel's assignments: with next, next->va_start = va->va_start;
  // with prev, prev->va_end = va->va_end (after a merge with next, va is next). Claim: the
  // resulting free intervals hold exactly the addresses of prev, va and next, share none, and
  // no two of them touch (the free tree stays coalesced).
  enum class merge_path { next, prev, both, none };
  struct merge_case {
    merge_path path;
    const char* name;
  };
  for (const merge_case m : {merge_case{merge_path::next, "next"}, merge_case{merge_path::prev, "prev"},
                             merge_case{merge_path::both, "both"}, merge_case{merge_path::none, "none"}}) {
    out.push_back({std::string("nonvacuous__merge_or_add_vmap_area_") + m.name, "va_can_merge VM-PARTITION", "lemma",
                   all + ", prev < va < next non-empty, apart", [c, m](z3::context&) {
                     const zword ps = zword::var("prev_start"), pe = zword::var("prev_end"), vs = zword::var("va_start"),
                                 ve = zword::var("va_end"), ns = zword::var("next_start"), nf = zword::var("next_end"),
                                 x = zword::var("x");
                     const z3::expr with_next = c.can_merge(ve, ns).e;  // sibling->va_start == va->va_end
                     const z3::expr with_prev = c.can_merge(pe, vs).e;  // sibling->va_end == va->va_start
                     // The free intervals after the operation, as the kernel assigns them.
                     std::vector<std::pair<z3::expr, z3::expr>> result;
                     z3::expr path = ctx().bool_val(true);
                     switch (m.path) {
                       case merge_path::next:
                         path = with_next && !with_prev;
                         result = {{ps.e, pe.e}, {vs.e, nf.e}};
                         break;
                       case merge_path::prev:
                         path = !with_next && with_prev;
                         result = {{ps.e, ve.e}, {ns.e, nf.e}};
                         break;
                       case merge_path::both:
                         path = with_next && with_prev;
                         result = {{ps.e, nf.e}};
                         break;
                       case merge_path::none:
                         path = !with_next && !with_prev;
                         result = {{ps.e, pe.e}, {vs.e, ve.e}, {ns.e, nf.e}};
                         break;
                     }
                     z3::expr in_result = ctx().bool_val(false);
                     z3::expr claim = ctx().bool_val(true);
                     for (std::size_t i = 0; i < result.size(); ++i) {
                       const z3::expr xi = in(x.e, result[i].first, result[i].second);
                       in_result = in_result || xi;
                       claim = claim && z3::ult(result[i].first, result[i].second);
                       for (std::size_t j = i + 1; j < result.size(); ++j)
                         claim = claim && !(xi && in(x.e, result[j].first, result[j].second)) &&
                                 z3::ult(result[i].second, result[j].first);
                     }
                     claim = claim &&
                             in_result == (in(x.e, ps.e, pe.e) || in(x.e, vs.e, ve.e) || in(x.e, ns.e, nf.e));
                     return spec::make({{"prev non-empty", z3::ult(ps.e, pe.e)},
                                        {"va non-empty", z3::ult(vs.e, ve.e)},
                                        {"next non-empty", z3::ult(ns.e, nf.e)},
                                        {"prev_end <= va_start, va_end <= next_start", z3::ule(pe.e, vs.e) && z3::ule(ve.e, ns.e)},
                                        {std::string("path: merge with ") + m.name, path}},
                                       claim,
                                       {{"prev_start", ps.e}, {"prev_end", pe.e}, {"va_start", vs.e}, {"va_end", ve.e},
                                        {"next_start", ns.e}, {"next_end", nf.e}, {"x", x.e}});
                   }});
  }

  // ---------------------------------------------------------------------------------------------
  // lazy_max_pages() and fls()
  // ---------------------------------------------------------------------------------------------

  out.push_back({"lemma__fls64__highest_set_bit", "fls64 VM-LAZY-ACCT", "lemma", all,
                 [c](z3::context&) {
                   const zword x = zword::var("x");
                   const z3::expr r = c.fls(x).e;
                   const z3::expr claim = z3::implies(x.e == bv(0), r == bv(0)) &&
                                          z3::implies(x.e != bv(0), z3::uge(r, bv(1)) && z3::ule(r, bv(64)) &&
                                                                        z3::lshr(x.e, r - bv(1)) == bv(1));
                   return spec::make({}, claim, {{"x", x.e}, {"fls(x)", r}});
                 }});

  // lazy_max_pages(n) = fls(n) * (32 MiB >> PAGE_SHIFT): a multiple of 8192 whose quotient q is
  // fls(n) as lemma__fls64__highest_set_bit characterises it (0 for 0, else n >> (q-1) == 1).
  out.push_back({"lemma__lazy_max_pages__fls_times_8192", "lazy_max_pages VM-LAZY-ACCT", "lemma", all,
                 [c](z3::context&) {
                   const zword n = zword::var("online_cpus");
                   const z3::expr l = c.lazy_max_pages(n).e;
                   constexpr unsigned shift = 25 - PAGE_SHIFT;  // 32 MiB / PAGE_SIZE = 2^13
                   static_assert((std::uint64_t{1} << shift) == ((std::uint64_t{32} << 20) >> PAGE_SHIFT));
                   const z3::expr q = z3::lshr(l, bv(shift));
                   const z3::expr claim = spec::low_bits_zero(l, shift) && z3::implies(n.e == bv(0), l == bv(0)) &&
                                          z3::implies(n.e != bv(0), z3::uge(q, bv(1)) && z3::ule(q, bv(64)) &&
                                                                        z3::lshr(n.e, q - bv(1)) == bv(1));
                   return spec::make({}, claim, {{"online_cpus", n.e}, {"lazy_max_pages", l}});
                 }});

  out.push_back({"lemma__lazy_max_pages__monotone", "lazy_max_pages VM-LAZY-ACCT", "lemma", all,
                 [c](z3::context&) {
                   const zword n1 = zword::var("online_cpus"), n2 = zword::var("more_online_cpus");
                   const zword l1 = c.lazy_max_pages(n1), l2 = c.lazy_max_pages(n2);
                   return spec::make({{"online_cpus <= more_online_cpus", z3::ule(n1.e, n2.e)}}, z3::ule(l1.e, l2.e),
                                     {{"online_cpus", n1.e}, {"more_online_cpus", n2.e}, {"lazy_max_pages(online_cpus)", l1.e},
                                      {"lazy_max_pages(more_online_cpus)", l2.e}});
                 }});

  return out;
}

void register_vmalloc_lemmas(std::vector<obligation>& out) {
  for (obligation& o : vmalloc_obligations(vmalloc_cores::real())) out.push_back(std::move(o));
}

}  // namespace mmref::proofs
