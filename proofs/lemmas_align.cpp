// proofs/lemmas_align.cpp — model/align.hpp and the direct map, for all 64-bit inputs.
#include "model/align.hpp"
#include "model/layout.hpp"
#include "model/paging.hpp"
#include "proofs/registry.hpp"
#include "proofs/spec.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs {

namespace {

using spec::bv;

// a = 2^s for a symbolic s < 64: every power-of-two alignment at once.
struct pow2_align {
  zword s = zword::var("s");
  zword a = shl(zword::lit(1), s);
  z3::expr pre = z3::ult(s.e, bv(64));
};

}  // namespace

void register_align_lemmas(std::vector<obligation>& out) {
  const std::string all = "all 64-bit inputs";

  out.push_back({"lemma__is_power_of_2__exactly_one_bit", "is_power_of_2", "lemma", all,
                 [](z3::context&) {
                   const zword a = zword::var("a");
                   return spec::make({}, is_power_of_2(a).e == (spec::popcount(a.e) == zscope::ctx().bv_val(1, 7)),
                                     {{"a", a.e}});
                 },
                 20'000'000, true});

  out.push_back({"lemma__IS_ALIGNED__exact", "IS_ALIGNED", "lemma", all, [](z3::context&) {
                   const pow2_align p;
                   const zword x = zword::var("x");
                   return spec::make({{"a is 2^s", p.pre}}, IS_ALIGNED(x, p.a).e == spec::aligned_to_shift(x.e, p.s.e),
                                     {{"x", x.e}, {"s", p.s.e}});
                 }});

  out.push_back({"lemma__ALIGN__least_aligned_at_or_above", "ALIGN", "lemma", all, [](z3::context&) {
                   const pow2_align p;
                   const zword x = zword::var("x"), y = zword::var("y");
                   const aligned_t<zword> r = align_up_checked(x, p.a);
                   const z3::expr claim =
                       z3::uge(r.value.e, x.e) && spec::aligned_to_shift(r.value.e, p.s.e) &&
                       z3::implies(spec::aligned_to_shift(y.e, p.s.e) && z3::uge(y.e, x.e), z3::uge(y.e, r.value.e));
                   return spec::make({{"a is 2^s", p.pre}, {"no overflow", !r.overflow.e}}, claim,
                                     {{"x", x.e}, {"s", p.s.e}, {"y", y.e}, {"ALIGN(x,a)", r.value.e}});
                 }});

  out.push_back({"lemma__ALIGN__overflow_detected_not_wrapped", "ALIGN", "lemma", all, [](z3::context&) {
                   const pow2_align p;
                   const zword x = zword::var("x"), y = zword::var("y");
                   const aligned_t<zword> r = align_up_checked(x, p.a);
                   // Overflow is flagged exactly when ALIGN wrapped below x, and then no
                   // multiple of a at or above x exists in 64 bits.
                   const z3::expr claim =
                       (r.overflow.e == z3::ult(r.value.e, x.e)) &&
                       z3::implies(r.overflow.e, !(spec::aligned_to_shift(y.e, p.s.e) && z3::uge(y.e, x.e)));
                   return spec::make({{"a is 2^s", p.pre}}, claim,
                                     {{"x", x.e}, {"s", p.s.e}, {"y", y.e}, {"ALIGN(x,a)", r.value.e}});
                 }});

  out.push_back({"lemma__ALIGN_DOWN__greatest_aligned_at_or_below", "ALIGN_DOWN", "lemma", all, [](z3::context&) {
                   const pow2_align p;
                   const zword x = zword::var("x"), y = zword::var("y");
                   const zword r = ALIGN_DOWN(x, p.a);
                   const z3::expr claim =
                       z3::ule(r.e, x.e) && spec::aligned_to_shift(r.e, p.s.e) &&
                       z3::implies(spec::aligned_to_shift(y.e, p.s.e) && z3::ule(y.e, x.e), z3::ule(y.e, r.e));
                   return spec::make({{"a is 2^s", p.pre}}, claim, {{"x", x.e}, {"s", p.s.e}, {"y", y.e}});
                 }});

  out.push_back({"lemma__PAGE_ALIGN__exact", "PAGE_ALIGN", "lemma", all,
                 [](z3::context&) {
                   const zword x = zword::var("x");
                   const aligned_t<zword> r = page_align_checked(x);
                   const z3::expr fits = z3::ule(x.e, bv(~std::uint64_t{0} - (PAGE_SIZE - 1)));
                   // Without overflow: page aligned, at or above x, less than a page above.
                   const z3::expr claim =
                       (r.overflow.e == !fits) &&
                       z3::implies(fits, spec::low_bits_zero(r.value.e, PAGE_SHIFT) && z3::uge(r.value.e, x.e) &&
                                             z3::ult(r.value.e - x.e, bv(PAGE_SIZE))) &&
                       PAGE_ALIGN(x).e == r.value.e;
                   return spec::make({}, claim, {{"x", x.e}, {"PAGE_ALIGN(x)", r.value.e}});
                 },
                 20'000'000, true});

  out.push_back({"lemma__PFN_PHYS__roundtrip", "PFN_PHYS/PHYS_PFN", "lemma", all, [](z3::context&) {
                   const zword pfn = zword::var("pfn"), pa = zword::var("pa");
                   const z3::expr claim =
                       PHYS_PFN(PFN_PHYS(pfn)).e == pfn.e &&
                       PFN_PHYS(PHYS_PFN(pa)).e == z3::concat(pa.e.extract(63, PAGE_SHIFT), zscope::ctx().bv_val(0, PAGE_SHIFT));
                   return spec::make({{"pfn < 2^52", z3::ult(pfn.e, bv(std::uint64_t{1} << 52))}}, claim,
                                     {{"pfn", pfn.e}, {"pa", pa.e}});
                 }});

  for (unsigned levels : {4u, 5u}) {
    const std::string L = levels == 4 ? "l4" : "l5";
    out.push_back({"lemma__direct_map__va_pa_roundtrip_" + L, "__va/__pa", "lemma", all, [levels](z3::context&) {
                     const kernel_layout l = kernel_layout::for_levels(levels);
                     const zword pa = zword::var("pa");
                     const zword off = zword::lit(l.page_offset);
                     const zword va = direct_map_va(pa, off);
                     const z3::expr claim = direct_map_pa(va, off).e == pa.e && z3::uge(va.e, off.e) &&
                                            z3::ult(va.e, bv(l.page_offset + l.direct_map_size)) &&
                                            spec::canonical(va.e, va_bits(levels));
                     return spec::make({{"pa inside the direct map", z3::ult(pa.e, bv(l.direct_map_size))}}, claim,
                                       {{"pa", pa.e}, {"va", va.e}});
                   }});
  }
}

}  // namespace mmref::proofs
