// impl/replay/replay.cpp — see replay.hpp for what is compared and how the state before the
// trace is rebuilt.
#include "model/hex.hpp"
#include "impl/replay/replay.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "impl/buddy/page_alloc.hpp"
#include "impl/vmalloc/invariants.hpp"
#include "impl/vmalloc/vmalloc.hpp"
#include "impl/vmalloc/vmap_node.hpp"

namespace mmref::replay {

using vmalloc::kva_interval;
using vmalloc::purge_result;
using vmalloc::vmap_state;

namespace {


std::uint64_t pages(std::uint64_t start, std::uint64_t end) { return (end - start) >> PAGE_SHIFT; }

// How many divergences are kept in full (all are counted).
constexpr std::size_t KEEP_DIVERGENCES = 20;

// A purge between its entry and its return on one CPU (6.1: applied at the entry).
struct open_purge {
  unsigned cpu = 0;
  std::uint64_t line = 0;
  std::vector<kva_interval> areas;  // in the order the kernel's loop returns them
};

class engine {
 public:
  engine(const replay_input& in, const replay_options& opt)
      : in_(in), opt_(opt), bm_(config_for(in)),
        vs_(*bm_.buddy, *bm_.mach, vmalloc::vmap_config{in.nr_cpus, opt.strategy, 1, false, true}) {
    tracepoints_ = std::any_of(in.events.begin(), in.events.end(), [](const vm_event& e) {
      return e.kind == vm_ev::tp_alloc || e.kind == vm_ev::tp_free || e.kind == vm_ev::tp_purge;
    });
    // 6.9+ on more than one CPU: the vmap nodes and their pools (an option of the modern
    // strategy), nr_vmap_nodes = num_possible_cpus().
    const bool nodes = in.kernel_major > 6 || (in.kernel_major == 6 && in.kernel_minor >= 9);
    if (nodes && in.nr_cpus > 1 && opt.vmap_nodes)
      vs_.pools = std::make_unique<vmalloc::vmap_nodes>(in.nr_cpus, in.vmalloc_start, in.vmalloc_end);
    vs_.on_purge = [this](const purge_result& r) {
      purges_seen_.push_back(r);
      for (const auto& v : vmalloc::check_VM_PURGE(vs_, r)) rep_.invariant_violations.push_back(v.id + ": " + v.detail);
    };
    rep_.name = in.name;
    rep_.strategy = opt.strategy;
    rep_.kernel_major = in.kernel_major;
    rep_.kernel_minor = in.kernel_minor;
    rep_.nr_cpus = in.nr_cpus;
    rep_.vmalloc_start = in.vmalloc_start;
    rep_.vmalloc_end = in.vmalloc_end;
    rep_.event_counts = in.event_counts;
    rep_.unknown_events = in.unknown_events;
    rep_.initstart_lines = in.initstart.size();
  }

  replay_report run() {
    reconstruct();
    std::uint64_t since_check = 0;
    for (std::size_t i = 0; i < in_.events.size() && !rep_.stopped_early; ++i) {
      step(in_.events[i]);
      if (opt_.check_every != 0 && ++since_check >= opt_.check_every) {
        since_check = 0;
        check_invariants("after line " + std::to_string(in_.events[i].line));
      }
      if (opt_.stop_at_first && rep_.unexplained_total > 0) rep_.stopped_early = true;
    }
    check_invariants("at the end");
    if (!rep_.stopped_early) compare_final();
    return rep_;
  }

 private:
  static machine_config config_for(const replay_input& in) {
    machine_config c = machine_config::small(16, 4, std::max(1u, in.nr_cpus));
    if (in.vmalloc_start != 0) {
      c.layout.vmalloc_start = in.vmalloc_start;
      c.layout.vmalloc_end = in.vmalloc_end;
    }
    return c;
  }

