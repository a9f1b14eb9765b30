// impl/replay/from_trace.cpp — see from_trace.hpp.
#include "model/hex.hpp"
#include "impl/replay/from_trace.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <utility>

#include "impl/trace/run.hpp"
#include "impl/trace/vmallocinfo.hpp"

namespace mmref::replay {

using trace::event_kind;

std::optional<vm_event> to_vm_event(const trace::event& e) {
  if (trace::is_page_kind(e.kind)) return std::nullopt;
  vm_event v;
  v.line = e.line;
  v.counter = e.counter;
  v.cpu = e.cpu;
  v.pid = e.pid;
  v.name = std::string(e.name);
  switch (e.kind) {
    case event_kind::alloc:
      v.kind = vm_ev::alloc;
      v.size = e.u64("size");
      v.align = e.u64("align");
      v.vstart = e.u64("vstart");
      v.vend = e.u64("vend");
      break;
    case event_kind::alloc_ret:
      v.kind = vm_ev::alloc_ret;
      v.va_start = e.u64("va_start");
      v.va_end = e.u64("va_end");
      if (e.has("flags")) {
        v.flags = e.u64("flags");
        v.has_flags = true;
      }
      break;
    case event_kind::free_noflush:
      v.kind = vm_ev::free;
      v.va_start = e.u64("va_start");
      v.va_end = e.u64("va_end");
      v.lazy = e.s64("lazy");
      if (e.has("flags")) {
        v.flags = e.u64("flags");
        v.has_flags = true;
      }
      break;
    case event_kind::purge:
      v.kind = vm_ev::purge;
      v.start = e.u64("start");
      v.end = e.u64("end");
      v.lazy = e.s64("lazy");
      if (e.has("full_decay")) v.full = e.u64("full_decay") != 0;
      break;
    case event_kind::purge_ret:
      v.kind = vm_ev::purge_ret;
      v.ret = e.u64("ret") != 0;
      v.lazy = e.s64("lazy");
      v.site = std::string(e.site_symbol);
      break;
    case event_kind::pcpu_get:
      v.kind = vm_ev::pcpu_get;
      v.off0 = e.u64("off0");
      v.size0 = e.u64("size0");
      v.nr = e.u64("nr");
      v.align = e.u64("align");
      break;
    case event_kind::pcpu_get_ret:
      v.kind = vm_ev::pcpu_get_ret;
      v.addr0 = e.u64("addr0");
      v.size0 = e.u64("size0");
      break;
    case event_kind::drain:
      v.kind = vm_ev::drain;
      v.lazy = e.s64("lazy");
      break;
    case event_kind::decay:
      v.kind = vm_ev::decay;
      v.full = e.u64("full") != 0;
      break;
    case event_kind::alloc_vmap_area:
      v.kind = vm_ev::tp_alloc;
      v.va_start = e.u64("va_start");
      v.size = e.u64("size");
      v.align = e.u64("align");
      v.vstart = e.u64("vstart");
      v.vend = e.u64("vend");
      v.failed = e.u64("failed") != 0;
      v.va_end = v.va_start + v.size;
      break;
    case event_kind::free_vmap_area_noflush:
      v.kind = vm_ev::tp_free;
      v.va_start = e.u64("va_start");
      v.nr_lazy = e.u64("nr_lazy");
      v.nr_lazy_max = e.u64("nr_lazy_max");
      break;
    case event_kind::purge_vmap_area_lazy:
      v.kind = vm_ev::tp_purge;
      v.start = e.u64("start");
      v.end = e.u64("end");
      v.num_purged = e.u64("num_purged");
      break;
    case event_kind::tracing_mark_write:
      v.kind = vm_ev::marker;
      v.site = std::string(e.marker);
      break;
    default:
      v.kind = vm_ev::caller_level;
      break;
  }
  return v;
}

namespace {


std::vector<area_line> to_area_lines(const std::vector<trace::vmallocinfo_entry>& lines) {
  std::vector<area_line> out;
  out.reserve(lines.size());
  for (const trace::vmallocinfo_entry& l : lines) {
    std::string text = hex(l.start) + "-" + hex(l.end) + " " + std::to_string(l.size) + " " +
                       (l.unpurged ? std::string("unpurged vm_area") : l.caller);
    for (const std::string& f : l.flags) text += " " + f;
    out.push_back({l.line, l.start, l.end, l.unpurged, text});
  }
  return out;
}

// VMALLOC_START and VMALLOC_END: the range most requests ask for (plain vmalloc and vmap go
// through __get_vm_area_node with it; modules and pcpu chunks use their own).
void vmalloc_range_of(replay_input& in) {
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> ranges;
  for (const vm_event& e : in.events)
    if (e.kind == vm_ev::alloc || e.kind == vm_ev::tp_alloc) ++ranges[{e.vstart, e.vend}];
  if (ranges.empty()) return;
  const auto best = std::max_element(ranges.begin(), ranges.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
  in.vmalloc_start = best->first.first;
  in.vmalloc_end = best->first.second;
}

}  // namespace

replay_input load_replay_input(const std::string& path, const run_overrides& o) {
  replay_input in;
  in.name = path;
  std::string trace_path = path;
  const bool folder = path != "-" && std::filesystem::is_directory(path);
  if (folder) {
    const trace::run_files run = trace::load_run(path);
    trace_path = run.trace.string();
    in.kernel_major = run.kernel.major;
    in.kernel_minor = run.kernel.minor;
    in.nr_cpus = run.nr_cpus;
    if (run.vmallocinfo_initstart) {
      in.initstart = to_area_lines(trace::load_vmallocinfo(run.vmallocinfo_initstart->string()));
      in.has_initstart = true;
    }
    if (run.vmallocinfo_final) {
      in.final_info = to_area_lines(trace::load_vmallocinfo(run.vmallocinfo_final->string()));
      in.has_final = true;
    }
  }
  if (o.kernel_major != 0) {
    in.kernel_major = o.kernel_major;
    in.kernel_minor = o.kernel_minor;
  }
  if (o.nr_cpus != 0) in.nr_cpus = o.nr_cpus;

  trace::line_source src = trace::line_source::open(trace_path);
  const trace::summary s = trace::parse_trace(src, [&](const trace::event& e) {
    if (auto v = to_vm_event(e)) in.events.push_back(std::move(*v));
  });
  for (const auto& [name, n] : s.table()) in.event_counts[name] = n;
  for (const auto& [name, n] : s.unknown) in.unknown_events[name] = n;
  if (in.nr_cpus == 0 && s.header_cpus) in.nr_cpus = *s.header_cpus;
  if (in.nr_cpus == 0)
    throw std::runtime_error(path + ": the number of CPUs is not in the run (nr_cpus.txt or the trace header); give --cpus");
  if (in.kernel_major == 0)
    throw std::runtime_error(path + ": the kernel version is not in the run (uname.txt); give --kernel");
  vmalloc_range_of(in);
  if (in.events.empty()) throw std::runtime_error(path + ": no vmalloc events in the trace");
  return in;
}

}  // namespace mmref::replay
