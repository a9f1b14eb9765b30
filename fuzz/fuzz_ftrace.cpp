// fuzz/fuzz_ftrace.cpp — libFuzzer target: arbitrary bytes through the trace readers.
//
// Synopsis
//   Input    any bytes, read as a trace file (line_source::from_string: xz is detected by its
//            magic bytes, so compressed inputs reach the liblzma path) and parsed with
//            parse_trace; the same bytes are then parsed as /proc/vmallocinfo text.
//   Oracles  the only acceptable outcomes are success and mmref::trace::trace_error; any other
//            exception escapes to libFuzzer and is reported as a crash. For every event
//            delivered: its kind's required fields are present and numeric; a kretprobe kind
//            has its "<-" function; u64/s64/text on every field either answer or throw
//            trace_error, and agree with the field's own value; an owned_event copy answers
//            the same; the summary's per-kind counts match the events delivered. For every
//            vmallocinfo entry: a number of the line within the input's lines.
//   Seeds    fuzz/corpus/ftrace/: real lines of both kernels (the README examples), page
//            events, a vmallocinfo excerpt, a small .xz.
//   Failure  __builtin_trap() after a message on stderr.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "impl/trace/ftrace.hpp"
#include "impl/trace/vmallocinfo.hpp"

namespace {

using namespace mmref::trace;

[[noreturn]] void fail(const char* what, std::uint64_t line) {
  std::fprintf(stderr, "fuzz_ftrace: %s (line %llu)\n", what, static_cast<unsigned long long>(line));
  __builtin_trap();
}

// u64/s64/text of the first field of its name answer exactly when the field allows it.
void check_accessors(const event& e, const field& f) {
  bool ok = true;
  std::uint64_t u = 0;
  try {
    u = e.u64(f.name);
  } catch (const trace_error&) {
    ok = false;
  }
  if (ok != (f.numeric && !f.negative) || (ok && u != f.value)) fail("u64 disagrees", e.line);
  ok = true;
  std::int64_t v = 0;
  try {
    v = e.s64(f.name);
  } catch (const trace_error&) {
    ok = false;
  }
  const bool fits = f.numeric && (f.negative || f.value <= std::uint64_t{INT64_MAX});
  if (ok != fits || (ok && static_cast<std::uint64_t>(v) != f.value)) fail("s64 disagrees", e.line);
  if (e.text(f.name) != f.text) fail("text disagrees", e.line);
}

void check_event(const event& e) {
  if (kind_name(e.kind).empty()) fail("unnamed kind", e.line);
  for (const std::string_view f : required_fields(e.kind)) {
    const field* p = e.find(f);
    if (p == nullptr || !p->numeric) fail("required field missing or not numeric", e.line);
  }
  if (is_kretprobe_kind(e.kind) != e.is_return()) fail("return probe shape", e.line);
  for (const field& f : e.fields) {
    if (f.name.empty()) fail("empty field name", e.line);
    if (e.find(f.name) == &f) check_accessors(e, f);
  }
  const owned_event o(e);
  if (o.fields.size() != e.fields.size() || o.line != e.line || o.counter != e.counter ||
      o.kind != e.kind || o.comm != e.comm || o.marker != e.marker || o.probe != e.probe) {
    fail("owned copy differs", e.line);
  }
  for (std::size_t i = 0; i < e.fields.size(); ++i) {
    const owned_field& of = o.fields[i];
    const field& f = e.fields[i];
    if (of.name != f.name || of.text != f.text || of.value != f.value || of.numeric != f.numeric) {
      fail("owned field differs", e.line);
    }
  }
  (void)o.has("size");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);

  try {
    line_source src = line_source::from_string(bytes, "fuzz");
    std::array<std::uint64_t, event_kind_count> seen{};
    const summary s = parse_trace(src, [&](const event& e) {
      ++seen[static_cast<std::size_t>(e.kind)];
      check_event(e);
    });
    if (s.per_kind != seen) fail("summary counts differ from the events delivered", s.lines);
    if (s.known_events() > s.events || s.events + s.header_lines > s.lines) {
      fail("summary totals inconsistent", s.lines);
    }
  } catch (const trace_error&) {
  }

  try {
    line_source src = line_source::from_string(bytes, "fuzz-vmallocinfo");
    const std::vector<vmallocinfo_entry> v = parse_vmallocinfo(src);
    std::uint64_t prev = 0;
    for (const vmallocinfo_entry& e : v) {
      if (e.line <= prev || e.line > src.line_number()) fail("vmallocinfo line numbers", e.line);
      prev = e.line;
      if (e.unpurged && (!e.flags.empty() || !e.caller.empty())) fail("unpurged with extras", e.line);
    }
  } catch (const trace_error&) {
  }
  return 0;
}