  // ---- the state before the first event ----------------------------------------------
  void reconstruct() {
    if (!in_.has_initstart) return;
    // The snapshot was taken a little after the 'capture: init start' marker (the shell that
    // wrote it forked first), so which traced events it includes is not known exactly. An area
    // of the snapshot is the trace's own when the first traced event at its start address
    // creates it; when the first one frees it, or none mentions it, it existed before tracing
    // began.
    std::map<std::uint64_t, bool> first_is_create;  // start -> the first event there creates
    for (const vm_event& e : in_.events) {
      if (created_by(e)) first_is_create.emplace(e.va_start, true);
      if (e.kind == vm_ev::pcpu_get_ret) first_is_create.emplace(e.addr0, true);
      if (freed_by(e)) first_is_create.emplace(e.va_start, false);
    }
    std::vector<area_line> early;
    for (const area_line& l : in_.initstart) {
      if (l.unpurged) continue;
      const auto it = first_is_create.find(l.start);
      if (it == first_is_create.end() || !it->second) early.push_back(l);
    }
    std::sort(early.begin(), early.end(), [](const area_line& a, const area_line& b) { return a.start < b.start; });
    for (const area_line& l : early) {
      if (vs_.vmalloc_init_area(l.start, l.end) == nullptr)
        throw std::runtime_error(in_.name + ": vmallocinfo_initstart.txt line " + std::to_string(l.line) +
                                 ": cannot rebuild the area [" + hex(l.start) + ", " + hex(l.end) + "): " +
                                 vs_.last_warning());
      ++rep_.early_areas;
    }
  }

  // Which events create and free an area, in this trace's primary record.
  bool created_by(const vm_event& e) const {
    return tracepoints_ ? (e.kind == vm_ev::tp_alloc && !e.failed) : e.kind == vm_ev::alloc_ret;
  }
  bool freed_by(const vm_event& e) const { return tracepoints_ ? e.kind == vm_ev::tp_free : e.kind == vm_ev::free; }

  // ---- one event -----------------------------------------------------------------------
  void step(const vm_event& e) {
    // An event on a CPU means the free that CPU traced before it has finished its add.
    inflight_free_.erase(e.cpu);
    switch (e.kind) {
      case vm_ev::alloc:
        if (!tracepoints_) pending_alloc_[e.pid] = e;
        break;
      case vm_ev::alloc_ret:
        if (!tracepoints_)
          alloc_returned(e);
        else if (e.has_flags)
          node_check(e);
        break;
      case vm_ev::tp_alloc: {
        vm_event rq = e;
        rq.va_end = e.va_start + e.size;
        do_alloc(rq, e);
        break;
      }
      case vm_ev::free: {
        // The entry kprobe: lazy= is the counter before this free's add. The free is applied
        // here (6.12 too: its tracepoint, with the counter after the add, can be printed after
        // another CPU's free that added later).
        const bool before_ok = static_cast<std::uint64_t>(e.lazy) == vs_.vmap_lazy_nr() ||
                               explain_or_diverge(e, "vmap_lazy_nr before the free", static_cast<std::uint64_t>(e.lazy),
                                                  vs_.vmap_lazy_nr());
        do_free(e);
        const std::uint64_t mine = pages(e.va_start, e.va_end);
        if (tracepoints_) {
          after_free_[e.va_start] = {vs_.vmap_lazy_nr(), std::nullopt, before_ok, 0};
          // A free still in flight on another CPU: the two adds may land in either order, so
          // each free's add_return value may be the other order's.
          for (const auto& [cpu, f] : inflight_free_) {
            if (cpu == e.cpu) continue;
            const auto other = after_free_.find(f.va_start);
            if (other == after_free_.end()) continue;
            after_free_[e.va_start].alt = vs_.vmap_lazy_nr() - f.pages;
            after_free_[e.va_start].alt_line = f.line;
            other->second.alt = other->second.after + mine;
            other->second.alt_line = e.line;
          }
        }
        // free_vmap_area_noflush() reads nothing more after its entry; its add to the counter
        // lands before this CPU traces anything else.
        inflight_free_[e.cpu] = {e.line, mine, e.va_start};
        if (!tracepoints_) {
          ++rep_.frees.total;
          if (before_ok) ++rep_.frees.matched;
        }
        break;
      }
      case vm_ev::tp_free: {
        // 6.9+: nr_lazy is atomic_long_add_return()'s value, the counter right after this
        // free's own add: compared with the model's right after the same free.
        std::uint64_t model_after = 0;
        bool ok = true;
        std::optional<std::uint64_t> alt;
        std::uint64_t alt_line = 0;
        if (const auto it = after_free_.find(e.va_start); it != after_free_.end()) {
          model_after = it->second.after;
          alt = it->second.alt;
          alt_line = it->second.alt_line;
          ok = it->second.before_ok;
          after_free_.erase(it);
        } else {
          do_free(e);
          model_after = vs_.vmap_lazy_nr();
        }
        ++rep_.frees.total;
        if (e.nr_lazy != model_after && alt && e.nr_lazy == *alt) {
          divergence d = make(e, "nr_lazy after the free", "", e.nr_lazy, model_after);
          d.explained = true;
          d.cause = "this free and the one at line " + std::to_string(alt_line) +
                    " on the other CPU were in flight together (both entries traced before either add); their adds "
                    "landed in the other order, which gives the kernel's value";
          rep_.explained.push_back(d);
        } else if (e.nr_lazy != model_after) {
          diverge(e, "nr_lazy after the free", "nr_lazy after the free of " + hex(e.va_start), e.nr_lazy, model_after);
          ok = false;
        }
        if (ok) ++rep_.frees.matched;
        if (e.nr_lazy_max != vs_.lazy_max_pages())
          diverge(e, "nr_lazy_max", "lazy_max_pages()", e.nr_lazy_max, vs_.lazy_max_pages());
        break;
      }
      case vm_ev::purge:
        if (tracepoints_) {
          pending_purge_args_[e.pid] = {e.start, e.end, e.full};
        } else {
          purge_entry(e);
        }
        break;
      case vm_ev::purge_ret:
        if (!tracepoints_) purge_returned(e);
        break;
      case vm_ev::tp_purge:
        tp_purge(e);
        break;
      case vm_ev::pcpu_get:
        pending_pcpu_[e.pid] = e;
        break;
      case vm_ev::pcpu_get_ret:
        pcpu_returned(e);
        break;
      case vm_ev::drain:
        counter_check(e, "vmap_lazy_nr at the drain", static_cast<std::uint64_t>(e.lazy), vs_.vmap_lazy_nr(),
                        rep_.drains);
        break;
      case vm_ev::decay:
      case vm_ev::marker:
      case vm_ev::caller_level:
        break;
    }
  }

