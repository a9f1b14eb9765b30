// impl/trace/vmallocinfo.cpp — /proc/vmallocinfo parser. See vmallocinfo.hpp.
#include "impl/trace/vmallocinfo.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <system_error>

namespace mmref::trace {

bool vmallocinfo_entry::has_flag(std::string_view word) const noexcept {
  return std::find(flags.begin(), flags.end(), word) != flags.end();
}

namespace {

bool parse_u64(std::string_view t, int base, std::uint64_t& v) {
  if (t.empty()) return false;
  const char* last = t.data() + t.size();
  const auto [ptr, ec] = std::from_chars(t.data(), last, v, base);
  return ec == std::errc{} && ptr == last;
}

bool parse_hex0x(std::string_view t, std::uint64_t& v) {
  if (t.size() < 3 || t[0] != '0' || (t[1] != 'x' && t[1] != 'X')) return false;
  return parse_u64(t.substr(2), 16, v);
}

bool is_flag_word(std::string_view t) {
  if (t.empty() || t.front() < 'a' || t.front() > 'z') return false;
  return std::all_of(t.begin(), t.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
}

std::string printable(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < 120; ++i) {
    const auto ch = static_cast<unsigned char>(s[i]);
    out += (ch >= 0x20 && ch < 0x7f) ? static_cast<char>(ch) : '?';
  }
  if (s.size() > 120) out += "...";
  return out;
}

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i == s.size()) break;
    const std::size_t b = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    out.push_back(s.substr(b, i - b));
  }
  return out;
}

vmallocinfo_entry parse_line(std::string_view L, const std::string& file, std::uint64_t line_no,
                             const std::vector<std::string_view>& tok) {
  auto bad = [&](const std::string& why) -> trace_error {
    return trace_error(file, line_no,
                       "malformed vmallocinfo line (" + why + "): '" + printable(L) + "'");
  };
  vmallocinfo_entry e;
  e.line = line_no;
  if (tok.size() < 2) throw bad("expected '0x<start>-0x<end> <size> ...'");
  const std::size_t dash = tok[0].find('-');
  if (dash == std::string_view::npos || !parse_hex0x(tok[0].substr(0, dash), e.start) ||
      !parse_hex0x(tok[0].substr(dash + 1), e.end)) {
    throw bad("bad '0x<start>-0x<end>'");
  }
  if (!parse_u64(tok[1], 10, e.size)) throw bad("bad size");

  std::size_t i = 2;
  if (tok.size() == 4 && tok[2] == "unpurged" && tok[3] == "vm_area") {
    e.unpurged = true;
    return e;
  }
  // The caller (%pS): "sym+0x1/0x2", maybe followed by " [module]", or a bare 0x address.
  if (i < tok.size() && (tok[i].find('+') != std::string_view::npos || tok[i].starts_with("0x"))) {
    const std::string_view c = tok[i];
    e.caller = std::string(c);
    e.caller_symbol = std::string(c.substr(0, std::min(c.find('+'), c.size())));
    ++i;
    if (i < tok.size() && tok[i].size() >= 3 && tok[i].front() == '[' && tok[i].back() == ']') {
      e.caller += ' ';
      e.caller += tok[i];
      ++i;
    }
  }
  for (; i < tok.size(); ++i) {
    const std::string_view t = tok[i];
    std::uint64_t v = 0;
    if (t.starts_with("pages=")) {
      if (e.pages || !parse_u64(t.substr(6), 10, v)) throw bad("bad pages=");
      e.pages = v;
    } else if (t.starts_with("phys=")) {
      if (e.phys || !parse_hex0x(t.substr(5), v)) throw bad("bad phys=");
      e.phys = v;
    } else if (t.size() >= 4 && t[0] == 'N' && t.find('=') != std::string_view::npos) {
      const std::size_t eq = t.find('=');
      std::uint64_t node = 0;
      if (!parse_u64(t.substr(1, eq - 1), 10, node) || node > std::numeric_limits<unsigned>::max() ||
          !parse_u64(t.substr(eq + 1), 10, v)) {
        throw bad("bad N<node>=<pages>");
      }
      e.nodes.emplace_back(static_cast<unsigned>(node), v);
    } else if (is_flag_word(t)) {
      e.flags.emplace_back(t);
    } else {
      throw bad("unexpected '" + printable(t) + "'");
    }
  }
  return e;
}

}  // namespace

std::vector<vmallocinfo_entry> parse_vmallocinfo(line_source& src) {
  std::vector<vmallocinfo_entry> out;
  std::string_view line;
  std::vector<std::string_view> tok;
  while (src.next(line)) {
    tok = split_ws(line);
    if (tok.empty()) continue;
    out.push_back(parse_line(line, src.name(), src.line_number(), tok));
  }
  return out;
}

std::vector<vmallocinfo_entry> load_vmallocinfo(const std::string& path) {
  line_source src = line_source::open(path);
  return parse_vmallocinfo(src);
}

}  // namespace mmref::trace
