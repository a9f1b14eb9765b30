// model/invariants.cpp — the live-state checkers for PT-WF and TLB-COHERENT.
#include "model/hex.hpp"
#include "model/invariants.hpp"

#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "model/paging.hpp"

namespace mmref {

namespace {


}  // namespace

std::vector<violation> check_PT_WF(const machine& m) {
  std::vector<violation> out;
  const page_tables& pt = m.tables();
  const unsigned maxphy = m.config().maxphyaddr;
  const kernel_layout& l = m.config().layout;

  // Table pages are distinct frames, allocated by the frame provider.
  std::set<std::uint64_t> seen;
  const auto tables = pt.tables();
  for (const auto& [pfn, level] : tables) {
    if (!seen.insert(pfn).second)
      out.push_back({PT_WF, "table frame " + hex(pfn) + " is reachable twice (again at level " +
                                std::to_string(level) + ")"});
    if (!m.provider().frame_allocated(pfn))
      out.push_back({PT_WF, "table frame " + hex(pfn) + " (level " + std::to_string(level) +
                                ") is not an allocated frame"});
  }
  // Every present entry is well formed for its level (reserved bits clear; PS only at PMD/PUD).
  for (const auto& [pfn, level] : tables) {
    for (unsigned i = 0; i < PTRS_PER_TABLE; ++i) {
      const std::uint64_t e = m.phys().read_u64(pt.entry_pa(pfn, i));
      if (!truth(pte_wf(cword{e}, level, maxphy)))
        out.push_back({PT_WF, std::string(level_name(level, pt.levels())) + " entry " + std::to_string(i) +
                                  " of table " + hex(pfn) + " = " + hex(e) + " has reserved bits set"});
    }
  }
  // Leaves: canonical addresses; no vmalloc/module leaf maps a page-table frame as data.
  for (const leaf_info& leaf : pt.leaves(0, ~std::uint64_t{0})) {
    if (!canonical(leaf.va, pt.levels()))
      out.push_back({PT_WF, "leaf at non-canonical address " + hex(leaf.va)});
    const bool kernel_range = l.is_vmalloc_addr(leaf.va) || l.is_module_addr(leaf.va);
    if (!kernel_range) continue;
    const std::uint64_t frames = leaf.size >> PAGE_SHIFT;
    for (auto it = seen.lower_bound(leaf.pfn); it != seen.end() && *it < leaf.pfn + frames; ++it)
      out.push_back({PT_WF, "leaf at " + hex(leaf.va) + " maps page-table frame " + hex(*it) + " as data"});
  }
  return out;
}

std::vector<violation> check_TLB_COHERENT(const machine& m) {
  std::vector<violation> out;
  for (unsigned cpu = 0; cpu < m.nr_cpus(); ++cpu) {
    for (const auto& [va, e] : m.cpu_tlb(cpu).entries()) {
      const walk_result w = m.walk(va);
      const auto o = m.owed().find({e.va, e.size});
      const bool owed = o != m.owed().end() && (o->second.cpus >> cpu & 1);
      const bool ok = truth(tlb_entry_coherent(cword{e.pfn}, cword{e.size}, cword{e.flags}, cbool{w.ok()},
                                               cword{w.leaf.pfn}, cword{w.leaf.size}, cword{w.leaf.flags},
                                               cbool{owed}));
      if (!ok) {
        std::string now = w.ok() ? "pfn " + hex(w.leaf.pfn) + " size " + hex(w.leaf.size) + " flags " +
                                       hex(w.leaf.flags)
                                 : "no translation";
        out.push_back({TLB_COHERENT, "CPU " + std::to_string(cpu) + " caches " + hex(e.va) + " -> pfn " +
                                         hex(e.pfn) + " size " + hex(e.size) + " flags " + hex(e.flags) +
                                         "; page tables: " + now + "; no flush owed"});
      }
    }
  }
  return out;
}

std::vector<violation> check_machine(const machine& m) {
  std::vector<violation> v = check_PT_WF(m);
  for (violation& x : check_TLB_COHERENT(m)) v.push_back(std::move(x));
  return v;
}

std::string dump_machine(const machine& m, std::size_t max_lines) {
  std::ostringstream os;
  std::size_t lines = 0;
  auto line = [&](const std::string& s) {
    if (lines++ < max_lines) os << "  " << s << "\n";
  };
  os << "machine " << m.config().describe() << "\n";
  for (const leaf_info& l : m.tables().leaves(0, ~std::uint64_t{0}))
    line("leaf " + hex(l.va) + "+" + hex(l.size) + " -> pfn " + hex(l.pfn) + " flags " + hex(l.flags));
  std::map<unsigned, std::size_t> per_level;
  for (const auto& t : m.tables().tables()) ++per_level[t.second];
  std::string tables = "tables:";
  for (const auto& [level, n] : per_level) tables += " " + std::string(level_name(level, m.config().levels())) + "=" + std::to_string(n);
  line(tables);
  for (unsigned cpu = 0; cpu < m.nr_cpus(); ++cpu)
    for (const auto& [va, e] : m.cpu_tlb(cpu).entries())
      line("tlb cpu" + std::to_string(cpu) + " " + hex(va) + "+" + hex(e.size) + " -> pfn " + hex(e.pfn));
  for (const auto& [key, o] : m.owed()) line("owed flush " + hex(o.va) + "+" + hex(o.size) + " cpus " + hex(o.cpus));
  if (lines > max_lines) os << "  ... " << (lines - max_lines) << " more lines\n";
  return os.str();
}

std::string report(const std::vector<violation>& v, const machine& m) {
  if (v.empty()) return "";
  std::ostringstream os;
  for (const violation& x : v) os << x.id << " violated: " << x.detail << "\n";
  os << "state judged:\n" << dump_machine(m);
  return os.str();
}

}  // namespace mmref