  void alloc_returned(const vm_event& e) {
    const auto it = pending_alloc_.find(e.pid);
    if (it == pending_alloc_.end()) {
      ++rep_.allocs.total;
      diverge(e, "alloc_ret", "an alloc_ret with no alloc entry on pid " + std::to_string(e.pid), e.va_start, 0);
      return;
    }
    const vm_event rq = it->second;
    pending_alloc_.erase(it);
    do_alloc(rq, e);
  }

  // alloc_vmap_area() for the request rq; the kernel's answer is e's [va_start, va_end).
  void do_alloc(const vm_event& rq, const vm_event& e) {
    ++rep_.allocs.total;
    const bool big_align = rq.align > PAGE_SIZE;
    if (big_align) ++rep_.align_gt_page.total;
    vs_.current_cpu = e.cpu;
    const std::size_t purges_before = purges_seen_.size();
    const auto r = vs_.alloc_vmap_area(rq.size, rq.align, rq.vstart, rq.vend, buddy::GFP_KERNEL | buddy::__GFP_NOWARN);
    const std::uint64_t got = r.va != nullptr ? r.va->va_start : 0;
    const std::string req = "alloc_vmap_area(size " + hex(rq.size) + ", align " + hex(rq.align) + ", vstart " +
                            hex(rq.vstart) + ", vend " + hex(rq.vend) + ") on CPU " + std::to_string(e.cpu);
    if (e.kind == vm_ev::tp_alloc && e.failed) {
      if (r.va == nullptr) {
        ++rep_.allocs.matched;
        return;
      }
      diverge(e, "allocation", req + ": the kernel failed, the model found VA", 0, got);
      vs_.free_vmap_area_at(got);
      return;
    }
    if (purges_seen_.size() != purges_before)
      diverge(e, "purge", req + ": the model had to purge to find space; the kernel did not", 0, 0);
    if (r.va != nullptr && got == e.va_start && e.va_end - e.va_start == rq.size) {
      ++rep_.allocs.matched;
      if (big_align) ++rep_.align_gt_page.matched;
      return;
    }
    divergence& d = diverge(e, "address", req, e.va_start, got);
    d.picture = picture(e.va_start, e.va_start + rq.size, got, got + rq.size, &d.free_around);
    // Take the model's answer back and place the kernel's, so one miss does not cascade.
    if (r.va != nullptr) vs_.free_vmap_area_at(got);
    if (vs_.vmalloc_init_area(e.va_start, e.va_start + rq.size) == nullptr) {
      d.cause = "the kernel's area is not free in the model: cannot continue";
      rep_.stopped_early = true;
    }
  }

