// impl/trace/vmallocinfo.hpp — reading /proc/vmallocinfo snapshots of a real kernel (mm/vmalloc.c
// s_show / show_purge_info, Linux 6.1 and 6.12: the two print the same line formats).
//
// Synopsis
//   vmallocinfo_entry            one line:
//     start end size               "0x<start>-0x<end> <size>" (size as printed: vm->size, guard
//                                  page included; for unpurged lines va_end - va_start)
//     caller                       the %pS caller text, " [module]" kept; empty when absent
//     caller_symbol                the caller's symbol (no +off/size, no module)
//     unpurged                     "unpurged vm_area": a lazily freed area (no caller, no flags)
//     pages / phys                 "pages=N", "phys=0x..." when printed
//     flags                        the flag words in print order: ioremap vmalloc vmap user
//                                  dma-coherent vpages vm_map_ram (and any other lowercase word
//                                  a later kernel adds, e.g. sparse)
//     nodes                        "N<node>=<pages>" pairs (show_numa_info)
//     has_flag(word)
//   parse_vmallocinfo(src)       every non-blank line of a line_source; a malformed line is a
//                                trace_error "<file>:<line>: ..."
//   load_vmallocinfo(path)       the same from a file (plain or xz)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "impl/trace/ftrace.hpp"

namespace mmref::trace {

struct vmallocinfo_entry {
  std::uint64_t line = 0;  // 1-based line number in the file
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  std::uint64_t size = 0;
  std::string caller;
  std::string caller_symbol;
  bool unpurged = false;
  std::optional<std::uint64_t> pages;
  std::optional<std::uint64_t> phys;
  std::vector<std::string> flags;
  std::vector<std::pair<unsigned, std::uint64_t>> nodes;

  bool has_flag(std::string_view word) const noexcept;
};

std::vector<vmallocinfo_entry> parse_vmallocinfo(line_source& src);
std::vector<vmallocinfo_entry> load_vmallocinfo(const std::string& path);

}  // namespace mmref::trace
