// impl/buddy/page_alloc.cpp — mm/page_alloc.c (Linux 6.1): boot, free lists, freeing,
// allocating, the fast and slow path.
#include "impl/buddy/page_alloc.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace mmref::buddy {

namespace {

constexpr std::uint64_t bit(unsigned order) { return std::uint64_t{1} << order; }

// int_sqrt() — lib/math/int_sqrt.c: floor of the square root.
std::uint64_t int_sqrt(std::uint64_t x) {
  std::uint64_t r = 0;
  for (std::uint64_t b = std::uint64_t{1} << 62; b != 0; b >>= 2) {
    if (x >= r + b) {
      x -= r + b;
      r = (r >> 1) + b;
    } else {
      r >>= 1;
    }
  }
  return r;
}

// mult_frac(x, numer, denom) — include/linux/math.h: x * numer / denom without overflowing.
std::uint64_t mult_frac(std::uint64_t x, std::uint64_t numer, std::uint64_t denom) {
  const std::uint64_t q = x / denom, r = x % denom;
  return q * numer + r * numer / denom;
}

// migratetype_is_mergeable() — include/linux/mmzone.h (5.19+).
constexpr bool migratetype_is_mergeable(unsigned mt) { return mt < MIGRATE_PCPTYPES; }

// fallbacks[] — mm/page_alloc.c (6.1).
constexpr unsigned fallbacks[MIGRATE_TYPES][3] = {
    {MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE, MIGRATE_TYPES},    // UNMOVABLE
    {MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE, MIGRATE_TYPES},  // MOVABLE
    {MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_TYPES},      // RECLAIMABLE
    {MIGRATE_TYPES, MIGRATE_TYPES, MIGRATE_TYPES},            // HIGHATOMIC: never a source
};

// can_steal_fallback() — mm/page_alloc.c (6.1); page_group_by_mobility_disabled is false.
bool can_steal_fallback(unsigned order, unsigned start_mt) {
  if (order >= pageblock_order) return true;
  return order >= pageblock_order / 2 || start_mt == MIGRATE_RECLAIMABLE || start_mt == MIGRATE_UNMOVABLE;
}

// include/linux/compaction.h
bool compaction_failed(compact_result r) { return r == compact_result::COMPACT_COMPLETE; }
bool compaction_withdrawn(compact_result r) {
  return r == compact_result::COMPACT_DEFERRED || r == compact_result::COMPACT_SKIPPED ||
         r == compact_result::COMPACT_PARTIAL_SKIPPED || r == compact_result::COMPACT_CONTENDED;
}
bool compaction_made_progress(compact_result r) { return r == compact_result::COMPACT_SUCCESS; }
constexpr compact_priority MIN_COMPACT_PRIORITY = compact_priority::COMPACT_PRIO_SYNC_LIGHT;
constexpr compact_priority MIN_COMPACT_COSTLY_PRIORITY = compact_priority::COMPACT_PRIO_SYNC_LIGHT;
constexpr compact_priority DEF_COMPACT_PRIORITY = compact_priority::COMPACT_PRIO_ASYNC;
constexpr compact_priority INIT_COMPACT_PRIORITY = compact_priority::COMPACT_PRIO_ASYNC;
constexpr unsigned MAX_COMPACT_RETRIES = 16;  // mm/page_alloc.c
constexpr unsigned MAX_RECLAIM_RETRIES = 16;  // mm/internal.h

}  // namespace

const char* bd_error_text(bd_error e) {
  switch (e) {
    case bd_error::none: return "ok";
    case bd_error::invalid_gfp_zone: return "invalid gfp: more than one of __GFP_DMA, __GFP_HIGHMEM, __GFP_DMA32 (GFP_ZONE_BAD)";
    case bd_error::invalid_gfp_bits: return "invalid gfp: bits beyond __GFP_BITS_MASK";
    case bd_error::invalid_migratetype: return "invalid gfp: __GFP_MOVABLE together with __GFP_RECLAIMABLE";
    case bd_error::outside_zones: return "frame is not managed memory of any zone (hole, reserved, or out of range)";
    case bd_error::free_block: return "frame is already free";
    case bd_error::tail_page: return "frame is inside an allocated block, not its first page";
    case bd_error::wrong_order: return "order differs from the order the block was allocated with";
    case bd_error::bad_address: return "not a direct-map address of managed memory";
  }
  return "?";
}

