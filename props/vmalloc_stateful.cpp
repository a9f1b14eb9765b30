// props/vmalloc_stateful.cpp — vmalloc's stateful test: vmalloc, vzalloc, vmalloc_huge, vfree,
// vmap, vunmap, purge, writes and reads through the VA, fault injection, bad input and buddy
// fragmentation against an abstract model, with every VM-* invariant, PT-WF, TLB-COHERENT and
// the buddy invariants checked after every command (refused input included) and VM-PURGE judged
// at every purge.
//
// The abstract model (trusted base, docs/TRUSTED.md) is deliberately naive: the busy areas as a
// map from start to {end, kind, the data written to it}, the lazily freed VA as a set of
// address intervals, and the lazy page count. From it alone it predicts, for the modern strategy
// and align <= PAGE_SIZE, the exact address the kernel returns (the lowest page-aligned address
// >= vstart where the size fits outside busy and lazy VA, vend checked afterwards; research
// replay-facts.md §1), when an allocation must purge and retry, and when a vfree must drain the
// lazy list (vmap_lazy_nr > lazy_max_pages()). Each purge the system reports must cover the
// model's lazy set exactly. Reads must return what was written (zero for vzalloc).
//
// Commands name areas by handle (the n-th allocation of the sequence); a handle whose
// allocation failed is skipped when it comes up.
//
// Machines: generated 8-64 MiB, 4- or 5-level, 1-4 CPUs, and a lazy threshold scaled down by a
// machine parameter (lazy_max_pages_divisor) to 16-512 pages so that the drain is reached.
// Strategies: "modern" (exact address prediction) and "classic" (soundness only); a
// differential property runs both on the same sequence.
#include <rapidcheck.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "model/hex.hpp"
#include "impl/picture/svg.hpp"
#include "impl/vmalloc/invariants.hpp"
#include "impl/vmalloc/vmalloc.hpp"
#include "props/pictures.hpp"
#include "props/registry.hpp"

namespace mmref::props {

namespace {

using namespace mmref::vmalloc;
using buddy::gfp_t;


template <class T>
rc::Gen<T> uniform(T lo, T hi) {
  return rc::gen::resize(rc::kNominalSize, rc::gen::inRange<T>(lo, hi));
}

// ---------------------------------------------------------------------------------------
// The machine and system

struct vm_env {
  std::uint64_t mib = 16;
  unsigned levels = 4;
  unsigned cpus = 2;
  std::uint64_t lazy_divisor = 64;
  std::string strategy = "modern";
  machine_config mcfg() const { return machine_config::small(mib, levels, cpus); }
};

void showValue(const vm_env& e, std::ostream& os) {
  os << e.mib << " MiB, " << e.levels << "-level, " << e.cpus << " CPUs, lazy_max_pages / " << e.lazy_divisor << ", "
     << e.strategy;
}

// A registered strategy other than modern (the registry as it is when the case runs).
rc::Gen<std::string> gen_other_strategy() {
  std::vector<std::string> names;
  for (const std::string& n : kva_registry::names())
    if (n != "modern") names.push_back(n);
  if (names.empty()) return rc::gen::just(std::string("modern"));
  return rc::gen::elementOf(names);
}

rc::Gen<vm_env> gen_env(std::string strategy) {
  return rc::gen::exec([strategy] {
    vm_env e;
    e.mib = *rc::gen::element<std::uint64_t>(8, 16, 16, 32, 64);
    e.levels = *rc::gen::weightedElement<unsigned>({{4, 4}, {1, 5}});
    e.cpus = *uniform(1u, 5u);
    // lazy_max_pages() is 8192 * fls(cpus); divide it down to 16..512 pages.
    e.lazy_divisor = *rc::gen::element<std::uint64_t>(16, 64, 256, 512);
    e.strategy = strategy;
    return e;
  });
}

// The abstract model. Trusted base: keep it naive.
struct m_area {
  std::uint64_t end = 0;          // exclusive, guard page included
  bool vmalloc = true;            // vmalloc'd (else vmap'd)
  bool zeroed = false;            // vzalloc: unwritten words read 0
  std::uint64_t pages = 0;        // mapped pages
  std::uint64_t nested = 0;       // start of the nested pages-array area, 0 if none
  std::vector<std::uint64_t> own_pfns;  // vmap: the caller's pages
  std::map<std::uint64_t, std::uint64_t> data;  // byte offset -> word written
};

struct vm_model {
  std::map<std::uint64_t, m_area> busy;           // by start
  std::map<std::uint64_t, std::uint64_t> lazy;    // coalesced lazy VA: start -> end
  std::uint64_t lazy_pages = 0;
  std::map<long, std::uint64_t> handles;          // handle -> start of a busy area
  std::vector<std::uint64_t> held;                // order-0 pages Fragment keeps allocated

