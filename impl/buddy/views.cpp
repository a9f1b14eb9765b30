// impl/buddy/views.cpp — /proc/buddyinfo, /proc/zoneinfo and /proc/pagetypeinfo in the
// kernel's text format (mm/vmstat.c, 6.1), and the %pGg rendering of gfp flags.
#include <cstdarg>
#include <cstdio>
#include <string>
#include <utility>

#include "impl/buddy/page_alloc.hpp"

namespace mmref::buddy {

namespace {

// seq_printf into a std::string.
void appendf(std::string& out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void appendf(std::string& out, const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) out.append(buf, static_cast<std::size_t>(n) < sizeof buf ? static_cast<std::size_t>(n) : sizeof buf - 1);
}

}  // namespace

// include/trace/events/mmflags.h __def_gfpflag_names (6.1): composites first; each name is
// printed when all its bits are present, and its bits are then cleared.
std::string gfp_text(gfp_t gfp) {
  static const std::pair<gfp_t, const char*> names[] = {
      {GFP_TRANSHUGE, "GFP_TRANSHUGE"},
      {GFP_TRANSHUGE_LIGHT, "GFP_TRANSHUGE_LIGHT"},
      {GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"},
      {GFP_HIGHUSER, "GFP_HIGHUSER"},
      {GFP_USER, "GFP_USER"},
      {GFP_KERNEL_ACCOUNT, "GFP_KERNEL_ACCOUNT"},
      {GFP_KERNEL, "GFP_KERNEL"},
      {GFP_NOFS, "GFP_NOFS"},
      {GFP_ATOMIC, "GFP_ATOMIC"},
      {GFP_NOIO, "GFP_NOIO"},
      {GFP_NOWAIT, "GFP_NOWAIT"},
      {GFP_DMA, "GFP_DMA"},
      {__GFP_HIGHMEM, "__GFP_HIGHMEM"},
      {GFP_DMA32, "GFP_DMA32"},
      {__GFP_HIGH, "__GFP_HIGH"},
      {__GFP_ATOMIC, "__GFP_ATOMIC"},
      {__GFP_IO, "__GFP_IO"},
      {__GFP_FS, "__GFP_FS"},
      {__GFP_NOWARN, "__GFP_NOWARN"},
      {__GFP_RETRY_MAYFAIL, "__GFP_RETRY_MAYFAIL"},
      {__GFP_NOFAIL, "__GFP_NOFAIL"},
      {__GFP_NORETRY, "__GFP_NORETRY"},
      {__GFP_COMP, "__GFP_COMP"},
      {__GFP_ZERO, "__GFP_ZERO"},
      {__GFP_NOMEMALLOC, "__GFP_NOMEMALLOC"},
      {__GFP_MEMALLOC, "__GFP_MEMALLOC"},
      {__GFP_HARDWALL, "__GFP_HARDWALL"},
      {__GFP_THISNODE, "__GFP_THISNODE"},
      {__GFP_RECLAIMABLE, "__GFP_RECLAIMABLE"},
      {__GFP_MOVABLE, "__GFP_MOVABLE"},
      {__GFP_ACCOUNT, "__GFP_ACCOUNT"},
      {__GFP_WRITE, "__GFP_WRITE"},
      {__GFP_RECLAIM, "__GFP_RECLAIM"},
      {__GFP_DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"},
      {__GFP_KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"},
      {__GFP_ZEROTAGS, "__GFP_ZEROTAGS"},
  };
  if (gfp == 0) return "0";
  std::string out;
  for (const auto& [mask, name] : names) {
    if ((gfp & mask) != mask) continue;
    if (!out.empty()) out += '|';
    out += name;
    gfp &= ~mask;
  }
  if (gfp) {
    if (!out.empty()) out += '|';
    appendf(out, "%#x", gfp);
  }
  return out;
}

// frag_show_print() — mm/vmstat.c: one line per populated zone; free blocks per order.
std::string page_alloc::buddyinfo() const {
  std::string out;
  for (const zone& z : zones_) {
    if (!z.populated_zone()) continue;
    appendf(out, "Node %d, zone %8s ", 0, z.name);
    for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o) appendf(out, "%6lu ", static_cast<unsigned long>(z.area[o].nr_free));
    out += '\n';
  }
  return out;
}

// zoneinfo_show_print() — mm/vmstat.c (6.1). Printed: the zone lines the model has (free,
// boost, min, low, high, spanned, present, managed, cma, protection), of the vmstat items only
// nr_free_pages, the pagesets (per-cpu lists are off: count 0, high 0, batch 1, the boot
// pageset), node_unreclaimable and start_pfn. The per-node stats block is left out.
std::string page_alloc::zoneinfo() const {
  std::string out;
  for (const zone& z : zones_) {
    appendf(out, "Node %d, zone %8s", 0, z.name);
    appendf(out,
            "\n  pages free     %lu"
            "\n        boost    %lu"
            "\n        min      %lu"
            "\n        low      %lu"
            "\n        high     %lu"
            "\n        spanned  %lu"
            "\n        present  %lu"
            "\n        managed  %lu"
            "\n        cma      %lu",
            static_cast<unsigned long>(z.free_pages), static_cast<unsigned long>(z.watermark_boost),
            static_cast<unsigned long>(z.min_wmark_pages()), static_cast<unsigned long>(z.low_wmark_pages()),
            static_cast<unsigned long>(z.high_wmark_pages()), static_cast<unsigned long>(z.spanned_pages),
            static_cast<unsigned long>(z.present_pages), static_cast<unsigned long>(z.managed_pages), 0UL);
    appendf(out, "\n        protection: (%ld", static_cast<long>(z.lowmem_reserve[0]));
    for (unsigned i = 1; i < MAX_NR_ZONES; ++i) appendf(out, ", %ld", static_cast<long>(z.lowmem_reserve[i]));
    out += ')';
    if (!z.populated_zone()) {
      out += '\n';
      continue;
    }
    appendf(out, "\n      %-12s %lu", "nr_free_pages", static_cast<unsigned long>(z.free_pages));
    appendf(out, "\n  pagesets");
    for (unsigned cpu = 0; cpu < cfg_.nr_cpus; ++cpu) {
      appendf(out,
              "\n    cpu: %i"
              "\n              count: %i"
              "\n              high:  %i"
              "\n              batch: %i",
              static_cast<int>(cpu), 0, 0, 1);
      appendf(out, "\n  vm stats threshold: %d", 0);
    }
    appendf(out,
            "\n  node_unreclaimable:  %u"
            "\n  start_pfn:           %lu",
            0u, static_cast<unsigned long>(z.zone_start_pfn));
    out += '\n';
  }
  return out;
}

// pagetypeinfo_showfree() / pagetypeinfo_showblockcount() — mm/vmstat.c, for the four
// migratetypes the model has.
std::string page_alloc::pagetypeinfo() const {
  std::string out;
  appendf(out, "Page block order: %d\n", static_cast<int>(pageblock_order));
  appendf(out, "Pages per block:  %lu\n\n", static_cast<unsigned long>(pageblock_nr_pages));
  appendf(out, "%-43s ", "Free pages count per migrate type at order");
  for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o) appendf(out, "%6u ", o);
  out += '\n';
  for (unsigned zi = 0; zi < zones_.size(); ++zi) {
    const zone& z = zones_[zi];
    if (!z.populated_zone()) continue;
    for (unsigned mt = 0; mt < MIGRATE_TYPES; ++mt) {
      appendf(out, "Node %4d, zone %8s, type %12s ", 0, z.name, migratetype_names[mt]);
      for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o)
        appendf(out, "%6lu ", static_cast<unsigned long>(free_list(zi, o, mt).size()));
      out += '\n';
    }
  }
  appendf(out, "\n%-23s", "Number of blocks type ");
  for (unsigned mt = 0; mt < MIGRATE_TYPES; ++mt) appendf(out, "%12s ", migratetype_names[mt]);
  out += '\n';
  for (const zone& z : zones_) {
    if (!z.populated_zone()) continue;
    unsigned long count[MIGRATE_TYPES] = {};
    for (std::uint64_t pfn = z.zone_start_pfn; pfn < z.zone_end_pfn(); pfn += pageblock_nr_pages)
      count[get_pageblock_migratetype(pfn)]++;
    appendf(out, "Node %d, zone %8s ", 0, z.name);
    for (unsigned mt = 0; mt < MIGRATE_TYPES; ++mt) appendf(out, "%12lu ", count[mt]);
    out += '\n';
  }
  return out;
}

}  // namespace mmref::buddy
