// impl/trace/ftrace.cpp — line sources (plain, xz via liblzma, streams) and the ftrace text
// parser. See ftrace.hpp.
#include "impl/trace/ftrace.hpp"

#include <lzma.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <system_error>
#include <utility>

namespace mmref::trace {

// =============================================================================================
// trace_error

namespace {

std::string locate(const std::string& file, std::uint64_t line, const std::string& what) {
  std::string m = file;
  if (line != 0) {
    m += ':';
    m += std::to_string(line);
  }
  m += ": ";
  m += what;
  return m;
}

}  // namespace

trace_error::trace_error(const std::string& file, std::uint64_t line, const std::string& what)
    : std::runtime_error(locate(file, line, what)), file_(file), line_(line) {}

trace_error::trace_error(verbatim_tag, const std::string& message, std::string file,
                         std::uint64_t line)
    : std::runtime_error(message), file_(std::move(file)), line_(line) {}

trace_error trace_error::verbatim(const std::string& message, const std::string& file,
                                  std::uint64_t line) {
  return trace_error(verbatim_tag{}, message, file, line);
}

// =============================================================================================
// Byte readers

namespace {

// What a reader throws; line_source turns it into a trace_error with the line number.
struct read_failure {
  enum class what { io, xz_truncated, xz_corrupt } kind;
  std::string detail;
};

class byte_reader {
 public:
  virtual ~byte_reader() = default;
  // Up to n bytes into buf; 0 only at the end.
  virtual std::size_t read(char* buf, std::size_t n) = 0;
};

class file_reader final : public byte_reader {
 public:
  file_reader(std::FILE* f, bool owned) : f_(f), owned_(owned) {}
  ~file_reader() override {
    if (owned_ && f_ != nullptr) std::fclose(f_);
  }
  file_reader(const file_reader&) = delete;
  file_reader& operator=(const file_reader&) = delete;
  std::size_t read(char* buf, std::size_t n) override {
    const std::size_t got = std::fread(buf, 1, n, f_);
    if (got == 0 && std::ferror(f_) != 0) {
      throw read_failure{read_failure::what::io, std::strerror(errno)};
    }
    return got;
  }

 private:
  std::FILE* f_;
  bool owned_;
};

class stream_reader final : public byte_reader {
 public:
  explicit stream_reader(std::istream& in) : in_(in) {}
  std::size_t read(char* buf, std::size_t n) override {
    if (!in_.good()) {
      if (in_.bad()) throw read_failure{read_failure::what::io, "stream read error"};
      return 0;
    }
    in_.read(buf, static_cast<std::streamsize>(n));
    if (in_.bad()) throw read_failure{read_failure::what::io, "stream read error"};
    return static_cast<std::size_t>(in_.gcount());
  }

 private:
  std::istream& in_;
};

class string_reader final : public byte_reader {
 public:
  explicit string_reader(std::string s) : s_(std::move(s)) {}
  std::size_t read(char* buf, std::size_t n) override {
    const std::size_t k = std::min(n, s_.size() - pos_);
    if (k != 0) std::memcpy(buf, s_.data() + pos_, k);
    pos_ += k;
    return k;
  }

 private:
  std::string s_;
  std::size_t pos_ = 0;
};

constexpr std::array<unsigned char, 6> xz_magic{0xFD, '7', 'z', 'X', 'Z', 0x00};
// Decoder memory limit: xz -9 needs ~65 MiB; anything far above is not a trace.
constexpr std::uint64_t xz_memlimit = std::uint64_t{1} << 30;

std::string lzma_reason(lzma_ret r) {
  switch (r) {
    case LZMA_MEM_ERROR: return "out of memory";
    case LZMA_MEMLIMIT_ERROR: return "memory limit exceeded";
    case LZMA_FORMAT_ERROR: return "not xz data";
    case LZMA_OPTIONS_ERROR: return "unsupported options";
    case LZMA_DATA_ERROR: return "data error";
    case LZMA_BUF_ERROR: return "unexpected end of input";
    case LZMA_PROG_ERROR: return "decoder misuse";
    default: return "lzma error " + std::to_string(static_cast<int>(r));
  }
}

// Streams the decompressed bytes of raw (whose first bytes, already read, are `prefix`).
class xz_reader final : public byte_reader {
 public:
  xz_reader(std::unique_ptr<byte_reader> raw, std::string_view prefix)
      : raw_(std::move(raw)), in_(std::max<std::size_t>(chunk, prefix.size())) {
    const lzma_ret r = lzma_stream_decoder(&strm_, xz_memlimit, LZMA_CONCATENATED);
    if (r != LZMA_OK) throw read_failure{read_failure::what::xz_corrupt, lzma_reason(r)};
    initialised_ = true;
    if (!prefix.empty()) std::memcpy(in_.data(), prefix.data(), prefix.size());
    strm_.next_in = in_.data();
    strm_.avail_in = prefix.size();
  }
  ~xz_reader() override {
    if (initialised_) lzma_end(&strm_);
  }
  xz_reader(const xz_reader&) = delete;
  xz_reader& operator=(const xz_reader&) = delete;