  // 6.9+: the node the kernel's area recorded (alloc_ret's flags >> 8 = node + 1) against the
  // model's.
  void node_check(const vm_event& e) {
    const vmalloc::vmap_area* va = find_busy(e.va_start);
    ++rep_.nodes.total;
    if (va != nullptr && (va->flags >> 8) == (e.flags >> 8)) {
      ++rep_.nodes.matched;
      return;
    }
    diverge(e, "vmap node", "the node id in va->flags of the area at " + hex(e.va_start), e.flags >> 8,
            va != nullptr ? va->flags >> 8 : 0);
  }

  void do_free(const vm_event& e) {
    const vmalloc::vmap_area* va = find_busy(e.va_start);
    if (va == nullptr) {
      diverge(e, "free", "free of " + hex(e.va_start) + ", which is not a busy area in the model", e.va_start, 0);
      return;
    }
    if (e.kind == vm_ev::free && va->va_end != e.va_end)
      diverge(e, "free", "free of [" + hex(e.va_start) + ", " + hex(e.va_end) + ")", e.va_end, va->va_end);
    vs_.free_vmap_area_noflush_at(e.va_start);
  }

  const vmalloc::vmap_area* find_busy(std::uint64_t start) const {
    for (const vmalloc::list_head* l = vs_.busy().head.next; l != &vs_.busy().head; l = l->next) {
      const vmalloc::vmap_area* va = vmalloc::va_of_list(l);
      if (va->va_start == start) return va;
      if (va->va_start > start) break;
    }
    return nullptr;
  }

  // 6.1: the purge detaches the list at its entry; applied there.
  void purge_entry(const vm_event& e) {
    ++rep_.purges.total;
    purge_ok_[e.pid] = static_cast<std::uint64_t>(e.lazy) == vs_.vmap_lazy_nr();
    if (!purge_ok_[e.pid])
      explain_or_diverge(e, "vmap_lazy_nr at the purge's entry", static_cast<std::uint64_t>(e.lazy), vs_.vmap_lazy_nr());
    const purge_result r = vs_.purge_vmap_area_range(e.start, e.end);
    open_purges_[e.pid] = {e.cpu, e.line, r.areas};
    last_purge_[e.pid] = r;
  }

  void purge_returned(const vm_event& e) {
    const auto it = last_purge_.find(e.pid);
    if (it == last_purge_.end()) {
      diverge(e, "purge", "a purge_ret with no purge entry on pid " + std::to_string(e.pid), 0, 0);
      return;
    }
    bool ok = purge_ok_[e.pid];
    if (e.ret != it->second.purged) {
      diverge(e, "purge", "__purge_vmap_area_lazy's return value (the purge list was not empty)", e.ret,
              it->second.purged);
      ok = false;
    }
    if (static_cast<std::uint64_t>(e.lazy) != vs_.vmap_lazy_nr()) {
      ok = explain_or_diverge(e, "vmap_lazy_nr after the purge", static_cast<std::uint64_t>(e.lazy), vs_.vmap_lazy_nr()) && ok;
    }
    if (ok) ++rep_.purges.matched;
    last_purge_.erase(it);
    open_purges_.erase(e.pid);
  }

  // 6.9+: the tracepoint at the purge's end: applied there, with the entry's range if a kprobe
  // recorded it.
  void tp_purge(const vm_event& e) {
    ++rep_.purges.total;
    std::uint64_t start = ~std::uint64_t{0}, end = 0;
    bool full = false;
    if (const auto it = pending_purge_args_.find(e.pid); it != pending_purge_args_.end()) {
      start = it->second.start;
      end = it->second.end;
      full = it->second.full;
      pending_purge_args_.erase(it);
    }
    const purge_result r = vs_.purge_vmap_area_range(start, end, full);
    const std::uint64_t fs = r.purged ? r.start : start, fe = r.purged ? r.end : end;
    bool ok = true;
    if (e.num_purged != r.nr_purged) {
      diverge(e, "purge", "num_purged", e.num_purged, r.nr_purged);
      ok = false;
    }
    if (e.start != fs || e.end != fe) {
      diverge(e, "purge", "the flushed range [" + hex(e.start) + ", " + hex(e.end) + ") against the model's [" + hex(fs) +
                              ", " + hex(fe) + ")",
              e.start, fs);
      ok = false;
    }
    if (ok) ++rep_.purges.matched;
  }

