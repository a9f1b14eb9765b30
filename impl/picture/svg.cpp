// impl/picture/svg.cpp — see svg.hpp.
#include "model/hex.hpp"
#include "impl/picture/svg.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace mmref::picture {

namespace {


std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '&') o += "&amp;";
    else if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string size_text(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  unsigned u = 0;
  std::uint64_t v = bytes;
  while (v >= 1024 && v % 1024 == 0 && u < 5) {
    v /= 1024;
    ++u;
  }
  if (v >= 1024 && u < 5) {  // not a round multiple: one decimal
    char b[32];
    std::snprintf(b, sizeof b, "%.1f %s", static_cast<double>(bytes) / static_cast<double>(std::uint64_t{1} << (10 * (u + 1))),
                  units[u + 1]);
    return b;
  }
  return std::to_string(v) + " " + units[u];
}

const char* fill(va_kind k) {
  switch (k) {
    case va_kind::busy: return "#3b6fb6";
    case va_kind::lazy: return "#e08a1e";
    case va_kind::pooled: return "#8a4fb0";
    case va_kind::free: return "#dcdcdc";
  }
  return "#000";
}
const char* name(va_kind k) {
  switch (k) {
    case va_kind::busy: return "busy";
    case va_kind::lazy: return "lazy (freed, not yet purged)";
    case va_kind::pooled: return "pooled (6.9+ vmap node pool)";
    case va_kind::free: return "free";
  }
  return "";
}

constexpr va_kind ALL_KINDS[] = {va_kind::busy, va_kind::lazy, va_kind::pooled, va_kind::free};

constexpr int WIDTH = 960, MARGIN = 10, ROW_H = 22, LABEL_W = 150;

// One region of the address space (vmalloc or modules) as a wrapped strip.
using kind_names = std::array<std::string, 4>;

void draw_region(std::ostringstream& os, int& y, const std::string& title, const std::vector<va_piece>& pieces,
                 const kind_names& names) {
  os << "<text x='" << MARGIN << "' y='" << y + 14 << "' font-weight='bold'>" << esc(title) << "</text>\n";
  y += 22;
  const int strip_w = WIDTH - LABEL_W - 2 * MARGIN;
  int x = 0;
  bool row_started = false;
  for (const va_piece& p : pieces) {
    const std::uint64_t pages = std::max<std::uint64_t>(1, (p.end - p.start) >> PAGE_SHIFT);
    const int w = 4 + 3 * static_cast<int>(std::bit_width(pages));  // log scale: 1 page = 7 px
    if (!row_started || x + w > strip_w) {
      if (row_started) y += ROW_H + 4;
      os << "<text x='" << MARGIN << "' y='" << y + 15 << "' font-size='11' font-family='monospace'>" << hex(p.start)
         << "</text>\n";
      x = 0;
      row_started = true;
    }
    const int px = MARGIN + LABEL_W + x;
    os << "<rect x='" << px << "' y='" << y << "' width='" << w << "' height='" << ROW_H << "' fill='" << fill(p.kind)
       << "' stroke='#ffffff' stroke-width='1'><title>" << esc(names[static_cast<unsigned>(p.kind)]) << " [" << hex(p.start) << ", " << hex(p.end) << ") "
       << size_text(p.end - p.start) << (p.guard ? ", last page the guard" : "") << (p.note.empty() ? "" : ", " + esc(p.note))
       << "</title></rect>\n";
    if (!p.note.empty() && w >= 28)
      os << "<text x='" << px + 3 << "' y='" << y + 15 << "' font-size='10' fill='" << (p.kind == va_kind::free ? "#000" : "#fff")
         << "'>" << esc(p.note) << "</text>\n";
    if (p.guard)
      os << "<rect x='" << px + w - 4 << "' y='" << y << "' width='3' height='" << ROW_H << "' fill='#17375e'/>\n";
    x += w;
  }
  y += ROW_H + 14;
}

}  // namespace

std::vector<va_piece> va_pieces(const vmalloc::vmap_state& vs) {
  std::vector<va_piece> all;
  for (const vmalloc::list_head* l = vs.busy().head.next; l != &vs.busy().head; l = l->next) {
    const vmalloc::vmap_area* va = vmalloc::va_of_list(l);
    const bool guard = va->vm != nullptr && !(va->vm->flags & vmalloc::VM_NO_GUARD);
    all.push_back({va->va_start, va->va_end, va_kind::busy, guard, ""});
  }
  for (const vmalloc::list_head* l = vs.lazy().head.next; l != &vs.lazy().head; l = l->next)
    all.push_back({vmalloc::va_of_list(l)->va_start, vmalloc::va_of_list(l)->va_end, va_kind::lazy, false, ""});
  if (vs.pools)
    for (const vmalloc::kva_interval& p : vs.pools->pooled()) all.push_back({p.start, p.end, va_kind::pooled, false, ""});
  for (const vmalloc::kva_interval& f : vs.kva().free_intervals()) all.push_back({f.start, f.end, va_kind::free, false, ""});
  std::sort(all.begin(), all.end(), [](const va_piece& a, const va_piece& b) { return a.start < b.start; });
  return all;
}

