// impl/buddy/page_alloc.hpp — the kernel's page allocator (mm/page_alloc.c, Linux 6.1) on one
// node: zones, struct page, free areas per order and migratetype, the fast and slow path.
//
// Synopsis
//   buddy_config                  the memory map (present RAM, memblock-reserved ranges, zone
//                                 boundaries) and the sysctls: min_free_kbytes,
//                                 watermark_scale_factor, watermark_boost_factor,
//                                 lowmem_reserve_ratio, THP's recommended min_free_kbytes.
//     ::default_machine()         4 GiB as QEMU lays it out (machine_config::default_machine):
//                                 DMA below 16 MiB, DMA32 below 4 GiB, NORMAL above, holes at
//                                 640 KiB and 3 GiB, the first 1 MiB reserved as x86 does.
//     ::from_machine(m)           zones over a model machine's RAM.
//     ::from_zoneinfo(text)       the zones of a real /proc/zoneinfo (start_pfn, spanned,
//                                 present, managed of each zone).
//   page_alloc(config)            boot: memmap_init, memblock_free_all (FPI_TO_TAIL),
//                                 init_per_zone_wmark_min, set_recommended_min_free_kbytes.
//   alloc_pages(gfp, order)       __alloc_pages: fast path at the low watermark, slow path with
//                                 every exit the kernel has; returns the pfn and how it ended.
//   __free_pages / free_pages / put_page / get_page
//   __get_free_pages / get_zeroed_page     direct-map addresses; zeroing in phys_mem.
//   hooks                         kswapd wake, direct reclaim, compaction, OOM (they may free).
//   fail_page_alloc               fault injection (fail the n-th, or with a seeded probability).
//   buddyinfo() / zoneinfo()      /proc text in the kernel's format.
//   frame_provider                page-table pages for the machine model come from here.
//
// What each structure keeps (zone->lock is implicit: the model is single-threaded):
//   zone->free_area[order].free_list[mt]   the heads of the free blocks of that order whose
//       pageblock type is mt, in list order (head first); nr_free counts them over all mt.
//   struct page                            PageBuddy + private = order on a free head only;
//       refcount 0 on every free frame, >= 1 on an allocated head.
//   NR_FREE_PAGES (zone->free_pages)       the pages in the zone's free lists.
// Each frame of a zone is in exactly one free block, one allocated block, or is reserved or a
// hole (BD-PARTITION).
//
// Per-cpu page lists are off: every free goes straight to __free_one_page and every order-0
// allocation straight to the buddy lists, as the kernel behaves with pcp->high = 0 (its boot
// pagesets). With pcp lists, freed pages sit outside the free lists, uncounted and unmerged
// until a drain, which would make BD-ACCT and BD-COALESCED statements about drained states
// only; the digest (research/linux-buddy.md §2.5) recommends the same.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "impl/buddy/buddy_core.hpp"
#include "impl/buddy/gfp.hpp"
#include "model/frame_provider.hpp"
#include "model/machine.hpp"
#include "model/phys_mem.hpp"

namespace mmref::buddy {

// ---------------------------------------------------------------------------------------
// Configuration

struct buddy_config {
  std::string name = "default";
  std::vector<mem_range> ram;       // memblock.memory: present frames (sorted, disjoint)
  std::vector<mem_range> reserved;  // memblock.reserved: present but never freed to the buddy
  // Zone boundaries, max_zone_pfns[] of zone_sizes_init (arch/x86/mm/init.c): DMA below
  // MAX_DMA_PFN, DMA32 below MAX_DMA32_PFN, NORMAL up to the end of RAM. Generated test
  // machines move them.
  std::uint64_t max_dma_pfn = MAX_DMA_PFN;
  std::uint64_t max_dma32_pfn = MAX_DMA32_PFN;
  std::uint64_t page_offset = 0xffff888000000000;  // __PAGE_OFFSET_BASE_L4 (nokaslr)
  // vm.min_free_kbytes written by the user; -1 = the kernel's default formula.
  std::int64_t user_min_free_kbytes = -1;
  std::uint64_t watermark_scale_factor = 10;    // mm/page_alloc.c default
  std::uint64_t watermark_boost_factor = 15000; // mm/page_alloc.c default
  std::array<std::uint64_t, MAX_NR_ZONES> lowmem_reserve_ratio = {256, 256, 32, 0, 0};
  // khugepaged's set_recommended_min_free_kbytes() raises min_free_kbytes when THP is enabled
  // (Debian's default is "madvise", which counts): what the shipped /proc/zoneinfo shows.
  bool thp_enabled = true;
  unsigned nr_cpus = 2;  // for the pagesets lines of /proc/zoneinfo