  // Bytes decoded before an error are returned first; the error comes with the next call, so
  // that every complete line before the damage is delivered.
  std::size_t read(char* buf, std::size_t n) override {
    if (pending_) throw *pending_;
    if (done_ || n == 0) return 0;
    strm_.next_out = reinterpret_cast<std::uint8_t*>(buf);
    strm_.avail_out = n;
    while (strm_.avail_out == n) {
      if (strm_.avail_in == 0 && !raw_eof_) {
        const std::size_t got = raw_->read(reinterpret_cast<char*>(in_.data()), in_.size());
        if (got == 0) raw_eof_ = true;
        strm_.next_in = in_.data();
        strm_.avail_in = got;
      }
      const lzma_ret r = lzma_code(&strm_, raw_eof_ ? LZMA_FINISH : LZMA_RUN);
      if (r == LZMA_OK) continue;
      if (r == LZMA_STREAM_END) {
        done_ = true;
        break;
      }
      pending_ = r == LZMA_BUF_ERROR
                     ? read_failure{read_failure::what::xz_truncated, ""}
                     : read_failure{read_failure::what::xz_corrupt, lzma_reason(r)};
      if (strm_.avail_out == n) throw *pending_;
      break;
    }
    return n - strm_.avail_out;
  }

 private:
  static constexpr std::size_t chunk = std::size_t{1} << 16;
  std::unique_ptr<byte_reader> raw_;
  std::vector<std::uint8_t> in_;
  lzma_stream strm_ = LZMA_STREAM_INIT;
  bool initialised_ = false;
  bool raw_eof_ = false;
  bool done_ = false;
  std::optional<read_failure> pending_;
};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

// =============================================================================================
// line_source

struct line_source::impl {
  // Reads start small (short inputs stay cheap) and double up to max_chunk.
  static constexpr std::size_t max_chunk = std::size_t{1} << 18;
  std::size_t chunk = std::size_t{1} << 12;

  std::string name;
  std::unique_ptr<byte_reader> reader;
  bool compressed = false;
  std::vector<char> buf;
  std::size_t begin = 0;  // first byte of the next line
  std::size_t end = 0;    // end of the valid bytes
  std::size_t scan = 0;   // [begin, scan) holds no '\n'
  bool eof = false;
  std::uint64_t line = 0;

  [[noreturn]] void fail(const read_failure& f) const {
    switch (f.kind) {
      case read_failure::what::xz_truncated:
        throw trace_error::verbatim(
            name + ": truncated xz stream after line " + std::to_string(line), name, line);
      case read_failure::what::xz_corrupt:
        throw trace_error::verbatim(name + ": corrupt xz stream after line " +
                                        std::to_string(line) + " (" + f.detail + ")",
                                    name, line);
      case read_failure::what::io:
        break;
    }
    throw trace_error::verbatim(
        name + ": read error after line " + std::to_string(line) + " (" + f.detail + ")", name,
        line);
  }

  // Appends at least one byte, or sets eof.
  void fill() {
    if (buf.size() - end < chunk) {
      if (begin > 0) {
        std::memmove(buf.data(), buf.data() + begin, end - begin);
        end -= begin;
        scan -= begin;
        begin = 0;
      }
      if (buf.size() - end < chunk) buf.resize(std::max(buf.size() * 2, end + chunk));
    }
    std::size_t got = 0;
    chunk = std::min(chunk * 2, max_chunk);
    try {
      got = reader->read(buf.data() + end, buf.size() - end);
    } catch (const read_failure& f) {
      fail(f);
    }
    if (got == 0) eof = true;
    end += got;
  }

  // Reads the first bytes and switches to the xz decoder when they are its magic.
  void start(bool name_says_xz) {
    while (!eof && end < xz_magic.size()) fill();
    const bool magic =
        end >= xz_magic.size() && std::memcmp(buf.data(), xz_magic.data(), xz_magic.size()) == 0;
    if (name_says_xz && !magic) {
      throw trace_error(name, 0, "not xz data (the xz magic bytes are missing)");
    }
    if (!magic) return;
    // Everything read so far is compressed input: hand it to the decoder, drain the raw reader
    // further through it.
    compressed = true;
    std::unique_ptr<byte_reader> raw = std::move(reader);
    try {
      reader = std::make_unique<xz_reader>(std::move(raw), std::string_view(buf.data(), end));
    } catch (const read_failure& f) {
      fail(f);
    }
    begin = end = scan = 0;
    eof = false;
  }

