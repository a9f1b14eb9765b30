// Tests for proofs/vmalloc_bounded.cpp: the bounded proofs must fail when an operation is wrong.
// Each test puts one deliberately wrong operation into vmalloc_bounded_ops, rebuilds the
// obligations over it, and expects Z3 to report VIOLATED with a counterexample in the part the
// mistake shows in (solver_opts::only_part, found by its name); the real operations prove that
// same part (proofs.z3 runs every real obligation whole).
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "impl/vmalloc/slots.hpp"
#include "proofs/registry.hpp"
#include "proofs/tests/harness.hpp"
#include "proofs/vmalloc_bounded.hpp"
#include "proofs/zword.hpp"

using namespace mmref;
using namespace mmref::vmalloc;
using namespace mmref::proofs;

namespace {

using harness::expect_pictures;
using harness::named;
using harness::part_index;
using harness::run;

// The wrong operations fail where the real ones prove.
proof_result expect_wrong_fails_where_real_proves(const vmalloc_bounded_ops& wrong, const std::string& name,
                                                  const std::string& part) {
  return harness::expect_wrong_fails_where_real_proves(vmalloc_bounded_obligations, wrong, vmalloc_bounded_ops::real(), name,
                                                       part);
}

// adjust_va_to_fit_type's NE case without `lva`: the left remainder is lost from the free tree
// (its slot left empty), leaking the VA below the area.
vmalloc_bounded_ops ne_forgets_left_remainder() {
  vmalloc_bounded_ops ops = vmalloc_bounded_ops::real();
  ops.alloc = [](const vzstate& s, const zword& idx, const zword& size, const zword& align, const zword& vstart, const zword& vend) {
    vzalloc r = slots_alloc(s, idx, size, align, vstart, vend);
    for (unsigned k = 0; k < VM_BOUNDED_K; ++k) {
      const zbool left_here = r.ok && eq(r.fit, zword::lit(NE_FIT_TYPE)) && eq(idx, zword::lit(k));
      r.state.slot[k].kind = select(left_here, zword::lit(VA_EMPTY), r.state.slot[k].kind);
    }
    return r;
  };
  return ops;
}

// free_vmap_area_noflush() with insert_vmap_area() instead of merge_or_add_vmap_area(): the lazy
// area is added next to a touching one without coalescing.
vmalloc_bounded_ops lazy_free_never_merges() {
  vmalloc_bounded_ops ops = vmalloc_bounded_ops::real();
  ops.lazy_free = [](const vzstate& in, const zword& idx) {
    vzstate s = in;
    const va_slot<zword> va = slot_at(s, idx);
    const zbool busy = ult(idx, zword::lit(VM_BOUNDED_K)) && is_kind(va, VA_BUSY);
    s.lazy_nr = select(busy, s.lazy_nr + va_pages(va.start, va.end), s.lazy_nr);
    for (unsigned k = 0; k < VM_BOUNDED_K; ++k)
      s.slot[k].kind = select(busy && eq(idx, zword::lit(k)), zword::lit(VA_LAZY), s.slot[k].kind);
    return vzlazy{s, busy, {zbool::lit(false), zbool::lit(false)}};
  };
  return ops;
}

// __purge_vmap_area_lazy() that returns each area to the free tree without coalescing it.
vmalloc_bounded_ops purge_never_merges() {
  vmalloc_bounded_ops ops = vmalloc_bounded_ops::real();
  ops.purge_step = [](const vzpurge& in, unsigned i) {
    vzpurge p = in;
    const va_slot<zword>& x = in.state.slot[i];
    const zbool lazy = is_kind(x, VA_LAZY);
    p.state.slot[i].kind = select(lazy, zword::lit(VA_FREE), x.kind);
    p.state.lazy_nr = select(lazy, p.state.lazy_nr - va_pages(x.start, x.end), p.state.lazy_nr);
    p.nr_purged = p.nr_purged + select(lazy, zword::lit(1), zword::lit(0));
    return p;
  };
  return ops;
}

// __purge_vmap_area_lazy() without atomic_long_sub(nr, &vmap_lazy_nr).
vmalloc_bounded_ops purge_keeps_the_counter() {
  vmalloc_bounded_ops ops = vmalloc_bounded_ops::real();
  ops.purge_step = [](const vzpurge& in, unsigned i) {
    vzpurge p = slots_purge_step(in, i);
    p.state.lazy_nr = in.state.lazy_nr;
    return p;
  };
  return ops;
}

// vmap_lazy_nr as a 32-bit counter (an atomic_t instead of atomic_long_t).
vmalloc_bounded_ops counter_of_32_bits() {
  vmalloc_bounded_ops ops = vmalloc_bounded_ops::real();
  ops.lazy_free = [](const vzstate& s, const zword& idx) { return slots_lazy_free<32>(s, idx); };
  ops.purge_step = [](const vzpurge& p, unsigned i) { return slots_purge_step<32>(p, i); };
  return ops;
}

// vmap_pte_range() that maps pages[*nr + 1] at the page of pages[*nr]: off by one.
vmalloc_bounded_ops map_writes_the_next_page() {
  vmalloc_bounded_ops ops = vmalloc_bounded_ops::real();
  ops.map = [](const vzptes& t, const zword& addr, const zword& nr, const vzpages& pages, const zword& prot) {
    vzpages next = pages;
    for (unsigned k = 0; k + 1 < VM_MAP_N; ++k) next[k] = pages[k + 1];
    return slots_map(t, addr, nr, next, prot);
  };
  return ops;
}

// vmap_pte_range() that writes one PTE too many: the guard page gets mapped.
vmalloc_bounded_ops map_writes_the_guard() {
  vmalloc_bounded_ops ops = vmalloc_bounded_ops::real();
  ops.map = [](const vzptes& t, const zword& addr, const zword& nr, const vzpages& pages, const zword& prot) {
    return slots_map(t, addr, nr + zword::lit(1), pages, prot);
  };
  return ops;
}

}  // namespace