  std::string validate() const;  // "" when sound

  static buddy_config default_machine();
  static buddy_config from_machine(const machine_config& m);
  // Parses a /proc/zoneinfo text; throws std::invalid_argument naming the line on bad input.
  static buddy_config from_zoneinfo(const std::string& text);
};

// ---------------------------------------------------------------------------------------
// struct page and the zone

inline constexpr std::uint32_t NIL = ~std::uint32_t{0};

// The fields of struct page the allocator uses. Lists link pages by their index in the memmap
// (pfn - memmap start), as list_head links struct pages.
struct page {
  std::uint8_t flags = 0;
  std::uint8_t zone = 0;            // page_zonenum()
  std::uint8_t order = 0;           // page_private() of a PageBuddy head: buddy_order()
  std::uint8_t list_mt = 0;         // the free list a PageBuddy head is on (list_del needs
                                    // it; the kernel's list_head does not)
  std::int32_t _refcount = 0;
  std::uint32_t lru_prev = NIL, lru_next = NIL;
  // Model bookkeeping, not in the kernel's struct page: the order an allocated head was handed
  // out with (so that freeing with a different order is refused, where the kernel would
  // corrupt its lists silently).
  std::uint8_t alloc_order = 0;
};
// Page flags (include/linux/page-flags.h); PageBuddy is a page type in 6.1, a flag here.
inline constexpr std::uint8_t PG_reserved = 0x01;  // hole or memblock-reserved: never free
inline constexpr std::uint8_t PG_buddy = 0x02;     // head of a free block
inline constexpr std::uint8_t PG_head = 0x04;      // head of a compound allocation (__GFP_COMP)
inline constexpr std::uint8_t PG_tail = 0x08;      // tail of a compound allocation
inline constexpr std::uint8_t PG_alloc = 0x10;     // model: head of an allocated block
inline constexpr std::uint8_t PG_alloc_movable = 0x20;  // model: in a block allocated MOVABLE;
                                                    // stands in for PageLRU/__PageMovable in
                                                    // move_freepages' num_movable count

struct list_head {
  std::uint32_t first = NIL, last = NIL;
  bool empty() const { return first == NIL; }
};

// struct free_area — include/linux/mmzone.h
struct free_area {
  std::array<list_head, MIGRATE_TYPES> free_list{};
  std::uint64_t nr_free = 0;  // blocks of this order, all migratetypes
};

// struct zone — the fields the allocator reads.
struct zone {
  zone_type idx = ZONE_DMA;
  const char* name = "";
  std::uint64_t zone_start_pfn = 0;
  std::uint64_t spanned_pages = 0;
  std::uint64_t present_pages = 0;
  std::uint64_t managed_pages = 0;
  std::array<std::uint64_t, NR_WMARK> _watermark{};
  std::uint64_t watermark_boost = 0;
  bool boosted_watermark = false;  // ZONE_BOOSTED_WATERMARK
  std::array<std::int64_t, MAX_NR_ZONES> lowmem_reserve{};
  std::array<free_area, NR_PAGE_ORDERS> area{};
  std::int64_t free_pages = 0;     // vm_stat[NR_FREE_PAGES]
  std::uint64_t nr_reserved_highatomic = 0;
  // zone_reclaimable_pages(): what reclaim could free here; kept by whoever plays the page
  // cache (the tests' reclaim hook), read by should_reclaim_retry and compaction_suitable.
  std::uint64_t reclaimable_pages = 0;

