// impl/replay/from_trace.hpp — a replay_input from a real run: a run folder of
// shared/data/linux-trace (trace.txt.xz or trace.txt, vmallocinfo_initstart.txt, vmallocinfo.txt,
// nr_cpus.txt, uname.txt), or a single trace file with the machine given by the caller.
//
// Synopsis
//   run_overrides               what a single trace file cannot say: the kernel version and
//                               the number of CPUs (0 = take it from the run)
//   to_vm_event(e)              one parsed ftrace event in the replay's terms (nullopt for the
//                               kmem page events, which are only counted)
//   load_replay_input(path, o)  parse everything; the vmalloc range is the one the trace's
//                               plain vmalloc requests use (their most common vstart/vend)
#pragma once

#include <optional>
#include <string>

#include "impl/replay/replay.hpp"
#include "impl/trace/ftrace.hpp"

namespace mmref::replay {

struct run_overrides {
  unsigned kernel_major = 0, kernel_minor = 0;
  unsigned nr_cpus = 0;
};

std::optional<vm_event> to_vm_event(const trace::event& e);

// Throws trace::trace_error for malformed input (naming the file and line) and
// std::runtime_error for a run that lacks what the replay needs.
replay_input load_replay_input(const std::string& path, const run_overrides& o = {});

}  // namespace mmref::replay