  void pcpu_returned(const vm_event& e) {
    ++rep_.pcpu.total;
    const auto it = pending_pcpu_.find(e.pid);
    if (it == pending_pcpu_.end()) {
      diverge(e, "pcpu", "a pcpu_get_ret with no pcpu_get entry on pid " + std::to_string(e.pid), e.addr0, 0);
      return;
    }
    const vm_event rq = it->second;
    pending_pcpu_.erase(it);
    vs_.current_cpu = e.cpu;
    const auto vms = vs_.pcpu_get_vm_areas({rq.off0}, {rq.size0}, rq.align);
    const std::uint64_t got = vms.empty() ? 0 : vms[0]->addr;
    if (got == e.addr0 && rq.size0 == e.size0) {
      ++rep_.pcpu.matched;
      return;
    }
    divergence& d = diverge(e, "pcpu address",
                            "pcpu_get_vm_areas(offset " + hex(rq.off0) + ", size " + hex(rq.size0) + ", align " + hex(rq.align) + ")",
                            e.addr0, got);
    d.picture = picture(e.addr0, e.addr0 + e.size0, got, got + rq.size0, &d.free_around);
    if (got != 0) vs_.free_vmap_area_at(got);
    if (vs_.vmalloc_init_area(e.addr0, e.addr0 + e.size0) == nullptr) {
      d.cause = "the kernel's area is not free in the model: cannot continue";
      rep_.stopped_early = true;
    }
  }

  // ---- comparisons -----------------------------------------------------------------------
  void counter_check(const vm_event& e, const std::string& what, std::uint64_t kernel, std::uint64_t model, tally& t) {
    ++t.total;
    if (kernel == model || explain_or_diverge(e, what, kernel, model)) ++t.matched;
  }

  // A counter read on one CPU while another CPU's purge was part-way through its loop: the
  // kernel's value is the model's with only the first k of that purge's areas subtracted.
  // Returns true when explained that way (recorded as explained), else records a divergence.
  bool explain_or_diverge(const vm_event& e, const std::string& what, std::uint64_t kernel, std::uint64_t model) {
    if (kernel == model) return true;
    // A free on another CPU whose entry was traced but whose add had not landed yet: the
    // kernel's read is the model's without that free's pages.
    for (const auto& [cpu, f] : inflight_free_) {
      if (cpu == e.cpu || model < f.pages || model - f.pages != kernel) continue;
      divergence d = make(e, what, "", kernel, model);
      d.explained = true;
      d.cause = "read while the free on CPU " + std::to_string(cpu) + " (line " + std::to_string(f.line) +
                ", " + std::to_string(f.pages) +
                " pages) had not yet added its pages: free_vmap_area_noflush reads the counter at its entry and adds "
                "after, and that CPU traced nothing in between; replaying this read before that add gives the kernel's value";
      rep_.explained.push_back(d);
      return true;
    }
    for (const auto& [pid, p] : open_purges_) {
      if (pid == e.pid) continue;
      std::uint64_t not_yet = 0;  // pages of areas k .. n-1
      for (std::size_t k = p.areas.size(); k-- > 0;) {
        not_yet += pages(p.areas[k].start, p.areas[k].end);
        if (model + not_yet == kernel) {
          divergence d = make(e, what, "", kernel, model);
          d.explained = true;
          d.cause = "read while the purge on CPU " + std::to_string(p.cpu) + " (entry at line " + std::to_string(p.line) +
                    ") had returned " + std::to_string(k) + " of its " + std::to_string(p.areas.size()) +
                    " areas to free space; replaying the read before the rest of that purge gives the kernel's value";
          rep_.explained.push_back(d);
          return true;
        }
      }
    }
    diverge(e, what, what, kernel, model);
    return false;
  }

  divergence make(const vm_event& e, const std::string& what, const std::string& request, std::uint64_t kernel,
                   std::uint64_t model) const {
    divergence d;
    d.line = e.line;
    d.what = what;
    d.request = request.empty() ? e.name : request;
    d.kernel = kernel;
    d.model = model;
    return d;
  }

  divergence& diverge(const vm_event& e, const std::string& what, const std::string& request, std::uint64_t kernel,
                      std::uint64_t model) {
    ++rep_.unexplained_total;
    if (rep_.unexplained.size() < KEEP_DIVERGENCES) {
      rep_.unexplained.push_back(make(e, what, request, kernel, model));
      return rep_.unexplained.back();
    }
    scratch_ = make(e, what, request, kernel, model);
    return scratch_;
  }

