// proofs/vmalloc_snapshot.cpp — the snapshot encodings.
//
// The encoding is linear in the state: each lookup over addresses is a balanced decision tree over
// sorted boundaries (mapped(x), frame(x), inside an area(x)), and the frame check compares each
// run's frame range with its neighbour in frame order.
// The solvers then decide, for all 2^64 values of x (or f), what a checker could only test
// address by address.
#include "proofs/vmalloc_snapshot.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>

#include "impl/buddy/page_alloc.hpp"
#include "impl/vmalloc/workload.hpp"

namespace mmref::proofs {

snapshot_state snapshot_of(const vmalloc::vmap_state& vs) {
  snapshot_state s;
  const auto& l = vs.mach().config().layout;
  s.ranges = {{l.vmalloc_start, l.vmalloc_end}, {l.modules_vaddr, l.modules_end}};
  for (const auto& [lo, hi] : s.ranges)
    for (const leaf_info& leaf : vs.mach().tables().leaves(lo, hi)) {
      if (!s.runs.empty()) {
        snapshot_run& r = s.runs.back();
        if (r.va + r.bytes == leaf.va && r.pfn + (r.bytes >> PAGE_SHIFT) == leaf.pfn) {
          r.bytes += leaf.size;
          continue;
        }
      }
      s.runs.push_back({leaf.va, leaf.size, leaf.pfn});
    }
  for (const vmalloc::list_head* it = vs.busy().head.next; it != &vs.busy().head; it = it->next) {
    const vmalloc::vmap_area* va = vmalloc::va_of_list(it);
    const std::uint64_t mapped = va->vm == nullptr || va->vm->percpu ? 0 : vmalloc::get_vm_area_size(va->vm);
    if (mapped != 0) s.areas.push_back({va->va_start, va->va_start + mapped});
  }
  return s;
}

namespace {

z3::expr lit(z3::context& ctx, std::uint64_t v) { return ctx.bv_val(v, 64); }

// Lookups over sorted intervals, encoded as a balanced decision tree on the boundaries: a path
// for x compares O(log n) boundaries, so the solvers split on few cases whatever the state's size.
// `value(i)` is what interval i gives, `none` what x outside every interval gives.
struct interval_ref {
  std::uint64_t start, end;
  std::size_t index;
};
z3::expr lookup(z3::context& ctx, const std::vector<interval_ref>& iv, std::size_t lo, std::size_t hi, const z3::expr& x,
                const std::function<z3::expr(std::size_t)>& value, const z3::expr& none) {
  if (lo >= hi) return none;
  const std::size_t mid = lo + (hi - lo) / 2;
  const interval_ref& m = iv[mid];
  return z3::ite(z3::ult(x, lit(ctx, m.start)), lookup(ctx, iv, lo, mid, x, value, none),
                 z3::ite(z3::ult(x, lit(ctx, m.end)), value(m.index), lookup(ctx, iv, mid + 1, hi, x, value, none)));
}

std::vector<interval_ref> sorted_refs(std::vector<interval_ref> v) {
  std::sort(v.begin(), v.end(), [](const interval_ref& a, const interval_ref& b) { return a.start < b.start; });
  return v;
}

z3::expr in_ranges(z3::context& ctx, const snapshot_state& s, const z3::expr& x) {
  z3::expr any = ctx.bool_val(false);
  for (const auto& [lo, hi] : s.ranges) any = any || (z3::ule(lit(ctx, lo), x) && z3::ult(x, lit(ctx, hi)));
  return any;
}

// mapped(x): x in some run (VA only: adjacent runs merged whatever their frames).
z3::expr mapped(z3::context& ctx, const snapshot_state& s, const z3::expr& x) {
  std::vector<interval_ref> v;
  for (const snapshot_run& r : s.runs) {
    if (!v.empty() && v.back().end == r.va) v.back().end += r.bytes;
    else v.push_back({r.va, r.va + r.bytes, v.size()});
  }
  return lookup(ctx, sorted_refs(v), 0, v.size(), x, [&](std::size_t) { return ctx.bool_val(true); }, ctx.bool_val(false));
}

// frame(x): the PFN mapped at x (meaningful where mapped(x)).
z3::expr frame(z3::context& ctx, const snapshot_state& s, const z3::expr& x) {
  std::vector<interval_ref> v;
  for (std::size_t i = 0; i < s.runs.size(); ++i) v.push_back({s.runs[i].va, s.runs[i].va + s.runs[i].bytes, i});
  return lookup(
      ctx, sorted_refs(v), 0, v.size(), x,
      [&](std::size_t i) { return lit(ctx, s.runs[i].pfn) + z3::lshr(x - lit(ctx, s.runs[i].va), lit(ctx, PAGE_SHIFT)); },
      lit(ctx, ~std::uint64_t{0}));
}

}  // namespace

goal snapshot_no_stray(z3::context& ctx, const snapshot_state& s) {
  const z3::expr x = ctx.bv_const("x", 64);
  std::vector<interval_ref> v;
  for (std::size_t i = 0; i < s.areas.size(); ++i) v.push_back({s.areas[i].first, s.areas[i].second, i});
  const z3::expr inside =
      lookup(ctx, sorted_refs(v), 0, v.size(), x, [&](std::size_t) { return ctx.bool_val(true); }, ctx.bool_val(false));
  return goal{{{"x in the vmalloc or module range", in_ranges(ctx, s, x)}, {"x is mapped", mapped(ctx, s, x)}},
              inside,
              {{"x", x}, {"frame(x)", frame(ctx, s, x)}}};
}

goal snapshot_injective(z3::context& ctx, const snapshot_state& s) {
  // Two addresses on different pages map one frame exactly when some frame lies in the frame
  // ranges of two leaf runs (within one run, consecutive pages map consecutive frames). With the
  // ranges sorted by first frame, two of them share a frame only if two neighbours do (if range
  // i overlaps a later range k, range i + 1 starts inside range i). So the claim, for every frame
  // f: no two neighbouring ranges both contain f. Linear in the state, one symbolic f.
  std::vector<snapshot_run> r = s.runs;
  std::sort(r.begin(), r.end(), [](const snapshot_run& a, const snapshot_run& b) { return a.pfn < b.pfn; });
  const z3::expr f = ctx.bv_const("f", 64);
  // Frame numbers are below 2^52: pfn + pages never wraps, so two comparisons (cheaper for cvc5
  // than one comparison of a difference) say the same.
  auto holds = [&](const snapshot_run& run) {
    return z3::ule(lit(ctx, run.pfn), f) && z3::ult(f, lit(ctx, run.pfn + (run.bytes >> PAGE_SHIFT)));
  };
  z3::expr none_twice = ctx.bool_val(true);
  z3::expr anywhere = ctx.bool_val(false);
  for (std::size_t i = 0; i < r.size(); ++i) {
    anywhere = anywhere || holds(r[i]);
    if (i + 1 < r.size()) none_twice = none_twice && !(holds(r[i]) && holds(r[i + 1]));
  }
  return goal{{{"f is mapped somewhere", anywhere}}, none_twice, {{"f", f}}};
}

namespace {

// The state `mmref show vmallocinfo` prints: the default machine after the seeded workload.
snapshot_state default_snapshot() {
  buddy::buddy_machine bm(machine_config::default_machine());
  vmalloc::vmap_config vc;
  vc.nr_cpus = bm.mach->nr_cpus();
  vmalloc::vmap_state vs(*bm.buddy, *bm.mach, vc);
  vmalloc::run_workload(vs, SNAPSHOT_SEED, SNAPSHOT_OPS);
  return snapshot_of(vs);
}

const snapshot_state& cached_default_snapshot() {
  static const snapshot_state s = default_snapshot();
  return s;
}

}  // namespace

void register_vmalloc_snapshot_proofs(std::vector<obligation>& out) {
  obligation a;
  a.name = "workload_snapshot__establishes__VM-NO-STRAY";
  a.proves = "VM-NO-STRAY";
  a.kind = "snapshot";
  a.bound = "all 2^64 addresses, default machine after 200 workload ops (seed 20261122)";
  a.build = [](z3::context& ctx) { return snapshot_no_stray(ctx, cached_default_snapshot()); };
  out.push_back(std::move(a));
  obligation b;
  b.name = "workload_snapshot__establishes__VM-NONCONTIG";
  b.proves = "VM-NONCONTIG";
  b.kind = "snapshot";
  b.bound = "all 2^64 frames (so every address pair), same state";
  b.build = [](z3::context& ctx) { return snapshot_injective(ctx, cached_default_snapshot()); };
  out.push_back(std::move(b));
}

}  // namespace mmref::proofs
