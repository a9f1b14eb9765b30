// impl/trace/run.hpp — a recorded run folder of shared/data/linux-trace (one kernel boot +
// workload): which trace file to read, the kernel version, the CPU count, the vmallocinfo
// snapshots.
//
// Synopsis
//   kernel_version               major.minor.patch and the release string of `uname -r`
//     parse_kernel_release("6.12.117+deb12-amd64") → 6, 12, 117
//     at_least(major, minor)
//   parse_uname(line, file)      `uname -a` → the kernel version (the 3rd word is the release)
//   run_files                    what load_run found in a folder:
//     trace                        trace.txt.xz, else trace.txt, else trace-vmalloc-only.txt
//     trace_has_page_events        false for trace-vmalloc-only.txt (no mm_page_* lines)
//     uname, kernel                uname.txt's line and its version
//     nr_cpus, cpuinfo_cpus        nr_cpus.txt: `nproc`, then the /proc/cpuinfo processor count
//     vmallocinfo_initstart/_final the snapshots at /init start and at the end, when present;
//                                  initstart_path()/final_path() throw when absent
//     open_trace()                 a line_source over the trace
//   load_run(dir)                trace_error "<path>: ..." when the folder, a trace, uname.txt
//                                or nr_cpus.txt is missing or unreadable
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "impl/trace/ftrace.hpp"

namespace mmref::trace {

struct kernel_version {
  unsigned major = 0;
  unsigned minor = 0;
  unsigned patch = 0;
  std::string release;  // "6.1.0-56-amd64"

  bool at_least(unsigned maj, unsigned min) const noexcept {
    return major > maj || (major == maj && minor >= min);
  }
};

// "6.1.0-56-amd64" → {6, 1, 0}; throws trace_error(file, line, ...) when it has no "<n>.<n>".
kernel_version parse_kernel_release(std::string_view release, const std::string& file,
                                    std::uint64_t line = 1);
// "Linux (none) 6.1.0-56-amd64 #1 SMP ..." → the version of the third word.
kernel_version parse_uname(std::string_view uname_line, const std::string& file);

struct run_files {
  std::filesystem::path dir;
  std::filesystem::path trace;
  bool trace_has_page_events = false;
  std::string uname;
  kernel_version kernel;
  unsigned nr_cpus = 0;
  std::optional<unsigned> cpuinfo_cpus;
  std::optional<std::filesystem::path> vmallocinfo_initstart;
  std::optional<std::filesystem::path> vmallocinfo_final;

  const std::filesystem::path& initstart_path() const;
  const std::filesystem::path& final_path() const;
  line_source open_trace() const { return line_source::open(trace.string()); }
};

run_files load_run(const std::filesystem::path& dir);

}  // namespace mmref::trace
