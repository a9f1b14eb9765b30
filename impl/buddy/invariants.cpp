// impl/buddy/invariants.cpp — the live-state checkers for the BD-* invariants.
#include "model/hex.hpp"
#include "impl/buddy/invariants.hpp"

#include <algorithm>
#include <cstdio>
#include <set>
#include <sstream>

namespace mmref::buddy {

namespace {


struct block {
  std::uint64_t pfn;
  unsigned order;
  unsigned zone;
  unsigned mt;    // the list it is on (free blocks)
  bool free;
};

// Free blocks as the lists hold them, in list order. List structure faults are reported under
// BD-ACCT (the lists are what nr_free counts).
std::vector<block> free_blocks(const page_alloc& pa, std::vector<violation>* faults) {
  std::vector<block> out;
  for (unsigned zi = 0; zi < pa.zones().size(); ++zi)
    for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o)
      for (unsigned mt = 0; mt < MIGRATE_TYPES; ++mt) {
        const std::vector<std::uint64_t> l = pa.free_list(zi, o, mt);
        for (std::uint64_t pfn : l) {
          out.push_back({pfn, o, zi, mt, true});
          if (!faults) continue;
          const page& p = pa.page_at(pfn);
          if (!(p.flags & PG_buddy) || p.order != o || p.list_mt != mt)
            faults->push_back({BD_ACCT, "frame " + hex(pfn) + " is on " + zone_names[zi] + " order-" + std::to_string(o) + " " +
                                            migratetype_names[mt] + " list but is " +
                                            ((p.flags & PG_buddy) ? "PageBuddy of order " + std::to_string(p.order)
                                                                  : std::string("not PageBuddy"))});
        }
      }
  return out;
}

std::vector<block> allocated_blocks(const page_alloc& pa) {
  std::vector<block> out;
  for (std::uint64_t pfn = pa.memmap_start(); pfn < pa.memmap_end(); ++pfn) {
    const page& p = pa.page_at(pfn);
    if (p.flags & PG_alloc) out.push_back({pfn, p.alloc_order, p.zone, 0, false});
  }
  return out;
}

bool migratetype_is_mergeable(unsigned mt) { return mt < MIGRATE_PCPTYPES; }

}  // namespace

std::vector<violation> check_BD_PARTITION(const page_alloc& pa) {
  std::vector<violation> out;
  std::vector<block> all = free_blocks(pa, nullptr);
  const std::vector<block> alloc = allocated_blocks(pa);
  all.insert(all.end(), alloc.begin(), alloc.end());
  std::sort(all.begin(), all.end(), [](const block& a, const block& b) { return a.pfn < b.pfn; });
  // Sorted by start, an overlap anywhere shows between neighbours.
  for (std::size_t i = 1; i < all.size(); ++i) {
    const block& a = all[i - 1];
    const block& b = all[i];
    if (!truth(bd_disjoint(cword{a.pfn}, cword{a.order}, cword{b.pfn}, cword{b.order})))
      out.push_back({BD_PARTITION, std::string(a.free ? "free" : "allocated") + " block " + hex(a.pfn) + " order " +
                                       std::to_string(a.order) + " overlaps " + (b.free ? "free" : "allocated") +
                                       " block " + hex(b.pfn) + " order " + std::to_string(b.order)});
  }
  // Every block lies on managed frames of one zone, and together they cover them all.
  std::uint64_t covered = 0;
  for (const block& b : all) {
    covered += std::uint64_t{1} << b.order;
    for (std::uint64_t p = b.pfn; p < b.pfn + (std::uint64_t{1} << b.order); ++p) {
      if (!pa.pfn_valid(p) || (pa.page_at(p).flags & PG_reserved) || pa.page_at(p).zone != pa.page_at(b.pfn).zone) {
        out.push_back({BD_PARTITION, std::string(b.free ? "free" : "allocated") + " block " + hex(b.pfn) + " order " +
                                         std::to_string(b.order) + " covers frame " + hex(p) +
                                         ", which is reserved, a hole, or in another zone"});
        break;
      }
    }
  }
  if (covered != pa.total_managed_pages())
    out.push_back({BD_PARTITION, "free and allocated blocks cover " + std::to_string(covered) + " frames, but " +
                                     std::to_string(pa.total_managed_pages()) + " are managed"});
  return out;
}

