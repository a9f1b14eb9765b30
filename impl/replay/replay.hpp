// impl/replay/replay.hpp — replay of a real kernel's vmap-area trace through a KVA strategy,
// event by event, comparing what the kernel recorded with what the model does.
//
// Synopsis
//   vm_event                  one vmap event of a trace, in the model's terms (impl/replay/
//                             from_trace.cpp builds them from the ftrace parser's events)
//   area_line                 one line of /proc/vmallocinfo: [start, end), "unpurged" or not
//   replay_input              the run: kernel version, CPUs, vmalloc range, events in trace
//                             order, the vmallocinfo snapshots at /init start and at the end
//   replay_options            the strategy; whether to stop at the first unexplained divergence
//   replay_report             agreement figures, divergences (explained and not), the final
//                             vmallocinfo comparison, the reconstruction, invariant checks
//   run_replay(input, options) runs it
//   format_report(report)     the text `mmref replay` prints
//
// How a 6.1 trace (kprobes; no vmalloc tracepoints) is replayed:
//   - alloc / alloc_ret (matched by pid): the request (size with the guard page, align, vstart,
//     vend) goes to alloc_vmap_area() at alloc_ret, on the CPU of that line; the address is
//     compared with va_start. A wrong prediction is taken back (free_vmap_area) and the
//     kernel's area placed instead, so that one divergence does not cascade.
//   - free_noflush: vmap_lazy_nr before the free (lazy=) is compared, then the busy area at
//     va_start (with the same va_end) is lazily freed.
//   - purge / purge_ret: __purge_vmap_area_lazy(start, end) is applied at its entry, where the
//     kernel detaches the purge list; purge_ret's ret (the list was not empty) and lazy= (the
//     counter after) are compared.
//   - pcpu_get / pcpu_get_ret: pcpu_get_vm_areas() top-down; addr0 compared.
//   - drain: its lazy= compared (the purges it runs appear as their own purge lines).
//   - get_vm_area, vfree, vfree_atomic, vunmap, unmap_aliases: caller-level, counted only.
// Concurrency: a free on one CPU while a purge runs on another reads vmap_lazy_nr part-way
// through the purge's loop (6.1 subtracts per area, in address order). Such a value is
// explained when it equals the counter with only the first k of the purge's n areas
// subtracted, for some k; it is printed with the lines of both events.
//
// The state before the first traced event (see docs/replay.md): the areas in the /init-start
// vmallocinfo snapshot that no traced event before the 'capture: init start' marker created are
// the ones that existed before tracing began; they are carved out of [1, ULONG_MAX) in ascending
// address order (vmalloc_init_area), which reproduces the kernel's free-tree shape.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "impl/vmalloc/kva.hpp"