TEST(VmallocBounded, NeForgettingTheLeftRemainderIsNotAlloc) {
  const proof_result r = expect_wrong_fails_where_real_proves(ne_forgets_left_remainder(), "lemma__slots_alloc__explicit", "slot 2, NE");
  // Drawn from the counterexample: the slots before and after, each piece named by its slot.
  expect_pictures(r, "slot ");
}

TEST(VmallocBounded, ALazyFreeThatNeverMergesIsNotFreeVmapAreaNoflush) {
  const proof_result r = expect_wrong_fails_where_real_proves(lazy_free_never_merges(), "lemma__slots_lazy_free__explicit", "slot 3, merges with both");
  // Drawn from the counterexample: the slots before and after, each piece named by its slot.
  expect_pictures(r, "slot ");
}

TEST(VmallocBounded, APurgeThatNeverMergesIsNotThePurgeStep) {
  const proof_result r = expect_wrong_fails_where_real_proves(purge_never_merges(), "lemma__slots_purge_step__explicit", "slot 4, merges with next");
  // Drawn from the counterexample: the slots before and after, each piece named by its slot.
  expect_pictures(r, "slot ");
}

TEST(VmallocBounded, APurgeThatKeepsTheCounterBreaksVmLazyAcct) {
  expect_wrong_fails_where_real_proves(purge_keeps_the_counter(), "purge__preserves__VM-LAZY-ACCT", "the counter, step 5");
}

// The counter at the kernel's width (64 bits) proves; at 32 bits the lazy free wraps it: 2^32
// pages (16 TiB of lazily freed VA, half the 4-level vmalloc range) are representable areas.
TEST(VmallocBounded, A32BitCounterBreaksVmLazyAcct) {
  const proof_result r =
      expect_wrong_fails_where_real_proves(counter_of_32_bits(), "lazy_free__preserves__VM-LAZY-ACCT", "the counter, slot 2");
  EXPECT_NE(r.counterexample.find("vmap_lazy_nr after"), std::string::npos) << r.counterexample;
  expect_wrong_fails_where_real_proves(counter_of_32_bits(), "purge__preserves__VM-LAZY-ACCT", "the counter, step 2");
}

TEST(VmallocBounded, MappingTheNextPageBreaksVmMap) {
  expect_wrong_fails_where_real_proves(map_writes_the_next_page(), "map__establishes__VM-MAP", "8 pages");
}

TEST(VmallocBounded, MappingTheGuardPageBreaksVmMap) {
  expect_wrong_fails_where_real_proves(map_writes_the_guard(), "map__establishes__VM-MAP", "8 pages");
}

TEST(VmallocBounded, ThePathsAreReachable) {
  // Each path obligation's preconditions are satisfiable (non-vacuity per path) and its claim
  // holds; nonvacuous__alloc_fit_NE and a purge merge stand for the rest (proofs.z3 runs all).
  const auto v = vmalloc_bounded_obligations(vmalloc_bounded_ops::real());
  for (const char* n : {"nonvacuous__alloc_fit_NE", "nonvacuous__purge_merge_both", "nonvacuous__map_noncontiguous_pages"}) {
    const proof_result r = run(named(v, n));
    EXPECT_EQ(r.z3, verdict::proved) << n << ": " << r.detail << r.counterexample;
    EXPECT_TRUE(r.nonvacuous_checked) << n;
  }
}

TEST(VmallocBounded, EveryBoundIsPrintedWithK) {
  for (const obligation& o : vmalloc_bounded_obligations(vmalloc_bounded_ops::real())) {
    if (o.kind != "bounded") continue;
    EXPECT_TRUE(o.bound.find("K=" + std::to_string(VM_BOUNDED_K)) != std::string::npos ||
                o.bound.find("VM_MAP_N=") != std::string::npos)
        << o.name << ": " << o.bound;
  }
}