  bool next(std::string_view& out) {
    for (;;) {
      if (scan < end) {
        const void* nl = std::memchr(buf.data() + scan, '\n', end - scan);
        if (nl != nullptr) {
          const auto pos = static_cast<std::size_t>(static_cast<const char*>(nl) - buf.data());
          return take(pos, pos + 1, out);
        }
        scan = end;
      }
      if (end - begin > line_source::max_line) {
        throw trace_error(name, line + 1,
                          "line longer than " + std::to_string(line_source::max_line) + " bytes");
      }
      if (eof) {
        if (begin == end) return false;
        return take(end, end, out);
      }
      fill();
    }
  }

  bool take(std::size_t stop, std::size_t next_begin, std::string_view& out) {
    std::size_t len = stop - begin;
    if (len > line_source::max_line) {
      throw trace_error(name, line + 1,
                        "line longer than " + std::to_string(line_source::max_line) + " bytes");
    }
    if (len > 0 && buf[begin + len - 1] == '\r') --len;
    out = std::string_view(buf.data() + begin, len);
    begin = scan = next_begin;
    ++line;
    return true;
  }
};

line_source::line_source(std::unique_ptr<impl> p) : p_(std::move(p)) {}
line_source::line_source(line_source&&) noexcept = default;
line_source& line_source::operator=(line_source&&) noexcept = default;
line_source::~line_source() = default;

line_source line_source::open(const std::string& path) {
  auto p = std::make_unique<impl>();
  p->name = path;
  if (path == "-") {
    p->reader = std::make_unique<file_reader>(stdin, false);
    p->start(false);
    return line_source(std::move(p));
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    throw trace_error(path, 0, std::string("cannot open: ") + std::strerror(errno));
  }
  p->reader = std::make_unique<file_reader>(f, true);
  p->start(ends_with(path, ".xz"));
  return line_source(std::move(p));
}

line_source line_source::from_stream(std::istream& in, std::string name) {
  auto p = std::make_unique<impl>();
  p->name = std::move(name);
  p->reader = std::make_unique<stream_reader>(in);
  p->start(false);
  return line_source(std::move(p));
}

line_source line_source::from_string(std::string bytes, std::string name) {
  auto p = std::make_unique<impl>();
  p->name = std::move(name);
  p->reader = std::make_unique<string_reader>(std::move(bytes));
  p->start(false);
  return line_source(std::move(p));
}

bool line_source::next(std::string_view& line) { return p_->next(line); }
std::uint64_t line_source::line_number() const noexcept { return p_->line; }
const std::string& line_source::name() const noexcept { return p_->name; }
bool line_source::compressed() const noexcept { return p_->compressed; }

// =============================================================================================
// Event kinds

namespace {

enum class category : std::uint8_t { kprobe, kretprobe, tracepoint, marker, page };

struct kind_info {
  event_kind kind;
  std::string_view name;
  category cat;
  std::array<std::string_view, 6> required;  // present and numeric
  std::size_t n_required;
  std::array<std::string_view, 2> optional;  // numeric when present
  std::size_t n_optional;
};

using sv = std::string_view;
using K = event_kind;
using C = category;

constexpr std::array<kind_info, event_kind_count> kinds{{
    {K::alloc, "alloc", C::kprobe, {sv("size"), "align", "vstart", "vend"}, 4, {}, 0},
    {K::alloc_ret, "alloc_ret", C::kretprobe, {sv("va_start"), "va_end"}, 2,
     {sv("flags"), "ret"}, 2},
    {K::free_noflush, "free_noflush", C::kprobe, {sv("va_start"), "va_end", "lazy"}, 3,
     {sv("flags")}, 1},
    {K::purge, "purge", C::kprobe, {sv("start"), "end", "lazy"}, 3, {sv("full_decay")}, 1},
    {K::purge_ret, "purge_ret", C::kretprobe, {sv("ret"), "lazy"}, 2, {}, 0},
    {K::pcpu_get, "pcpu_get", C::kprobe, {sv("off0"), "size0", "nr", "align"}, 4, {}, 0},
    {K::pcpu_get_ret, "pcpu_get_ret", C::kretprobe, {sv("addr0"), "size0"}, 2, {sv("ret")}, 1},
    {K::drain, "drain", C::kprobe, {sv("lazy")}, 1, {}, 0},
    {K::unmap_aliases, "unmap_aliases", C::kprobe, {}, 0, {}, 0},
    {K::get_vm_area, "get_vm_area", C::kprobe,
     {sv("size"), "align", "shift", "flags", "start", "end"}, 6, {}, 0},
    {K::vfree, "vfree", C::kprobe, {sv("addr")}, 1, {}, 0},
    {K::vfree_atomic, "vfree_atomic", C::kprobe, {sv("addr")}, 1, {}, 0},
    {K::vunmap, "vunmap", C::kprobe, {sv("addr")}, 1, {}, 0},
    {K::decay, "decay", C::kprobe, {sv("vn"), "full"}, 2, {}, 0},
    {K::purge_node, "purge_node", C::kprobe, {sv("work")}, 1, {}, 0},
    {K::reclaim_purge, "reclaim_purge", C::kprobe, {}, 0, {}, 0},
    {K::shrink_scan, "shrink_scan", C::kprobe, {}, 0, {}, 0},
    {K::alloc_vmap_area, "alloc_vmap_area", C::tracepoint,
     {sv("va_start"), "size", "align", "vstart", "vend", "failed"}, 6, {}, 0},
    {K::free_vmap_area_noflush, "free_vmap_area_noflush", C::tracepoint,
     {sv("va_start"), "nr_lazy", "nr_lazy_max"}, 3, {}, 0},
    {K::purge_vmap_area_lazy, "purge_vmap_area_lazy", C::tracepoint,
     {sv("start"), "end", "num_purged"}, 3, {}, 0},
    {K::tracing_mark_write, "tracing_mark_write", C::marker, {}, 0, {}, 0},
    {K::mm_page_alloc, "mm_page_alloc", C::page, {sv("pfn"), "order"}, 2, {sv("migratetype")}, 1},
    {K::mm_page_free, "mm_page_free", C::page, {sv("pfn"), "order"}, 2, {}, 0},
    {K::mm_page_free_batched, "mm_page_free_batched", C::page, {sv("pfn"), "order"}, 2, {}, 0},
    {K::mm_page_alloc_zone_locked, "mm_page_alloc_zone_locked", C::page, {sv("pfn"), "order"}, 2,
     {sv("migratetype"), "percpu_refill"}, 2},
    {K::mm_page_pcpu_drain, "mm_page_pcpu_drain", C::page, {sv("pfn"), "order"}, 2,
     {sv("migratetype")}, 1},
    {K::mm_page_alloc_extfrag, "mm_page_alloc_extfrag", C::page,
     {sv("pfn"), "alloc_order", "fallback_order"}, 3, {}, 0},
}};

constexpr bool table_in_enum_order() {
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    if (static_cast<std::size_t>(kinds[i].kind) != i) return false;
  }
  return true;
}
static_assert(table_in_enum_order(), "kinds[] must list event_kind in declaration order");

const kind_info& info(event_kind kd) { return kinds[static_cast<std::size_t>(kd)]; }

}  // namespace

std::string_view kind_name(event_kind kd) noexcept {
  const auto i = static_cast<std::size_t>(kd);
  return i < kinds.size() ? kinds[i].name : std::string_view("?");
}

std::optional<event_kind> kind_from_name(std::string_view name) noexcept {
  for (const kind_info& ki : kinds) {
    if (ki.name.size() == name.size() && ki.name == name) return ki.kind;
  }
  return std::nullopt;
}

bool is_page_kind(event_kind kd) noexcept { return info(kd).cat == category::page; }
bool is_vmap_kind(event_kind kd) noexcept { return !is_page_kind(kd); }
bool is_kretprobe_kind(event_kind kd) noexcept { return info(kd).cat == category::kretprobe; }

std::span<const std::string_view> required_fields(event_kind kd) noexcept {
  const kind_info& ki = info(kd);
  return {ki.required.data(), ki.n_required};
}

// =============================================================================================
// Field values and accessors

namespace {

bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

bool is_name_char(char ch) {
  return is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

bool parse_unsigned(std::string_view t, int base, std::uint64_t& v) {
  if (t.empty()) return false;
  const char* first = t.data();
  const char* last = t.data() + t.size();
  const auto [ptr, ec] = std::from_chars(first, last, v, base);
  return ec == std::errc{} && ptr == last;
}

// 0x<hex>, <decimal>, -<decimal> (two's complement), or (hex_bare) bare hex.
void classify(field& f, bool hex_bare) {
  std::string_view t = f.text;
  f.numeric = false;
  f.negative = false;
  f.value = 0;
  std::uint64_t v = 0;
  if (hex_bare) {
    if (parse_unsigned(t, 16, v)) {
      f.value = v;
      f.numeric = true;
    }
    return;
  }
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    if (parse_unsigned(t.substr(2), 16, v)) {
      f.value = v;
      f.numeric = true;
    }
    return;
  }
  if (!t.empty() && t[0] == '-') {
    if (parse_unsigned(t.substr(1), 10, v) && v <= (std::uint64_t{1} << 63)) {
      f.value = std::uint64_t{0} - v;
      f.numeric = true;
      f.negative = v != 0;
    }
    return;
  }
  if (parse_unsigned(t, 10, v)) {
    f.value = v;
    f.numeric = true;
  }
}

std::string excerpt(std::string_view s, std::size_t max = 120) {
  std::string out;
  out.reserve(std::min(s.size(), max) + 3);
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    const auto ch = static_cast<unsigned char>(s[i]);
    out += (ch >= 0x20 && ch < 0x7f) ? static_cast<char>(ch) : '?';
  }
  if (s.size() > max) out += "...";
  return out;
}

[[noreturn]] void field_fail(std::string_view file, std::uint64_t line, std::string_view ev,
                             std::string_view fname, const std::string& problem) {
  throw trace_error(std::string(file), line,
                    std::string(ev) + ": field '" + std::string(fname) + "' " + problem);
}

struct field_ctx {
  std::string_view file;
  std::uint64_t line;
  std::string_view event;
};

// f may be null (missing).
std::uint64_t field_u64(const field_ctx& cx, std::string_view fname, const field* f) {
  if (f == nullptr) field_fail(cx.file, cx.line, cx.event, fname, "missing");
  if (!f->numeric) {
    field_fail(cx.file, cx.line, cx.event, fname, "is not a number: '" + excerpt(f->text) + "'");
  }
  if (f->negative) {
    field_fail(cx.file, cx.line, cx.event, fname, "is negative: " + std::string(f->text));
  }
  return f->value;
}

std::int64_t field_s64(const field_ctx& cx, std::string_view fname, const field* f) {
  if (f == nullptr) field_fail(cx.file, cx.line, cx.event, fname, "missing");
  if (!f->numeric) {
    field_fail(cx.file, cx.line, cx.event, fname, "is not a number: '" + excerpt(f->text) + "'");
  }
  if (!f->negative && f->value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    field_fail(cx.file, cx.line, cx.event, fname, "does not fit s64: " + std::string(f->text));
  }
  return static_cast<std::int64_t>(f->value);
}

std::string_view field_text(const field_ctx& cx, std::string_view fname, const field* f) {
  if (f == nullptr) field_fail(cx.file, cx.line, cx.event, fname, "missing");
  return f->text;
}

field view_of(const owned_field& o) {
  field f;
  f.name = o.name;
  f.text = o.text;
  f.value = o.value;
  f.numeric = o.numeric;
  f.negative = o.negative;
  return f;
}

}  // namespace