  std::uint64_t zone_end_pfn() const { return zone_start_pfn + spanned_pages; }
  bool zone_spans_pfn(std::uint64_t pfn) const { return pfn >= zone_start_pfn && pfn < zone_end_pfn(); }
  bool populated_zone() const { return present_pages != 0; }
  bool managed_zone() const { return managed_pages != 0; }
  std::uint64_t wmark_pages(unsigned i) const { return _watermark[i] + watermark_boost; }
  std::uint64_t min_wmark_pages() const { return wmark_pages(WMARK_MIN); }
  std::uint64_t low_wmark_pages() const { return wmark_pages(WMARK_LOW); }
  std::uint64_t high_wmark_pages() const { return wmark_pages(WMARK_HIGH); }
};

// ---------------------------------------------------------------------------------------
// Results

enum class bd_error {
  none,
  invalid_gfp_zone,     // two of __GFP_DMA, __GFP_HIGHMEM, __GFP_DMA32 (GFP_ZONE_BAD)
  invalid_gfp_bits,     // bits beyond __GFP_BITS_MASK
  invalid_migratetype,  // __GFP_MOVABLE | __GFP_RECLAIMABLE (gfp_migratetype() == 3)
  outside_zones,        // the frame is in no zone's managed memory (hole, reserved, beyond)
  free_block,           // freeing (or referencing) a frame that is already free
  tail_page,            // a frame inside an allocated block, not its head
  wrong_order,          // freeing with an order other than the one allocated
  bad_address,          // not a direct-map address
};
const char* bd_error_text(bd_error e);

// How an allocation ended: every exit of __alloc_pages and __alloc_pages_slowpath.
enum class alloc_outcome {
  fast_path,            // get_page_from_freelist at the low watermark
  slow_path,            // a later get_page_from_freelist (min watermark, reserves, after
                        // reclaim, compaction, the OOM attempt, or the NOFAIL fallback)
  invalid,              // bad input: see alloc_result::error; nothing changed
  order_too_large,      // order >= MAX_ORDER: WARN unless __GFP_NOWARN, NULL
  fault_injected,       // should_fail_alloc_page()
  no_zone,              // no populated zone at or below gfp_zone()
  no_direct_reclaim,    // !__GFP_DIRECT_RECLAIM (GFP_ATOMIC, GFP_NOWAIT): nopage
  pf_memalloc,          // reclaim recursion: nopage
  costly_noretry_compaction,  // costly order, __GFP_NORETRY, compaction skipped or deferred
  noretry,              // __GFP_NORETRY after one reclaim and compaction round
  costly,               // order > PAGE_ALLOC_COSTLY_ORDER without __GFP_RETRY_MAYFAIL
  retries_exhausted,    // should_reclaim_retry / should_compact_retry said stop and the OOM
                        // path made no progress (including its "no OOM kill" cases)
  oom_victim,           // current is an OOM victim with ALLOC_OOM or __GFP_NOMEMALLOC
  nofail_no_reclaim,    // __GFP_NOFAIL without __GFP_DIRECT_RECLAIM: WARN, fail
  would_loop_forever,   // the retry loop made no progress for max_stuck_rounds rounds: the
                        // kernel would spin here (a __GFP_NOFAIL or a small-order request
                        // that the OOM killer keeps "progressing" without freeing anything)
};
const char* alloc_outcome_text(alloc_outcome o);
inline constexpr unsigned NR_ALLOC_OUTCOMES = 15;
static_assert(static_cast<unsigned>(alloc_outcome::would_loop_forever) + 1 == NR_ALLOC_OUTCOMES);

struct alloc_result {
  std::optional<std::uint64_t> pfn;
  alloc_outcome outcome = alloc_outcome::invalid;
  bd_error error = bd_error::none;
  unsigned zone = 0;               // the zone the page came from
  std::string warning;             // warn_alloc's first line, or a WARN_ON's text; "" if none
  unsigned retries = 0;            // times the slow path went back to `retry`
  bool ok() const { return pfn.has_value(); }
};

// The task the allocation runs in (current->flags and OOM state).
struct task_context {
  bool pf_memalloc = false;  // PF_MEMALLOC: reclaim context, may use no-watermark reserves
  bool oom_victim = false;   // tsk_is_oom_victim(current): ALLOC_OOM
  bool rt_task = false;      // rt_task(current) in task context: ALLOC_HARDER
};

// include/linux/compaction.h
enum class compact_result { COMPACT_NOT_SUITABLE_ZONE, COMPACT_SKIPPED, COMPACT_DEFERRED, COMPACT_CONTINUE,
                            COMPACT_COMPLETE, COMPACT_PARTIAL_SKIPPED, COMPACT_CONTENDED, COMPACT_SUCCESS };
enum class compact_priority { COMPACT_PRIO_SYNC_FULL = 0, COMPACT_PRIO_SYNC_LIGHT = 1, COMPACT_PRIO_ASYNC = 2 };

class page_alloc;

// The parts of the kernel outside the page allocator that it calls: kswapd, reclaim,
// compaction, the OOM killer. They may free pages through the allocator. Defaults: kswapd
// clears the zone's watermark boost (what balance_pgdat does at the end of boosted reclaim)
// and reclaims nothing; direct reclaim reclaims nothing; compaction is skipped (nothing
// movable); the OOM killer finds no victim.
struct alloc_hooks {
  std::function<void(page_alloc&, unsigned zone, unsigned order, gfp_t)> wakeup_kswapd;
  // try_to_free_pages(): returns the number of pages reclaimed (did_some_progress).
  std::function<std::uint64_t(page_alloc&, unsigned order, gfp_t)> try_to_free_pages;
  // try_to_compact_pages()
  std::function<compact_result(page_alloc&, unsigned order, gfp_t, compact_priority)> try_to_compact_pages;
  // out_of_memory(): true when a victim was chosen (memory will be freed).
  std::function<bool(page_alloc&, unsigned order, gfp_t)> out_of_memory;
};

// fail_page_alloc — mm/fail_page_alloc.c with lib/fault-inject.c's attributes.
struct fail_page_alloc_attr {
  unsigned probability = 0;      // percent
  unsigned interval = 1;
  std::int64_t times = -1;       // -1: no limit
  std::uint64_t nth = 0;         // current->fail_nth: fail the nth call from now (0 = off)
  bool ignore_gfp_highmem = true;
  bool ignore_gfp_reclaim = true;
  unsigned min_order = 1;
  std::uint64_t seed = 1;        // the model's prandom
};

// What the watermark gate saw for the last successful allocation: BD-WMARK judges it.
struct wmark_witness {
  bool valid = false;
  unsigned zone = 0, order = 0, alloc_flags = 0, highest_zoneidx = 0;
  std::uint64_t mark = 0;          // the mark the check passed against
  bool bypassed = false;           // ALLOC_NO_WATERMARKS took the zone despite a failed check
  std::int64_t free_after = 0;     // NR_FREE_PAGES after the allocation
  std::uint64_t reserved_highatomic = 0;  // nr_reserved_highatomic when the check ran
};

// Event counters (vmstat-like), read by the properties' coverage gates.
struct buddy_stats {
  std::uint64_t allocs = 0, frees = 0, merges = 0, splits = 0;
  std::uint64_t merge_orders_max = 0;        // most merges one free did
  std::uint64_t to_tail = 0;                 // buddy_merge_likely placed a block at the tail
  std::uint64_t zone_fallbacks = 0;          // allocation from a zone after the preferred one
  std::uint64_t mt_fallbacks = 0;            // __rmqueue_fallback stole from another type
  std::uint64_t pageblock_steals = 0;        // ... and claimed the whole pageblock
  std::uint64_t highatomic_reserved = 0;     // reserve_highatomic_pageblock took a block
  std::uint64_t highatomic_unreserved = 0;
  std::uint64_t wmark_refusals = 0;          // zone_watermark_fast said no for a zone
  std::uint64_t boosts = 0;
  std::uint64_t kswapd_wakeups = 0;
  std::uint64_t refused = 0;                 // bad input refused
  std::array<std::uint64_t, NR_ALLOC_OUTCOMES> outcomes{};
};

// ---------------------------------------------------------------------------------------
// The allocator

class page_alloc final : public frame_provider {
 public:
  explicit page_alloc(buddy_config cfg);
  page_alloc(const page_alloc&) = delete;
  page_alloc& operator=(const page_alloc&) = delete;