  void add_lazy(std::uint64_t s, std::uint64_t e) {
    lazy_pages += (e - s) >> PAGE_SHIFT;
    auto it = lazy.lower_bound(s);
    if (it != lazy.begin() && std::prev(it)->second == s) {
      --it;
      s = it->first;
      lazy.erase(it);
    }
    auto nx = lazy.find(e);
    if (nx != lazy.end()) {
      e = nx->second;
      lazy.erase(nx);
    }
    lazy[s] = e;
  }
  bool occupied(std::uint64_t s, std::uint64_t e) const {
    auto hit = [&](const auto& m) {
      auto it = m.upper_bound(s);
      if (it != m.begin()) {
        auto p = std::prev(it);
        const std::uint64_t pe = [&] {
          if constexpr (std::is_same_v<std::decay_t<decltype(p->second)>, m_area>) return p->second.end;
          else return p->second;
        }();
        if (pe > s) return true;
      }
      return it != m.end() && it->first < e;
    };
    return hit(busy) || hit(lazy);
  }
  // The lowest page-aligned address >= vstart (align <= PAGE_SIZE) where [a, a + size) is
  // outside busy and lazy VA inside [1, ULONG_MAX); failure when that address ends past vend.
  std::optional<std::uint64_t> lowest_fit(std::uint64_t size, std::uint64_t vstart, std::uint64_t vend) const {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> used;
    for (const auto& [s, a] : busy) used.push_back({s, a.end});
    for (const auto& [s, e] : lazy) used.push_back({s, e});
    std::sort(used.begin(), used.end());
    std::uint64_t gap_start = 1;
    auto try_gap = [&](std::uint64_t gs, std::uint64_t ge) -> std::optional<std::uint64_t> {
      std::uint64_t a = std::max(gs, vstart);
      a = (a + PAGE_SIZE - 1) & PAGE_MASK;
      if (a < gs || a >= ge || ge - a < size) return std::nullopt;
      return a;
    };
    for (const auto& [s, e] : used) {
      if (s > gap_start)
        if (auto a = try_gap(gap_start, s)) return *a + size <= vend ? a : std::nullopt;
      gap_start = std::max(gap_start, e);
    }
    if (auto a = try_gap(gap_start, ~std::uint64_t{0})) return *a + size <= vend ? a : std::nullopt;
    return std::nullopt;
  }
};

struct vm_sut {
  vm_env env;
  buddy::buddy_machine bm;
  vmap_state vs;
  vm_model m;
  std::vector<purge_result> purges;        // purges during the current command
  std::vector<std::string> purge_problems; // VM-PURGE violations found at purge time
  std::uint64_t fragmented_wins = 0;       // vmalloc succeeded where a contiguous block failed
  std::vector<std::vector<vm_struct*>> pcpu_groups;  // placed by PcpuAreas, freed by PcpuFree
  explicit vm_sut(const vm_env& e)
      : env(e), bm(e.mcfg()), vs(*bm.buddy, *bm.mach, vmap_config{e.cpus, e.strategy, e.lazy_divisor, true, true}) {
    vs.on_purge = [this](const purge_result& r) {
      purges.push_back(r);
      const auto v = check_VM_PURGE(vs, r);
      if (!v.empty()) purge_problems.push_back(vmalloc_report(v, vs));
    };
  }
  std::uint64_t vstart() const { return bm.mach->config().layout.vmalloc_start; }
  std::uint64_t vend() const { return bm.mach->config().layout.vmalloc_end; }
};

std::string describe(const vm_sut& w) {
  std::ostringstream os;
  showValue(w.env, os);
  return os.str();
}

// Everything "state unchanged" compares.
std::string digest(const vm_sut& w) {
  std::ostringstream os;
  os << w.vs.vmallocinfo() << "|" << w.vs.vmap_lazy_nr() << "|" << w.bm.buddy->total_free_pages() << "|"
     << w.bm.mach->owed().size() << "|" << w.vs.kmalloc().live(kmalloc_kind::vmap_area) << "|"
     << w.vs.kmalloc().live(kmalloc_kind::vm_struct) << "|" << w.vs.nr_vmalloc_pages() << "|";
  for (const auto& f : w.vs.kva().free_intervals()) os << f.start << "-" << f.end << ",";
  return os.str();
}

// Applies the purges the system reported to the model: each must cover the model's lazy set
// exactly (VM-PURGE's "purged VA" is the lazy VA, no more, no less).
void apply_purges(vm_sut& w, const std::string& what) {
  for (const std::string& p : w.purge_problems) RC_FAIL(what + ": at a purge:\n" + p + "machine: " + describe(w));
  w.purge_problems.clear();
  for (const purge_result& r : w.purges) {
    std::map<std::uint64_t, std::uint64_t> got;
    for (const auto& a : r.areas) got[a.start] = a.end;
    // Coalesce what the purge reported (6.1's purge list is already merged; be exact anyway).
    std::map<std::uint64_t, std::uint64_t> merged;
    for (const auto& [s, e] : got) {
      if (!merged.empty() && std::prev(merged.end())->second == s) std::prev(merged.end())->second = e;
      else merged[s] = e;
    }
    if (merged != w.m.lazy) {
      std::string want, have;
      for (const auto& [s, e] : w.m.lazy) want += "[" + hex(s) + ", " + hex(e) + ") ";
      for (const auto& [s, e] : merged) have += "[" + hex(s) + ", " + hex(e) + ") ";
      RC_FAIL(what + ": VM-PURGE violated: the purge took " + (have.empty() ? "nothing" : have) + "but the lazy VA is " +
              (want.empty() ? "nothing" : want) + "\nmachine: " + describe(w));
    }
    w.m.lazy.clear();
    w.m.lazy_pages = 0;
  }
}

// After a fault or a rollback: the model takes the system's lazy VA as it is.
void resync_lazy(vm_sut& w) {
  w.m.lazy.clear();
  w.m.lazy_pages = 0;
  for (const list_head* l = w.vs.lazy().head.next; l != &w.vs.lazy().head; l = l->next)
    w.m.add_lazy(va_of_list(l)->va_start, va_of_list(l)->va_end);
}

void check_after(vm_sut& w, const std::string& what) {
  const auto v = check_vmalloc(w.vs);
  if (!v.empty()) RC_FAIL("after " + what + ":\n" + vmalloc_report(v, w.vs) + "machine: " + describe(w));
  // The model against the system: the same busy areas, the same lazy pages and VA.
  std::ostringstream os;
  int notes = 0;
  auto note = [&](const std::string& s) {
    if (notes++ < 10) os << "  " << s << "\n";
  };
  std::map<std::uint64_t, std::uint64_t> sys_busy, sys_lazy;
  for (const list_head* l = w.vs.busy().head.next; l != &w.vs.busy().head; l = l->next)
    sys_busy[va_of_list(l)->va_start] = va_of_list(l)->va_end;
  for (const list_head* l = w.vs.lazy().head.next; l != &w.vs.lazy().head; l = l->next) {
    const vmap_area* va = va_of_list(l);
    if (!sys_lazy.empty() && std::prev(sys_lazy.end())->second == va->va_start) std::prev(sys_lazy.end())->second = va->va_end;
    else sys_lazy[va->va_start] = va->va_end;
  }
  for (const auto& [s, a] : w.m.busy)
    if (!sys_busy.count(s) || sys_busy[s] != a.end) note("model has busy [" + hex(s) + ", " + hex(a.end) + "), the system does not");
  for (const auto& [s, e] : sys_busy)
    if (!w.m.busy.count(s)) note("the system has busy [" + hex(s) + ", " + hex(e) + "), the model does not");
  if (sys_lazy != w.m.lazy) note("lazy VA differs");
  if (w.vs.vmap_lazy_nr() != w.m.lazy_pages)
    note("vmap_lazy_nr " + std::to_string(w.vs.vmap_lazy_nr()) + ", model " + std::to_string(w.m.lazy_pages));
  if (notes) RC_FAIL("after " + what + ": the system and the model disagree\n" + os.str() + "state judged:\n" +
                     dump_vmalloc(w.vs) + "machine: " + describe(w));
}

// ---------------------------------------------------------------------------------------
// The generator's state: handles and whether they are vmalloc'd or vmap'd.

struct vm_plan {
  vm_env env;
  std::map<long, bool> live;  // handle -> vmalloc'd (true) or vmap'd
  long next = 0;
  bool fragmented = false;
  bool corrupt = false;      // negative: a purge that skips the TLB flush is in the mix
  bool always_fault = false; // fault injection: every vmalloc has an allocation point armed
  bool main_window = false;  // differential: requests use the vmalloc range, where the classic
                             // cache lives (a private window's higher vstart resets it)
};

using vm_command = rc::state::Command<vm_plan, vm_sut>;

rc::Gen<long> gen_handle(const vm_plan& s, int want) {  // want: 1 vmalloc, 0 vmap, -1 any
  std::vector<long> hs;
  for (const auto& [h, v] : s.live)
    if (want < 0 || v == (want == 1)) hs.push_back(h);
  if (hs.empty()) return rc::gen::just(-1L);
  // Half the time one of the three newest (alloc/free pairs, as kernel code mostly does), so
  // that a window's own areas are freed and its next request meets their lazy VA.
  const std::vector<long> recent(hs.end() - static_cast<long>(std::min<std::size_t>(3, hs.size())), hs.end());
  return rc::gen::weightedOneOf<long>({{1, rc::gen::elementOf(hs)}, {1, rc::gen::elementOf(recent)}});
}

// The window a request uses: the whole vmalloc range (most), a small private window inside it
// (exhaustion, purge-and-retry, NE and RE fits), or the modules range.
struct window {
  int kind = 0;  // 0 vmalloc range, 1 private, 2 modules
  std::uint64_t off = 0, len = 0;
};
rc::Gen<window> gen_window(bool main_only) {
  return rc::gen::exec([main_only] {
    window w;
    // Private windows come from a few fixed places so that requests meet each other's lazy VA
    // there (exhaustion, then purge-and-retry); a random offset gives NE and RE fits.
    w.kind = *rc::gen::weightedElement<int>({{10, 0}, {10, 1}, {2, 2}});
    w.off = *rc::gen::weightedOneOf<std::uint64_t>(
        {{6, rc::gen::element<std::uint64_t>(0, 64 * PAGE_SIZE, 128 * PAGE_SIZE)},
         {2, rc::gen::map(uniform<std::uint64_t>(0, 64), [](std::uint64_t x) { return x * PAGE_SIZE; })}});
    w.len = *rc::gen::element<std::uint64_t>(8, 12, 16, 32) * PAGE_SIZE;
    if (main_only) w.kind = 0;
    return w;
  });
}
std::pair<std::uint64_t, std::uint64_t> resolve(const window& win, const vm_sut& w) {
  const auto& l = w.bm.mach->config().layout;
  if (win.kind == 1) {
    const std::uint64_t base = l.vmalloc_start + (std::uint64_t{1} << 30) + win.off;
    return {base, base + win.len};
  }
  if (win.kind == 2) return {l.modules_vaddr, l.modules_end};
  return {l.vmalloc_start, l.vmalloc_end};
}

enum class inject { none, vmap_area, vm_struct, pages_array, ne_fit, page, table };
const char* inject_name(inject i) {
  switch (i) {
    case inject::none: return "none";
    case inject::vmap_area: return "vmap_area";
    case inject::vm_struct: return "vm_struct";
    case inject::pages_array: return "pages_array";
    case inject::ne_fit: return "ne_fit";
    case inject::page: return "page";
    case inject::table: return "buddy nth";
  }
  return "?";
}

void arm(vm_sut& w, inject i, unsigned nth) {
  switch (i) {
    case inject::none: break;
    case inject::vmap_area: w.vs.kmalloc().fail_nth(1, kmalloc_site::vmap_area); break;
    case inject::vm_struct: w.vs.kmalloc().fail_nth(1, kmalloc_site::vm_struct); break;
    case inject::pages_array: w.vs.kmalloc().fail_nth(1, kmalloc_site::pages_array); break;
    case inject::ne_fit:  // no spare descriptor and no GFP_NOWAIT one: an NE fit cannot split
      w.vs.kmalloc().fail_always(kmalloc_site::ne_fit_preload);
      w.vs.kmalloc().fail_always(kmalloc_site::ne_fit_nowait);
      break;
    case inject::page:
    case inject::table: {
      auto& f = w.bm.buddy->fail_attr;
      f.min_order = 0;
      f.ignore_gfp_reclaim = false;
      f.ignore_gfp_highmem = false;
      if (i == inject::page) {
        f.probability = 100;
        f.interval = 3;
      } else {
        f.nth = nth;
      }
      break;
    }
  }
}
void disarm(vm_sut& w) {
  w.vs.kmalloc().clear_faults();
  w.bm.buddy->fail_attr = {};
}

// ---------------------------------------------------------------------------------------
// Commands

struct vmalloc_req {
  long id;
  std::uint64_t pages;
  std::uint64_t align;
  window win;
  int flavour;  // 0 vmalloc, 1 vzalloc, 2 vmalloc_huge, 3 __GFP_NOWARN
  inject fault;
  unsigned nth;
  unsigned cpu;
};

rc::Gen<vmalloc_req> gen_vmalloc_req(long id, bool main_only, bool always_fault) {
  return rc::gen::exec([id, main_only, always_fault] {
    vmalloc_req r;
    r.id = id;
    r.pages = *rc::gen::weightedOneOf<std::uint64_t>({{12, uniform<std::uint64_t>(1, 9)},
                                                       {4, uniform<std::uint64_t>(9, 65)},
                                                       {2, uniform<std::uint64_t>(513, 700)},
                                                       {1, rc::gen::element<std::uint64_t>(512, 1024)}});
    r.align = *rc::gen::weightedElement<std::uint64_t>({{10, 1}, {3, PAGE_SIZE}, {3, 4 * PAGE_SIZE}, {1, 64 * PAGE_SIZE}});
    r.win = *gen_window(main_only);
    r.flavour = *rc::gen::weightedElement<int>({{10, 0}, {4, 1}, {2, 2}, {2, 3}});
    // vmalloc_huge maps PMD leaves only from 2 MiB up.
    if (r.flavour == 2) r.pages = *rc::gen::element<std::uint64_t>(512, 520, 1024);
    r.fault = *rc::gen::weightedElement<inject>({{24, inject::none}, {1, inject::vmap_area}, {1, inject::vm_struct},
                                                {1, inject::pages_array}, {1, inject::ne_fit}, {1, inject::page},
                                                {1, inject::table}});
    if (always_fault)
      r.fault = *rc::gen::element(inject::vmap_area, inject::vm_struct, inject::pages_array, inject::ne_fit,
                                  inject::page, inject::table);
    r.nth = *uniform(1u, 12u);
    r.cpu = *uniform(0u, 4u);
    return r;
  });
}

// vmalloc through __vmalloc_node_range, judged against the model. Returns the address or 0.
std::uint64_t do_vmalloc(vm_sut& w, const vmalloc_req& req) {
  const auto& [id, pages, align, win, flavour, fault, nth, cpu] = req;
    const auto [lo, hi] = resolve(win, w);
    const std::uint64_t size = pages * PAGE_SIZE;
    const bool huge = flavour == 2;
    gfp_t gfp = buddy::GFP_KERNEL;
    if (flavour == 1) gfp |= buddy::__GFP_ZERO;
    if (flavour == 3) gfp |= buddy::__GFP_NOWARN;
    const std::uint64_t vm_flags = huge ? VM_ALLOW_HUGE_VMAP : 0;
    // The model's prediction (modern, align <= PAGE_SIZE, no fault, not huge): the address, and
    // whether the first attempt fails so that the overflow path purges and retries.
    const bool exact = w.env.strategy == "modern" && align <= PAGE_SIZE && fault == inject::none && !huge;
    const std::uint64_t guard = PAGE_SIZE;
    const auto first = w.m.lowest_fit(size + guard, lo, hi);
    w.purges.clear();
    const std::uint64_t rollbacks_before = w.vs.stats().rollbacks;
    const std::uint64_t free_before = w.bm.buddy->total_free_pages();
    const std::size_t tables_before = w.bm.mach->tables().tables().size();
    w.vs.current_cpu = cpu % w.env.cpus;
    arm(w, fault, nth);
    const std::uint64_t a = w.vs.__vmalloc_node_range(size, align, lo, hi, gfp, PAGE_KERNEL, vm_flags, "stateful");
    disarm(w);
    const std::string what = "vmalloc(" + std::to_string(pages) + " pages, align " + hex(align) + ", [" + hex(lo) + ", " +
                             hex(hi) + "), flavour " + std::to_string(flavour) + ", fault " + inject_name(fault) + ")";
    const bool rolled = w.vs.stats().rollbacks > rollbacks_before;
    const bool learn = fault != inject::none || rolled;
    if (learn) {
      // No exact prediction: a fault or a rollback left lazy VA the model cannot place. The
      // model learns it (VM-LAZY-ACCT, VM-PARTITION and VM-NO-REUSE still judge it).
      w.purges.clear();
      w.purge_problems.clear();
      resync_lazy(w);
    } else {
      if (exact && first && !w.purges.empty()) RC_FAIL(what + ": purged although the first attempt fits at " + hex(*first));
      if (exact && !first && w.purges.empty() && a != 0)
        RC_FAIL(what + ": the first attempt cannot fit, but no purge-and-retry happened");
      apply_purges(w, what);
    }
    if (a == 0) {
      // Nothing leaks: every page is back in the buddy allocator but the page tables the
      // mapping added (unmapping frees no table page, as in the kernel).
      const std::size_t new_tables = w.bm.mach->tables().tables().size() - tables_before;
      if (w.bm.buddy->total_free_pages() + new_tables != free_before)
        RC_FAIL(what + ": failed, and " + std::to_string(free_before - w.bm.buddy->total_free_pages() - new_tables) +
                " pages were not returned to the buddy allocator");
      if (fault == inject::none && !huge && w.vs.last_error() != vm_error::no_va && w.vs.last_error() != vm_error::no_memory)
        RC_FAIL(what + ": failed with " + vm_error_text(w.vs.last_error()));
      if (exact && !learn && w.vs.last_error() == vm_error::no_va) {
        const auto retry = w.m.lowest_fit(size + guard, lo, hi);  // after the purge the model applied
        if (retry) RC_FAIL(what + ": no VA, but [" + hex(*retry) + ", +" + hex(size + guard) + ") is free");
      }
      check_after(w, what + " -> failed");
      return 0;
    }
    const vm_struct* vm = w.vs.find_vm_area(a);
    if (vm == nullptr || vm->addr != a) RC_FAIL(what + ": no vm area at the address returned, " + hex(a));
    if (a < lo || a + vm->size > hi) RC_FAIL(what + ": " + hex(a) + " outside the window");
    if (a & (align - 1)) RC_FAIL(what + ": " + hex(a) + " not aligned");
    if (exact && !learn) {
      const auto expect = w.purges.empty() ? first : w.m.lowest_fit(size + guard, lo, hi);
      // The retry's prediction is computed after the purge was applied (apply_purges above).
      if (!expect || *expect != a)
        RC_FAIL(what + ": the kernel's lowest fit is " + (expect ? hex(*expect) : std::string("none")) + ", got " + hex(a));
    } else if (w.m.occupied(a, a + vm->size)) {
      RC_FAIL(what + ": " + hex(a) + " overlaps busy or lazily freed VA");
    }
    m_area ar;
    ar.end = a + vm->size;
    ar.vmalloc = true;
    ar.zeroed = flavour == 1;
    ar.pages = vm->nr_pages;
    ar.nested = vm->pages_addr;
    if (ar.nested != 0) {
      const vm_struct* nv = w.vs.find_vm_area(ar.nested);
      if (nv == nullptr) RC_FAIL(what + ": the nested pages array is not a vm area");
      if (exact && !learn) {
        // The nested vmalloc came second: the lowest fit once the outer area is taken.
        vm_model tmp = w.m;
        tmp.busy[a] = ar;
        const auto ne = tmp.lowest_fit(nv->size, w.vstart(), w.vend());
        if (!ne || *ne != ar.nested) RC_FAIL(what + ": the nested array's area is not the lowest fit");
      }
      m_area na;
      na.end = ar.nested + nv->size;
      na.pages = nv->nr_pages;
      na.zeroed = true;
      w.m.busy[ar.nested] = na;
    }
    w.m.busy[a] = ar;
    w.m.handles[id] = a;
    if (flavour == 1)
      for (std::uint64_t p = 0; p < std::min<std::uint64_t>(vm->nr_pages, 4); ++p)
        if (!w.bm.mach->phys().frame_is_zero(vm->pages[p])) RC_FAIL(what + ": vzalloc page " + std::to_string(p) + " not zero");
    check_after(w, what + " -> " + hex(a));
    return a;
}

struct Vmalloc : vm_command {
  vmalloc_req r;
  explicit Vmalloc(const vm_plan& s) : r(*gen_vmalloc_req(s.next, s.main_window, s.always_fault)) {}
  void apply(vm_plan& s) const override {
    s.live[r.id] = true;
    ++s.next;
  }
  void run(const vm_plan&, vm_sut& w) const override { do_vmalloc(w, r); }
  void show(std::ostream& os) const override {
    os << "Vmalloc(#" << r.id << ", " << r.pages << " pages, align " << hex(r.align) << ", window " << r.win.kind << "+"
       << hex(r.win.off) << "/" << hex(r.win.len) << ", flavour " << r.flavour << ", fault " << inject_name(r.fault)
       << " nth " << r.nth << ", cpu " << r.cpu << ")";
  }
};

// Moves a busy area (and its nested array) to the lazy set in the model, and predicts the drain.
void model_free(vm_sut& w, std::uint64_t start) {
  const m_area ar = w.m.busy.at(start);
  w.m.busy.erase(start);
  w.m.add_lazy(start, ar.end);
  if (ar.nested != 0) {
    const m_area na = w.m.busy.at(ar.nested);
    w.m.busy.erase(ar.nested);
    w.m.add_lazy(ar.nested, na.end);
  }
}

// vfree of a handle's area, judged against the model: the VA goes lazy, and the drain runs
// exactly when vmap_lazy_nr passes lazy_max_pages().
void do_vfree(vm_sut& w, long h) {
    if (!w.m.handles.count(h)) return;
    const std::uint64_t a = w.m.handles.at(h);
    w.purges.clear();
    const std::uint64_t lazy_before = w.m.lazy_pages;
    model_free(w, a);
    const bool drain = w.m.lazy_pages > w.vs.lazy_max_pages();
    const vm_error e = w.vs.vfree(a);
    const std::string what = "vfree(" + hex(a) + ")";
    if (e != vm_error::none) RC_FAIL(what + ": " + vm_error_text(e));
    if (drain != !w.purges.empty())
      RC_FAIL(what + ": vmap_lazy_nr went from " + std::to_string(lazy_before) + " to " + std::to_string(w.m.lazy_pages) +
              " against lazy_max_pages() " + std::to_string(w.vs.lazy_max_pages()) + ", but the drain " +
              (drain ? "did not run" : "ran"));
    apply_purges(w, what);
    w.m.handles.erase(h);
    check_after(w, what);
}

struct Vfree : vm_command {
  long h;
  explicit Vfree(const vm_plan& s) : h(*gen_handle(s, 1)) {}
  void apply(vm_plan& s) const override { s.live.erase(h); }
  void run(const vm_plan&, vm_sut& w) const override { do_vfree(w, h); }
  void show(std::ostream& os) const override { os << "Vfree(#" << h << ")"; }
};

// A driver re-allocating in its own fixed window (the shape of the Jan 2024 report): fill the
// window, free the first area, allocate the same size again. The freed VA is lazy, so the
// request fails, purges and retries, and the retry fills the hole exactly (an FL fit).
struct WindowCycle : vm_command {
  long base;
  std::uint64_t pages;
  window win;
  explicit WindowCycle(const vm_plan& s)
      : base(s.next), pages(*uniform<std::uint64_t>(1, 5)), win{1, *rc::gen::element<std::uint64_t>(0, 64 * PAGE_SIZE, 128 * PAGE_SIZE), 0} {}
  void apply(vm_plan& s) const override { s.next += 8; }
  void run(const vm_plan&, vm_sut& w) const override {
    window wn = win;
    wn.len = 4 * (pages + 1) * PAGE_SIZE;
    std::vector<long> got;
    for (long i = 0; i < 5; ++i) {
      const vmalloc_req r{base + i, pages, 1, wn, 0, inject::none, 1, 0};
      if (do_vmalloc(w, r) == 0) break;
      got.push_back(base + i);
    }
    if (got.empty()) return;
    do_vfree(w, got.front());
    const vmalloc_req again{base + 6, pages, 1, wn, 0, inject::none, 1, 0};
    do_vmalloc(w, again);
    // The cycle's areas are the test's own: give them back so handles stay the plan's.
    for (std::size_t i = 1; i < got.size(); ++i) do_vfree(w, got[i]);
    do_vfree(w, base + 6);
  }
  void show(std::ostream& os) const override {
    os << "WindowCycle(#" << base << ", " << pages << " pages, window +" << hex(win.off) << ")";
  }
};

struct Vmap : vm_command {
  long id;
  std::uint64_t count;
  explicit Vmap(const vm_plan& s) : id(s.next), count(*uniform<std::uint64_t>(1, 17)) {}
  void apply(vm_plan& s) const override {
    s.live[id] = false;
    ++s.next;
  }
  void run(const vm_plan&, vm_sut& w) const override {
    std::vector<std::uint64_t> pfns;
    for (std::uint64_t i = 0; i < count; ++i) {
      const auto r = w.bm.buddy->alloc_pages(buddy::GFP_KERNEL | buddy::__GFP_NOWARN, 0);
      if (!r.ok()) break;
      pfns.push_back(*r.pfn);
    }
    auto give_back = [&] {
      for (std::uint64_t p : pfns) w.bm.buddy->__free_pages(p, 0);
    };
    if (pfns.empty()) return;
    const auto first = w.m.lowest_fit((pfns.size() + 1) * PAGE_SIZE, w.vstart(), w.vend());
    w.purges.clear();
    const std::uint64_t rollbacks_before = w.vs.stats().rollbacks;
    const std::uint64_t a = w.vs.vmap(pfns, VM_MAP, PAGE_KERNEL);
    const std::string what = "vmap(" + std::to_string(pfns.size()) + " pages)";
    if (w.vs.stats().rollbacks > rollbacks_before) {
      w.purges.clear();
      w.purge_problems.clear();
      resync_lazy(w);
    } else {
      apply_purges(w, what);
    }
    if (a == 0) {
      give_back();
      check_after(w, what + " -> failed");
      return;
    }
    if (w.env.strategy == "modern" && first && w.purges.empty() && (*first != a))
      RC_FAIL(what + ": the kernel's lowest fit is " + hex(*first) + ", got " + hex(a));
    for (std::uint64_t i = 0; i < pfns.size(); ++i)
      if (w.vs.vmalloc_to_page(a + i * PAGE_SIZE) != pfns[i]) RC_FAIL(what + ": page " + std::to_string(i) + " not mapped to its pfn");
    m_area ar;
    ar.end = a + (pfns.size() + 1) * PAGE_SIZE;
    ar.vmalloc = false;
    ar.pages = pfns.size();
    ar.own_pfns = pfns;
    w.m.busy[a] = ar;
    w.m.handles[id] = a;
    check_after(w, what + " -> " + hex(a));
  }
  void show(std::ostream& os) const override { os << "Vmap(#" << id << ", " << count << " pages)"; }
};

struct Vunmap : vm_command {
  long h;
  explicit Vunmap(const vm_plan& s) : h(*gen_handle(s, 0)) {}
  void apply(vm_plan& s) const override { s.live.erase(h); }
  void run(const vm_plan&, vm_sut& w) const override {
    if (!w.m.handles.count(h)) return;
    const std::uint64_t a = w.m.handles.at(h);
    const auto pfns = w.m.busy.at(a).own_pfns;
    w.purges.clear();
    model_free(w, a);
    const bool drain = w.m.lazy_pages > w.vs.lazy_max_pages();
    const vm_error e = w.vs.vunmap(a);
    const std::string what = "vunmap(" + hex(a) + ")";
    if (e != vm_error::none) RC_FAIL(what + ": " + vm_error_text(e));
    if (drain != !w.purges.empty()) RC_FAIL(what + ": the drain " + std::string(drain ? "did not run" : "ran"));
    apply_purges(w, what);
    w.m.handles.erase(h);
    // The pages are the caller's: still allocated; give them back.
    for (std::uint64_t p : pfns) {
      if (!w.bm.buddy->allocated_order(p)) RC_FAIL(what + ": vunmap freed the caller's page " + hex(p));
      w.bm.buddy->__free_pages(p, 0);
    }
    check_after(w, what);
  }
  void show(std::ostream& os) const override { os << "Vunmap(#" << h << ")"; }
};

struct Purge : vm_command {
  bool aliases;
  explicit Purge(const vm_plan&) : aliases(*rc::gen::arbitrary<bool>()) {}
  void run(const vm_plan&, vm_sut& w) const override {
    w.purges.clear();
    const bool had = !w.m.lazy.empty();
    const purge_result r = aliases ? w.vs.vm_unmap_aliases() : w.vs.purge_vmap_area_lazy();
    const std::string what = aliases ? "vm_unmap_aliases()" : "purge_vmap_area_lazy()";
    if (r.purged != had) RC_FAIL(what + ": purged " + std::to_string(r.purged) + " with lazy VA " + std::to_string(had));
    apply_purges(w, what);
    check_after(w, what);
  }
  void show(std::ostream& os) const override { os << (aliases ? "VmUnmapAliases" : "PurgeVmapAreaLazy") << "()"; }
};

// Write a word through the VA on some CPU, or read one back and compare with the model.
struct Access : vm_command {
  long h;
  std::uint64_t page, word, value;
  unsigned cpu;
  bool write;
  explicit Access(const vm_plan& s)
      : h(*gen_handle(s, -1)), page(*uniform<std::uint64_t>(0, 1024)), word(*uniform<std::uint64_t>(0, 512)),
        value(*rc::gen::arbitrary<std::uint64_t>()), cpu(*uniform(0u, 4u)), write(*rc::gen::arbitrary<bool>()) {}
  void run(const vm_plan&, vm_sut& w) const override {
    if (!w.m.handles.count(h)) return;
    const std::uint64_t a = w.m.handles.at(h);
    m_area& ar = w.m.busy.at(a);
    const std::uint64_t off = (page % ar.pages) * PAGE_SIZE + word * 8;
    const unsigned c = cpu % w.env.cpus;
    if (write) {
      const auto r = w.bm.mach->write_u64(c, a + off, value);
      if (!r.ok()) RC_FAIL("write at " + hex(a + off) + " faulted: " + fault_text(r.fault));
      ar.data[off] = value;
      check_after(w, "write " + hex(a + off));
    } else {
      const auto r = w.bm.mach->read_u64(c, a + off);
      if (!r.ok()) RC_FAIL("read at " + hex(a + off) + " faulted: " + fault_text(r.fault));
      const auto it = ar.data.find(off);
      if (it != ar.data.end() && it->second != r.value)
        RC_FAIL("read at " + hex(a + off) + " gave " + hex(r.value) + ", written " + hex(it->second));
      if (it == ar.data.end() && ar.zeroed && r.value != 0)
        RC_FAIL("read at " + hex(a + off) + " of a vzalloc'd area gave " + hex(r.value));
      // The guard page faults.
      const auto g = w.bm.mach->read_u64(c, ar.end - PAGE_SIZE);
      if (g.ok()) RC_FAIL("the guard page of [" + hex(a) + ", " + hex(ar.end) + ") is readable");
    }
  }
  void show(std::ostream& os) const override {
    os << (write ? "Write" : "Read") << "(#" << h << ", page " << page << ", word " << word << ", cpu " << cpu << ")";
  }
};

// Bad input: each refused with its error and the state unchanged.
struct BadInput : vm_command {
  int kind;
  long h;
  explicit BadInput(const vm_plan& s) : kind(*uniform(0, 10)), h(*gen_handle(s, -1)) {}
  void run(const vm_plan&, vm_sut& w) const override {
    const std::string before = digest(w);
    const std::uint64_t a = w.m.handles.count(h) ? w.m.handles.at(h) : 0;
    const bool is_vmalloc = a != 0 && w.m.busy.at(a).vmalloc;
    vm_error want = vm_error::none, got = vm_error::none;
    std::string what;
    switch (kind) {
      case 0: what = "vfree(unaligned)"; want = vm_error::bad_address; got = w.vs.vfree(w.vstart() + 8); break;
      case 1: what = "vfree(unknown)"; want = vm_error::not_found; got = w.vs.vfree(w.vstart() + (std::uint64_t{3} << 40)); break;
      case 2:
        if (a == 0 || w.m.busy.at(a).pages < 2) return;
        what = "vfree(interior)"; want = vm_error::interior_address; got = w.vs.vfree(a + PAGE_SIZE); break;
      case 3:
        if (a == 0) return;
        what = is_vmalloc ? "vunmap(vmalloc'd)" : "vfree(vmap'd)";
        want = vm_error::wrong_kind;
        got = is_vmalloc ? w.vs.vunmap(a) : w.vs.vfree(a);
        break;
      case 4: what = "vmalloc(0)"; want = vm_error::invalid; w.vs.vmalloc(0); got = w.vs.last_error(); break;
      case 5: what = "vmalloc(beyond RAM)"; want = vm_error::too_large; w.vs.vmalloc(std::uint64_t{1} << 40); got = w.vs.last_error(); break;
      case 6:
        what = "__vmalloc_node(align 3)"; want = vm_error::invalid;
        w.vs.__vmalloc_node(PAGE_SIZE, 3, buddy::GFP_KERNEL, "bad"); got = w.vs.last_error(); break;
      case 7:
        what = "__vmalloc_node(DMA|DMA32)"; want = vm_error::invalid;
        w.vs.__vmalloc_node(PAGE_SIZE, 1, buddy::__GFP_DMA | buddy::__GFP_DMA32, "bad"); got = w.vs.last_error(); break;
      case 8:
        what = "vmap(VM_FLUSH_RESET_PERMS)"; want = vm_error::bad_flags;
        w.vs.vmap({w.bm.mach->config().ram.front().start_pfn}, VM_FLUSH_RESET_PERMS, PAGE_KERNEL); got = w.vs.last_error(); break;
      case 9:
        what = "vmalloc range reversed"; want = vm_error::invalid;
        w.vs.__vmalloc_node_range(PAGE_SIZE, 1, w.vend(), w.vstart(), buddy::GFP_KERNEL, PAGE_KERNEL, 0, "bad");
        got = w.vs.last_error(); break;
      default:
        // A double vfree: the handle's area once freed is no longer an area.
        what = "vfree(already lazily freed)"; want = vm_error::not_found;
        if (w.m.lazy.empty()) return;
        got = w.vs.vfree(w.m.lazy.begin()->first);
        break;
    }
    if (got != want) RC_FAIL(what + ": expected '" + vm_error_text(want) + "', got '" + vm_error_text(got) + "'");
    if (digest(w) != before) RC_FAIL(what + ": refused, but the state changed");
    check_after(w, what + " (refused)");
  }
  void show(std::ostream& os) const override { os << "BadInput(" << kind << ", #" << h << ")"; }
};

// Fragment the buddy allocator: take every free page at order 0, give back every other one, so
// that no block of order >= 1 is left. Then a vmalloc of several pages must still succeed while
// a contiguous allocation of the same size fails (VM-NONCONTIG).
struct Fragment : vm_command {
  explicit Fragment(const vm_plan&) {}
  void apply(vm_plan& s) const override { s.fragmented = true; }
  void run(const vm_plan&, vm_sut& w) const override {
    std::vector<std::uint64_t> got;
    for (;;) {
      // __GFP_MEMALLOC: past every watermark, so that no free block of any order is left.
      const auto r = w.bm.buddy->alloc_pages(buddy::GFP_ATOMIC | buddy::__GFP_NOWARN | buddy::__GFP_MEMALLOC, 0);
      if (!r.ok()) break;
      got.push_back(*r.pfn);
    }
    std::sort(got.begin(), got.end());
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (i % 2 == 0) w.bm.buddy->__free_pages(got[i], 0);
      else w.m.held.push_back(got[i]);
    }
    const auto contiguous = w.bm.buddy->alloc_pages(buddy::GFP_KERNEL | buddy::__GFP_NOWARN | buddy::__GFP_NORETRY, 2);
    if (contiguous.ok()) {
      w.bm.buddy->__free_pages(*contiguous.pfn, 2);
    } else {
      // Four pages, not contiguous: must work (guard page and tables included).
      const auto first = w.m.lowest_fit(5 * PAGE_SIZE, w.vstart(), w.vend());
      w.purges.clear();
      const std::uint64_t a = w.vs.vmalloc(4 * PAGE_SIZE);
      apply_purges(w, "vmalloc(4 pages) on a fragmented buddy");
      if (a != 0) {
        ++w.fragmented_wins;
        const vm_struct* vm = w.vs.find_vm_area(a);
        if (w.env.strategy == "modern" && first && *first != a) RC_FAIL("fragmented vmalloc not at the lowest fit");
        m_area ar;
        ar.end = a + vm->size;
        ar.pages = vm->nr_pages;
        w.m.busy[a] = ar;
        w.m.handles[-1000 - static_cast<long>(w.fragmented_wins)] = a;
      } else {
        // A failure is legitimate only if the watermarks leave too few order-0 pages: 4 data
        // pages and at most 2 new page tables. Probe with the same gfp.
        std::vector<std::uint64_t> probe;
        for (int i = 0; i < 6; ++i) {
          const auto r = w.bm.buddy->alloc_pages(buddy::GFP_KERNEL | buddy::__GFP_NOWARN | buddy::__GFP_HIGHMEM, 0);
          if (!r.ok()) break;
          probe.push_back(*r.pfn);
        }
        for (std::uint64_t p : probe) w.bm.buddy->__free_pages(p, 0);
        if (probe.size() == 6)
          RC_FAIL("vmalloc(4 pages) failed on a fragmented buddy that still gives 6 order-0 pages: " +
                  std::string(vm_error_text(w.vs.last_error())));
        resync_lazy(w);  // the failed vmalloc left its VA lazy
      }
    }
    check_after(w, "fragment");
  }
  void show(std::ostream& os) const override { os << "Fragment()"; }
};

struct Unfragment : vm_command {
  explicit Unfragment(const vm_plan&) {}
  void apply(vm_plan& s) const override { s.fragmented = false; }
  void run(const vm_plan&, vm_sut& w) const override {
    for (std::uint64_t p : w.m.held) w.bm.buddy->__free_pages(p, 0);
    w.m.held.clear();
    check_after(w, "unfragment");
  }
  void show(std::ostream& os) const override { os << "Unfragment()"; }
};

// pcpu_get_vm_areas: a group of areas at base + offsets, placed top-down. The model checks the
// kernel's answer against its own free VA: every area free, aligned, inside the vmalloc range,
// and no higher base where the whole group fits (the optimum is always where some area's end
// meets the (aligned) end of a free block, so those candidates are tried).
struct PcpuAreas : vm_command {
  long id;
  std::vector<std::uint64_t> offsets, sizes;
  std::uint64_t align;
  explicit PcpuAreas(const vm_plan& s) : id(s.next), align(*rc::gen::element(std::uint64_t{PAGE_SIZE}, std::uint64_t{PAGE_SIZE}, std::uint64_t{4 * PAGE_SIZE})) {
    const unsigned n = *uniform(1u, 4u);
    std::uint64_t at = 0;
    for (unsigned i = 0; i < n; ++i) {
      at += *uniform<std::uint64_t>(0, 3) * align;
      offsets.push_back(at);
      sizes.push_back(*uniform<std::uint64_t>(1, 5) * align);
      at += sizes.back();
    }
  }
  void apply(vm_plan& s) const override { s.next += 1; }
  void run(const vm_plan&, vm_sut& w) const override {
    const std::uint64_t vend_a = w.vend() & ~(align - 1);
    const std::uint64_t vstart_a = (w.vstart() + align - 1) & ~(align - 1);
    auto group_fits = [&](const vm_model& m, std::uint64_t base) {
      for (std::size_t i = 0; i < offsets.size(); ++i) {
        const std::uint64_t a = base + offsets[i], e = a + sizes[i];
        if (a < vstart_a || e > vend_a || e < a || m.occupied(a, e)) return false;
      }
      return true;
    };
    auto best_base = [&](const vm_model& m) -> std::optional<std::uint64_t> {
      std::vector<std::pair<std::uint64_t, std::uint64_t>> used;
      for (const auto& [s0, ar] : m.busy) used.push_back({s0, ar.end});
      for (const auto& [s0, e] : m.lazy) used.push_back({s0, e});
      std::sort(used.begin(), used.end());
      std::vector<std::uint64_t> ends;  // ends of free blocks (aligned, capped at vend)
      std::uint64_t gap = 1;
      for (const auto& [s0, e] : used) {
        if (s0 > gap) ends.push_back(std::min(s0 & ~(align - 1), vend_a));
        gap = std::max(gap, e);
      }
      ends.push_back(vend_a);
      std::optional<std::uint64_t> best;
      for (std::uint64_t e : ends)
        for (std::size_t i = 0; i < offsets.size(); ++i) {
          const std::uint64_t b = e - offsets[i] - sizes[i];
          if (b + offsets[i] + sizes[i] != e || b > e) continue;
          if ((!best || b > *best) && group_fits(m, b)) best = b;
        }
      return best;
    };
    const auto expect = best_base(w.m);
    w.purges.clear();
    const auto vms = w.vs.pcpu_get_vm_areas(offsets, sizes, align);
    const std::string what = "pcpu_get_vm_areas(" + std::to_string(offsets.size()) + " areas, align " + hex(align) + ")";
    apply_purges(w, what);
    if (vms.empty()) {
      if (w.vs.last_error() == vm_error::no_va && best_base(w.m))
        RC_FAIL(what + ": no VA, but base " + hex(*best_base(w.m)) + " fits the group");
      check_after(w, what + " -> failed");
      return;
    }
    const std::uint64_t base = vms[0]->addr - offsets[0];
    const auto want = w.purges.empty() ? expect : best_base(w.m);
    if (!want || *want != base)
      RC_FAIL(what + ": placed at base " + hex(base) + ", the highest base where the group fits is " +
              (want ? hex(*want) : std::string("none")));
    for (std::size_t i = 0; i < vms.size(); ++i) {
      if (vms[i]->addr != base + offsets[i] || vms[i]->size != sizes[i]) RC_FAIL(what + ": area " + std::to_string(i) + " misplaced");
      m_area ar;
      ar.end = vms[i]->addr + sizes[i];
      ar.pages = 0;
      w.m.busy[vms[i]->addr] = ar;
    }
    w.pcpu_groups.push_back(vms);
    check_after(w, what + " -> base " + hex(base));
  }
  void show(std::ostream& os) const override {
    os << "PcpuAreas(";
    for (std::size_t i = 0; i < offsets.size(); ++i) os << (i ? ", " : "") << hex(offsets[i]) << "+" << hex(sizes[i]);
    os << "; align " << hex(align) << ")";
  }
};

struct PcpuFree : vm_command {
  explicit PcpuFree(const vm_plan&) {}
  void run(const vm_plan&, vm_sut& w) const override {
    if (w.pcpu_groups.empty()) return;
    const auto vms = w.pcpu_groups.back();
    w.pcpu_groups.pop_back();
    w.purges.clear();
    for (const vm_struct* vm : vms) model_free(w, vm->addr);
    const bool drain = w.m.lazy_pages > w.vs.lazy_max_pages();
    w.vs.pcpu_free_vm_areas(vms);
    if (drain != !w.purges.empty()) RC_FAIL("pcpu_free_vm_areas: the drain " + std::string(drain ? "did not run" : "ran"));
    apply_purges(w, "pcpu_free_vm_areas");
    check_after(w, "pcpu_free_vm_areas");
  }
  void show(std::ostream& os) const override { os << "PcpuFree()"; }
};

// A kernel bug planted in the state, not the code: the first lazy area goes back to free space
// without the purge's TLB flush, so its VA can be handed out while stale TLB entries may still
// translate it. VM-NO-REUSE must report it.
struct ReleaseLazyWithoutFlushForTest : vm_command {
  explicit ReleaseLazyWithoutFlushForTest(const vm_plan&) {}
  void run(const vm_plan&, vm_sut& w) const override {
    va_tree& lazy = w.vs.lazy_for_test();
    if (lazy.empty()) return;
    vmap_area* va = va_of_list(lazy.head.next);
    unlink_va(va, lazy, false);
    w.vs.vmap_lazy_nr_for_test() -= va_size(va) >> PAGE_SHIFT;
    if (!w.vs.kva_for_test().release(va)) RC_FAIL("test setup: release refused");
    check_after(w, "ReleaseLazyWithoutFlushForTest()");
  }
  void show(std::ostream& os) const override { os << "ReleaseLazyWithoutFlushForTest()"; }
};

rc::Gen<std::shared_ptr<const vm_command>> gen_command(const vm_plan& s) {
  return rc::gen::exec([s]() -> std::shared_ptr<const vm_command> {
    int k = *rc::gen::weightedElement<int>(
        {{14, 0}, {10, 1}, {3, 2}, {2, 3}, {3, 4}, {7, 5}, {3, 6}, {1, 7}, {1, 8}, {2, 9}, {2, 10}, {1, 11},
         {s.corrupt ? 3u : 0u, 12}});
    if ((k == 1 || k == 5) && s.live.empty()) k = 0;
    if (k == 3 && std::none_of(s.live.begin(), s.live.end(), [](const auto& p) { return !p.second; })) k = 2;
    if (k == 1 && std::none_of(s.live.begin(), s.live.end(), [](const auto& p) { return p.second; })) k = 0;
    if (k == 7 && s.fragmented) k = 8;
    if (k == 8 && !s.fragmented) k = 0;
    switch (k) {
      case 0: return std::make_shared<Vmalloc>(s);
      case 1: return std::make_shared<Vfree>(s);
      case 2: return std::make_shared<Vmap>(s);
      case 3: return std::make_shared<Vunmap>(s);
      case 4: return std::make_shared<Purge>(s);
      case 5: return std::make_shared<Access>(s);
      case 6: return std::make_shared<BadInput>(s);
      case 7: return std::make_shared<Fragment>(s);
      case 8: return std::make_shared<Unfragment>(s);
      case 9: return std::make_shared<WindowCycle>(s);
      case 10: return std::make_shared<PcpuAreas>(s);
      case 11: return std::make_shared<PcpuFree>(s);
      default: return std::make_shared<ReleaseLazyWithoutFlushForTest>(s);
    }
  });
}

void tag(const vm_sut& w) {
  const vmap_stats& st = w.vs.stats();
  if (w.env.strategy != "modern" && w.env.strategy != "classic") RC_TAG("strategy " + w.env.strategy);
  if (st.drains) RC_TAG("purge triggered by the lazy threshold");
  if (st.purge_retry_success) RC_TAG("purge and retry");
  if (st.nested_pages_arrays) RC_TAG("nested pages array");
  if (st.huge_mappings) RC_TAG("huge mapping");
  if (st.rollbacks) RC_TAG("rollback");
  if (st.refusals) RC_TAG("bad input refused");
  if (st.alloc_vmap_area_failed) RC_TAG("VA exhausted");
  if (w.fragmented_wins) RC_TAG("vmalloc on a fragmented buddy");
  if (st.pcpu_placements) RC_TAG("pcpu areas placed top-down");
  for (kmalloc_site site : {kmalloc_site::vmap_area, kmalloc_site::vm_struct, kmalloc_site::pages_array,
                            kmalloc_site::ne_fit_nowait})
    if (w.vs.kmalloc().failed(site)) RC_TAG(std::string("failed: ") + std::string(site_name(site)));
  if (w.bm.buddy->stats().outcomes[static_cast<unsigned>(buddy::alloc_outcome::fault_injected)])
    RC_TAG("failed: a page or page table");
  if (w.env.strategy == "modern") {
    if (st.fits[FL_FIT_TYPE]) RC_TAG("fit FL");
    if (st.fits[LE_FIT_TYPE]) RC_TAG("fit LE");
    if (st.fits[RE_FIT_TYPE]) RC_TAG("fit RE");
    if (st.fits[NE_FIT_TYPE]) RC_TAG("fit NE");
  }
}

void run_case(const vm_env& env, int floor, const std::string& property, bool corrupt = false, bool always_fault = false) {
  vm_sut w(env);
  check_after(w, "boot");
  vm_plan s0;
  s0.env = env;
  s0.corrupt = corrupt;
  s0.always_fault = always_fault;
  const auto cmds = *rc::gen::withSize(
      [s0, floor](int size) { return rc::gen::resize(std::max(size, floor), rc::state::gen::commands(s0, gen_command)); });
  run_with_pictures(
      cmds, s0, w, property, [&env] { return std::make_unique<vm_sut>(env); },
      [](const vm_sut& x, const std::string& title) { return picture::svg_state(&x.vs, *x.bm.buddy, title); });
  tag(w);
}

// Differential: the same sequence on modern and on classic; both keep every invariant (each
// system is checked by its own model), and the share of allocations whose addresses differ is
// reported.
void run_differential(vm_env em, const std::string& other) {
  em.strategy = "modern";
  vm_env ec = em;
  ec.strategy = other;
  vm_sut a(em), b(ec);
  check_after(a, "boot");
  check_after(b, "boot");
  vm_plan s0;
  s0.env = em;
  s0.main_window = true;
  const auto cmds = *rc::gen::withSize([s0](int size) { return rc::gen::resize(std::max(size, 40), rc::state::gen::commands(s0, gen_command)); });
  vm_plan sa = s0, sb = s0;
  std::uint64_t differ = 0, both = 0;
  for (const auto& c : cmds) {
    c->run(sa, a);
    c->run(sb, b);
    c->apply(sa);
    c->apply(sb);
    for (const auto& [h, addr] : a.m.handles) {
      const auto it = b.m.handles.find(h);
      if (it == b.m.handles.end()) continue;
      ++both;
      if (it->second != addr) ++differ;
    }
  }
  if (both) RC_TAG(differ ? "addresses differ" : "addresses agree");
  tag(a);
}

}  // namespace