const field* event::find(std::string_view field_name) const noexcept {
  for (const field& f : fields) {
    if (f.name == field_name) return &f;
  }
  return nullptr;
}

std::uint64_t event::u64(std::string_view field_name) const {
  return field_u64({file, line, name}, field_name, find(field_name));
}
std::int64_t event::s64(std::string_view field_name) const {
  return field_s64({file, line, name}, field_name, find(field_name));
}
std::string_view event::text(std::string_view field_name) const {
  return field_text({file, line, name}, field_name, find(field_name));
}

owned_event::owned_event(const event& e, std::shared_ptr<const std::string> file_name)
    : file(file_name ? std::move(file_name) : std::make_shared<const std::string>(e.file)),
      line(e.line),
      comm(e.comm),
      pid(e.pid),
      cpu(e.cpu),
      flags(e.flags),
      counter(e.counter),
      kind(e.kind),
      name(e.name),
      probe(e.probe),
      site(e.site),
      site_symbol(e.site_symbol),
      ret_function(e.ret_function),
      marker(e.marker) {
  fields.reserve(e.fields.size());
  for (const field& f : e.fields) {
    fields.push_back(owned_field{std::string(f.name), std::string(f.text), f.value, f.numeric,
                                 f.negative});
  }
}

const owned_field* owned_event::find(std::string_view field_name) const noexcept {
  for (const owned_field& f : fields) {
    if (f.name == field_name) return &f;
  }
  return nullptr;
}