std::vector<violation> check_BD_ALIGN(const page_alloc& pa) {
  std::vector<violation> out;
  for (const block& b : free_blocks(pa, nullptr)) {
    const zone& z = pa.zone_at(b.zone);
    if (!truth(bd_align(cword{b.pfn}, cword{b.order}, cword{z.zone_start_pfn}, cword{z.zone_end_pfn()})))
      out.push_back({BD_ALIGN, "free block " + hex(b.pfn) + " order " + std::to_string(b.order) + " in " + z.name +
                                   " [" + hex(z.zone_start_pfn) + ", " + hex(z.zone_end_pfn()) +
                                   ") is misaligned or outside its zone"});
  }
  return out;
}

std::vector<violation> check_BD_COALESCED(const page_alloc& pa) {
  std::vector<violation> out;
  const std::vector<block> blocks = free_blocks(pa, nullptr);
  std::set<std::pair<std::uint64_t, unsigned>> heads;
  for (const block& b : blocks) heads.insert({b.pfn, b.order});
  for (const block& a : blocks) {
    if (a.order >= MAX_PAGE_ORDER) continue;
    const std::uint64_t buddy = find_buddy_pfn(a.pfn, a.order);
    if (buddy < a.pfn || !heads.count({buddy, a.order})) continue;  // each pair once
    const unsigned mt_a = pa.get_pageblock_migratetype(a.pfn), mt_b = pa.get_pageblock_migratetype(buddy);
    const bool barrier = pa.page_at(a.pfn).zone != pa.page_at(buddy).zone ||
                         (a.order >= pageblock_order && mt_a != mt_b &&
                          (!migratetype_is_mergeable(mt_a) || !migratetype_is_mergeable(mt_b)));
    if (!truth(bd_coalesced_pair(cword{a.pfn}, cword{a.order}, cword{buddy}, cword{a.order}, cbool{barrier})))
      out.push_back({BD_COALESCED, "free blocks " + hex(a.pfn) + " and " + hex(buddy) + " of order " +
                                       std::to_string(a.order) + " are buddies and were not merged"});
  }
  return out;
}

std::vector<violation> check_BD_ACCT(const page_alloc& pa) {
  std::vector<violation> out;
  const std::vector<block> blocks = free_blocks(pa, &out);
  std::set<std::uint64_t> listed;
  for (const block& b : blocks)
    if (!listed.insert(b.pfn).second) out.push_back({BD_ACCT, "frame " + hex(b.pfn) + " is on more than one free list"});
  for (unsigned zi = 0; zi < pa.zones().size(); ++zi) {
    const zone& z = pa.zone_at(zi);
    std::uint64_t sum = 0;
    for (unsigned o = 0; o < NR_PAGE_ORDERS; ++o) {
      std::uint64_t counted = 0;
      for (const block& b : blocks) counted += (b.zone == zi && b.order == o);
      if (!truth(bd_acct(cword{counted}, cword{z.area[o].nr_free})))
        out.push_back({BD_ACCT, std::string(z.name) + " free_area[" + std::to_string(o) + "].nr_free is " +
                                    std::to_string(z.area[o].nr_free) + " but its lists hold " + std::to_string(counted)});
      sum += z.area[o].nr_free << o;
    }
    if (!truth(bd_acct_total(cword{static_cast<std::uint64_t>(z.free_pages)}, cword{sum})))
      out.push_back({BD_ACCT, std::string(z.name) + " NR_FREE_PAGES is " + std::to_string(z.free_pages) +
                                  " but sum(nr_free[k] << k) is " + std::to_string(sum)});
  }
  // A PageBuddy head that is on no list is free memory nobody can find.
  for (std::uint64_t pfn = pa.memmap_start(); pfn < pa.memmap_end(); ++pfn)
    if ((pa.page_at(pfn).flags & PG_buddy) && !listed.count(pfn))
      out.push_back({BD_ACCT, "frame " + hex(pfn) + " is PageBuddy but on no free list"});
  return out;
}