namespace mmref::replay {

enum class vm_ev {
  alloc,          // alloc_vmap_area entry (kprobe): size align vstart vend
  alloc_ret,      // its return: va_start va_end [flags]
  free,           // free_vmap_area_noflush entry (kprobe): va_start va_end lazy (before)
  purge,          // __purge_vmap_area_lazy entry: start end lazy
  purge_ret,      // its return: ret lazy; site = the caller (the trigger)
  pcpu_get,       // pcpu_get_vm_areas entry: off0 size0 nr align
  pcpu_get_ret,   // its return: addr0 size0
  drain,          // drain_vmap_area_work entry: lazy
  decay,          // decay_va_pool_node entry (6.12)
  tp_alloc,       // vmalloc:alloc_vmap_area (6.9+): va_start size align vstart vend failed
  tp_free,        // vmalloc:free_vmap_area_noflush: va_start nr_lazy (after) nr_lazy_max
  tp_purge,       // vmalloc:purge_vmap_area_lazy: start end num_purged
  marker,         // tracing_mark_write (text)
  caller_level,   // get_vm_area, vfree, vfree_atomic, vunmap, unmap_aliases: counted only
};

struct vm_event {
  std::uint64_t line = 0;
  std::uint64_t counter = 0;
  unsigned cpu = 0;
  std::int64_t pid = 0;
  vm_ev kind = vm_ev::caller_level;
  std::string name;  // the event's name in the trace
  std::uint64_t size = 0, align = 0, vstart = 0, vend = 0;
  std::uint64_t va_start = 0, va_end = 0, flags = 0;
  bool has_flags = false;
  std::int64_t lazy = 0;           // free, purge, purge_ret, drain
  std::uint64_t start = 0, end = 0;  // purge, tp_purge
  bool ret = false, failed = false, full = false;
  std::uint64_t nr_lazy = 0, nr_lazy_max = 0, num_purged = 0;
  std::uint64_t off0 = 0, size0 = 0, addr0 = 0, nr = 0;
  std::string site;  // kretprobe return site's function (purge_ret: the trigger); marker text
};

struct area_line {
  std::uint64_t line = 0;
  std::uint64_t start = 0, end = 0;
  bool unpurged = false;
  std::string text;
};

struct replay_input {
  std::string name;                  // the run folder or trace file
  unsigned kernel_major = 0, kernel_minor = 0;
  unsigned nr_cpus = 1;
  std::uint64_t vmalloc_start = 0, vmalloc_end = 0;  // VMALLOC_START, VMALLOC_END (inclusive)
  std::vector<vm_event> events;      // in trace order
  std::map<std::string, std::uint64_t> event_counts;    // every event kind seen, by name
  std::map<std::string, std::uint64_t> unknown_events;  // skipped, by name
  std::vector<area_line> initstart;  // vmallocinfo_initstart.txt (may be empty)
  std::vector<area_line> final_info; // vmallocinfo.txt (may be empty)
  bool has_initstart = false, has_final = false;
};

struct replay_options {
  std::string strategy = "modern";
  bool stop_at_first = false;
  // 6.9+ runs on more than one CPU get the vmap nodes and their pools unless this is false
  // (to see what the pools decide)
  bool vmap_nodes = true;
  // check every VM-* invariant every this many events (0: only at the end)
  std::uint64_t check_every = 256;
};

struct divergence {
  std::uint64_t line = 0;            // the kernel's line that disagrees
  std::string what;                  // "address", "lazy counter", "purge", ...
  std::string request;               // the request or event, in words
  std::uint64_t kernel = 0, model = 0;
  bool explained = false;
  std::string cause;                 // for an explained one: which concurrent event, and lines
  std::vector<vmalloc::kva_interval> free_around;  // free intervals near both addresses (addresses)
  std::string picture;               // the neighbourhood, drawn
};

struct tally {
  std::uint64_t total = 0, matched = 0;
  double share() const { return total ? double(matched) / double(total) : 1.0; }
};

struct replay_report {
  std::string name, strategy;
  unsigned kernel_major = 0, kernel_minor = 0, nr_cpus = 0;
  std::uint64_t vmalloc_start = 0, vmalloc_end = 0;
  std::uint64_t early_areas = 0;      // carved before the first event
  std::uint64_t initstart_lines = 0;  // lines of the /init-start snapshot
  tally allocs, align_gt_page, frees, purges, pcpu, drains, nodes;
  std::uint64_t lines = 0;
  std::map<std::string, std::uint64_t> event_counts, unknown_events;
  std::vector<divergence> explained, unexplained;
  std::uint64_t unexplained_total = 0;  // all of them (only the first few are kept in full)
  // Final /proc/vmallocinfo against the model's busy and lazy areas.
  std::uint64_t vi_lines = 0, vi_matched = 0, vi_dump_phase = 0, vi_merged_unpurged = 0;
  std::vector<std::string> vi_unmatched;  // lines and model areas that match nothing
  std::uint64_t invariant_checks = 0;
  std::vector<std::string> invariant_violations;
  bool stopped_early = false;
  bool ok() const { return unexplained_total == 0 && vi_unmatched.empty() && invariant_violations.empty(); }
};

// Throws std::runtime_error on input the replay cannot start from (no events, unknown strategy,
// a traced free of an area the reconstruction does not hold is a divergence, not an error).
replay_report run_replay(const replay_input& in, const replay_options& opt);

std::string format_report(const replay_report& r);

}  // namespace mmref::replay