std::uint64_t owned_event::u64(std::string_view field_name) const {
  const owned_field* o = find(field_name);
  const field f = o != nullptr ? view_of(*o) : field{};
  return field_u64({file ? *file : std::string_view(), line, name}, field_name,
                   o != nullptr ? &f : nullptr);
}
std::int64_t owned_event::s64(std::string_view field_name) const {
  const owned_field* o = find(field_name);
  const field f = o != nullptr ? view_of(*o) : field{};
  return field_s64({file ? *file : std::string_view(), line, name}, field_name,
                   o != nullptr ? &f : nullptr);
}
std::string_view owned_event::text(std::string_view field_name) const {
  const owned_field* o = find(field_name);
  if (o == nullptr) {
    field_fail(file ? *file : std::string_view(), line, name, field_name, "missing");
  }
  return o->text;
}

// =============================================================================================
// line_parser

line_parser::line_parser(std::string file_name) : file_(std::move(file_name)) {
  fields_.reserve(16);
}

namespace {

[[noreturn]] void malformed(const std::string& file, std::uint64_t line_no, std::string_view why,
                            std::string_view line) {
  throw trace_error(file, line_no,
                    "malformed trace line (" + std::string(why) + "): '" + excerpt(line) + "'");
}

// The symbol of "sym+0x1/0x2 [mod]" / "sym+0x1/0x2" / "sym".
std::string_view symbol_of(std::string_view site) {
  const std::size_t cut = site.find_first_of("+ ");
  return cut == std::string_view::npos ? site : site.substr(0, cut);
}

}  // namespace