std::vector<violation> check_BD_WMARK(const page_alloc& pa) {
  std::vector<violation> out;
  const wmark_witness& w = pa.last_witness();
  if (!w.valid) return out;
  const zone& z = pa.zone_at(w.zone);
  wmark_args<cword> a{};
  a.order = cword{0};
  a.alloc_flags = cword{w.alloc_flags};
  a.nr_reserved_highatomic = cword{w.reserved_highatomic};
  a.free_cma = cword{0};
  const cword unusable = __zone_watermark_unusable_free(a);
  if (!truth(bd_wmark(cword{static_cast<std::uint64_t>(w.free_after)}, unusable, cword{w.mark}, cword{w.alloc_flags},
                      cword{static_cast<std::uint64_t>(z.lowmem_reserve[w.highest_zoneidx])}, cbool{w.bypassed})))
    out.push_back({BD_WMARK, "an order-" + std::to_string(w.order) + " allocation from " + z.name + " left " +
                                 std::to_string(w.free_after) + " free pages, below mark " + std::to_string(w.mark) +
                                 " (alloc_flags " + hex(w.alloc_flags) + ") + lowmem_reserve[" +
                                 std::to_string(w.highest_zoneidx) + "] " +
                                 std::to_string(z.lowmem_reserve[w.highest_zoneidx])});
  return out;
}

std::vector<violation> check_BD_REF(const page_alloc& pa) {
  std::vector<violation> out;
  for (const block& b : free_blocks(pa, nullptr))
    for (std::uint64_t p = b.pfn; p < b.pfn + (std::uint64_t{1} << b.order) && pa.pfn_valid(p); ++p) {
      const std::int32_t ref = pa.page_at(p)._refcount;
      if (!truth(bd_ref(cbool{true}, cbool{false}, cword{static_cast<std::uint64_t>(static_cast<std::int64_t>(ref))}))) {
        out.push_back({BD_REF, "free frame " + hex(p) + " has refcount " + std::to_string(ref)});
        break;
      }
    }
  for (const block& b : allocated_blocks(pa)) {
    const std::int32_t ref = pa.page_at(b.pfn)._refcount;
    if (!truth(bd_ref(cbool{false}, cbool{true}, cword{static_cast<std::uint64_t>(static_cast<std::int64_t>(ref))})))
      out.push_back({BD_REF, "allocated block " + hex(b.pfn) + " order " + std::to_string(b.order) + " has refcount " +
                                 std::to_string(ref)});
  }
  return out;
}

std::vector<violation> check_buddy(const page_alloc& pa) {
  std::vector<violation> out;
  for (auto* f : {check_BD_PARTITION, check_BD_ALIGN, check_BD_COALESCED, check_BD_ACCT, check_BD_WMARK, check_BD_REF}) {
    std::vector<violation> v = f(pa);
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

std::string dump_buddy(const page_alloc& pa, std::size_t max_lines) {
  std::ostringstream os;
  std::size_t lines = 0;
  const auto line = [&](const std::string& s) {
    if (lines++ < max_lines) os << "  " << s << "\n";
  };
  os << "buddy allocator " << pa.config().name << "\n";
  for (const zone& z : pa.zones()) {
    if (!z.populated_zone()) continue;
    line(std::string(z.name) + " [" + hex(z.zone_start_pfn) + ", " + hex(z.zone_end_pfn()) + ") managed " +
         std::to_string(z.managed_pages) + " free " + std::to_string(z.free_pages) + " min/low/high " +
         std::to_string(z.min_wmark_pages()) + "/" + std::to_string(z.low_wmark_pages()) + "/" +
         std::to_string(z.high_wmark_pages()) + " highatomic " + std::to_string(z.nr_reserved_highatomic));
  }
  std::istringstream bi(pa.buddyinfo());
  for (std::string l; std::getline(bi, l);) line(l);
  for (const block& b : free_blocks(pa, nullptr))
    line("free " + hex(b.pfn) + " order " + std::to_string(b.order) + " " + zone_names[b.zone] + " " + migratetype_names[b.mt]);
  for (const block& b : allocated_blocks(pa))
    line("allocated " + hex(b.pfn) + " order " + std::to_string(b.order) + " refcount " +
         std::to_string(pa.page_at(b.pfn)._refcount));
  if (lines > max_lines) os << "  ... " << (lines - max_lines) << " more lines\n";
  return os.str();
}

std::string buddy_report(const std::vector<violation>& v, const page_alloc& pa) {
  if (v.empty()) return "";
  std::ostringstream os;
  for (const violation& x : v) os << x.id << " violated: " << x.detail << "\n";
  os << "state judged:\n" << dump_buddy(pa);
  return os.str();
}

}  // namespace mmref::buddy