  // The neighbourhood of the kernel's choice [ks, ke) and the model's [ms, me): every busy,
  // lazy and free piece that touches the window, one per line, and a strip of one character
  // per page when the window is small. Free intervals near both go to *free_out.
  std::string picture(std::uint64_t ks, std::uint64_t ke, std::uint64_t ms, std::uint64_t me,
                      std::vector<kva_interval>* free_out) const {
    struct piece {
      std::uint64_t start, end;
      char kind;  // '#' busy, 'l' lazy, '.' free
    };
    std::vector<piece> all;
    for (const vmalloc::list_head* l = vs_.busy().head.next; l != &vs_.busy().head; l = l->next)
      all.push_back({vmalloc::va_of_list(l)->va_start, vmalloc::va_of_list(l)->va_end, '#'});
    for (const vmalloc::list_head* l = vs_.lazy().head.next; l != &vs_.lazy().head; l = l->next)
      all.push_back({vmalloc::va_of_list(l)->va_start, vmalloc::va_of_list(l)->va_end, 'l'});
    for (const kva_interval& f : vs_.kva().free_intervals()) all.push_back({f.start, f.end, '.'});
    std::sort(all.begin(), all.end(), [](const piece& a, const piece& b) { return a.start < b.start; });
    const std::uint64_t margin = 4 * PAGE_SIZE;
    std::uint64_t lo = std::min(ks, ms == 0 ? ks : ms), hi = std::max(ke, me == 0 ? ke : me);
    lo = lo > margin ? lo - margin : 0;
    hi = hi + margin < hi ? hi : hi + margin;
    std::ostringstream os;
    // The pieces around each choice: three either side of the one holding it.
    const auto holding = [&](std::uint64_t a) -> long {
      for (std::size_t i = 0; i < all.size(); ++i)
        if (all[i].start <= a && a < all[i].end) return static_cast<long>(i);
      return -1;
    };
    std::set<long> shown;
    for (const long at : {holding(ks), ms != 0 ? holding(ms) : -1})
      if (at >= 0)
        for (long i = std::max(0L, at - 3); i <= std::min(static_cast<long>(all.size()) - 1, at + 3); ++i) shown.insert(i);
    std::uint64_t first = hi, last = lo;
    long prev = -2;
    for (const long i : shown) {
      const piece& p = all[static_cast<std::size_t>(i)];
      if (prev >= 0 && i != prev + 1) os << "    ...\n";
      prev = i;
      if (p.end > lo && p.start < hi) {
        first = std::min(first, p.start);
        last = std::max(last, p.end);
      }
      os << "    [" << hex(p.start) << ", " << hex(p.end) << ")  "
         << (p.kind == '#' ? "busy" : p.kind == 'l' ? "lazy" : "free") << "  " << pages(p.start, p.end) << " pages";
      if (p.start <= ks && ks < p.end) os << "   <- the kernel chose " << hex(ks);
      if (ms != 0 && p.start <= ms && ms < p.end) os << "   <- the model chose " << hex(ms);
      os << "\n";
      if (p.kind == '.' && free_out != nullptr) free_out->push_back({p.start, p.end});
    }
    // The strip: one character per page over [lo, hi), when it fits on a line.
    if (first < last && pages(lo, hi) <= 96) {
      std::string strip, mark(static_cast<std::size_t>(pages(lo, hi)), ' ');
      for (std::uint64_t a = lo; a < hi; a += PAGE_SIZE) {
        char c = '?';
        for (const piece& p : all)
          if (p.start <= a && a < p.end) c = p.kind;
        strip += c;
        const auto i = static_cast<std::size_t>(pages(lo, a));
        const bool k = ks <= a && a < ke, m = ms != 0 && ms <= a && a < me;
        mark[i] = k && m ? 'X' : k ? 'K' : m ? 'M' : ' ';
      }
      os << "    pages from " << hex(lo) << "  (# busy, l lazy, . free; K kernel's area, M model's, X both)\n";
      os << "    " << strip << "\n    " << mark << "\n";
    }
    return os.str();
  }

  void check_invariants(const std::string& when) {
    ++rep_.invariant_checks;
    for (const auto& v : vmalloc::check_vmalloc(vs_))
      if (rep_.invariant_violations.size() < KEEP_DIVERGENCES)
        rep_.invariant_violations.push_back(v.id + " " + when + ": " + v.detail);
  }