line_parser::result line_parser::parse(std::string_view L, std::uint64_t line_no, event& out) {
  out = event{};
  out.file = file_;
  out.line = line_no;
  unknown_name_ = {};

  std::size_t i0 = 0;
  while (i0 < L.size() && (L[i0] == ' ' || L[i0] == '\t')) ++i0;
  if (i0 == L.size()) return result::blank;
  if (L[i0] == '#') return result::header;

  // The cpu field: the first "[<digits>]" preceded by "-<digits> " (the pid, padded).
  std::size_t dash = std::string_view::npos;
  std::size_t pid_b = 0, pid_e = 0, cpu_b = 0, cpu_e = 0;
  for (std::size_t b = L.find('['); b != std::string_view::npos; b = L.find('[', b + 1)) {
    if (b < 3 || L[b - 1] != ' ') continue;
    std::size_t q = b - 1;
    while (q > 0 && L[q - 1] == ' ') --q;
    std::size_t d = q;
    while (d > 0 && is_digit(L[d - 1])) --d;
    if (d == q || d == 0 || L[d - 1] != '-') continue;
    std::size_t cc = b + 1;
    while (cc < L.size() && is_digit(L[cc])) ++cc;
    if (cc == b + 1 || cc >= L.size() || L[cc] != ']') continue;
    dash = d - 1;
    pid_b = d;
    pid_e = q;
    cpu_b = b + 1;
    cpu_e = cc;
    break;
  }
  if (dash == std::string_view::npos) malformed(file_, line_no, "no '<comm>-<pid> [<cpu>]'", L);

  out.comm = L.substr(i0, dash > i0 ? dash - i0 : 0);
  {
    std::uint64_t v = 0;
    if (!parse_unsigned(L.substr(pid_b, pid_e - pid_b), 10, v) ||
        v > std::numeric_limits<std::uint32_t>::max()) {
      malformed(file_, line_no, "bad pid", L);
    }
    out.pid = static_cast<std::uint32_t>(v);
    if (!parse_unsigned(L.substr(cpu_b, cpu_e - cpu_b), 10, v) ||
        v > std::numeric_limits<std::uint32_t>::max()) {
      malformed(file_, line_no, "bad cpu", L);
    }
    out.cpu = static_cast<std::uint32_t>(v);
  }

  // "] <flags> <counter>: " (flags may be absent when irq-info is off).
  std::size_t p = cpu_e + 1;
  if (p >= L.size() || L[p] != ' ') malformed(file_, line_no, "nothing after the cpu", L);
  while (p < L.size() && L[p] == ' ') ++p;
  std::size_t tok_e = p;
  while (tok_e < L.size() && L[tok_e] != ' ') ++tok_e;
  std::string_view tok = L.substr(p, tok_e - p);
  const bool tok_is_stamp = !tok.empty() && tok.back() == ':' && is_digit(tok.front());
  if (!tok_is_stamp) {
    if (tok.empty() || tok.size() > 8) malformed(file_, line_no, "bad irq/preempt flags", L);
    out.flags = tok;
    p = tok_e;
    while (p < L.size() && L[p] == ' ') ++p;
    tok_e = p;
    while (tok_e < L.size() && L[tok_e] != ' ') ++tok_e;
    tok = L.substr(p, tok_e - p);
  }
  if (tok.size() < 2 || tok.back() != ':') malformed(file_, line_no, "no '<counter>:'", L);
  {
    const std::string_view stamp = tok.substr(0, tok.size() - 1);
    if (!parse_unsigned(stamp, 10, out.counter)) {
      if (stamp.find('.') != std::string_view::npos) {
        malformed(file_, line_no, "timestamp is not a counter (trace_clock=counter expected)", L);
      }
      malformed(file_, line_no, "bad counter", L);
    }
  }

  // "<event>: <payload>"
  p = tok_e;
  if (p >= L.size() || L[p] != ' ') malformed(file_, line_no, "no event after the counter", L);
  ++p;
  const std::size_t name_b = p;
  while (p < L.size() && L[p] != ':' && L[p] != ' ') ++p;
  if (p == name_b || p >= L.size() || L[p] != ':') malformed(file_, line_no, "no '<event>:'", L);
  out.name = L.substr(name_b, p - name_b);
  ++p;
  std::string_view payload;
  if (p < L.size()) {
    if (L[p] != ' ') malformed(file_, line_no, "no space after '<event>:'", L);
    payload = L.substr(p + 1);
  }

  const std::optional<event_kind> kd = kind_from_name(out.name);
  if (!kd) {
    unknown_name_ = out.name;
    return result::unknown_event;
  }
  out.kind = *kd;
  const kind_info& ki = info(*kd);

  switch (ki.cat) {
    case category::marker: {
      while (!payload.empty() && (payload.back() == ' ' || payload.back() == '\t')) {
        payload.remove_suffix(1);
      }
      out.marker = payload;
      fields_.clear();
      out.fields = {};
      return result::event;
    }
    case category::kprobe:
    case category::kretprobe: {
      if (payload.empty() || payload.front() != '(') {
        malformed(file_, line_no, "kprobe payload without '(<probe point>)'", L);
      }
      const std::size_t close = payload.find(')');
      if (close == std::string_view::npos) malformed(file_, line_no, "no ')' after the probe point", L);
      out.probe = payload.substr(1, close - 1);
      const std::size_t arrow = out.probe.find(" <- ");
      if (arrow != std::string_view::npos) {
        out.site = out.probe.substr(0, arrow);
        out.ret_function = out.probe.substr(arrow + 4);
        while (!out.ret_function.empty() && out.ret_function.front() == ' ') out.ret_function.remove_prefix(1);
        if (out.ret_function.empty()) malformed(file_, line_no, "empty function after '<-'", L);
      } else {
        out.site = out.probe;
      }
      out.site_symbol = symbol_of(out.site);
      if (out.site_symbol.empty()) malformed(file_, line_no, "empty probe point", L);
      if (ki.cat == category::kretprobe && out.ret_function.empty()) {
        malformed(file_, line_no, "return probe without '<site> <- <function>'", L);
      }
      if (ki.cat == category::kprobe && !out.ret_function.empty()) {
        malformed(file_, line_no, "entry probe with a return site", L);
      }
      payload = payload.substr(close + 1);
      if (!payload.empty() && payload.front() != ' ') {
        malformed(file_, line_no, "no space after the probe point", L);
      }
      break;
    }
    case category::tracepoint:
    case category::page:
      break;
  }

  parse_fields(payload, line_no, *kd);
  out.fields = std::span<const field>(fields_.data(), fields_.size());

  const field_ctx cx{file_, line_no, out.name};
  for (std::size_t r = 0; r < ki.n_required; ++r) {
    const std::string_view fname = ki.required[r];
    const field* f = out.find(fname);
    if (f == nullptr) field_fail(cx.file, cx.line, cx.event, fname, "missing");
    if (!f->numeric) {
      field_fail(cx.file, cx.line, cx.event, fname, "is not a number: '" + excerpt(f->text) + "'");
    }
  }
  for (std::size_t r = 0; r < ki.n_optional; ++r) {
    const std::string_view fname = ki.optional[r];
    const field* f = out.find(fname);
    if (f != nullptr && !f->numeric) {
      field_fail(cx.file, cx.line, cx.event, fname, "is not a number: '" + excerpt(f->text) + "'");
    }
  }
  return result::event;
}