  const buddy_config& config() const { return cfg_; }

  // __alloc_pages() with the local node's zonelist.
  alloc_result alloc_pages(gfp_t gfp, unsigned order, const task_context& task = {});
  // __free_pages(): put_page_testzero, then free the block (or, for a non-compound block with
  // other references, its tail parts: the B7 path).
  bd_error __free_pages(std::uint64_t pfn, unsigned order);
  // split_page() — mm/page_alloc.c: a non-compound block of order > 0 becomes 2^order
  // independent order-0 pages, each with one reference (huge vmalloc frees them one by one).
  bd_error split_page(std::uint64_t pfn, unsigned order);
  // get_page() / put_page() on an allocated head.
  bd_error get_page(std::uint64_t pfn);
  bd_error put_page(std::uint64_t pfn);

  // __get_free_pages(): strips __GFP_HIGHMEM (6.1) and returns the direct-map address, 0 on
  // failure. get_zeroed_page() adds __GFP_ZERO. free_pages(addr, order): 0 is ignored.
  std::uint64_t __get_free_pages(gfp_t gfp, unsigned order, alloc_result* res = nullptr);
  std::uint64_t get_zeroed_page(gfp_t gfp, alloc_result* res = nullptr);
  bd_error free_pages(std::uint64_t addr, unsigned order);
  std::uint64_t page_address(std::uint64_t pfn) const { return cfg_.page_offset + (pfn << PAGE_SHIFT); }