  // ---- the final /proc/vmallocinfo ---------------------------------------------------------
  void compare_final() {
    if (!in_.has_final) return;
    struct piece {
      std::uint64_t start, end;
      bool busy;
      bool used = false;
    };
    std::vector<piece> model;
    for (const vmalloc::list_head* l = vs_.busy().head.next; l != &vs_.busy().head; l = l->next)
      model.push_back({vmalloc::va_of_list(l)->va_start, vmalloc::va_of_list(l)->va_end, true});
    for (const vmalloc::list_head* l = vs_.lazy().head.next; l != &vs_.lazy().head; l = l->next)
      model.push_back({vmalloc::va_of_list(l)->va_start, vmalloc::va_of_list(l)->va_end, false});
    std::sort(model.begin(), model.end(), [](const piece& a, const piece& b) { return a.start < b.start; });
    const std::vector<kva_interval> free = vs_.kva().free_intervals();
    std::set<std::pair<std::uint64_t, std::uint64_t>> pooled;  // 6.9+: a pooled area can be handed out
    if (vs_.pools)
      for (const kva_interval& p : vs_.pools->pooled()) pooled.insert({p.start, p.end});
    const auto is_free = [&](std::uint64_t s, std::uint64_t e) {
      const auto it = std::upper_bound(free.begin(), free.end(), s, [](std::uint64_t x, const kva_interval& f) { return x < f.start; });
      return it != free.begin() && std::prev(it)->start <= s && e <= std::prev(it)->end;
    };
    const auto find = [&](std::uint64_t s) -> std::size_t {
      const auto it = std::lower_bound(model.begin(), model.end(), s, [](const piece& p, std::uint64_t x) { return p.start < x; });
      return it != model.end() && it->start == s ? static_cast<std::size_t>(it - model.begin()) : model.size();
    };
    rep_.vi_lines = in_.final_info.size();
    for (const area_line& l : in_.final_info) {
      const std::size_t i = find(l.start);
      if (i < model.size() && model[i].end == l.end && model[i].busy == !l.unpurged && !model[i].used) {
        model[i].used = true;
        ++rep_.vi_matched;
        continue;
      }
      if (is_free(l.start, l.end) || pooled.count({l.start, l.end}) != 0) {  // allocated after tracing stopped
        ++rep_.vi_dump_phase;
        continue;
      }
      // Pieces of the model that tile the line exactly: an unpurged line over areas the model
      // still has busy (freed after tracing stopped) or over lazy areas the kernel merged.
      bool tiled = false, any_busy = false;
      std::vector<std::size_t> used;
      if (i < model.size()) {
        std::uint64_t at = l.start;
        for (std::size_t j = i; j < model.size() && model[j].start == at && model[j].end <= l.end && !model[j].used; ++j) {
          used.push_back(j);
          any_busy = any_busy || model[j].busy;
          at = model[j].end;
          if (at == l.end) {
            tiled = true;
            break;
          }
        }
      }
      if (l.unpurged && tiled) {
        for (std::size_t j : used) model[j].used = true;
        if (any_busy)
          ++rep_.vi_dump_phase;  // freed after tracing stopped
        else
          ++rep_.vi_merged_unpurged;
        continue;
      }
      rep_.vi_unmatched.push_back("vmallocinfo.txt line " + std::to_string(l.line) + ": " + l.text);
    }
    for (const piece& p : model)
      if (!p.used)
        rep_.vi_unmatched.push_back(std::string("model ") + (p.busy ? "busy" : "lazy") + " area [" + hex(p.start) + ", " +
                                    hex(p.end) + ") is in no vmallocinfo line");
  }

  const replay_input& in_;
  replay_options opt_;
  replay_report rep_;
  buddy::buddy_machine bm_;
  vmap_state vs_;
  bool tracepoints_ = false;
  std::map<std::int64_t, vm_event> pending_alloc_, pending_pcpu_;
  struct purge_args {
    std::uint64_t start, end;
    bool full;
  };
  std::map<std::int64_t, purge_args> pending_purge_args_;
  std::map<std::int64_t, open_purge> open_purges_;
  struct inflight {
    std::uint64_t line, pages, va_start;
  };
  std::map<unsigned, inflight> inflight_free_;  // by CPU
  // 6.9+: frees applied at their entry kprobe, waiting for their tracepoint, by va_start: the
  // model's counter right after, the value had a concurrent free added first, whether the
  // entry's lazy= matched.
  struct after {
    std::uint64_t after;
    std::optional<std::uint64_t> alt;
    bool before_ok;
    std::uint64_t alt_line;
  };
  std::map<std::uint64_t, after> after_free_;
  std::map<std::int64_t, purge_result> last_purge_;
  std::map<std::int64_t, bool> purge_ok_;
  std::vector<purge_result> purges_seen_;
  divergence scratch_;
};

std::string percent(const tally& t) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f%%", 100.0 * t.share());
  return b;
}

}  // namespace