void line_parser::parse_fields(std::string_view s, std::uint64_t line_no, event_kind kd) {
  fields_.clear();
  const bool page = is_page_kind(kd);
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto next_token = [&](std::string_view& t) {
    while (i < n && s[i] == ' ') ++i;
    if (i == n) return false;
    const std::size_t b = i;
    while (i < n && s[i] != ' ') ++i;
    t = s.substr(b, i - b);
    return true;
  };
  auto check_name = [&](std::string_view nm, std::string_view tok) {
    if (nm.empty()) malformed(file_, line_no, "empty field name in '" + excerpt(tok, 40) + "'", s);
    for (char ch : nm) {
      if (!is_name_char(ch)) malformed(file_, line_no, "bad field name '" + excerpt(nm, 40) + "'", s);
    }
  };

  std::string_view t;
  while (next_token(t)) {
    // " [module]" after a :symbol value belongs to that value.
    if (t.size() >= 2 && t.front() == '[' && t.back() == ']' && !fields_.empty() &&
        t.find('=') == std::string_view::npos) {
      field& prev = fields_.back();
      prev.text = std::string_view(prev.text.data(),
                                   static_cast<std::size_t>(t.data() + t.size() - prev.text.data()));
      prev.numeric = false;
      prev.negative = false;
      prev.value = 0;
      continue;
    }
    field f;
    const std::size_t eq = t.find('=');
    if (eq != std::string_view::npos) {
      f.name = t.substr(0, eq);
      f.text = t.substr(eq + 1);
    } else if (t.size() >= 2 && t.back() == ':') {
      // 6.12 alloc_vmap_area: "va_start: <decimal>"
      f.name = t.substr(0, t.size() - 1);
      std::string_view v;
      if (!next_token(v)) malformed(file_, line_no, "no value after '" + excerpt(t, 40) + "'", s);
      f.text = v;
    } else {
      malformed(file_, line_no, "unexpected '" + excerpt(t, 40) + "' (not name=value)", s);
    }
    check_name(f.name, t);
    classify(f, page && f.name == "page");
    fields_.push_back(f);
  }
}