void register_vmalloc_stateful(std::vector<property>& out, std::vector<property>& negative) {
  const std::vector<std::string> ids{"VM-DISJOINT", "VM-RANGE",  "VM-PARTITION", "VM-LAZY-ACCT", "VM-NO-REUSE",
                                     "VM-PURGE",    "VM-MAP",    "VM-NONCONTIG", "VM-NO-STRAY",  "TLB-COHERENT"};
  out.push_back({"vmalloc_stateful", ids, "stateful", 150, 80,
                 {{"purge triggered by the lazy threshold", 0.05},
                  {"purge and retry", 0.05},
                  {"nested pages array", 0.1},
                  {"huge mapping", 0.05},
                  {"rollback", 0.1},
                  {"bad input refused", 0.2},
                  {"vmalloc on a fragmented buddy", 0.03},
                  {"fit FL", 0.05},
                  {"fit LE", 0.3},
                  {"fit RE", 0.01},
                  {"fit NE", 0.3},
                  {"pcpu areas placed top-down", 0.1}},
                 make_property([] { run_case(*gen_env("modern"), 15, "vmalloc_stateful"); })});
  // Every registered strategy but modern (classic, and any a user added with
  // kva_registry::add), drawn per case; soundness only, with the same model and checks.
  out.push_back({"vmalloc_stateful_strategies", ids, "stateful", 80, 80,
                 {{"purge and retry", 0.05}, {"rollback", 0.1}, {"nested pages array", 0.1}},
                 make_property([] { run_case(*gen_env(*gen_other_strategy()), 15, "vmalloc_stateful_strategies"); })});
  out.push_back({"vmalloc_differential", ids, "differential", 100, 60,
                 {{"addresses differ", 0.01}, {"addresses agree", 0.02}},
                 make_property([] { run_differential(*gen_env("modern"), *gen_other_strategy()); })});
  // Fault injection: every vmalloc has one allocation point armed (descriptor, vm_struct, pages
  // array, NE-fit descriptor, a page, the n-th buddy request: page or page table). Each failure
  // must roll back completely: no busy area, every page back in the buddy allocator but new
  // page tables, no small allocation live, the VA lazily freed (and purged VA reusable).
  out.push_back({"vmalloc_fault_injection", ids, "fault-injection", 80, 60,
                 {{"failed: vmap_area", 0.1},
                  {"failed: vm_struct", 0.1},
                  {"failed: pages_array", 0.1},
                  {"failed: ne_fit_nowait", 0.02},
                  {"failed: a page or page table", 0.1},
                  {"rollback", 0.2}},
                 make_property([] { run_case(*gen_env("modern"), 15, "vmalloc_fault_injection", false, true); })});
  negative.push_back({"negative__vmalloc_stateful_purge_without_flush", {"VM-NO-REUSE"}, "negative", 100, 30, {},
                      make_property([] { run_case(*gen_env("modern"), 5, "negative__vmalloc_stateful_purge_without_flush", true); })});
}

}  // namespace mmref::props