  // The machine model's page tables draw from here: __get_free_page(GFP_PGTABLE_KERNEL).
  std::optional<std::uint64_t> alloc_table_frame() override;
  void free_table_frame(std::uint64_t pfn) override;
  bool frame_allocated(std::uint64_t pfn) const override;

  // Where frame contents live (get_zeroed_page / __GFP_ZERO zero frames there). Without one,
  // the allocator keeps its own.
  void attach_phys_mem(phys_mem& mem) { mem_ = &mem; }
  phys_mem& memory() { return *mem_; }

  alloc_hooks hooks;
  fail_page_alloc_attr fail_attr;
  unsigned max_stuck_rounds = 64;  // bound on retries without progress before would_loop_forever

  // vm.min_free_kbytes / vm.watermark_scale_factor writes: recompute as the sysctl handlers do.
  void set_min_free_kbytes(std::int64_t kbytes);
  void set_watermark_scale_factor(std::uint64_t factor);

  // Views.
  std::string buddyinfo() const;
  std::string zoneinfo() const;
  std::string pagetypeinfo() const;

  // Read access for checkers, properties and proofs' abstraction function.
  const std::vector<zone>& zones() const { return zones_; }
  const zone& zone_at(unsigned idx) const { return zones_.at(idx); }
  std::uint64_t memmap_start() const { return memmap_start_; }
  std::uint64_t memmap_end() const { return memmap_start_ + pages_.size(); }
  bool pfn_valid(std::uint64_t pfn) const { return pfn >= memmap_start_ && pfn < memmap_end(); }
  const page& page_at(std::uint64_t pfn) const { return pages_.at(pfn - memmap_start_); }
  unsigned get_pageblock_migratetype(std::uint64_t pfn) const;
  // The free list in list order (head first), as pfns.
  std::vector<std::uint64_t> free_list(unsigned zone, unsigned order, unsigned mt) const;
  std::int64_t min_free_kbytes() const { return min_free_kbytes_; }
  std::uint64_t total_free_pages() const;
  std::uint64_t total_managed_pages() const;
  const buddy_stats& stats() const { return stats_; }
  const wmark_witness& last_witness() const { return witness_; }
  // Whether pfn is the head of an allocated block, and its order.
  std::optional<unsigned> allocated_order(std::uint64_t pfn) const;
  // zone index of a managed frame, or nullopt.
  std::optional<unsigned> zone_of(std::uint64_t pfn) const;
  // The zone's __zone_watermark_ok inputs for a request (used by the checkers and tests).
  wmark_args<cword> watermark_args(const zone& z, unsigned order, std::uint64_t mark, unsigned highest_zoneidx,
                                   unsigned alloc_flags, std::int64_t free_pages) const;