// =============================================================================================
// summary, parse_trace

std::uint64_t summary::known_events() const noexcept {
  std::uint64_t n = 0;
  for (std::uint64_t v : per_kind) n += v;
  return n;
}

std::vector<std::pair<std::string, std::uint64_t>> summary::table() const {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (std::size_t i = 0; i < per_kind.size(); ++i) {
    if (per_kind[i] != 0) out.emplace_back(std::string(kinds[i].name), per_kind[i]);
  }
  for (const auto& [nm, n] : unknown) out.emplace_back(nm, n);
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// "# entries-in-buffer/entries-written: 510507/510507   #P:2"
void read_header(std::string_view h, summary& s) {
  constexpr std::string_view entries = "entries-in-buffer/entries-written:";
  const std::size_t e = h.find(entries);
  if (e != std::string_view::npos) {
    std::size_t p = e + entries.size();
    while (p < h.size() && h[p] == ' ') ++p;
    std::size_t q = p;
    while (q < h.size() && is_digit(h[q])) ++q;
    std::uint64_t a = 0, b = 0;
    if (parse_unsigned(h.substr(p, q - p), 10, a) && q < h.size() && h[q] == '/') {
      std::size_t r = q + 1;
      while (r < h.size() && is_digit(h[r])) ++r;
      if (parse_unsigned(h.substr(q + 1, r - q - 1), 10, b)) {
        s.entries_in_buffer = a;
        s.entries_written = b;
      }
    }
  }
  const std::size_t cp = h.find("#P:");
  if (cp != std::string_view::npos) {
    std::size_t p = cp + 3;
    std::size_t q = p;
    while (q < h.size() && is_digit(h[q])) ++q;
    std::uint64_t n = 0;
    if (parse_unsigned(h.substr(p, q - p), 10, n) && n <= std::numeric_limits<unsigned>::max()) {
      s.header_cpus = static_cast<unsigned>(n);
    }
  }
}

}  // namespace

summary parse_trace(line_source& src, const event_handler& on_event) {
  summary s;
  s.file = src.name();
  line_parser parser(src.name());
  event ev;
  std::string_view line;
  bool have_prev = false;
  std::uint64_t prev = 0;
  auto order = [&](std::uint64_t ctr) {
    if (!have_prev) {
      s.first_counter = ctr;
      have_prev = true;
    } else if (ctr == prev) {
      ++s.counter_repeats;
    } else if (ctr < prev) {
      ++s.counter_decreases;
    }
    prev = ctr;
    s.last_counter = ctr;
  };
  while (src.next(line)) {
    ++s.lines;
    switch (parser.parse(line, src.line_number(), ev)) {
      case line_parser::result::header:
        ++s.header_lines;
        read_header(line, s);
        break;
      case line_parser::result::blank:
        break;
      case line_parser::result::event:
        ++s.events;
        ++s.per_kind[static_cast<std::size_t>(ev.kind)];
        order(ev.counter);
        if (on_event) on_event(ev);
        break;
      case line_parser::result::unknown_event: {
        ++s.events;
        order(ev.counter);
        const std::string_view nm = parser.unknown_name();
        const auto it = s.unknown.find(nm);
        if (it == s.unknown.end()) {
          s.unknown.emplace(std::string(nm), 1);
        } else {
          ++it->second;
        }
        break;
      }
    }
  }
  return s;
}

std::vector<owned_event> load_vmap_events(line_source& src, summary* out_summary) {
  std::vector<owned_event> out;
  const auto file = std::make_shared<const std::string>(src.name());
  summary s = parse_trace(src, [&](const event& e) {
    if (is_vmap_kind(e.kind)) out.emplace_back(e, file);
  });
  if (out_summary != nullptr) *out_summary = std::move(s);
  return out;
}

}  // namespace mmref::trace
