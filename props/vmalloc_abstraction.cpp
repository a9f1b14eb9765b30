// props/vmalloc_abstraction.cpp — the abstraction function of the bounded vmalloc proofs commutes
// with the allocator: for every allocation, lazy free and purge the real vmap_state performs,
//     alpha(op(real)) == slots_op(alpha(real))
// where alpha (impl/vmalloc/slots.hpp) reads the busy, lazy and free areas of a window of the
// address space into slots in address order, with vmap_lazy_nr, and slots_alloc,
// slots_lazy_free, slots_purge are the templates proofs/vmalloc_bounded.cpp proves VM-DISJOINT,
// VM-NO-REUSE, VM-PARTITION, VM-LAZY-ACCT and VM-PURGE of (there with W = zword, here with
// W = cword). States are compared slot by slot (both are in address order) with the counter; an
// allocation must also give the same address and fit type, a purge the same flush range and
// number of areas. Every abstract state must satisfy what the proofs assume of it (Inv: the
// slots tile the window, busy and lazy areas are whole pages, neither the free nor the lazy
// areas touch, vmap_lazy_nr is their page count).
//
// The regime: a small machine (16 MiB, 2 CPUs) and a private window of the vmalloc range,
// [vmalloc_start + 1 GiB, + 24..64 pages), with a one-page busy sentinel just below and just
// above it (so no free block reaches outside: the fit types are the kernel's, see slots.hpp).
// Every request lies inside the window: __vmalloc_node_range (pages allocated and mapped; freed
// with vfree) or __get_vm_area_node (VA only, sometimes VM_NO_GUARD; freed with remove_vm_area),
// with sub-windows [vstart, vend) and alignments up to 8 pages, so that every fit type occurs;
// explicit purges (purge_vmap_area_lazy). The lazy threshold is the kernel's (16384 pages for 2
// CPUs), never reached here, so the only purge inside an operation is the allocator's
// purge-and-retry, which the property models as slots_purge before slots_alloc. The slot the
// allocation carves from is the free slot holding the address the real allocator chose (the
// search itself is not modelled; the proofs hold for every slot).
//
// The negative property runs the same check against a purge that forgets to decrement
// vmap_lazy_nr and must fail, shrunk.
#include <rapidcheck.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "model/hex.hpp"
#include "impl/buddy/page_alloc.hpp"
#include "impl/vmalloc/slots.hpp"
#include "impl/vmalloc/vmalloc.hpp"
#include "props/registry.hpp"