replay_report run_replay(const replay_input& in, const replay_options& opt) {
  if (in.events.empty()) throw std::runtime_error(in.name + ": no vmap events to replay");
  const auto names = vmalloc::kva_registry::names();
  if (std::find(names.begin(), names.end(), opt.strategy) == names.end())
    throw std::runtime_error("no KVA strategy named '" + opt.strategy + "'");
  engine e(in, opt);
  return e.run();
}

std::string format_report(const replay_report& r) {
  std::ostringstream os;
  const auto row = [&](const char* what, const tally& t, const char* of) {
    os << "  " << what << t.matched << " / " << t.total << " " << of << " (" << percent(t) << ")\n";
  };
  os << "replay " << r.name << ": Linux " << r.kernel_major << "." << r.kernel_minor << ", " << r.nr_cpus
     << " CPUs, vmalloc range [" << hex(r.vmalloc_start) << ", " << hex(r.vmalloc_end) << "], strategy " << r.strategy << "\n";
  os << "  before the first event: " << r.early_areas << " areas rebuilt from vmallocinfo_initstart.txt ("
     << r.initstart_lines << " lines), carved in ascending address order\n";
  os << "  events:";
  for (const auto& [name, n] : r.event_counts) os << " " << name << " " << n << ";";
  os << "\n  unknown events skipped:";
  if (r.unknown_events.empty()) os << " none";
  for (const auto& [name, n] : r.unknown_events) os << " " << name << " " << n << ";";
  os << "\n";
  row("addresses matched      ", r.allocs, "allocations");
  row("  of them align > PAGE ", r.align_gt_page, "allocations");
  row("lazy counter equal     ", r.frees, "frees");
  row("purges equal           ", r.purges, "purges");
  row("pcpu placements equal  ", r.pcpu, "placements");
  row("drain counters equal   ", r.drains, "drains");
  if (r.nodes.total != 0) row("vmap node ids equal    ", r.nodes, "areas (alloc_ret flags)");
  os << "  explained divergences: " << r.explained.size() << "\n";
  for (const divergence& d : r.explained)
    os << "    line " << d.line << ": " << d.what << " kernel " << d.kernel << ", model " << d.model << " — " << d.cause << "\n";
  os << "  unexplained divergences: " << r.unexplained_total << "\n";
  if (!r.unexplained.empty()) {
    const divergence& d = r.unexplained.front();
    os << "  first unexplained divergence, trace line " << d.line << " (" << d.what << "):\n    " << d.request
       << "\n    kernel " << hex(d.kernel) << ", model " << hex(d.model) << "\n";
    if (!d.cause.empty()) os << "    " << d.cause << "\n";
    if (!d.picture.empty()) os << "  the model's state there:\n" << d.picture;
    for (std::size_t i = 1; i < r.unexplained.size(); ++i)
      os << "    then line " << r.unexplained[i].line << ": " << r.unexplained[i].what << ": kernel " << hex(r.unexplained[i].kernel)
         << ", model " << hex(r.unexplained[i].model) << "\n";
  }
  if (r.stopped_early) os << "  stopped early (see above); the final comparison was not made\n";
  os << "  vmallocinfo.txt: " << r.vi_lines << " lines, " << r.vi_matched << " matched exactly, " << r.vi_dump_phase
     << " from after tracing stopped, " << r.vi_merged_unpurged << " unpurged lines over merged lazy areas, "
     << r.vi_unmatched.size() << " unmatched\n";
  for (std::size_t i = 0; i < r.vi_unmatched.size() && i < 10; ++i) os << "    " << r.vi_unmatched[i] << "\n";
  os << "  invariants (every VM-*, PT-WF, TLB-COHERENT, BD-*): checked " << r.invariant_checks << " times, "
     << (r.invariant_violations.empty() ? "all held" : std::to_string(r.invariant_violations.size()) + " violations") << "\n";
  for (std::size_t i = 0; i < r.invariant_violations.size() && i < 10; ++i) os << "    " << r.invariant_violations[i] << "\n";
  os << "  result: " << (r.ok() ? "agrees with the kernel" : "DIVERGES from the kernel") << "\n";
  return os.str();
}

}  // namespace mmref::replay
