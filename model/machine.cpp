// model/machine.cpp
#include "model/machine.hpp"

#include <sstream>
#include <stdexcept>

#include "model/interval.hpp"

namespace mmref {

namespace {

constexpr std::uint64_t MiB_pages(std::uint64_t mib) { return (mib << 20) >> PAGE_SHIFT; }

std::uint64_t all_cpus(unsigned n) { return n >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1; }

machine_config checked(machine_config cfg) {
  if (std::string err = cfg.validate(); !err.empty()) throw std::invalid_argument("machine config: " + err);
  return cfg;
}

}  // namespace

std::uint64_t machine_config::total_ram_pages() const {
  std::uint64_t n = 0;
  for (const mem_range& r : ram) n += r.end_pfn - r.start_pfn;
  return n;
}

bool machine_config::is_ram(std::uint64_t pfn) const {
  for (const mem_range& r : ram)
    if (pfn >= r.start_pfn && pfn < r.end_pfn) return true;
  return false;
}

std::string machine_config::validate() const {
  if (std::string err = layout.validate(); !err.empty()) return err;
  if (maxphyaddr < 32 || maxphyaddr > 52) return "MAXPHYADDR must be between 32 and 52";
  if (nr_cpus == 0 || nr_cpus > machine::MAX_CPUS) return "number of CPUs must be 1..64";
  if (ram.empty()) return "no RAM";
  for (std::size_t i = 0; i < ram.size(); ++i) {
    if (ram[i].start_pfn >= ram[i].end_pfn) return "empty RAM range";
    if (i > 0 && ram[i].start_pfn < ram[i - 1].end_pfn) return "RAM ranges overlap or are unsorted";
  }
  if ((ram.back().end_pfn - 1) >> (maxphyaddr - PAGE_SHIFT)) return "RAM beyond MAXPHYADDR";
  if (ram.back().end_pfn > (layout.direct_map_size >> PAGE_SHIFT)) return "RAM beyond the direct map";
  if (table_pool.start_pfn >= table_pool.end_pfn) return "empty page-table frame pool";
  for (std::uint64_t pfn : {table_pool.start_pfn, table_pool.end_pfn - 1})
    if (!is_ram(pfn)) return "page-table frame pool outside RAM";
  return "";
}

std::string machine_config::describe() const {
  std::ostringstream os;
  os << name << ": " << layout.levels << "-level paging, MAXPHYADDR " << maxphyaddr << ", " << nr_cpus
     << " CPUs, " << (total_ram_pages() * PAGE_SIZE >> 20) << " MiB RAM in " << ram.size() << " ranges";
  return os.str();
}

// QEMU's pc machine with -m 4096: e820 usable [4 KiB, 639 KiB), [1 MiB, 3 GiB - 140 KiB),
// [4 GiB, 5 GiB); holes for the legacy VGA/BIOS area and the 32-bit PCI window. The shipped
// 2 GiB runs show the same shape below 4 GiB (iomem.txt: 00001000-0009fbff,
// 00100000-7ffdcfff). Zones: DMA below 16 MiB, DMA32 below 4 GiB, NORMAL above.
machine_config machine_config::default_machine() {
  machine_config c;
  c.name = "default (4 GiB, 2 CPUs, Debian 6.1 nokaslr layout)";
  c.layout = kernel_layout::for_levels(4);
  c.maxphyaddr = DEFAULT_MAXPHYADDR;
  c.nr_cpus = 2;
  c.ram = {{0x1, 0x9f}, {0x100, 0xbffdd}, {0x100000, 0x140000}};
  c.table_pool = {0x100000, 0x100000 + MiB_pages(64)};
  return c;
}

machine_config machine_config::small(std::uint64_t mib, unsigned levels, unsigned nr_cpus,
                                     std::vector<mem_range> holes) {
  machine_config c;
  c.name = std::to_string(mib) + " MiB generated";
  c.layout = kernel_layout::for_levels(levels);
  c.maxphyaddr = DEFAULT_MAXPHYADDR;
  c.nr_cpus = nr_cpus;
  // RAM from pfn 1 (page 0 is always reserved on x86) to mib, less the holes.
  std::uint64_t at = 1;
  const std::uint64_t end = MiB_pages(mib);
  for (const mem_range& h : holes) {
    if (h.start_pfn > at) c.ram.push_back({at, std::min(h.start_pfn, end)});
    at = std::max(at, h.end_pfn);
  }
  if (at < end) c.ram.push_back({at, end});
  // Page tables come from the top of the last range: an eighth of it, and at least 128 frames
  // (5-level boot preallocates 51 P4D tables for the vmalloc and modules ranges), or all of it.
  const mem_range last = c.ram.empty() ? mem_range{} : c.ram.back();
  const std::uint64_t pool =
      std::min(last.end_pfn - last.start_pfn, std::max<std::uint64_t>(128, (last.end_pfn - last.start_pfn) / 8));
  c.table_pool = {last.end_pfn - pool, last.end_pfn};
  return c;
}

const char* fault_text(fault_kind f) {
  switch (f) {
    case fault_kind::none: return "none";
    case fault_kind::non_canonical: return "#GP: non-canonical address";
    case fault_kind::not_present: return "#PF: not present";
    case fault_kind::write_protect: return "#PF: write to a read-only page";
    case fault_kind::reserved_bit: return "#PF: reserved bit set";
    case fault_kind::misaligned: return "misaligned access";
    case fault_kind::bad_cpu: return "no such CPU";
  }
  return "?";
}

machine::machine(machine_config cfg, frame_provider* provider)
    : cfg_(checked(std::move(cfg))),
      mem_(cfg_.maxphyaddr),
      own_provider_(provider ? nullptr
                             : std::make_unique<simple_frame_provider>(cfg_.table_pool.start_pfn,
                                                                       cfg_.table_pool.end_pfn)),
      provider_(provider ? provider : own_provider_.get()),
      pt_(mem_, *provider_, cfg_.levels()),
      tlbs_(cfg_.nr_cpus) {
  // preallocate_vmalloc_pages() — arch/x86/mm/init_64.c. The modules range shares the top
  // PGD entry the kernel image's mapping populates at boot; the model populates it here.
  const kernel_layout& l = cfg_.layout;
  if (pt_.preallocate(l.vmalloc_start, l.vmalloc_end) != mm_status::ok ||
      pt_.preallocate(l.modules_vaddr, l.modules_end) != mm_status::ok)
    throw std::runtime_error("machine: cannot preallocate the top-level vmalloc tables");
}

bool machine::range_ok(std::uint64_t start, std::uint64_t end) const {
  return start < end && canonical(start, cfg_.levels()) && canonical(end - 1, cfg_.levels());
}

mm_status machine::count(mm_status st) {
  if (st != mm_status::ok) ++stats_.refusals;
  return st;
}

mm_status machine::map_page(std::uint64_t va, std::uint64_t pfn, std::uint64_t prot) {
  return count(pt_.map_page(va, pfn, prot));  // flush_cache_vmap(): nothing to do on x86
}

mm_status machine::map_huge(std::uint64_t va, std::uint64_t pfn, std::uint64_t prot) {
  std::optional<std::uint64_t> freed;
  const mm_status st = pt_.map_pmd(va, pfn, prot, &freed);
  // pmd_free_pte_page() flushes the first page of the range before freeing the table.
  if (st == mm_status::ok && freed) {
    ++stats_.pte_tables_freed;
    flush_tlb_kernel_range(va, va + PAGE_SIZE);
  }
  return count(st);
}

mm_status machine::unmap(std::uint64_t va, leaf_info* unmapped) {
  leaf_info leaf;
  const mm_status st = pt_.unmap(va, &leaf);
  if (st != mm_status::ok) return count(st);
  owed_[{leaf.va, leaf.size}] = {leaf.va, leaf.size, all_cpus(cfg_.nr_cpus)};
  if (unmapped) *unmapped = leaf;
  return st;
}

void machine::discharge(std::uint64_t start, std::uint64_t end, std::uint64_t cpus) {
  for (auto it = owed_.begin(); it != owed_.end();) {
    if (ranges_overlap(it->second.va, it->second.va + it->second.size, start, end)) {
      it->second.cpus &= ~cpus;
      if (it->second.cpus == 0) {
        ++stats_.owed_discharged;
        it = owed_.erase(it);
        continue;
      }
    }
    ++it;
  }
}

// flush_tlb_kernel_range() — arch/x86/mm/tlb.c: every CPU, INVLPG per page (or a full flush
// above tlb_single_page_flush_ceiling; the effect on the model is the same for the range).
mm_status machine::flush_tlb_kernel_range(std::uint64_t start, std::uint64_t end) {
  if (!range_ok(start, end)) return count(mm_status::bad_range);
  for (tlb& t : tlbs_) t.flush_range(start, end);
  discharge(start, end, all_cpus(cfg_.nr_cpus));
  return mm_status::ok;
}

mm_status machine::flush_tlb_one_cpu(unsigned cpu, std::uint64_t start, std::uint64_t end) {
  if (cpu >= cfg_.nr_cpus) return count(mm_status::bad_cpu);
  if (!range_ok(start, end)) return count(mm_status::bad_range);
  ++stats_.local_flushes;
  tlbs_[cpu].flush_range(start, end);
  discharge(start, end, std::uint64_t{1} << cpu);
  return mm_status::ok;
}

void machine::flush_tlb_all() {
  for (tlb& t : tlbs_) t.flush_all();
  stats_.owed_discharged += owed_.size();
  owed_.clear();
}

access_result machine::translate(unsigned cpu, std::uint64_t va, bool write) {
  access_result r = translate_nocount(cpu, va, write);
  if (!r.ok()) {
    ++stats_.faults;
  } else if (r.tlb_hit) {
    ++stats_.tlb_hits;
    const auto o = owed_.find({r.leaf.va, r.leaf.size});
    if (o != owed_.end() && (o->second.cpus >> cpu & 1)) ++stats_.stale_tlb_hits;
  }
  return r;
}

access_result machine::translate_nocount(unsigned cpu, std::uint64_t va, bool write) {
  access_result r;
  if (cpu >= cfg_.nr_cpus) {
    r.fault = fault_kind::bad_cpu;
    return r;
  }
  if (!canonical(va, cfg_.levels())) {
    r.fault = fault_kind::non_canonical;
    return r;
  }
  tlb& t = tlbs_[cpu];
  std::optional<tlb_entry> hit = t.lookup(va);
  // A write through an entry without D makes the CPU walk again to set D (SDM vol. 3A §4.8).
  if (hit && write && (hit->flags & _PAGE_RW) && !(hit->flags & _PAGE_DIRTY)) hit.reset();
  if (hit) {
    r.tlb_hit = true;
    r.leaf = {hit->va, hit->size, hit->pfn, hit->flags, 0, 0};
  } else {
    ++stats_.walks;
    walk_result w = pt_.walk(va);
    if (!w.ok()) {
      r.fault = w.fault == walk_fault::reserved_bit ? fault_kind::reserved_bit : fault_kind::not_present;
      return r;
    }
    if (write && !(w.leaf.flags & _PAGE_RW)) {
      r.fault = fault_kind::write_protect;
      return r;
    }
    w = pt_.mark_accessed(va, write);
    t.fill(w.leaf);
    r.leaf = w.leaf;
  }
  if (write && !(r.leaf.flags & _PAGE_RW)) {
    r.fault = fault_kind::write_protect;
    return r;
  }
  r.pa = pfn_phys(r.leaf.pfn) + (va - r.leaf.va);
  return r;
}

access_result machine::read_u64(unsigned cpu, std::uint64_t va) {
  if (va & 7) {
    ++stats_.faults;
    return {fault_kind::misaligned, 0, 0, false, {}};
  }
  access_result r = translate(cpu, va, false);
  if (r.ok()) r.value = mem_.read_u64(r.pa);
  return r;
}

access_result machine::write_u64(unsigned cpu, std::uint64_t va, std::uint64_t value) {
  if (va & 7) {
    ++stats_.faults;
    return {fault_kind::misaligned, 0, 0, false, {}};
  }
  access_result r = translate(cpu, va, true);
  if (r.ok()) mem_.write_u64(r.pa, value);
  return r;
}

}  // namespace mmref