namespace mmref::props {

namespace {

using namespace mmref::vmalloc;


template <class T>
rc::Gen<T> uniform(T lo, T hi) {
  return rc::gen::resize(rc::kNominalSize, rc::gen::inRange<T>(lo, hi));
}

// The slot operations under test: the real templates, or a deliberately wrong purge.
enum class slot_variant { real, purge_forgets_counter };

template <unsigned K>
vm_purge<cword, K> purge_op(const vm_slots<cword, K>& s, slot_variant v) {
  vm_purge<cword, K> p = slots_purge(s);
  if (v == slot_variant::purge_forgets_counter) p.state.lazy_nr = s.lazy_nr;
  return p;
}

// ---------------------------------------------------------------------------------------
// Comparing states

struct area {
  std::uint64_t kind, start, end;
  bool operator==(const area&) const = default;
};
struct flat {
  std::vector<area> areas;  // the used slots, in slot (= address) order
  std::uint64_t lazy_nr = 0;
  bool operator==(const flat&) const = default;
};

template <unsigned K>
flat flatten(const vm_slots<cword, K>& s) {
  flat f;
  for (const va_slot<cword>& x : s.slot)
    if (x.kind.v != VA_EMPTY) f.areas.push_back({x.kind.v, x.start.v, x.end.v});
  f.lazy_nr = s.lazy_nr.v;
  return f;
}

std::string show(const flat& f, std::uint64_t lo) {
  static const char* kinds[] = {"empty", "free", "busy", "lazy"};
  std::ostringstream os;
  os << "vmap_lazy_nr " << f.lazy_nr << ", areas (pages from lo):";
  for (const area& a : f.areas)
    os << " " << kinds[a.kind] << "[" << ((a.start - lo) >> PAGE_SHIFT) << "," << ((a.end - lo) >> PAGE_SHIFT) << ")";
  return os.str();
}

// What the bounded proofs assume of a state (their Inv), checked on alpha's image: the slots
// tile [lo, hi) (used ones first), busy and lazy areas are whole pages, no two free and no two
// lazy areas touch, vmap_lazy_nr is the lazy areas' page count.
template <unsigned K>
std::string inv_problem(const vm_slots<cword, K>& s) {
  std::uint64_t at = s.lo.v, pages = 0;
  bool ended = false;
  for (unsigned k = 0; k < K; ++k) {
    const va_slot<cword>& x = s.slot[k];
    if (x.kind.v == VA_EMPTY) {
      ended = true;
      continue;
    }
    if (ended) return "a used slot after an empty one";
    if (x.start.v != at || x.start.v >= x.end.v) return "the slots do not tile the window at slot " + std::to_string(k);
    if ((x.kind.v == VA_BUSY || x.kind.v == VA_LAZY) && ((x.end.v - x.start.v) & ~PAGE_MASK) != 0)
      return "slot " + std::to_string(k) + " is not a whole number of pages";
    if (k > 0 && x.kind.v != VA_BUSY && s.slot[k - 1].kind.v == x.kind.v)
      return "slots " + std::to_string(k - 1) + " and " + std::to_string(k) + " touch and are not coalesced";
    if (x.kind.v == VA_LAZY) pages += (x.end.v - x.start.v) >> PAGE_SHIFT;
    at = x.end.v;
  }
  if (at != s.hi.v) return "the slots end at " + hex(at) + ", not at hi";
  if (pages != s.lazy_nr.v) return "vmap_lazy_nr " + std::to_string(s.lazy_nr.v) + " != " + std::to_string(pages) + " lazy pages";
  return {};
}

// ---------------------------------------------------------------------------------------
// Generated input

struct abs_env {
  std::uint64_t window_pages = 32;
};
void showValue(const abs_env& e, std::ostream& os) { os << "window of " << e.window_pages << " pages"; }

enum class op_kind { vmalloc, vm_area, vm_area_no_guard, free, purge };
struct step {
  op_kind kind = op_kind::purge;
  std::uint64_t pages = 1;     // size in pages (guard excluded)
  unsigned align_shift = 0;    // align = 1 << align_shift bytes
  std::uint64_t from = 0, to = 0;  // [vstart, vend) in pages from the window's start (clamped)
  std::uint64_t pick = 0;      // free: the pick-th live area
};
void showValue(const step& s, std::ostream& os) {
  switch (s.kind) {
    case op_kind::vmalloc:
    case op_kind::vm_area:
    case op_kind::vm_area_no_guard:
      os << (s.kind == op_kind::vmalloc ? "__vmalloc_node_range" : s.kind == op_kind::vm_area ? "__get_vm_area_node" : "__get_vm_area_node(VM_NO_GUARD)")
         << "(" << s.pages << " pages, align 2^" << s.align_shift << ", window pages [" << s.from << ", " << s.to << "))";
      break;
    case op_kind::free: os << "free(live area #" << s.pick << ")"; break;
    case op_kind::purge: os << "purge_vmap_area_lazy()"; break;
  }
}

rc::Gen<step> gen_step() {
  const auto alloc = [](op_kind k) {
    return rc::gen::exec([k] {
      step s;
      s.kind = k;
      s.pages = *rc::gen::weightedElement<std::uint64_t>({{4, 1}, {4, 2}, {3, 3}, {2, 4}, {1, 6}, {1, 8}});
      s.align_shift = *rc::gen::weightedElement<unsigned>({{3, 0}, {3, 12}, {2, 13}, {2, 14}, {1, 15}});
      // Mostly the whole window; sometimes a sub-window starting inside a free block (RE, NE).
      if (*rc::gen::weightedElement<int>({{1, 0}, {1, 1}}) == 1) {
        s.from = *uniform<std::uint64_t>(0, 24);
        s.to = s.from + *uniform<std::uint64_t>(1, 40);
      } else {
        s.from = 0;
        s.to = ~std::uint64_t{0};
      }
      return s;
    });
  };
  return rc::gen::weightedOneOf<step>({{4, alloc(op_kind::vmalloc)},
                                       {2, alloc(op_kind::vm_area)},
                                       {1, alloc(op_kind::vm_area_no_guard)},
                                       {5, rc::gen::map(rc::gen::arbitrary<std::uint64_t>(), [](std::uint64_t p) {
                                          step s;
                                          s.kind = op_kind::free;
                                          s.pick = p;
                                          return s;
                                        })},
                                       {1, rc::gen::just(step{})}});
}

// ---------------------------------------------------------------------------------------
// The check

struct events {
  bool fit[5] = {};
  bool small_state = false, alloc_failed = false, alloc_purged = false;
  bool lazy_next = false, lazy_prev = false, lazy_both = false;
  bool purge_next = false, purge_prev = false, purge_both = false, purge_two = false;
};

struct live_area {
  std::uint64_t addr;
  bool vmalloced;
};

struct case_state {
  std::unique_ptr<buddy::buddy_machine> bm;
  std::unique_ptr<vmap_state> vs;
  std::uint64_t lo = 0, hi = 0;
  std::vector<live_area> live;
  std::vector<purge_result> purges;  // during the current step
  events ev;
};

[[noreturn]] void fail_step(std::size_t i, const step& st, const std::string& what) {
  RC_FAIL("abstraction (VM-DISJOINT VM-NO-REUSE VM-PARTITION VM-LAZY-ACCT VM-PURGE) violated: alpha does not commute with step " +
          std::to_string(i) + " (" + rc::toString(st) + "): " + what);
}

template <unsigned K>
vm_slots<cword, K> alpha_of(case_state& c, std::size_t i, const step& st, const char* when) {
  const auto s = alpha<K>(*c.vs, c.lo, c.hi);
  if (!s) fail_step(i, st, std::string("alpha undefined ") + when + " (more than K slots, or an area outside the window)");
  const std::string p = inv_problem(*s);
  if (!p.empty()) fail_step(i, st, std::string("the abstract state ") + when + " is outside the proofs' Inv: " + p + "\n  " + show(flatten(*s), c.lo));
  return *s;
}

template <unsigned K>
void compare(const case_state& c, std::size_t i, const step& st, const vm_slots<cword, K>& real_after,
             const vm_slots<cword, K>& want, const std::string& what) {
  const flat a = flatten(real_after), b = flatten(want);
  if (a != b) fail_step(i, st, what + ":\n  allocator " + show(a, c.lo) + "\n  slots     " + show(b, c.lo));
}

// A purge the allocator reported against the slots' purge of `s`; returns the slots' result.
template <unsigned K>
vm_slots<cword, K> check_purge(case_state& c, std::size_t i, const step& st, const vm_slots<cword, K>& s,
                               const purge_result& pr, slot_variant v) {
  const vm_purge<cword, K> p = purge_op(s, v);
  if (pr.purged != p.purged.v) fail_step(i, st, "the purge's return value differs");
  if (pr.purged && (pr.start != p.flush_start.v || pr.end != p.flush_end.v))
    fail_step(i, st, "the flush range differs: allocator [" + hex(pr.start) + ", " + hex(pr.end) + "), slots [" +
                         hex(p.flush_start.v) + ", " + hex(p.flush_end.v) + ")");
  if (pr.nr_purged != p.nr_purged.v) fail_step(i, st, "the number of purged areas differs");
  // The merge directions the steps take: the neighbours of each lazy area (areas touch their
  // neighbours in a partition; no two lazy areas touch).
  unsigned lazies = 0;
  for (unsigned k = 0; k < K; ++k) {
    if (s.slot[k].kind.v != VA_LAZY) continue;
    ++lazies;
    const bool prev = k > 0 && s.slot[k - 1].kind.v == VA_FREE, next = k + 1 < K && s.slot[k + 1].kind.v == VA_FREE;
    c.ev.purge_both = c.ev.purge_both || (prev && next);
    c.ev.purge_prev = c.ev.purge_prev || (prev && !next);
    c.ev.purge_next = c.ev.purge_next || (next && !prev);
  }
  c.ev.purge_two = c.ev.purge_two || lazies >= 2;
  return p.state;
}

template <unsigned K>
void check_step(case_state& c, std::size_t i, const step& st, slot_variant v) {
  vmap_state& vs = *c.vs;
  const vm_slots<cword, K> before = alpha_of<K>(c, i, st, "before");
  unsigned used = 0;
  for (const auto& x : before.slot) used += x.kind.v != VA_EMPTY;
  if (used + 2 <= VM_SLOTS_K) c.ev.small_state = true;
  c.purges.clear();
  switch (st.kind) {
    case op_kind::vmalloc:
    case op_kind::vm_area:
    case op_kind::vm_area_no_guard: {
      const std::uint64_t window = (c.hi - c.lo) >> PAGE_SHIFT;
      const std::uint64_t from = std::min(st.from, window - 1), to = std::min(std::max(st.to, from + 1), window);
      const std::uint64_t vstart = c.lo + (from << PAGE_SHIFT), vend = c.lo + (to << PAGE_SHIFT);
      const std::uint64_t size = st.pages << PAGE_SHIFT, align = std::uint64_t{1} << st.align_shift;
      const bool guard = st.kind != op_kind::vm_area_no_guard;
      const auto fits_before = vs.stats().fits;
      std::uint64_t addr = 0;
      if (st.kind == op_kind::vmalloc) {
        addr = vs.__vmalloc_node_range(size, align, vstart, vend, buddy::GFP_KERNEL, PAGE_KERNEL, 0, "abstraction");
      } else {
        const vm_struct* vm = vs.__get_vm_area_node(size, align, PAGE_SHIFT, VM_ALLOC | (guard ? 0 : VM_NO_GUARD), vstart, vend,
                                                    buddy::GFP_KERNEL, "abstraction");
        addr = vm != nullptr ? vm->addr : 0;
      }
      if (addr == 0 && vs.last_error() != vm_error::no_va)
        fail_step(i, st, std::string("the allocation failed for another reason than VA: ") + vm_error_text(vs.last_error()));
      // The allocator's purge-and-retry, then the carve.
      vm_slots<cword, K> want = before;
      for (const purge_result& pr : c.purges) want = check_purge(c, i, st, want, pr, v);
      c.ev.alloc_purged = c.ev.alloc_purged || !c.purges.empty();
      const cword vsize{size + (guard ? PAGE_SIZE : 0)};
      const vm_slots<cword, K> after = alpha_of<K>(c, i, st, "after");
      if (addr == 0) {
        c.ev.alloc_failed = true;
        compare(c, i, st, after, want, "after a failed allocation");
        // With align <= PAGE_SIZE the search is exact (the lowest fit): no free slot fits.
        if (align <= PAGE_SIZE)
          for (unsigned k = 0; k < K; ++k)
            if (truth(slots_alloc(want, cword{k}, vsize, cword{align}, cword{vstart}, cword{vend}).ok))
              fail_step(i, st, "the allocator found no VA, but slot " + std::to_string(k) + " fits the request");
        return;
      }
      unsigned idx = K;
      for (unsigned k = 0; k < K; ++k)
        if (want.slot[k].kind.v == VA_FREE && want.slot[k].start.v <= addr && addr < want.slot[k].end.v) idx = k;
      if (idx == K) fail_step(i, st, "the allocator chose " + hex(addr) + ", which no free slot holds");
      const vm_alloc_result<cword, K> r = slots_alloc(want, cword{idx}, vsize, cword{align}, cword{vstart}, cword{vend});
      if (!truth(r.ok)) fail_step(i, st, "slots_alloc refused the free slot " + std::to_string(idx) + " the allocator carved from");
      if (r.addr.v != addr) fail_step(i, st, "the allocator returned " + hex(addr) + ", slots_alloc " + hex(r.addr.v));
      int real_fit = -1;
      for (unsigned f = 0; f < 5; ++f)
        if (vs.stats().fits[f] != fits_before[f]) real_fit = static_cast<int>(f);
      if (real_fit != static_cast<int>(r.fit.v))
        fail_step(i, st, "fit type: allocator " + std::to_string(real_fit) + ", slots " + std::to_string(r.fit.v));
      c.ev.fit[r.fit.v] = true;
      compare(c, i, st, after, r.state, "after the allocation");
      c.live.push_back({addr, st.kind == op_kind::vmalloc});
      return;
    }
    case op_kind::free: {
      if (c.live.empty()) return;
      const std::size_t k = st.pick % c.live.size();
      const live_area la = c.live[k];
      c.live.erase(c.live.begin() + static_cast<std::ptrdiff_t>(k));
      unsigned idx = K;
      for (unsigned j = 0; j < K; ++j)
        if (before.slot[j].kind.v == VA_BUSY && before.slot[j].start.v == la.addr) idx = j;
      if (idx == K) fail_step(i, st, "no busy slot starts at the live area " + hex(la.addr));
      if (la.vmalloced) {
        if (vs.vfree(la.addr) != vm_error::none) fail_step(i, st, "vfree refused a live area");
      } else {
        vm_struct* vm = vs.remove_vm_area(la.addr);
        if (vm == nullptr) fail_step(i, st, "remove_vm_area found no area");
        vs.free_vm_struct(vm);
      }
      if (!c.purges.empty()) fail_step(i, st, "a free purged (the lazy threshold is out of reach here)");
      const vm_lazy_result<cword, K> r = slots_lazy_free(before, cword{idx});
      if (!truth(r.ok)) fail_step(i, st, "slots_lazy_free found no busy area in slot " + std::to_string(idx));
      c.ev.lazy_both = c.ev.lazy_both || (r.merged.next.v && r.merged.prev.v);
      c.ev.lazy_next = c.ev.lazy_next || (r.merged.next.v && !r.merged.prev.v);
      c.ev.lazy_prev = c.ev.lazy_prev || (r.merged.prev.v && !r.merged.next.v);
      compare(c, i, st, alpha_of<K>(c, i, st, "after"), r.state, "after the lazy free");
      return;
    }
    case op_kind::purge: {
      const purge_result pr = vs.purge_vmap_area_lazy();
      if (c.purges.size() != 1) fail_step(i, st, "purge_vmap_area_lazy reported " + std::to_string(c.purges.size()) + " purges");
      const vm_slots<cword, K> want = check_purge(c, i, st, before, pr, v);
      compare(c, i, st, alpha_of<K>(c, i, st, "after"), want, "after the purge");
      return;
    }
  }
}

void run_case(slot_variant v) {
  const abs_env env = *rc::gen::map(uniform<std::uint64_t>(24, 65), [](std::uint64_t w) { return abs_env{w}; });
  const auto steps = *rc::gen::container<std::vector<step>>(gen_step());
  case_state c;
  c.bm = std::make_unique<buddy::buddy_machine>(machine_config::small(16, 4, 2));
  c.vs = std::make_unique<vmap_state>(*c.bm->buddy, *c.bm->mach, vmap_config{2, "modern", 1, true, true});
  c.vs->on_purge = [&c](const purge_result& r) { c.purges.push_back(r); };
  c.lo = c.bm->mach->config().layout.vmalloc_start + (std::uint64_t{1} << 30);
  c.hi = c.lo + (env.window_pages << PAGE_SHIFT);
  // The sentinels: busy pages just below and just above the window.
  for (const std::uint64_t at : {c.lo - PAGE_SIZE, c.hi})
    if (c.vs->alloc_vmap_area(PAGE_SIZE, PAGE_SIZE, at, at + PAGE_SIZE, buddy::GFP_KERNEL).va == nullptr)
      RC_FAIL("could not place a sentinel at " + hex(at));
  for (std::size_t i = 0; i < steps.size(); ++i) {
    // The smallest K that holds the state and what the step adds (at most two areas).
    const auto all = alpha<160>(*c.vs, c.lo, c.hi);
    if (!all) fail_step(i, steps[i], "alpha undefined before the step");
    std::size_t areas = 2;
    for (const auto& x : all->slot) areas += x.kind.v != VA_EMPTY;
    if (areas <= 16)
      check_step<16>(c, i, steps[i], v);
    else if (areas <= 32)
      check_step<32>(c, i, steps[i], v);
    else
      check_step<160>(c, i, steps[i], v);
  }
  static const char* fit_names[] = {"", "alloc fit FL", "alloc fit LE", "alloc fit RE", "alloc fit NE"};
  for (unsigned f = 1; f < 5; ++f)
    if (c.ev.fit[f]) RC_TAG(fit_names[f]);
  if (c.ev.small_state) RC_TAG("a step from at most VM_SLOTS_K areas");
  if (c.ev.alloc_failed) RC_TAG("alloc found no VA");
  if (c.ev.alloc_purged) RC_TAG("alloc purged and retried");
  if (c.ev.lazy_next) RC_TAG("lazy free merged with next");
  if (c.ev.lazy_prev) RC_TAG("lazy free merged with prev");
  if (c.ev.lazy_both) RC_TAG("lazy free merged with both");
  if (c.ev.purge_next) RC_TAG("purge merged with next");
  if (c.ev.purge_prev) RC_TAG("purge merged with prev");
  if (c.ev.purge_both) RC_TAG("purge merged with both");
  if (c.ev.purge_two) RC_TAG("purge of >= 2 lazy areas");
}

}  // namespace

void register_vmalloc_abstraction(std::vector<property>& out, std::vector<property>& negative) {
  const std::vector<std::string> ids{"VM-DISJOINT", "VM-NO-REUSE", "VM-PARTITION", "VM-LAZY-ACCT", "VM-PURGE"};
  out.push_back({"vmalloc_abstraction_commutes", ids, "commuting", 500, 60,
                 {{"alloc fit FL", 0.05},
                  {"alloc fit LE", 0.05},
                  {"alloc fit RE", 0.05},
                  {"alloc fit NE", 0.05},
                  {"a step from at most VM_SLOTS_K areas", 0.3},
                  {"alloc found no VA", 0.02},
                  {"alloc purged and retried", 0.02},
                  {"lazy free merged with next", 0.05},
                  {"lazy free merged with prev", 0.05},
                  {"lazy free merged with both", 0.02},
                  {"purge merged with next", 0.05},
                  {"purge merged with prev", 0.05},
                  {"purge merged with both", 0.05},
                  {"purge of >= 2 lazy areas", 0.05}},
                 make_property([] { run_case(slot_variant::real); })});
  negative.push_back({"negative__vmalloc_abstraction_purge_forgets_counter", ids, "negative", 100, 30, {},
                      make_property([] { run_case(slot_variant::purge_forgets_counter); })});
}

}  // namespace mmref::props
