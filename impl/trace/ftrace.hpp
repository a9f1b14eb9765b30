// impl/trace/ftrace.hpp — reading real kernel traces: the tracefs `trace` text format (ftrace),
// as recorded in shared/data/linux-trace (Linux 6.1 kprobes, 6.12 vmalloc tracepoints, kmem
// page events, trace_marker phase markers; trace_clock=counter).
//
// Synopsis
//   trace_error                 std::runtime_error with file() and line() (1-based; 0 = the file
//                               as a whole); what() is "<file>:<line>: <what>" ("<file>: <what>")
//   line_source                 lines of a trace, one at a time, from
//     open(path)                  a file ("-" = stdin); xz-compressed input (by its magic bytes,
//                                 whatever the name) is decoded with liblzma while streaming
//     from_stream(in, name)       any std::istream (not owned), same detection
//     from_string(bytes, name)    an in-memory copy (tests, fuzzing)
//     next(line)                  false at the end; the view is valid until the next call.
//                                 A truncated/corrupt xz stream throws trace_error
//                                 "<name>: truncated xz stream after line N"
//   event_kind                  the events mmref knows (kprobes of both kernels, 6.12 vmalloc
//                               tracepoints, tracing_mark_write, kmem mm_page_*)
//     kind_name / kind_from_name / is_page_kind / is_vmap_kind
//   field                       one `name=value` (or 6.12's `va_start: <decimal>`): raw text,
//                               and the value when it is a number (0x hex, decimal, -decimal)
//   event                       one parsed line: line, comm, pid, cpu, flags, counter, kind,
//                               probe text / return site / site symbol / returned-from function,
//                               marker text, fields; find/has/u64/s64/text accessors that throw
//                               trace_error naming the line. Views only: valid during the
//                               callback that receives it.
//   owned_event                 a self-contained copy of an event (same accessors)
//   line_parser                 one line → header | blank | event | unknown event; checks each
//                               known kind's required numeric fields (required_fields(kind))
//   summary                     lines, events per kind, unknown events per name, the #P:<n>
//                               and entries-in-buffer header values, counter repeats/decreases
//   parse_trace(src, handler)   every known event of src, in order, to handler(const event&)
//   load_vmap_events(src)       owned copies of every non-mm_page_* event (vmalloc probes and
//                               tracepoints, markers), with the summary of the whole trace
//
// The line format is `<comm>-<pid> [<cpu>] <flags> <counter>: <event>: <payload>`; comm may
// contain spaces and dashes (the pid follows the last '-' before ` [<cpu>]`). Kprobe payloads
// are `(<probe point>) name=value ...`, kretprobe payloads `(<site> <- <function>) name=value`.
// A `:symbol` value of a module symbol carries its ` [module]` suffix in its text. Unknown event
// names are counted, not errors; a line that does not match the format, or a known event that
// lacks a field the replay needs (or has it non-numeric), is a trace_error naming the line.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mmref::trace {

// ---------------------------------------------------------------------------------------------
// Errors

class trace_error : public std::runtime_error {
 public:
  // "<file>:<line>: <what>", or "<file>: <what>" when line is 0.
  trace_error(const std::string& file, std::uint64_t line, const std::string& what);
  // A message used as is (e.g. "<file>: truncated xz stream after line N"), with its line.
  static trace_error verbatim(const std::string& message, const std::string& file,
                              std::uint64_t line);

  const std::string& file() const noexcept { return file_; }
  std::uint64_t line() const noexcept { return line_; }

 private:
  struct verbatim_tag {};
  trace_error(verbatim_tag, const std::string& message, std::string file, std::uint64_t line);
  std::string file_;
  std::uint64_t line_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Line sources

class line_source {
 public:
  // Longest accepted line (a trace line is < 1 KiB; this bounds memory on garbage input).
  static constexpr std::size_t max_line = std::size_t{1} << 20;

  // A file by path; "-" reads the process's standard input (stdin, not std::cin). Input
  // starting with the xz magic bytes is decoded; a name ending in ".xz" that is not xz data is
  // an error.
  static line_source open(const std::string& path);
  // Any stream (not owned; must outlive the source). Same xz detection.
  static line_source from_stream(std::istream& in, std::string name);
  // In-memory bytes (copied). Same xz detection.
  static line_source from_string(std::string bytes, std::string name);