const char* alloc_outcome_text(alloc_outcome o) {
  switch (o) {
    case alloc_outcome::fast_path: return "fast path";
    case alloc_outcome::slow_path: return "slow path";
    case alloc_outcome::invalid: return "invalid input";
    case alloc_outcome::order_too_large: return "order >= MAX_ORDER";
    case alloc_outcome::fault_injected: return "fault injected (fail_page_alloc)";
    case alloc_outcome::no_zone: return "no zone for this gfp";
    case alloc_outcome::no_direct_reclaim: return "cannot direct reclaim";
    case alloc_outcome::pf_memalloc: return "PF_MEMALLOC: no reclaim recursion";
    case alloc_outcome::costly_noretry_compaction: return "costly __GFP_NORETRY, compaction skipped or deferred";
    case alloc_outcome::noretry: return "__GFP_NORETRY";
    case alloc_outcome::costly: return "costly order without __GFP_RETRY_MAYFAIL";
    case alloc_outcome::retries_exhausted: return "retries exhausted, OOM made no progress";
    case alloc_outcome::oom_victim: return "OOM victim";
    case alloc_outcome::nofail_no_reclaim: return "__GFP_NOFAIL without direct reclaim";
    case alloc_outcome::would_loop_forever: return "would loop forever";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------
// Boot

page_alloc::page_alloc(buddy_config cfg) : cfg_(std::move(cfg)) {
  if (std::string err = cfg_.validate(); !err.empty()) throw std::invalid_argument("buddy config: " + err);
  own_mem_ = std::make_unique<phys_mem>(DEFAULT_MAXPHYADDR);
  mem_ = own_mem_.get();
  free_area_init();
  memblock_free_all();
  init_per_zone_wmark_min();
  // late_initcall khugepaged_init -> start_stop_khugepaged -> set_recommended_min_free_kbytes
  if (cfg_.thp_enabled) set_recommended_min_free_kbytes();
}

// free_area_init() / zone_sizes_init() / memmap_init(): zones span the node's RAM between the
// arch boundaries; every struct page starts reserved; every pageblock starts MOVABLE.
void page_alloc::free_area_init() {
  const std::uint64_t node_start = cfg_.ram.front().start_pfn;
  const std::uint64_t node_end = cfg_.ram.back().end_pfn;
  const std::uint64_t lo[MAX_NR_ZONES] = {0, cfg_.max_dma_pfn, cfg_.max_dma32_pfn, 0, 0};
  const std::uint64_t hi[MAX_NR_ZONES] = {cfg_.max_dma_pfn, cfg_.max_dma32_pfn, ~std::uint64_t{0}, 0, 0};
  zones_.resize(MAX_NR_ZONES);
  for (unsigned i = 0; i < MAX_NR_ZONES; ++i) {
    zone& z = zones_[i];
    z.idx = static_cast<zone_type>(i);
    z.name = zone_names[i];
    const std::uint64_t s = std::max(lo[i], node_start), e = std::min(hi[i], node_end);
    if (s >= e) continue;  // ZONE_MOVABLE and ZONE_DEVICE are always empty here
    z.zone_start_pfn = s;
    z.spanned_pages = e - s;
    for (const mem_range& r : cfg_.ram) {
      const std::uint64_t a = std::max(r.start_pfn, s), b = std::min(r.end_pfn, e);
      if (a < b) z.present_pages += b - a;
    }
  }
  memmap_start_ = node_start & ~(MAX_ORDER_NR_PAGES - 1);
  const std::uint64_t memmap_end = (node_end + MAX_ORDER_NR_PAGES - 1) & ~(MAX_ORDER_NR_PAGES - 1);
  pages_.assign(memmap_end - memmap_start_, page{});
  for (std::uint64_t pfn = memmap_start_; pfn < memmap_end; ++pfn) {
    page& p = pg(pfn);
    p.flags = PG_reserved;
    p.zone = 0xff;
    for (const zone& z : zones_)
      if (z.spanned_pages && z.zone_spans_pfn(pfn)) p.zone = static_cast<std::uint8_t>(z.idx);
  }
  pageblock_mt_.assign(pages_.size() >> pageblock_order, MIGRATE_MOVABLE);
}

// memblock_free_all() -> free_low_memory_core_early() -> __free_pages_memory(): every free
// range goes to the buddy allocator in naturally aligned chunks of the largest order, through
// __free_pages_core() (refcount 0, managed_pages += n) and __free_pages_ok(FPI_TO_TAIL).
// Ranges are cut at zone boundaries first: the kernel's boundaries are MAX_ORDER aligned, the
// generated machines' need not be.
void page_alloc::memblock_free_all() {
  std::vector<std::uint64_t> cuts = {cfg_.max_dma_pfn, cfg_.max_dma32_pfn};
  for (const mem_range& r : cfg_.ram) {
    // r minus the reserved ranges
    std::vector<mem_range> pieces = {r};
    for (const mem_range& res : cfg_.reserved) {
      std::vector<mem_range> next;
      for (const mem_range& p : pieces) {
        if (res.end_pfn <= p.start_pfn || res.start_pfn >= p.end_pfn) {
          next.push_back(p);
          continue;
        }
        if (res.start_pfn > p.start_pfn) next.push_back({p.start_pfn, res.start_pfn});
        if (res.end_pfn < p.end_pfn) next.push_back({res.end_pfn, p.end_pfn});
      }
      pieces = std::move(next);
    }
    for (const mem_range& piece : pieces) {
      std::uint64_t start = piece.start_pfn;
      while (start < piece.end_pfn) {
        std::uint64_t end = piece.end_pfn;
        for (std::uint64_t c : cuts)
          if (c > start && c < end) end = c;
        // __free_pages_memory()
        while (start < end) {
          unsigned order = MAX_ORDER - 1;
          if (start != 0) order = std::min<unsigned>(order, static_cast<unsigned>(__builtin_ctzll(start)));
          while (start + bit(order) > end) --order;
          // __free_pages_core()
          for (std::uint64_t p = start; p < start + bit(order); ++p) {
            pg(p).flags = 0;
            pg(p)._refcount = 0;
          }
          zones_[pg(start).zone].managed_pages += bit(order);
          __free_pages_ok(start, order, true);
          start += bit(order);
        }
      }
    }
  }
  stats_ = buddy_stats{};  // boot frees are not events the properties count
}

// nr_free_buffer_pages() -> nr_free_zone_pages(gfp_zone(GFP_USER)): managed pages above the
// high watermark, summed over the zones GFP_USER may use.
std::uint64_t page_alloc::nr_free_buffer_pages() const {
  std::uint64_t sum = 0;
  for (const zone& z : zones_) {
    if (z.idx > gfp_zone(GFP_USER) || !z.populated_zone()) continue;
    const std::uint64_t size = z.managed_pages, high = z.high_wmark_pages();
    if (size > high) sum += size - high;
  }
  return sum;
}

// calculate_min_free_kbytes() — mm/page_alloc.c: 4 * sqrt(lowmem_kbytes), clamped.
void page_alloc::calculate_min_free_kbytes() {
  const std::uint64_t lowmem_kbytes = nr_free_buffer_pages() * (PAGE_SIZE >> 10);
  const std::int64_t new_min = static_cast<std::int64_t>(int_sqrt(lowmem_kbytes * 16));
  if (new_min > cfg_.user_min_free_kbytes) min_free_kbytes_ = std::clamp<std::int64_t>(new_min, 128, 262144);
}

// init_per_zone_wmark_min() — postcore_initcall.
void page_alloc::init_per_zone_wmark_min() {
  calculate_min_free_kbytes();
  if (cfg_.user_min_free_kbytes >= 0) min_free_kbytes_ = cfg_.user_min_free_kbytes;
  setup_per_zone_wmarks();
  setup_per_zone_lowmem_reserve();
}

// set_recommended_min_free_kbytes() — mm/khugepaged.c (6.1): two pageblocks per zone free,
// plus MIGRATE_PCPTYPES^2 per zone for fallbacks, at most 5% of lowmem.
void page_alloc::set_recommended_min_free_kbytes() {
  std::uint64_t nr_zones = 0;
  for (const zone& z : zones_)
    if (z.populated_zone() && z.idx <= gfp_zone(GFP_USER)) ++nr_zones;
  std::uint64_t recommended_min = pageblock_nr_pages * nr_zones * 2;
  recommended_min += pageblock_nr_pages * nr_zones * MIGRATE_PCPTYPES * MIGRATE_PCPTYPES;
  recommended_min = std::min(recommended_min, nr_free_buffer_pages() / 20);
  recommended_min <<= (PAGE_SHIFT - 10);
  if (static_cast<std::int64_t>(recommended_min) > min_free_kbytes_)
    min_free_kbytes_ = static_cast<std::int64_t>(recommended_min);
  setup_per_zone_wmarks();
}

// __setup_per_zone_wmarks() — mm/page_alloc.c (4.6+ form with watermark_scale_factor).
void page_alloc::setup_per_zone_wmarks() {
  const std::uint64_t pages_min = static_cast<std::uint64_t>(min_free_kbytes_) >> (PAGE_SHIFT - 10);
  std::uint64_t lowmem_pages = 0;
  for (const zone& z : zones_) lowmem_pages += z.managed_pages;  // no highmem on x86-64
  for (zone& z : zones_) {
    std::uint64_t tmp = lowmem_pages ? pages_min * z.managed_pages / lowmem_pages : 0;
    z._watermark[WMARK_MIN] = tmp;
    tmp = std::max(tmp >> 2, mult_frac(z.managed_pages, cfg_.watermark_scale_factor, 10000));
    z.watermark_boost = 0;
    z._watermark[WMARK_LOW] = z._watermark[WMARK_MIN] + tmp;
    z._watermark[WMARK_HIGH] = z._watermark[WMARK_LOW] + tmp;
  }
}

// setup_per_zone_lowmem_reserve() — mm/page_alloc.c (6.1): zone i keeps back, from requests
// that could have used zone j > i, the managed pages of zones i+1..j over its ratio.
void page_alloc::setup_per_zone_lowmem_reserve() {
  for (unsigned i = 0; i < MAX_NR_ZONES - 1; ++i) {
    zone& z = zones_[i];
    const std::uint64_t ratio = cfg_.lowmem_reserve_ratio[i];
    const bool clear = !ratio || !z.managed_pages;
    std::uint64_t managed = 0;
    for (unsigned j = i + 1; j < MAX_NR_ZONES; ++j) {
      managed += zones_[j].managed_pages;
      z.lowmem_reserve[j] = clear ? 0 : static_cast<std::int64_t>(managed / ratio);
    }
  }
}

void page_alloc::set_min_free_kbytes(std::int64_t kbytes) {
  if (kbytes < 0) throw std::invalid_argument("min_free_kbytes must be >= 0");
  min_free_kbytes_ = kbytes;
  cfg_.user_min_free_kbytes = kbytes;
  setup_per_zone_wmarks();
}

void page_alloc::set_watermark_scale_factor(std::uint64_t factor) {
  if (factor < 1 || factor > 1000) throw std::invalid_argument("watermark_scale_factor must be 1..1000");
  cfg_.watermark_scale_factor = factor;
  setup_per_zone_wmarks();
}

// ---------------------------------------------------------------------------------------
// Free lists

void page_alloc::list_add(list_head& h, std::uint64_t pfn) {
  page& p = pg(pfn);
  p.lru_prev = NIL;
  p.lru_next = h.first;
  if (h.first != NIL) pages_[h.first].lru_prev = idx(pfn);
  else h.last = idx(pfn);
  h.first = idx(pfn);
}

void page_alloc::list_add_tail(list_head& h, std::uint64_t pfn) {
  page& p = pg(pfn);
  p.lru_next = NIL;
  p.lru_prev = h.last;
  if (h.last != NIL) pages_[h.last].lru_next = idx(pfn);
  else h.first = idx(pfn);
  h.last = idx(pfn);
}

void page_alloc::list_del(list_head& h, std::uint64_t pfn) {
  page& p = pg(pfn);
  if (p.lru_prev != NIL) pages_[p.lru_prev].lru_next = p.lru_next;
  else h.first = p.lru_next;
  if (p.lru_next != NIL) pages_[p.lru_next].lru_prev = p.lru_prev;
  else h.last = p.lru_prev;
  p.lru_prev = p.lru_next = NIL;
}

// add_to_free_list() / add_to_free_list_tail() — list_add (head) or list_add_tail, nr_free++.
void page_alloc::add_to_free_list(std::uint64_t pfn, zone& z, unsigned order, unsigned mt, bool tail) {
  list_head& h = z.area[order].free_list[mt];
  if (tail) list_add_tail(h, pfn);
  else list_add(h, pfn);
  pg(pfn).list_mt = static_cast<std::uint8_t>(mt);
  z.area[order].nr_free++;
}

// move_to_free_list() — list_move_tail onto another migratetype's list; nr_free unchanged.
void page_alloc::move_to_free_list(std::uint64_t pfn, zone& z, unsigned order, unsigned mt) {
  list_del(z.area[order].free_list[pg(pfn).list_mt], pfn);
  list_add_tail(z.area[order].free_list[mt], pfn);
  pg(pfn).list_mt = static_cast<std::uint8_t>(mt);
}

// del_page_from_free_list() — list_del, __ClearPageBuddy, set_page_private(0), nr_free--.
void page_alloc::del_page_from_free_list(std::uint64_t pfn, zone& z, unsigned order) {
  list_del(z.area[order].free_list[pg(pfn).list_mt], pfn);
  pg(pfn).flags = static_cast<std::uint8_t>(pg(pfn).flags & ~PG_buddy);
  pg(pfn).order = 0;
  z.area[order].nr_free--;
}

// set_buddy_order() — set_page_private(page, order) and __SetPageBuddy.
void page_alloc::set_buddy_order(std::uint64_t pfn, unsigned order) {
  pg(pfn).order = static_cast<std::uint8_t>(order);
  pg(pfn).flags = static_cast<std::uint8_t>(pg(pfn).flags | PG_buddy);
}

// page_is_buddy() — mm/internal.h: the buddy is a free head of the same order in the same
// zone. The pfn_valid check comes first: the buddy's struct page must exist before any of its
// fields is read (4.x's pfn_valid_within; 6.x relies on the memmap covering MAX_ORDER blocks,
// which this memmap does too).
bool page_alloc::page_is_buddy(std::uint64_t pfn, std::uint64_t buddy_pfn, unsigned order) const {
  if (!pfn_valid(buddy_pfn)) return false;
  const page& b = pg(buddy_pfn);
  if (!(b.flags & PG_buddy)) return false;
  if (b.order != order) return false;
  if (b.zone != pg(pfn).zone) return false;
  return true;
}

// find_buddy_page_pfn() — mm/internal.h (5.19+): always reports the buddy's pfn.
std::optional<std::uint64_t> page_alloc::find_buddy_page_pfn(std::uint64_t pfn, unsigned order,
                                                             std::uint64_t* buddy_pfn) const {
  const std::uint64_t b = find_buddy_pfn(pfn, order);
  if (buddy_pfn) *buddy_pfn = b;
  if (page_is_buddy(pfn, b, order)) return b;
  return std::nullopt;
}

// buddy_merge_likely() — mm/page_alloc.c (6.1): if the block's parent has a free buddy one
// order up, this block's missing half may be freed soon; put it at the tail.
bool page_alloc::buddy_merge_likely(std::uint64_t pfn, std::uint64_t buddy_pfn, unsigned order) const {
  if (order >= MAX_ORDER - 2) return false;
  const std::uint64_t higher_page_pfn = buddy_combined_pfn(cword{buddy_pfn}, cword{pfn}).v;
  return find_buddy_page_pfn(higher_page_pfn, order + 1, nullptr).has_value();
}

unsigned page_alloc::get_pageblock_migratetype(std::uint64_t pfn) const {
  return pageblock_mt_.at((pfn - memmap_start_) >> pageblock_order);
}

void page_alloc::set_pageblock_migratetype(std::uint64_t pfn, unsigned mt) {
  pageblock_mt_.at((pfn - memmap_start_) >> pageblock_order) = static_cast<std::uint8_t>(mt);
}

std::vector<std::uint64_t> page_alloc::free_list(unsigned zi, unsigned order, unsigned mt) const {
  std::vector<std::uint64_t> out;
  for (std::uint32_t i = zones_.at(zi).area.at(order).free_list.at(mt).first; i != NIL; i = pages_[i].lru_next)
    out.push_back(memmap_start_ + i);
  return out;
}

void page_alloc::list_del_for_test(unsigned zi, unsigned order, unsigned mt, std::uint64_t pfn) {
  list_del(zones_.at(zi).area.at(order).free_list.at(mt), pfn);
}

void page_alloc::add_free_block_for_test(unsigned zi, std::uint64_t pfn, unsigned order, unsigned mt) {
  zone& z = zones_.at(zi);
  set_buddy_order(pfn, order);
  add_to_free_list(pfn, z, order, mt, false);
  z.free_pages += static_cast<std::int64_t>(bit(order));
}

// ---------------------------------------------------------------------------------------
// Freeing

// __free_one_page() — mm/page_alloc.c (6.1). The free count grows by the block as freed (not
// the merged size); then the block merges with its buddy while the buddy is a free head of
// the same order in the same zone, up to MAX_ORDER - 1, except across pageblocks whose types
// may not merge (ISOLATE/CMA/HIGHATOMIC against another type).
void page_alloc::__free_one_page(std::uint64_t pfn, zone& z, unsigned order, unsigned mt, bool fpi_to_tail) {
  z.free_pages += static_cast<std::int64_t>(bit(order));  // __mod_zone_freepage_state
  std::uint64_t buddy_pfn = 0;
  const unsigned start_order = order;
  while (order < MAX_ORDER - 1) {
    const std::optional<std::uint64_t> buddy = find_buddy_page_pfn(pfn, order, &buddy_pfn);
    if (!buddy) break;
    if (order >= pageblock_order) {
      const unsigned buddy_mt = get_pageblock_migratetype(*buddy);
      if (mt != buddy_mt && (!migratetype_is_mergeable(mt) || !migratetype_is_mergeable(buddy_mt))) break;
    }
    del_page_from_free_list(*buddy, z, order);
    pfn = buddy_combined_pfn(cword{buddy_pfn}, cword{pfn}).v;
    ++order;
    stats_.merges++;
  }
  stats_.merge_orders_max = std::max<std::uint64_t>(stats_.merge_orders_max, order - start_order);
  set_buddy_order(pfn, order);
  const bool to_tail = fpi_to_tail || buddy_merge_likely(pfn, buddy_pfn, order);
  if (to_tail && !fpi_to_tail) stats_.to_tail++;
  add_to_free_list(pfn, z, order, mt, to_tail);
}

// free_pages_prepare(): the block's pages lose their allocation state; refcounts are 0.
void page_alloc::free_pages_prepare(std::uint64_t pfn, unsigned order) {
  for (std::uint64_t p = pfn; p < pfn + bit(order); ++p) {
    page& x = pg(p);
    x.flags = static_cast<std::uint8_t>(x.flags & ~(PG_alloc | PG_head | PG_tail | PG_alloc_movable));
    x._refcount = 0;
    x.alloc_order = 0;
  }
}

// __free_pages_ok() — mm/page_alloc.c: the pageblock's migratetype, then __free_one_page.
void page_alloc::__free_pages_ok(std::uint64_t pfn, unsigned order, bool fpi_to_tail) {
  free_pages_prepare(pfn, order);
  zone& z = zones_[pg(pfn).zone];
  __free_one_page(pfn, z, order, get_pageblock_migratetype(pfn), fpi_to_tail);
  if (!fpi_to_tail) stats_.frees++;
}

std::optional<unsigned> page_alloc::zone_of(std::uint64_t pfn) const {
  if (!pfn_valid(pfn)) return std::nullopt;
  const page& p = pg(pfn);
  if (p.zone == 0xff || (p.flags & PG_reserved)) return std::nullopt;
  return p.zone;
}

std::optional<unsigned> page_alloc::allocated_order(std::uint64_t pfn) const {
  if (!pfn_valid(pfn) || !(pg(pfn).flags & PG_alloc)) return std::nullopt;
  return pg(pfn).alloc_order;
}

// What the kernel's free_pages_prepare/bad_page checks catch, made exact: the model refuses
// instead of reporting "Bad page state" and leaking.
bd_error page_alloc::check_free(std::uint64_t pfn, unsigned order) const {
  if (!zone_of(pfn)) return bd_error::outside_zones;
  for (unsigned o = 0; o < MAX_ORDER; ++o) {
    const std::uint64_t head = pfn & ~(bit(o) - 1);
    if (!pfn_valid(head)) break;
    const page& h = pg(head);
    if ((h.flags & PG_buddy) && h.order >= o) return bd_error::free_block;
    if (head != pfn && (h.flags & PG_alloc) && pfn < head + bit(h.alloc_order)) return bd_error::tail_page;
  }
  const page& p = pg(pfn);
  if (!(p.flags & PG_alloc)) return bd_error::free_block;  // inside a free block
  if (p.alloc_order != order) return bd_error::wrong_order;
  return bd_error::none;
}

// __free_pages() — mm/page_alloc.c (6.1): drop a reference; the last one frees the block. With
// other references on a non-compound block, the caller frees every part but the first page
// now (orders order-1 .. 0, from the top down), and the first page goes when its last
// reference does (e320d3012d25).
bd_error page_alloc::__free_pages(std::uint64_t pfn, unsigned order) {
  if (bd_error e = check_free(pfn, order); e != bd_error::none) {
    stats_.refused++;
    return e;
  }
  page& head = pg(pfn);
  if (--head._refcount == 0) {  // put_page_testzero
    free_the_page(pfn, order);
  } else if (!(head.flags & PG_head)) {
    for (unsigned o = order; o-- > 0;) free_the_page(pfn + bit(o), o);
    head.alloc_order = 0;
  }
  return bd_error::none;
}

bd_error page_alloc::split_page(std::uint64_t pfn, unsigned order) {
  const std::optional<unsigned> o = allocated_order(pfn);
  if (!o) {
    stats_.refused++;
    return zone_of(pfn) ? (check_free(pfn, 0) == bd_error::tail_page ? bd_error::tail_page : bd_error::free_block)
                        : bd_error::outside_zones;
  }
  // VM_BUG_ON_PAGE(PageCompound(page)) and the refcount check: the model refuses instead.
  if (*o != order || (pg(pfn).flags & PG_head) || pg(pfn)._refcount != 1) {
    stats_.refused++;
    return bd_error::wrong_order;
  }
  const std::uint8_t movable = pg(pfn).flags & PG_alloc_movable;
  pg(pfn).alloc_order = 0;
  for (std::uint64_t i = 1; i < bit(order); ++i) {  // set_page_refcounted() on each tail
    page& t = pg(pfn + i);
    t.flags = static_cast<std::uint8_t>((t.flags & ~(PG_head | PG_tail)) | PG_alloc | movable);
    t.alloc_order = 0;
    t._refcount = 1;
  }
  return bd_error::none;
}

bd_error page_alloc::get_page(std::uint64_t pfn) {
  if (!zone_of(pfn)) {
    stats_.refused++;
    return bd_error::outside_zones;
  }
  const std::optional<unsigned> o = allocated_order(pfn);
  if (!o) {
    stats_.refused++;
    return check_free(pfn, 0) == bd_error::tail_page ? bd_error::tail_page : bd_error::free_block;
  }
  pg(pfn)._refcount++;
  return bd_error::none;
}

// put_page(): the last reference frees a compound block whole; a non-compound block of order
// > 0 would have its first page freed alone and the rest leaked, so the model refuses that
// (use __free_pages with the order).
bd_error page_alloc::put_page(std::uint64_t pfn) {
  const std::optional<unsigned> o = allocated_order(pfn);
  if (!o) {
    stats_.refused++;
    return zone_of(pfn) ? (check_free(pfn, 0) == bd_error::tail_page ? bd_error::tail_page : bd_error::free_block)
                        : bd_error::outside_zones;
  }
  page& p = pg(pfn);
  if (p._refcount == 1 && *o > 0 && !(p.flags & PG_head)) {
    stats_.refused++;
    return bd_error::wrong_order;
  }
  if (--p._refcount == 0) free_the_page(pfn, *o);
  return bd_error::none;
}

std::uint64_t page_alloc::__get_free_pages(gfp_t gfp, unsigned order, alloc_result* res) {
  // __get_free_pages() — 6.1 strips __GFP_HIGHMEM: the result must have a direct-map address.
  const alloc_result r = alloc_pages(gfp & ~__GFP_HIGHMEM, order);
  if (res) *res = r;
  return r.pfn ? page_address(*r.pfn) : 0;
}

std::uint64_t page_alloc::get_zeroed_page(gfp_t gfp, alloc_result* res) {
  return __get_free_pages(gfp | __GFP_ZERO, 0, res);
}

// free_pages() — mm/page_alloc.c: address 0 is ignored; otherwise virt_to_page.
bd_error page_alloc::free_pages(std::uint64_t addr, unsigned order) {
  if (addr == 0) return bd_error::none;
  if (addr < cfg_.page_offset || ((addr - cfg_.page_offset) & (PAGE_SIZE - 1)) ||
      !pfn_valid((addr - cfg_.page_offset) >> PAGE_SHIFT)) {
    stats_.refused++;
    return bd_error::bad_address;
  }
  return __free_pages((addr - cfg_.page_offset) >> PAGE_SHIFT, order);
}

std::optional<std::uint64_t> page_alloc::alloc_table_frame() {
  // pte_alloc_one_kernel() and friends: __get_free_page(GFP_PGTABLE_KERNEL), GFP_KERNEL |
  // __GFP_ZERO. The page tables clear the frame themselves as well.
  const alloc_result r = alloc_pages(GFP_KERNEL | __GFP_ZERO, 0);
  return r.pfn;
}

void page_alloc::free_table_frame(std::uint64_t pfn) {
  if (__free_pages(pfn, 0) != bd_error::none) throw std::logic_error("page_alloc: freeing a table frame it did not hand out");
}

bool page_alloc::frame_allocated(std::uint64_t pfn) const { return allocated_order(pfn).has_value(); }

std::uint64_t page_alloc::total_free_pages() const {
  std::int64_t n = 0;
  for (const zone& z : zones_) n += z.free_pages;
  return static_cast<std::uint64_t>(n);
}

std::uint64_t page_alloc::total_managed_pages() const {
  std::uint64_t n = 0;
  for (const zone& z : zones_) n += z.managed_pages;
  return n;
}

// ---------------------------------------------------------------------------------------
// Allocating: the buddy lists

// expand() — mm/page_alloc.c: split [pfn, pfn + 2^high) by giving away the upper half at each
// order high-1 .. low, each at the head of its list; the caller keeps [pfn, pfn + 2^low).
void page_alloc::expand(zone& z, std::uint64_t pfn, unsigned low, unsigned high, unsigned mt) {
  while (high > low) {
    --high;
    const std::uint64_t half = expand_upper_half(cword{pfn}, cword{high}).v;
    add_to_free_list(half, z, high, mt, false);
    set_buddy_order(half, high);
    stats_.splits++;
  }
}

// __rmqueue_smallest() — mm/page_alloc.c: the smallest order with a block on this
// migratetype's list; the list head; expand.
std::optional<std::uint64_t> page_alloc::__rmqueue_smallest(zone& z, unsigned order, unsigned mt) {
  for (unsigned current_order = order; current_order < MAX_ORDER; ++current_order) {
    const std::uint32_t first = z.area[current_order].free_list[mt].first;
    if (first == NIL) continue;
    const std::uint64_t pfn = memmap_start_ + first;
    del_page_from_free_list(pfn, z, current_order);
    expand(z, pfn, order, current_order, mt);
    return pfn;
  }
  return std::nullopt;
}

// find_suitable_fallback() — mm/page_alloc.c (6.1).
int page_alloc::find_suitable_fallback(const free_area& area, unsigned order, unsigned mt, bool only_stealable,
                                       bool* can_steal) const {
  if (area.nr_free == 0) return -1;
  *can_steal = false;
  for (unsigned i = 0;; ++i) {
    const unsigned fallback_mt = fallbacks[mt][i];
    if (fallback_mt == MIGRATE_TYPES) break;
    if (area.free_list[fallback_mt].empty()) continue;
    if (can_steal_fallback(order, mt)) *can_steal = true;
    if (!only_stealable) return static_cast<int>(fallback_mt);
    if (*can_steal) return static_cast<int>(fallback_mt);
  }
  return -1;
}

// boost_watermark() — mm/page_alloc.c (6.1).
bool page_alloc::boost_watermark(zone& z) {
  if (!cfg_.watermark_boost_factor) return false;
  if (pageblock_nr_pages * 4 > z.managed_pages) return false;
  std::uint64_t max_boost = mult_frac(z._watermark[WMARK_HIGH], cfg_.watermark_boost_factor, 10000);
  if (!max_boost) return false;
  max_boost = std::max(pageblock_nr_pages, max_boost);
  z.watermark_boost = std::min(z.watermark_boost + pageblock_nr_pages, max_boost);
  stats_.boosts++;
  return true;
}

// move_freepages_block() / move_freepages() — mm/page_alloc.c (6.1): every free block in the
// pageblock moves to mt's list; allocated pages that look movable are counted.
std::uint64_t page_alloc::move_freepages_block(zone& z, std::uint64_t pfn, unsigned mt, std::uint64_t* num_movable) {
  if (num_movable) *num_movable = 0;
  std::uint64_t start_pfn = pfn & ~(pageblock_nr_pages - 1);
  const std::uint64_t end_pfn = start_pfn + pageblock_nr_pages - 1;
  if (!z.zone_spans_pfn(start_pfn)) start_pfn = pfn;
  if (!z.zone_spans_pfn(end_pfn)) return 0;
  std::uint64_t pages_moved = 0;
  for (std::uint64_t p = start_pfn; p <= end_pfn;) {
    const page& x = pg(p);
    if (!(x.flags & PG_buddy)) {
      if (num_movable && (x.flags & PG_alloc_movable)) ++*num_movable;
      ++p;
      continue;
    }
    const unsigned order = x.order;
    move_to_free_list(p, z, order, mt);
    p += bit(order);
    pages_moved += bit(order);
  }
  return pages_moved;
}

// steal_suitable_fallback() — mm/page_alloc.c (6.1): take the whole pageblock when the block
// is at least a pageblock, or when enough of the pageblock is free or compatible; otherwise
// move only this block to our list.
void page_alloc::steal_suitable_fallback(zone& z, std::uint64_t pfn, unsigned alloc_flags, unsigned start_type,
                                         bool whole_block) {
  const unsigned current_order = pg(pfn).order;
  const unsigned old_block_type = get_pageblock_migratetype(pfn);
  if (old_block_type == MIGRATE_HIGHATOMIC) goto single_page;
  if (current_order >= pageblock_order) {
    // change_pageblock_range()
    for (std::uint64_t p = pfn; p < pfn + bit(current_order); p += pageblock_nr_pages)
      set_pageblock_migratetype(p, start_type);
    stats_.pageblock_steals++;
    goto single_page;
  }
  if (boost_watermark(z) && (alloc_flags & ALLOC_KSWAPD)) z.boosted_watermark = true;
  if (!whole_block) goto single_page;
  {
    std::uint64_t movable_pages = 0;
    const std::uint64_t free_pages = move_freepages_block(z, pfn, start_type, &movable_pages);
    if (!free_pages) goto single_page;
    std::uint64_t alike_pages = 0;
    if (start_type == MIGRATE_MOVABLE) alike_pages = movable_pages;
    else if (old_block_type == MIGRATE_MOVABLE) alike_pages = pageblock_nr_pages - (free_pages + movable_pages);
    if (free_pages + alike_pages >= bit(pageblock_order - 1)) {
      set_pageblock_migratetype(pfn, start_type);
      stats_.pageblock_steals++;
    }
    return;
  }
single_page:
  move_to_free_list(pfn, z, current_order, start_type);
}

// __rmqueue_fallback() — mm/page_alloc.c (6.1): steal the largest block of a fallback type
// (from pageblock_order up under ALLOC_NOFRAGMENT); a MOVABLE request that cannot steal a
// whole block takes the smallest suitable one instead.
bool page_alloc::__rmqueue_fallback(zone& z, unsigned order, unsigned start_mt, unsigned alloc_flags) {
  unsigned min_order = order;
  if (alloc_flags & ALLOC_NOFRAGMENT) min_order = pageblock_order;
  int fallback_mt = -1;
  bool can_steal = false;
  int current_order = MAX_ORDER - 1;
  for (; current_order >= static_cast<int>(min_order); --current_order) {
    fallback_mt = find_suitable_fallback(z.area[static_cast<unsigned>(current_order)], static_cast<unsigned>(current_order),
                                         start_mt, false, &can_steal);
    if (fallback_mt == -1) continue;
    if (!can_steal && start_mt == MIGRATE_MOVABLE && current_order > static_cast<int>(order)) goto find_smallest;
    goto do_steal;
  }
  return false;
find_smallest:
  for (current_order = static_cast<int>(order); current_order < static_cast<int>(MAX_ORDER); ++current_order) {
    fallback_mt = find_suitable_fallback(z.area[static_cast<unsigned>(current_order)], static_cast<unsigned>(current_order),
                                         start_mt, false, &can_steal);
    if (fallback_mt != -1) break;
  }
do_steal: {
  const std::uint32_t first = z.area[static_cast<unsigned>(current_order)].free_list[static_cast<unsigned>(fallback_mt)].first;
  steal_suitable_fallback(z, memmap_start_ + first, alloc_flags, start_mt, can_steal);
  stats_.mt_fallbacks++;
  return true;
}
}

// __rmqueue() — mm/page_alloc.c (6.1), without CMA.
std::optional<std::uint64_t> page_alloc::__rmqueue(zone& z, unsigned order, unsigned mt, unsigned alloc_flags) {
  for (;;) {
    if (std::optional<std::uint64_t> pfn = __rmqueue_smallest(z, order, mt)) return pfn;
    if (!__rmqueue_fallback(z, order, mt, alloc_flags)) return std::nullopt;
  }
}

// rmqueue() -> rmqueue_buddy() — mm/page_alloc.c (6.1), per-cpu lists off. High-order
// ALLOC_HARDER requests try the HIGHATOMIC reserve first.
std::optional<std::uint64_t> page_alloc::rmqueue(zone& z, unsigned order, gfp_t gfp, unsigned alloc_flags, unsigned mt) {
  (void)gfp;
  std::optional<std::uint64_t> pfn;
  if (order > 0 && (alloc_flags & ALLOC_HARDER)) pfn = __rmqueue_smallest(z, order, MIGRATE_HIGHATOMIC);
  if (!pfn) pfn = __rmqueue(z, order, mt, alloc_flags);
  if (!pfn) return std::nullopt;
  z.free_pages -= static_cast<std::int64_t>(bit(order));  // __mod_zone_freepage_state
  if (z.boosted_watermark) {
    z.boosted_watermark = false;
    stats_.kswapd_wakeups++;
    if (hooks.wakeup_kswapd) hooks.wakeup_kswapd(*this, z.idx, 0, 0);
    else z.watermark_boost = 0;
  }
  return pfn;
}

// prep_new_page() / post_alloc_hook(): refcount 1, compound pages, zeroing.
void page_alloc::prep_new_page(std::uint64_t pfn, unsigned order, gfp_t gfp, unsigned mt) {
  page& head = pg(pfn);
  head._refcount = 1;  // set_page_refcounted
  head.flags = static_cast<std::uint8_t>(head.flags | PG_alloc);
  head.alloc_order = static_cast<std::uint8_t>(order);
  if ((gfp & __GFP_COMP) && order > 0) {
    head.flags = static_cast<std::uint8_t>(head.flags | PG_head);
    for (std::uint64_t p = pfn + 1; p < pfn + bit(order); ++p) pg(p).flags = static_cast<std::uint8_t>(pg(p).flags | PG_tail);
  }
  if (mt == MIGRATE_MOVABLE)
    for (std::uint64_t p = pfn; p < pfn + bit(order); ++p) pg(p).flags = static_cast<std::uint8_t>(pg(p).flags | PG_alloc_movable);
  if (gfp & __GFP_ZERO)
    for (std::uint64_t p = pfn; p < pfn + bit(order); ++p) mem_->clear_frame(p);
  stats_.allocs++;
}

// reserve_highatomic_pageblock() — mm/page_alloc.c (6.1): at most 1% of the zone plus one
// pageblock; only mergeable pageblocks are taken.
void page_alloc::reserve_highatomic_pageblock(std::uint64_t pfn, zone& z) {
  const std::uint64_t max_managed = z.managed_pages / 100 + pageblock_nr_pages;
  if (z.nr_reserved_highatomic >= max_managed) return;
  const unsigned mt = get_pageblock_migratetype(pfn);
  if (migratetype_is_mergeable(mt)) {
    z.nr_reserved_highatomic += pageblock_nr_pages;
    set_pageblock_migratetype(pfn, MIGRATE_HIGHATOMIC);
    move_freepages_block(z, pfn, MIGRATE_HIGHATOMIC, nullptr);
    stats_.highatomic_reserved++;
  }
}

// unreserve_highatomic_pageblock() — mm/page_alloc.c (6.1): give a HIGHATOMIC pageblock back
// to the request's migratetype (keeping one unless forced).
bool page_alloc::unreserve_highatomic_pageblock(const alloc_context& ac, bool force) {
  for (int zi = ac.preferred_zone; zi >= 0; --zi) {
    zone& z = zones_[static_cast<unsigned>(zi)];
    if (!z.populated_zone()) continue;
    if (!force && z.nr_reserved_highatomic <= pageblock_nr_pages) continue;
    for (unsigned order = 0; order < MAX_ORDER; ++order) {
      const std::uint32_t first = z.area[order].free_list[MIGRATE_HIGHATOMIC].first;
      if (first == NIL) continue;
      const std::uint64_t pfn = memmap_start_ + first;
      if (get_pageblock_migratetype(pfn) == MIGRATE_HIGHATOMIC)
        z.nr_reserved_highatomic -= std::min(pageblock_nr_pages, z.nr_reserved_highatomic);
      set_pageblock_migratetype(pfn, ac.migratetype);
      if (move_freepages_block(z, pfn, ac.migratetype, nullptr)) {
        stats_.highatomic_unreserved++;
        return true;
      }
    }
  }
  return false;
}

wmark_args<cword> page_alloc::watermark_args(const zone& z, unsigned order, std::uint64_t mark, unsigned highest_zoneidx,
                                             unsigned alloc_flags, std::int64_t free_pages) const {
  std::uint64_t usable = 0, highatomic = 0;
  for (unsigned o = 0; o < MAX_ORDER; ++o) {
    for (unsigned mt = 0; mt < MIGRATE_PCPTYPES; ++mt)
      if (!z.area[o].free_list[mt].empty()) usable |= bit(o);
    if (!z.area[o].free_list[MIGRATE_HIGHATOMIC].empty()) highatomic |= bit(o);
  }
  return {cword{static_cast<std::uint64_t>(free_pages)},
          cword{order},
          cword{mark},
          cword{static_cast<std::uint64_t>(z.lowmem_reserve[highest_zoneidx])},
          cword{alloc_flags},
          cword{z.nr_reserved_highatomic},
          cword{0},
          cword{usable},
          cword{highatomic}};
}

bool page_alloc::zone_watermark_ok(const zone& z, unsigned order, std::uint64_t mark, unsigned highest_zoneidx,
                                   unsigned alloc_flags, std::int64_t free_pages) const {
  return truth(__zone_watermark_ok(watermark_args(z, order, mark, highest_zoneidx, alloc_flags, free_pages)));
}

// zone_watermark_fast() — mm/page_alloc.c (6.1).
// *mark becomes the mark that passed.
bool page_alloc::zone_watermark_fast(const zone& z, unsigned order, std::uint64_t* mark, unsigned highest_zoneidx,
                                     unsigned alloc_flags, gfp_t gfp) const {
  wmark_args<cword> a = watermark_args(z, order, *mark, highest_zoneidx, alloc_flags, z.free_pages);
  if (order == 0 && truth(zone_watermark_fast_order0(a))) return true;
  if (truth(__zone_watermark_ok(a))) return true;
  // An atomic order-0 request may ignore the boost at the min watermark.
  if (order == 0 && (gfp & __GFP_ATOMIC) && z.watermark_boost && (alloc_flags & ALLOC_WMARK_MASK) == WMARK_MIN) {
    a.mark = cword{z._watermark[WMARK_MIN]};
    *mark = a.mark.v;
    return truth(__zone_watermark_ok(a));
  }
  return false;
}

// get_page_from_freelist() — mm/page_alloc.c (6.1): the zonelist from the preferred zone
// down, each zone behind its watermark (node_reclaim is off: zone_reclaim_mode = 0).
std::optional<std::uint64_t> page_alloc::get_page_from_freelist(gfp_t gfp, unsigned order, unsigned alloc_flags,
                                                                const alloc_context& ac, unsigned* from_zone) {
  for (;;) {
    const bool no_fallback = alloc_flags & ALLOC_NOFRAGMENT;
    for (int zi = ac.preferred_zone; zi >= 0; --zi) {
      zone& z = zones_[static_cast<unsigned>(zi)];
      if (!z.populated_zone()) continue;
      std::uint64_t mark = z.wmark_pages(alloc_flags & ALLOC_WMARK_MASK);
      const bool passed = zone_watermark_fast(z, order, &mark, ac.highest_zoneidx, alloc_flags, gfp);
      const std::uint64_t reserved_highatomic = z.nr_reserved_highatomic;
      if (!passed) {
        stats_.wmark_refusals++;
        if (!(alloc_flags & ALLOC_NO_WATERMARKS)) continue;
      }
      if (std::optional<std::uint64_t> pfn = rmqueue(z, order, gfp, alloc_flags, ac.migratetype)) {
        witness_ = {true, static_cast<unsigned>(zi), order, alloc_flags, ac.highest_zoneidx, mark, !passed, z.free_pages,
                    reserved_highatomic};
        prep_new_page(*pfn, order, gfp, ac.migratetype);
        if (order && (alloc_flags & ALLOC_HARDER)) reserve_highatomic_pageblock(*pfn, z);
        if (zi != ac.preferred_zone) stats_.zone_fallbacks++;
        if (from_zone) *from_zone = static_cast<unsigned>(zi);
        return pfn;
      }
    }
    if (!no_fallback) return std::nullopt;
    alloc_flags &= ~ALLOC_NOFRAGMENT;
  }
}

// gfp_to_alloc_flags() — mm/page_alloc.c (6.1).
unsigned page_alloc::gfp_to_alloc_flags(gfp_t gfp, const task_context& task) const {
  unsigned alloc_flags = ALLOC_WMARK_MIN | ALLOC_CPUSET;
  alloc_flags |= gfp & (__GFP_HIGH | __GFP_KSWAPD_RECLAIM);
  if (gfp & __GFP_ATOMIC) {
    if (!(gfp & __GFP_NOMEMALLOC)) alloc_flags |= ALLOC_HARDER;
    alloc_flags &= ~ALLOC_CPUSET;
  } else if (task.rt_task) {
    alloc_flags |= ALLOC_HARDER;
  }
  if (gfp_migratetype(gfp) == MIGRATE_MOVABLE) alloc_flags |= ALLOC_CMA;  // gfp_to_alloc_flags_cma
  return alloc_flags;
}

// __gfp_pfmemalloc_flags() — mm/page_alloc.c (6.1), in task context.
unsigned page_alloc::__gfp_pfmemalloc_flags(gfp_t gfp, const task_context& task) const {
  if (gfp & __GFP_NOMEMALLOC) return 0;
  if (gfp & __GFP_MEMALLOC) return ALLOC_NO_WATERMARKS;
  if (task.pf_memalloc) return ALLOC_NO_WATERMARKS;
  if (task.oom_victim) return ALLOC_OOM;  // oom_reserves_allowed()
  return 0;
}

// should_fail_alloc_page() — mm/fail_page_alloc.c with should_fail() of lib/fault-inject.c.
bool page_alloc::should_fail_alloc_page(gfp_t gfp, unsigned order) {
  fail_page_alloc_attr& a = fail_attr;
  if (order < a.min_order) return false;
  if (gfp & __GFP_NOFAIL) return false;
  if (a.ignore_gfp_highmem && (gfp & __GFP_HIGHMEM)) return false;
  if (a.ignore_gfp_reclaim && (gfp & __GFP_DIRECT_RECLAIM)) return false;
  if (a.nth) {  // current->fail_nth
    return --a.nth == 0;
  }
  if (a.probability == 0) return false;
  if (a.times == 0) return false;
  if (a.interval > 1 && (++fault_calls_ % a.interval) != 0) return false;
  if (fault_rng_seed_ != a.seed) {
    fault_rng_.seed(a.seed);
    fault_rng_seed_ = a.seed;
  }
  if (a.probability <= fault_rng_() % 100) return false;
  if (a.times > 0) --a.times;
  return true;
}

// wake_all_kswapds() — one node: wakeup_kswapd() for the first zone of the zonelist.
void page_alloc::wake_all_kswapds(unsigned order, gfp_t gfp, const alloc_context& ac) {
  stats_.kswapd_wakeups++;
  if (hooks.wakeup_kswapd) {
    hooks.wakeup_kswapd(*this, static_cast<unsigned>(ac.preferred_zone), order, gfp);
  } else {
    for (zone& z : zones_) z.watermark_boost = 0;  // balance_pgdat ends boosted reclaim so
  }
}

// should_reclaim_retry() — mm/page_alloc.c (6.1).
bool page_alloc::should_reclaim_retry(unsigned order, const alloc_context& ac, unsigned alloc_flags,
                                      bool did_some_progress, unsigned* no_progress_loops) {
  if (did_some_progress && order <= PAGE_ALLOC_COSTLY_ORDER) *no_progress_loops = 0;
  else ++*no_progress_loops;
  if (*no_progress_loops > MAX_RECLAIM_RETRIES) return unreserve_highatomic_pageblock(ac, true);
  for (int zi = ac.preferred_zone; zi >= 0; --zi) {
    const zone& z = zones_[static_cast<unsigned>(zi)];
    if (!z.populated_zone()) continue;
    const std::int64_t available = static_cast<std::int64_t>(z.reclaimable_pages) + z.free_pages;
    if (zone_watermark_ok(z, order, z.min_wmark_pages(), ac.highest_zoneidx, alloc_flags, available)) return true;
  }
  return false;
}

// compaction_zonelist_suitable() / __compaction_suitable() — mm/compaction.c (6.1).
bool page_alloc::compaction_zonelist_suitable(const alloc_context& ac, unsigned order, unsigned alloc_flags) const {
  for (int zi = ac.preferred_zone; zi >= 0; --zi) {
    const zone& z = zones_[static_cast<unsigned>(zi)];
    if (!z.populated_zone()) continue;
    const std::int64_t available = static_cast<std::int64_t>(z.reclaimable_pages / order) + z.free_pages;
    const std::uint64_t mark = z.wmark_pages(alloc_flags & ALLOC_WMARK_MASK);
    if (zone_watermark_ok(z, order, mark, ac.highest_zoneidx, alloc_flags, z.free_pages)) continue;  // SUCCESS
    std::uint64_t watermark = order > PAGE_ALLOC_COSTLY_ORDER ? z.low_wmark_pages() : z.min_wmark_pages();
    watermark += std::uint64_t{2} << order;  // compact_gap()
    if (zone_watermark_ok(z, 0, watermark, ac.highest_zoneidx, ALLOC_CMA, available)) return true;  // CONTINUE
  }
  return false;
}

// should_compact_retry() — mm/page_alloc.c (6.1, CONFIG_COMPACTION).
bool page_alloc::should_compact_retry(const alloc_context& ac, unsigned order, unsigned alloc_flags,
                                      compact_result result, compact_priority* prio, unsigned* compaction_retries) const {
  if (!order) return false;
  if (compaction_made_progress(result)) ++*compaction_retries;
  if (!compaction_failed(result)) {
    if (compaction_withdrawn(result)) return compaction_zonelist_suitable(ac, order, alloc_flags);
    unsigned max_retries = MAX_COMPACT_RETRIES;
    if (order > PAGE_ALLOC_COSTLY_ORDER) max_retries /= 4;
    if (*compaction_retries <= max_retries) return true;
  }
  // check_priority:
  const compact_priority min_priority = order > PAGE_ALLOC_COSTLY_ORDER ? MIN_COMPACT_COSTLY_PRIORITY : MIN_COMPACT_PRIORITY;
  if (*prio > min_priority) {
    *prio = static_cast<compact_priority>(static_cast<int>(*prio) - 1);
    *compaction_retries = 0;
    return true;
  }
  return false;
}

std::optional<std::uint64_t> page_alloc::cpuset_fallback(gfp_t gfp, unsigned order, unsigned alloc_flags,
                                                         const alloc_context& ac, unsigned* from_zone) {
  // __alloc_pages_cpuset_fallback(): with ALLOC_CPUSET, then without; no cpusets here, so once.
  return get_page_from_freelist(gfp, order, alloc_flags | ALLOC_CPUSET, ac, from_zone);
}

// warn_alloc() — "%s: page allocation failure: order:%u, mode:%#x(%pGg), nodemask=(null)".
void page_alloc::warn_alloc(alloc_result& r, gfp_t gfp, unsigned order, const char* what) const {
  if (gfp & __GFP_NOWARN) return;
  char buf[96];
  std::snprintf(buf, sizeof buf, "mmref: %s: order:%u, mode:%#x(", what, order, gfp);
  r.warning = std::string(buf) + gfp_text(gfp) + "), nodemask=(null)";
}

alloc_result page_alloc::finish(alloc_result r) {
  stats_.outcomes[static_cast<unsigned>(r.outcome)]++;
  return r;
}

// __alloc_pages_slowpath() — mm/page_alloc.c (6.1), step by step; the labels are the kernel's.
alloc_result page_alloc::__alloc_pages_slowpath(gfp_t gfp, unsigned order, alloc_context& ac, const task_context& task) {
  alloc_result r;
  const bool can_direct_reclaim = gfp & __GFP_DIRECT_RECLAIM;
  const bool costly_order = order > PAGE_ALLOC_COSTLY_ORDER;
  unsigned alloc_flags = 0, no_progress_loops = 0, compaction_retries = 0, reserve_flags = 0;
  std::uint64_t did_some_progress = 0;
  compact_priority prio = DEF_COMPACT_PRIORITY;
  compact_result compact = compact_result::COMPACT_SKIPPED;
  std::optional<std::uint64_t> pfn;
  std::uint64_t best_free = total_free_pages();
  unsigned stuck_rounds = 0;

  if ((gfp & (__GFP_ATOMIC | __GFP_DIRECT_RECLAIM)) == (__GFP_ATOMIC | __GFP_DIRECT_RECLAIM)) {
    r.warning = "WARN_ON_ONCE: __GFP_ATOMIC with __GFP_DIRECT_RECLAIM in __alloc_pages_slowpath";
    gfp &= ~__GFP_ATOMIC;
  }
  // restart: (no cpusets or zonelist changes in the model, so nothing ever jumps back here)
  alloc_flags = gfp_to_alloc_flags(gfp, task);
  if (ac.preferred_zone < 0) {
    r.outcome = alloc_outcome::no_zone;
    goto nopage;
  }
  if (alloc_flags & ALLOC_KSWAPD) wake_all_kswapds(order, gfp, ac);
  pfn = get_page_from_freelist(gfp, order, alloc_flags, ac, &r.zone);
  if (pfn) goto got_pg;
  // Costly orders and unmovable high orders try async compaction before reclaim.
  if (can_direct_reclaim && (costly_order || (order > 0 && ac.migratetype != MIGRATE_MOVABLE)) &&
      !(__gfp_pfmemalloc_flags(gfp, task) & ALLOC_NO_WATERMARKS)) {
    compact = hooks.try_to_compact_pages ? hooks.try_to_compact_pages(*this, order, gfp, INIT_COMPACT_PRIORITY)
                                         : compact_result::COMPACT_SKIPPED;
    if (compact != compact_result::COMPACT_SKIPPED) {
      pfn = get_page_from_freelist(gfp, order, alloc_flags, ac, &r.zone);
      if (pfn) goto got_pg;
    }
    if (costly_order && (gfp & __GFP_NORETRY)) {
      if (compact == compact_result::COMPACT_SKIPPED || compact == compact_result::COMPACT_DEFERRED) {
        r.outcome = alloc_outcome::costly_noretry_compaction;
        goto nopage;
      }
      prio = INIT_COMPACT_PRIORITY;
    }
  }

retry:
  // Not in the kernel: a bound on rounds in which no free page appeared, so that a loop the
  // kernel would spin in forever ends with its own outcome.
  if (total_free_pages() > best_free) {
    best_free = total_free_pages();
    stuck_rounds = 0;
  } else if (++stuck_rounds > max_stuck_rounds) {
    r.outcome = alloc_outcome::would_loop_forever;
    r.warning = "the allocation would retry forever: no progress in " + std::to_string(max_stuck_rounds) + " rounds";
    return r;
  }
  r.retries++;
  if (alloc_flags & ALLOC_KSWAPD) wake_all_kswapds(order, gfp, ac);
  reserve_flags = __gfp_pfmemalloc_flags(gfp, task);
  if (reserve_flags) alloc_flags = reserve_flags | (gfp_migratetype(gfp) == MIGRATE_MOVABLE ? ALLOC_CMA : 0);
  pfn = get_page_from_freelist(gfp, order, alloc_flags, ac, &r.zone);
  if (pfn) goto got_pg;
  if (!can_direct_reclaim) {
    r.outcome = alloc_outcome::no_direct_reclaim;
    goto nopage;
  }
  if (task.pf_memalloc) {
    r.outcome = alloc_outcome::pf_memalloc;
    goto nopage;
  }
  // __alloc_pages_direct_reclaim()
  did_some_progress = hooks.try_to_free_pages ? hooks.try_to_free_pages(*this, order, gfp) : 0;
  if (did_some_progress) {
    pfn = get_page_from_freelist(gfp, order, alloc_flags, ac, &r.zone);
    if (!pfn) {
      unreserve_highatomic_pageblock(ac, false);
      pfn = get_page_from_freelist(gfp, order, alloc_flags, ac, &r.zone);  // after drain_all_pages
    }
    if (pfn) goto got_pg;
  }
  // __alloc_pages_direct_compact(): nothing to do for order 0.
  if (order) {
    compact = hooks.try_to_compact_pages ? hooks.try_to_compact_pages(*this, order, gfp, prio)
                                         : compact_result::COMPACT_SKIPPED;
    if (compact != compact_result::COMPACT_SKIPPED) {
      pfn = get_page_from_freelist(gfp, order, alloc_flags, ac, &r.zone);
      if (pfn) goto got_pg;
    }
  }
  if (gfp & __GFP_NORETRY) {
    r.outcome = alloc_outcome::noretry;
    goto nopage;
  }
  if (costly_order && !(gfp & __GFP_RETRY_MAYFAIL)) {
    r.outcome = alloc_outcome::costly;
    goto nopage;
  }
  if (should_reclaim_retry(order, ac, alloc_flags, did_some_progress > 0, &no_progress_loops)) goto retry;
  if (did_some_progress > 0 && should_compact_retry(ac, order, alloc_flags, compact, &prio, &compaction_retries))
    goto retry;
  // __alloc_pages_may_oom()
  did_some_progress = 0;
  pfn = get_page_from_freelist((gfp | __GFP_HARDWALL) & ~__GFP_DIRECT_RECLAIM, order, ALLOC_WMARK_HIGH | ALLOC_CPUSET, ac,
                               &r.zone);
  if (pfn) goto got_pg;
  if (!(order > PAGE_ALLOC_COSTLY_ORDER || (gfp & (__GFP_RETRY_MAYFAIL | __GFP_THISNODE)) ||
        ac.highest_zoneidx < ZONE_NORMAL)) {
    // out_of_memory(): without __GFP_FS the OOM killer is not invoked but progress is
    // claimed ("The OOM killer does not compensate for IO-less reclaim").
    bool killed = !(gfp & __GFP_FS) || (hooks.out_of_memory && hooks.out_of_memory(*this, order, gfp));
    if (!killed && (gfp & __GFP_NOFAIL)) {
      killed = true;
      if (r.warning.empty()) r.warning = "WARN_ON_ONCE: __GFP_NOFAIL allocation and the OOM killer found no victim";
    }
    if (killed) {
      did_some_progress = 1;
      if (gfp & __GFP_NOFAIL) {
        pfn = cpuset_fallback(gfp, order, ALLOC_NO_WATERMARKS, ac, &r.zone);
        if (pfn) goto got_pg;
      }
    }
  }
  if (task.oom_victim && ((alloc_flags & ALLOC_OOM) || (gfp & __GFP_NOMEMALLOC))) {
    r.outcome = alloc_outcome::oom_victim;
    goto nopage;
  }
  if (did_some_progress) {
    no_progress_loops = 0;
    goto retry;
  }
  r.outcome = alloc_outcome::retries_exhausted;

nopage:
  if (gfp & __GFP_NOFAIL) {
    if (!can_direct_reclaim) {  // WARN_ON_ONCE_GFP(!can_direct_reclaim)
      r.outcome = alloc_outcome::nofail_no_reclaim;
      r.warning = "WARN_ON_ONCE: __GFP_NOFAIL without __GFP_DIRECT_RECLAIM";
      goto fail;
    }
    if (costly_order && r.warning.empty()) r.warning = "WARN_ON_ONCE: __GFP_NOFAIL with a costly order";
    pfn = cpuset_fallback(gfp, order, ALLOC_HARDER, ac, &r.zone);
    if (pfn) goto got_pg;
    goto retry;
  }
fail:
  warn_alloc(r, gfp, order, "page allocation failure");
  return r;
got_pg:
  r.pfn = pfn;
  r.outcome = alloc_outcome::slow_path;
  return r;
}

// __alloc_pages() — mm/page_alloc.c (6.1).
alloc_result page_alloc::alloc_pages(gfp_t gfp, unsigned order, const task_context& task) {
  alloc_result r;
  // Bad input the kernel only catches with DEBUG_VM (or not at all): refused, nothing changes.
  if (gfp & ~__GFP_BITS_MASK) r.error = bd_error::invalid_gfp_bits;
  else if (gfp_zone_bad(gfp)) r.error = bd_error::invalid_gfp_zone;
  else if (gfp_migratetype(gfp) == MIGRATE_HIGHATOMIC) r.error = bd_error::invalid_migratetype;
  if (r.error != bd_error::none) {
    stats_.refused++;
    r.outcome = alloc_outcome::invalid;
    return finish(r);
  }
  if (order >= MAX_ORDER) {  // WARN_ON_ONCE_GFP(order >= MAX_ORDER, gfp)
    r.outcome = alloc_outcome::order_too_large;
    if (!(gfp & __GFP_NOWARN)) r.warning = "WARN_ON_ONCE: order >= MAX_ORDER in __alloc_pages (order " + std::to_string(order) + ")";
    return finish(r);
  }
  // prepare_alloc_pages()
  alloc_context ac;
  ac.highest_zoneidx = gfp_zone(gfp);
  ac.migratetype = gfp_migratetype(gfp);
  for (int zi = static_cast<int>(ac.highest_zoneidx); zi >= 0; --zi)
    if (zones_[static_cast<unsigned>(zi)].populated_zone()) {
      ac.preferred_zone = zi;
      break;
    }
  if (should_fail_alloc_page(gfp, order)) {
    r.outcome = alloc_outcome::fault_injected;
    return finish(r);
  }
  // alloc_flags_nofragment(): ALLOC_KSWAPD, and ALLOC_NOFRAGMENT when the preferred zone is
  // NORMAL (a single node always has DMA32 "populated" by this test's terms).
  unsigned alloc_flags = ALLOC_WMARK_LOW | (gfp & __GFP_KSWAPD_RECLAIM);
  if (ac.preferred_zone == ZONE_NORMAL) alloc_flags |= ALLOC_NOFRAGMENT;
  if (ac.migratetype == MIGRATE_MOVABLE) alloc_flags |= ALLOC_CMA;
  if (ac.preferred_zone >= 0) {
    if (std::optional<std::uint64_t> pfn = get_page_from_freelist(gfp, order, alloc_flags, ac, &r.zone)) {
      r.pfn = pfn;
      r.outcome = alloc_outcome::fast_path;
      return finish(r);
    }
  }
  return finish(__alloc_pages_slowpath(gfp, order, ac, task));
}

// ---------------------------------------------------------------------------------------
// A machine backed by the buddy allocator

buddy_machine::buddy_machine(const machine_config& cfg)
    : buddy(std::make_unique<page_alloc>(buddy_config::from_machine(cfg))),
      mach(std::make_unique<machine>(cfg, buddy.get())) {
  buddy->attach_phys_mem(mach->phys_for_test());
}

}  // namespace mmref::buddy