state_snapshot snapshot(const vmalloc::vmap_state* vs, const buddy::page_alloc& pa) {
  state_snapshot s;
  if (vs != nullptr) {
    const auto& l = vs->mach().config().layout;
    s.has_va = true;
    s.lazy_nr = vs->vmap_lazy_nr();
    s.lazy_max = vs->lazy_max_pages();
    s.vmalloc_start = l.vmalloc_start;
    s.vmalloc_end = l.vmalloc_end;
    s.modules_vaddr = l.modules_vaddr;
    s.modules_end = l.modules_end;
    s.pieces = va_pieces(*vs);
  }
  for (unsigned zi = 0; zi < pa.zones().size(); ++zi) {
    const buddy::zone& z = pa.zones()[zi];
    if (z.spanned_pages == 0) continue;
    zone_view v;
    v.name = z.name;
    v.start_pfn = z.zone_start_pfn;
    v.spanned = z.spanned_pages;
    v.free_pages = z.free_pages;
    for (unsigned order = 0; order < buddy::NR_PAGE_ORDERS; ++order) {
      v.nr_free[order] = z.area[order].nr_free;
      for (unsigned mt = 0; mt < buddy::MIGRATE_TYPES; ++mt)
        for (const std::uint64_t pfn : pa.free_list(zi, order, mt)) v.blocks[order].push_back(pfn);
    }
    s.zones.push_back(std::move(v));
  }
  return s;
}

state_snapshot mappings(const machine& m, const std::vector<va_window>& windows) {
  state_snapshot s;
  s.has_va = true;
  s.legend = {{va_kind::busy, "mapped (TLB: agrees with the walk)"}, {va_kind::lazy, "stale TLB entry"}, {va_kind::free, "not mapped"}};
  for (const va_window& w : windows) {
    va_strip strip{w.title + " [" + hex(w.start) + ", " + hex(w.end) + ")", {}};
    std::uint64_t next_pfn = 0, leaf_size = 0;
    for (std::uint64_t va = w.start; va < w.end;) {
      const walk_result r = m.walk(va);
      const bool mapped = r.ok();
      const std::uint64_t end = mapped ? std::min(w.end, r.leaf.va + r.leaf.size) : va + PAGE_SIZE;
      const std::uint64_t pfn = mapped ? r.leaf.pfn + ((va - r.leaf.va) >> PAGE_SHIFT) : 0;
      va_piece* last = strip.pieces.empty() ? nullptr : &strip.pieces.back();
      const bool extends = last != nullptr && last->end == va &&
                           (mapped ? last->kind == va_kind::busy && leaf_size == r.leaf.size && next_pfn == pfn
                                   : last->kind == va_kind::free);
      if (extends)
        last->end = end;
      else
        strip.pieces.push_back({va, end, mapped ? va_kind::busy : va_kind::free, false,
                                mapped ? std::string(r.leaf.size == PAGE_SIZE ? "4K" : "huge") + " pfn " + hex(pfn) : ""});
      if (mapped) {
        next_pfn = pfn + ((end - va) >> PAGE_SHIFT);
        leaf_size = r.leaf.size;
      }
      va = end;
    }
    s.strips.push_back(std::move(strip));
  }
  for (unsigned cpu = 0; cpu < m.nr_cpus(); ++cpu) {
    va_strip strip{"CPU " + std::to_string(cpu) + " TLB", {}};
    for (const auto& [va, e] : m.cpu_tlb(cpu).entries()) {
      const walk_result r = m.walk(e.va);
      const bool agrees = r.ok() && r.leaf.va == e.va && r.leaf.size == e.size && r.leaf.pfn == e.pfn;
      strip.pieces.push_back({e.va, e.va + e.size, agrees ? va_kind::busy : va_kind::lazy, false,
                              (agrees ? "pfn " : "stale, pfn ") + hex(e.pfn)});
    }
    s.strips.push_back(std::move(strip));
  }
  return s;
}

std::string svg_state(const vmalloc::vmap_state* vs, const buddy::page_alloc& pa, const std::string& title) {
  return svg_of(snapshot(vs, pa), title);
}