  line_source(line_source&&) noexcept;
  line_source& operator=(line_source&&) noexcept;
  line_source(const line_source&) = delete;
  line_source& operator=(const line_source&) = delete;
  ~line_source();

  // The next line without its '\n' (and without a trailing '\r'); the last line may lack its
  // '\n'. Returns false at the end. The view stays valid until the next call. Throws
  // trace_error on read errors, on an xz error ("<name>: truncated xz stream after line N",
  // "<name>: corrupt xz stream after line N (...)") and on a line longer than max_line.
  bool next(std::string_view& line);

  // 1-based number of the line last returned (0 before the first).
  std::uint64_t line_number() const noexcept;
  const std::string& name() const noexcept;
  bool compressed() const noexcept;  // xz detected

 private:
  struct impl;
  explicit line_source(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

// ---------------------------------------------------------------------------------------------
// Event kinds

enum class event_kind : std::uint8_t {
  // vmalloc kprobes (6.1 and 6.12; decay .. shrink_scan are 6.12 only)
  alloc,
  alloc_ret,
  free_noflush,
  purge,
  purge_ret,
  pcpu_get,
  pcpu_get_ret,
  drain,
  unmap_aliases,
  get_vm_area,
  vfree,
  vfree_atomic,
  vunmap,
  decay,
  purge_node,
  reclaim_purge,
  shrink_scan,
  // 6.12 vmalloc tracepoints
  alloc_vmap_area,
  free_vmap_area_noflush,
  purge_vmap_area_lazy,
  // trace_marker
  tracing_mark_write,
  // kmem page events
  mm_page_alloc,
  mm_page_free,
  mm_page_free_batched,
  mm_page_alloc_zone_locked,
  mm_page_pcpu_drain,
  mm_page_alloc_extfrag,
};
inline constexpr std::size_t event_kind_count = 27;

std::string_view kind_name(event_kind k) noexcept;
std::optional<event_kind> kind_from_name(std::string_view name) noexcept;
bool is_page_kind(event_kind k) noexcept;  // mm_page_*
bool is_vmap_kind(event_kind k) noexcept;  // everything else (vmalloc probes/events, markers)
bool is_kretprobe_kind(event_kind k) noexcept;  // alloc_ret, purge_ret, pcpu_get_ret
// The fields checked present and numeric at parse time, e.g. alloc: size align vstart vend.
std::span<const std::string_view> required_fields(event_kind k) noexcept;

// ---------------------------------------------------------------------------------------------
// Events

struct field {
  std::string_view name;
  std::string_view text;     // the value as printed (a module symbol keeps " [module]")
  std::uint64_t value = 0;   // when numeric; a negative decimal is stored two's complement
  bool numeric = false;      // 0x<hex>, <decimal> or -<decimal> that fits 64 bits
  bool negative = false;     // a '-' decimal
};

// One event line. Every view points into the line or the parser's storage: valid only until the
// parser (or parse_trace) moves on. Copy with owned_event to keep it.
struct event {
  std::string_view file;        // the source's name, for messages
  std::uint64_t line = 0;       // 1-based line number
  std::string_view comm;        // "kworker/u4:0", "<idle>"
  std::uint32_t pid = 0;
  std::uint32_t cpu = 0;
  std::string_view flags;       // irq/preempt field, e.g. "d..1."
  std::uint64_t counter = 0;    // TIMESTAMP column (trace_clock=counter)
  event_kind kind{};
  std::string_view name;        // the event name as printed
  // Kprobes: probe = the text in the parentheses; site = the part before " <- " (the whole
  // probe for an entry probe); site_symbol = site's symbol without +off/size or [module];
  // ret_function = the function after "<- " (kretprobes only, else empty).
  std::string_view probe;
  std::string_view site;
  std::string_view site_symbol;
  std::string_view ret_function;
  std::string_view marker;      // tracing_mark_write: the whole payload ("capture: init start…")
  std::span<const field> fields;

  bool is_return() const noexcept { return !ret_function.empty(); }
  const field* find(std::string_view field_name) const noexcept;
  bool has(std::string_view field_name) const noexcept { return find(field_name) != nullptr; }
  // Throw trace_error "<file>:<line>: <event>: field 'x' missing" / "... is not a number" /
  // "... is negative" (u64) / "... does not fit s64" (s64).
  std::uint64_t u64(std::string_view field_name) const;
  std::int64_t s64(std::string_view field_name) const;
  std::string_view text(std::string_view field_name) const;
};

struct owned_field {
  std::string name;
  std::string text;
  std::uint64_t value = 0;
  bool numeric = false;
  bool negative = false;
};

struct owned_event {
  std::shared_ptr<const std::string> file;
  std::uint64_t line = 0;
  std::string comm;
  std::uint32_t pid = 0;
  std::uint32_t cpu = 0;
  std::string flags;
  std::uint64_t counter = 0;
  event_kind kind{};
  std::string name;
  std::string probe;
  std::string site;
  std::string site_symbol;
  std::string ret_function;
  std::string marker;
  std::vector<owned_field> fields;

  owned_event() = default;
  // `file_name` may be shared among many events; null copies e.file.
  explicit owned_event(const event& e, std::shared_ptr<const std::string> file_name = nullptr);

  bool is_return() const noexcept { return !ret_function.empty(); }
  const owned_field* find(std::string_view field_name) const noexcept;
  bool has(std::string_view field_name) const noexcept { return find(field_name) != nullptr; }
  std::uint64_t u64(std::string_view field_name) const;
  std::int64_t s64(std::string_view field_name) const;
  std::string_view text(std::string_view field_name) const;
};

// ---------------------------------------------------------------------------------------------
// Parsing

class line_parser {
 public:
  enum class result { header, blank, event, unknown_event };

  explicit line_parser(std::string file_name);

  // Parses one line (without '\n'). On `event`, `out` is filled with views into `line` and into
  // this parser: valid until the next call. On `unknown_event`, unknown_name() is the event
  // name (a view into `line`). '#' lines are `header`; empty/blank lines are `blank`. Throws
  // trace_error naming line_no when the line is malformed or a known event lacks a field.
  result parse(std::string_view line, std::uint64_t line_no, event& out);
  std::string_view unknown_name() const noexcept { return unknown_name_; }
  const std::string& file_name() const noexcept { return file_; }

 private:
  void parse_fields(std::string_view payload, std::uint64_t line_no, event_kind k);
  std::string file_;
  std::vector<field> fields_;
  std::string_view unknown_name_;
};

struct summary {
  std::string file;
  std::uint64_t lines = 0;          // every line read, headers included
  std::uint64_t header_lines = 0;   // '#' lines
  std::uint64_t events = 0;         // event lines, known and unknown
  std::array<std::uint64_t, event_kind_count> per_kind{};
  std::map<std::string, std::uint64_t, std::less<>> unknown;  // unknown event name → lines
  // From "# entries-in-buffer/entries-written: <a>/<b>   #P:<n>", when present.
  std::optional<unsigned> header_cpus;
  std::optional<std::uint64_t> entries_in_buffer;
  std::optional<std::uint64_t> entries_written;
  // Counter order over the printed event lines (known and unknown): an event whose counter
  // equals the previous line's (a nested event on one CPU), or is smaller (never expected).
  std::uint64_t counter_repeats = 0;
  std::uint64_t counter_decreases = 0;
  std::uint64_t first_counter = 0;
  std::uint64_t last_counter = 0;

  std::uint64_t count(event_kind k) const noexcept { return per_kind[static_cast<std::size_t>(k)]; }
  std::uint64_t known_events() const noexcept;
  // (name, count) for every kind seen and every unknown name, sorted by name.
  std::vector<std::pair<std::string, std::uint64_t>> table() const;
};

using event_handler = std::function<void(const event&)>;

// Reads src to its end; every known event goes to on_event (unknown events and headers are
// only counted). Exceptions from on_event propagate unchanged.
summary parse_trace(line_source& src, const event_handler& on_event);

// The vmalloc side of a trace (every event that is not mm_page_*, markers included), copied.
std::vector<owned_event> load_vmap_events(line_source& src, summary* out_summary = nullptr);

}  // namespace mmref::trace
