// impl/trace/run.cpp — run folders. See run.hpp.
#include "impl/trace/run.hpp"

#include <charconv>
#include <limits>
#include <system_error>
#include <vector>

namespace mmref::trace {

namespace {

namespace fs = std::filesystem;

bool parse_uint(std::string_view t, unsigned& v) {
  if (t.empty()) return false;
  const char* last = t.data() + t.size();
  const auto [ptr, ec] = std::from_chars(t.data(), last, v, 10);
  return ec == std::errc{} && ptr == last;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The non-blank lines of a small text file.
std::vector<std::string> small_file_lines(const fs::path& p) {
  line_source src = line_source::open(p.string());
  std::vector<std::string> out;
  std::string_view l;
  while (src.next(l)) {
    if (!trim(l).empty()) out.emplace_back(trim(l));
  }
  return out;
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

}  // namespace

kernel_version parse_kernel_release(std::string_view release, const std::string& file,
                                    std::uint64_t line) {
  kernel_version k;
  k.release = std::string(release);
  // Leading "<major>.<minor>[.<patch>]", each a run of digits.
  unsigned* parts[3] = {&k.major, &k.minor, &k.patch};
  std::size_t i = 0;
  int got = 0;
  for (int n = 0; n < 3; ++n) {
    const std::size_t b = i;
    while (i < release.size() && release[i] >= '0' && release[i] <= '9') ++i;
    if (i == b || !parse_uint(release.substr(b, i - b), *parts[n])) break;
    ++got;
    if (i >= release.size() || release[i] != '.') break;
    ++i;
  }
  if (got < 2) {
    throw trace_error(file, line,
                      "kernel release '" + std::string(release) + "' is not <major>.<minor>...");
  }
  return k;
}

kernel_version parse_uname(std::string_view uname_line, const std::string& file) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < uname_line.size() && words.size() < 3) {
    while (i < uname_line.size() && uname_line[i] == ' ') ++i;
    const std::size_t b = i;
    while (i < uname_line.size() && uname_line[i] != ' ') ++i;
    if (i > b) words.push_back(uname_line.substr(b, i - b));
  }
  if (words.size() < 3) {
    throw trace_error(file, 1, "expected `uname -a` output ('Linux <host> <release> ...')");
  }
  return parse_kernel_release(words[2], file, 1);
}

const fs::path& run_files::initstart_path() const {
  if (!vmallocinfo_initstart) {
    throw trace_error((dir / "vmallocinfo_initstart.txt").string(), 0, "missing");
  }
  return *vmallocinfo_initstart;
}

const fs::path& run_files::final_path() const {
  if (!vmallocinfo_final) throw trace_error((dir / "vmallocinfo.txt").string(), 0, "missing");
  return *vmallocinfo_final;
}

run_files load_run(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw trace_error(dir.string(), 0, "not a run folder (no such directory)");
  run_files r;
  r.dir = dir;

  if (is_file(dir / "trace.txt.xz")) {
    r.trace = dir / "trace.txt.xz";
    r.trace_has_page_events = true;
  } else if (is_file(dir / "trace.txt")) {
    r.trace = dir / "trace.txt";
    r.trace_has_page_events = true;
  } else if (is_file(dir / "trace-vmalloc-only.txt")) {
    r.trace = dir / "trace-vmalloc-only.txt";
    r.trace_has_page_events = false;
  } else {
    throw trace_error(dir.string(), 0,
                      "no trace: none of trace.txt.xz, trace.txt, trace-vmalloc-only.txt");
  }

  const fs::path uname = dir / "uname.txt";
  if (!is_file(uname)) throw trace_error(uname.string(), 0, "missing (needed for the kernel version)");
  {
    const std::vector<std::string> lines = small_file_lines(uname);
    if (lines.empty()) throw trace_error(uname.string(), 0, "empty");
    r.uname = lines.front();
    r.kernel = parse_uname(r.uname, uname.string());
  }

  const fs::path cpus = dir / "nr_cpus.txt";
  if (!is_file(cpus)) throw trace_error(cpus.string(), 0, "missing (needed for the CPU count)");
  {
    const std::vector<std::string> lines = small_file_lines(cpus);
    if (lines.empty()) throw trace_error(cpus.string(), 0, "empty");
    unsigned n = 0;
    if (!parse_uint(lines[0], n) || n == 0) {
      throw trace_error(cpus.string(), 1, "expected a CPU count (`nproc`), got '" + lines[0] + "'");
    }
    r.nr_cpus = n;
    if (lines.size() >= 2) {
      if (!parse_uint(lines[1], n)) {
        throw trace_error(cpus.string(), 2,
                          "expected the /proc/cpuinfo processor count, got '" + lines[1] + "'");
      }
      r.cpuinfo_cpus = n;
    }
  }

  if (is_file(dir / "vmallocinfo_initstart.txt")) r.vmallocinfo_initstart = dir / "vmallocinfo_initstart.txt";
  if (is_file(dir / "vmallocinfo.txt")) r.vmallocinfo_final = dir / "vmallocinfo.txt";
  return r;
}

}  // namespace mmref::trace