  // Direct access for tests that corrupt state on purpose (checkers' negative tests).
  page& page_for_test(std::uint64_t pfn) { return pages_.at(pfn - memmap_start_); }
  zone& zone_for_test(unsigned idx) { return zones_.at(idx); }
  void list_del_for_test(unsigned zone, unsigned order, unsigned mt, std::uint64_t pfn);
  // Puts [pfn, pfn + 2^order) on a free list as a free head, counted, with no merging.
  void add_free_block_for_test(unsigned zone, std::uint64_t pfn, unsigned order, unsigned mt);

 private:
  struct alloc_context {
    unsigned highest_zoneidx = 0;
    unsigned migratetype = 0;
    int preferred_zone = -1;  // first populated zone at or below highest_zoneidx, or -1
  };

  page& pg(std::uint64_t pfn) { return pages_[pfn - memmap_start_]; }
  const page& pg(std::uint64_t pfn) const { return pages_[pfn - memmap_start_]; }
  std::uint32_t idx(std::uint64_t pfn) const { return static_cast<std::uint32_t>(pfn - memmap_start_); }

  // Boot.
  void free_area_init();
  void memblock_free_all();
  void init_per_zone_wmark_min();
  void calculate_min_free_kbytes();
  void set_recommended_min_free_kbytes();
  void setup_per_zone_wmarks();
  void setup_per_zone_lowmem_reserve();
  std::uint64_t nr_free_buffer_pages() const;

  // Free lists.
  void list_add(list_head& h, std::uint64_t pfn);
  void list_add_tail(list_head& h, std::uint64_t pfn);
  void list_del(list_head& h, std::uint64_t pfn);
  void add_to_free_list(std::uint64_t pfn, zone& z, unsigned order, unsigned mt, bool tail);
  void move_to_free_list(std::uint64_t pfn, zone& z, unsigned order, unsigned mt);
  void del_page_from_free_list(std::uint64_t pfn, zone& z, unsigned order);
  void set_buddy_order(std::uint64_t pfn, unsigned order);
  bool page_is_buddy(std::uint64_t pfn, std::uint64_t buddy_pfn, unsigned order) const;
  std::optional<std::uint64_t> find_buddy_page_pfn(std::uint64_t pfn, unsigned order, std::uint64_t* buddy_pfn) const;
  bool buddy_merge_likely(std::uint64_t pfn, std::uint64_t buddy_pfn, unsigned order) const;
  void set_pageblock_migratetype(std::uint64_t pfn, unsigned mt);

  // Freeing.
  void __free_one_page(std::uint64_t pfn, zone& z, unsigned order, unsigned mt, bool fpi_to_tail);
  void __free_pages_ok(std::uint64_t pfn, unsigned order, bool fpi_to_tail);
  void free_the_page(std::uint64_t pfn, unsigned order) { __free_pages_ok(pfn, order, false); }
  void free_pages_prepare(std::uint64_t pfn, unsigned order);
  bd_error check_free(std::uint64_t pfn, unsigned order) const;

