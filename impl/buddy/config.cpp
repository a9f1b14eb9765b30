// impl/buddy/config.cpp — memory maps for the allocator: the built-in default machine, a model
// machine's RAM, and the zones of a real /proc/zoneinfo.
#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "impl/buddy/page_alloc.hpp"

namespace mmref::buddy {

std::string buddy_config::validate() const {
  if (ram.empty()) return "no RAM";
  for (std::size_t i = 0; i < ram.size(); ++i) {
    if (ram[i].start_pfn >= ram[i].end_pfn) return "empty RAM range";
    if (i > 0 && ram[i].start_pfn < ram[i - 1].end_pfn) return "RAM ranges overlap or are unsorted";
  }
  for (const mem_range& r : reserved)
    if (r.start_pfn >= r.end_pfn) return "empty reserved range";
  if (ram.back().end_pfn - ram.front().start_pfn > (std::uint64_t{1} << 31)) return "more than 8 TiB of memmap";
  if (max_dma_pfn > max_dma32_pfn) return "DMA boundary above the DMA32 boundary";
  if (watermark_scale_factor < 1 || watermark_scale_factor > 1000) return "watermark_scale_factor must be 1..1000";
  if (nr_cpus == 0) return "no CPUs";
  return "";
}

// x86 reserves the first 1 MiB of RAM for the real-mode trampoline and BIOS leftovers
// ("x86/setup: Always reserve the first 1M of RAM", 5.13): on the shipped 6.1 run, DMA's
// managed = present - 158, exactly the pages below 1 MiB.
buddy_config buddy_config::from_machine(const machine_config& m) {
  buddy_config c;
  c.name = m.name;
  c.ram = m.ram;
  c.nr_cpus = m.nr_cpus;
  c.page_offset = m.layout.page_offset;
  const std::uint64_t low_1m = (std::uint64_t{1} << 20) >> PAGE_SHIFT;
  if (m.ram.front().start_pfn < low_1m && m.total_ram_pages() > 4 * low_1m) c.reserved.push_back({0, low_1m});
  // Generated machines smaller than 16 MiB scale the zone boundaries down so that they still
  // have two or three zones (quarter and half of RAM).
  const std::uint64_t end = m.ram.back().end_pfn;
  if (end <= MAX_DMA_PFN) {
    c.max_dma_pfn = end / 4;
    c.max_dma32_pfn = end / 2;
  }
  return c;
}

buddy_config buddy_config::default_machine() {
  buddy_config c = from_machine(machine_config::default_machine());
  c.name = "default (4 GiB: DMA, DMA32, NORMAL)";
  // The kernel image: text at 16 MiB through bss, as the 6.1 run's /proc/iomem shows
  // (01000000-043fffff).
  c.reserved.push_back({0x1000, 0x4400});
  return c;
}

namespace {

std::uint64_t parse_number(const std::string& word, std::size_t line_no) {
  std::size_t used = 0;
  std::uint64_t v = 0;
  try {
    v = std::stoull(word, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != word.size())
    throw std::invalid_argument("zoneinfo line " + std::to_string(line_no) + ": expected a number, got '" + word + "'");
  return v;
}

}  // namespace

// From /proc/zoneinfo: each populated zone's start_pfn, spanned, present and managed. Inside a
// zone the model lays out, from its start: the reserved pages (present - managed), then the
// holes (spanned - present), then managed memory. On the shipped 6.1 run this reproduces DMA
// exactly (reserved 1..0x9e, hole 0x9f..0xff, managed from 0x100); in DMA32 the kernel image
// sits at its start, where the model puts all of the zone's reserved pages.
buddy_config buddy_config::from_zoneinfo(const std::string& text) {
  struct zinfo {
    std::string name;
    std::uint64_t start = 0, spanned = 0, present = 0, managed = 0;
    bool have_start = false, have_spanned = false, have_present = false, have_managed = false;
  };
  std::vector<zinfo> zs;
  std::istringstream in(text);
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::istringstream ls(line);
    std::vector<std::string> w;
    for (std::string x; ls >> x;) w.push_back(x);
    if (w.empty()) continue;
    if (w[0] == "Node") {
      if (w.size() != 4 || w[2] != "zone")
        throw std::invalid_argument("zoneinfo line " + std::to_string(line_no) + ": malformed zone header");
      if (w[1] != "0,") throw std::invalid_argument("zoneinfo line " + std::to_string(line_no) + ": only node 0 is modelled");
      zs.push_back({w[3]});
      continue;
    }
    if (zs.empty()) continue;
    zinfo& z = zs.back();
    if (w.size() == 2 && w[0] == "spanned") z.spanned = parse_number(w[1], line_no), z.have_spanned = true;
    else if (w.size() == 2 && w[0] == "present") z.present = parse_number(w[1], line_no), z.have_present = true;
    else if (w.size() == 2 && w[0] == "managed") z.managed = parse_number(w[1], line_no), z.have_managed = true;
    else if (w.size() == 2 && w[0] == "start_pfn:") z.start = parse_number(w[1], line_no), z.have_start = true;
  }
  if (zs.empty()) throw std::invalid_argument("zoneinfo: no zones found");
  buddy_config c;
  c.name = "from /proc/zoneinfo";
  for (const zinfo& z : zs) {
    if (!z.have_spanned || !z.have_present || !z.have_managed)
      throw std::invalid_argument("zoneinfo: zone " + z.name + " lacks spanned, present or managed");
    if (z.present > z.spanned || z.managed > z.present)
      throw std::invalid_argument("zoneinfo: zone " + z.name + " has managed > present or present > spanned");
    if (z.spanned == 0) continue;
    if (!z.have_start) throw std::invalid_argument("zoneinfo: populated zone " + z.name + " has no start_pfn");
    if (z.name != "DMA" && z.name != "DMA32" && z.name != "Normal")
      throw std::invalid_argument("zoneinfo: zone " + z.name + " is populated; only DMA, DMA32 and Normal are modelled");
    if (!c.ram.empty() && z.start < c.ram.back().end_pfn) throw std::invalid_argument("zoneinfo: zones overlap");
    const std::uint64_t reserved = z.present - z.managed, holes = z.spanned - z.present;
    const std::uint64_t s = z.start, e = z.start + z.spanned;
    if (reserved) {
      c.ram.push_back({s, s + reserved});
      c.reserved.push_back({s, s + reserved});
    }
    if (z.managed) c.ram.push_back({s + reserved + holes, e});
  }
  if (c.ram.empty()) throw std::invalid_argument("zoneinfo: no populated zone");
  // Adjacent ranges merge (memblock does).
  std::vector<mem_range> merged;
  for (const mem_range& r : c.ram) {
    if (!merged.empty() && merged.back().end_pfn == r.start_pfn) merged.back().end_pfn = r.end_pfn;
    else merged.push_back(r);
  }
  c.ram = merged;
  // Zones keep the arch boundaries (MAX_DMA_PFN, MAX_DMA32_PFN); a file whose zones cross them
  // is not an x86-64 zoneinfo.
  for (const zinfo& z : zs) {
    if (z.spanned == 0) continue;
    const std::uint64_t lo = z.name == "DMA" ? 0 : z.name == "DMA32" ? MAX_DMA_PFN : MAX_DMA32_PFN;
    const std::uint64_t hi = z.name == "DMA" ? MAX_DMA_PFN : z.name == "DMA32" ? MAX_DMA32_PFN : ~std::uint64_t{0};
    if (z.start < lo || z.start + z.spanned > hi)
      throw std::invalid_argument("zoneinfo: zone " + z.name + " crosses the x86-64 zone boundaries");
  }
  return c;
}

}  // namespace mmref::buddy