std::string svg_of(const state_snapshot& s, const std::string& title) {
  std::ostringstream body;
  int y = MARGIN;
  body << "<text x='" << MARGIN << "' y='" << y + 16 << "' font-size='16' font-weight='bold'>" << esc(title) << "</text>\n";
  y += 30;
  if (s.has_va) {
    // The pieces inside each range, clipped to it.
    const auto clip = [&](std::uint64_t lo, std::uint64_t hi) {
      std::vector<va_piece> out;
      for (va_piece p : s.pieces) {
        if (p.end <= lo || p.start >= hi) continue;
        p.start = std::max(p.start, lo);
        p.end = std::min(p.end, hi);
        out.push_back(p);
      }
      return out;
    };
    kind_names names;
    for (const va_kind k : ALL_KINDS) names[static_cast<unsigned>(k)] = name(k);
    for (const auto& [k, text] : s.legend) names[static_cast<unsigned>(k)] = text;
    if (!s.strips.empty()) {
      body << "<text x='" << MARGIN << "' y='" << y + 12 << "' font-size='12'>widths are log2 of each piece's size</text>\n";
      y += 20;
      for (const va_strip& st : s.strips) draw_region(body, y, st.title, st.pieces, names);
    } else {
      body << "<text x='" << MARGIN << "' y='" << y + 12 << "' font-size='12'>vmap_lazy_nr " << s.lazy_nr << " pages"
           << (s.lazy_max != 0 ? " (lazy_max_pages " + std::to_string(s.lazy_max) + ")" : std::string())
           << "; widths are log2 of each piece's size</text>\n";
      y += 20;
      draw_region(body, y, "vmalloc range [" + hex(s.vmalloc_start) + ", " + hex(s.vmalloc_end) + "]",
                  clip(s.vmalloc_start, s.vmalloc_end), names);
      draw_region(body, y, "modules range [" + hex(s.modules_vaddr) + ", " + hex(s.modules_end) + ")",
                  clip(s.modules_vaddr, s.modules_end), names);
    }
    int lx = MARGIN;
    const auto key = [&](const va_kind k) {
      body << "<rect x='" << lx << "' y='" << y << "' width='12' height='12' fill='" << fill(k) << "'/><text x='" << lx + 16
           << "' y='" << y + 11 << "' font-size='12'>" << esc(names[static_cast<unsigned>(k)]) << "</text>\n";
      lx += std::max(210, 28 + 7 * static_cast<int>(names[static_cast<unsigned>(k)].size()));
    };
    if (s.legend.empty()) {
      for (const va_kind k : ALL_KINDS) key(k);
      body << "<rect x='" << lx << "' y='" << y << "' width='4' height='12' fill='#17375e'/><text x='" << lx + 8 << "' y='"
           << y + 11 << "' font-size='12'>guard page</text>\n";
    } else {
      for (const auto& [k, text] : s.legend) key(k);
    }
    y += 30;
  }
  // The buddy map: each zone to scale, one row per order.
  const int map_w = WIDTH - LABEL_W - 2 * MARGIN - 90;
  for (const zone_view& z : s.zones) {
    body << "<text x='" << MARGIN << "' y='" << y + 14 << "' font-weight='bold'>zone " << esc(z.name) << ": pfn ["
         << hex(z.start_pfn) << ", " << hex(z.start_pfn + z.spanned) << "), " << z.free_pages << " pages free</text>\n";
    y += 20;
    const double scale = static_cast<double>(map_w) / static_cast<double>(std::max<std::uint64_t>(1, z.spanned));
    for (unsigned order = 0; order < buddy::NR_PAGE_ORDERS; ++order) {
      const int row_h = 9;
      body << "<text x='" << MARGIN << "' y='" << y + 8 << "' font-size='10'>order " << order << "</text>\n";
      body << "<rect x='" << MARGIN + LABEL_W << "' y='" << y << "' width='" << map_w << "' height='" << row_h
           << "' fill='#f2f2f2'/>\n";
      for (const std::uint64_t pfn : z.blocks[order]) {
        // A block outside the zone (a proof's counterexample may hold one) is a red mark at the
        // edge it lies beyond, its pfn in the tooltip.
        const bool outside = pfn < z.start_pfn || pfn - z.start_pfn >= z.spanned;
        const double x0 = outside ? (pfn < z.start_pfn ? 0.0 : map_w - 2.0) : static_cast<double>(pfn - z.start_pfn) * scale;
        const double w = outside ? 2.0 : std::max(1.0, static_cast<double>(std::uint64_t{1} << order) * scale);
        char b[200];
        std::snprintf(b, sizeof b, "<rect x='%.1f' y='%d' width='%.1f' height='%d' fill='%s'><title>pfn 0x%llx order %u%s</title></rect>\n",
                      MARGIN + LABEL_W + x0, y, w, row_h, outside ? "#d00000" : ("hsl(" + std::to_string(200 - 17 * order) + ",60%,45%)").c_str(),
                      static_cast<unsigned long long>(pfn), order, outside ? ", outside the zone" : "");
        body << b;
      }
      body << "<text x='" << MARGIN + LABEL_W + map_w + 6 << "' y='" << y + 8 << "' font-size='10'>nr_free "
           << z.nr_free[order] << "</text>\n";
      y += row_h + 2;
    }
    y += 12;
  }
  std::ostringstream os;
  os << "<svg xmlns='http://www.w3.org/2000/svg' width='" << WIDTH << "' height='" << y + MARGIN
     << "' font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n"
     << body.str() << "</svg>\n";
  return os.str();
}

bool write_svg(const std::string& path, const std::string& svg) {
  std::ofstream f(path, std::ios::binary);
  f << svg;
  return static_cast<bool>(f);
}

std::filesystem::path pictures_dir() {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("mmref-pictures-" + std::to_string(::getpid()));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return dir;
}

}  // namespace mmref::picture