  // Allocating.
  void expand(zone& z, std::uint64_t pfn, unsigned low, unsigned high, unsigned mt);
  std::optional<std::uint64_t> __rmqueue_smallest(zone& z, unsigned order, unsigned mt);
  int find_suitable_fallback(const free_area& area, unsigned order, unsigned mt, bool only_stealable,
                             bool* can_steal) const;
  bool __rmqueue_fallback(zone& z, unsigned order, unsigned start_mt, unsigned alloc_flags);
  void steal_suitable_fallback(zone& z, std::uint64_t pfn, unsigned alloc_flags, unsigned start_type,
                               bool whole_block);
  std::uint64_t move_freepages_block(zone& z, std::uint64_t pfn, unsigned mt, std::uint64_t* num_movable);
  bool boost_watermark(zone& z);
  std::optional<std::uint64_t> __rmqueue(zone& z, unsigned order, unsigned mt, unsigned alloc_flags);
  std::optional<std::uint64_t> rmqueue(zone& z, unsigned order, gfp_t gfp, unsigned alloc_flags, unsigned mt);
  void prep_new_page(std::uint64_t pfn, unsigned order, gfp_t gfp, unsigned mt);
  void reserve_highatomic_pageblock(std::uint64_t pfn, zone& z);
  bool unreserve_highatomic_pageblock(const alloc_context& ac, bool force);
  bool zone_watermark_fast(const zone& z, unsigned order, std::uint64_t* mark, unsigned highest_zoneidx,
                           unsigned alloc_flags, gfp_t gfp) const;
  bool zone_watermark_ok(const zone& z, unsigned order, std::uint64_t mark, unsigned highest_zoneidx,
                         unsigned alloc_flags, std::int64_t free_pages) const;
  std::optional<std::uint64_t> get_page_from_freelist(gfp_t gfp, unsigned order, unsigned alloc_flags,
                                                      const alloc_context& ac, unsigned* from_zone);
  unsigned gfp_to_alloc_flags(gfp_t gfp, const task_context& task) const;
  unsigned __gfp_pfmemalloc_flags(gfp_t gfp, const task_context& task) const;
  bool should_fail_alloc_page(gfp_t gfp, unsigned order);
  void wake_all_kswapds(unsigned order, gfp_t gfp, const alloc_context& ac);
  bool should_reclaim_retry(unsigned order, const alloc_context& ac, unsigned alloc_flags, bool did_some_progress,
                            unsigned* no_progress_loops);
  bool should_compact_retry(const alloc_context& ac, unsigned order, unsigned alloc_flags, compact_result result,
                            compact_priority* prio, unsigned* compaction_retries) const;
  bool compaction_zonelist_suitable(const alloc_context& ac, unsigned order, unsigned alloc_flags) const;
  alloc_result __alloc_pages_slowpath(gfp_t gfp, unsigned order, alloc_context& ac, const task_context& task);
  std::optional<std::uint64_t> cpuset_fallback(gfp_t gfp, unsigned order, unsigned alloc_flags,
                                               const alloc_context& ac, unsigned* from_zone);
  void warn_alloc(alloc_result& r, gfp_t gfp, unsigned order, const char* what) const;
  alloc_result finish(alloc_result r);

  buddy_config cfg_;
  std::uint64_t memmap_start_ = 0;
  std::vector<page> pages_;
  std::vector<std::uint8_t> pageblock_mt_;  // per pageblock of the memmap
  std::vector<zone> zones_;                 // MAX_NR_ZONES entries, in zone_type order
  std::int64_t min_free_kbytes_ = 1024;     // the static initial value in mm/page_alloc.c
  std::unique_ptr<phys_mem> own_mem_;
  phys_mem* mem_ = nullptr;
  buddy_stats stats_;
  wmark_witness witness_;
  std::mt19937_64 fault_rng_;
  std::uint64_t fault_calls_ = 0;
  std::uint64_t fault_rng_seed_ = 0;
};

// A machine whose page-table frames come from a buddy allocator over the same RAM.
struct buddy_machine {
  std::unique_ptr<page_alloc> buddy;
  std::unique_ptr<machine> mach;
  explicit buddy_machine(const machine_config& cfg);
};

}  // namespace mmref::buddy
