// bench/bench_buddy.cpp — what the buddy allocator costs per operation, as ratios to a bare
// free list.
//
// Synopsis
//   BM_freelist_pop_push/N    the baseline: N pops, then N pushes in a shuffled order, of an
//                             intrusive singly linked list of frames over a preallocated array:
//                             an allocator with no splitting, no merging, no watermarks and no
//                             zones.
//   BM_buddy_order0/N         page_alloc::alloc_pages(GFP_KERNEL, 0) N times, then __free_pages
//                             of the N pages in the same shuffled order. N:1 is the steady-state
//                             alloc/free pair: every allocation splits an order-10 block down
//                             to order 0 (expand) and every free merges it back.
//   BM_buddy_mixed/N          the same with orders from a fixed pseudo-random sequence: order 0
//                             half the time, 1 (20%), 2 (15%), 3 (10%), and 5% spread evenly
//                             over 4..7. Freeing in a shuffled order makes merges happen at
//                             every order. About 5.3 pages per allocation: N:65536 (~350k
//                             pages) outgrows ZONE_NORMAL (262144 pages) and falls back to
//                             DMA32, as GFP_KERNEL does once NORMAL reaches its low watermark.
//
// The allocator is page_alloc over buddy_config::default_machine() (4 GiB, QEMU's layout),
// booted fresh for every run, outside the timing. Per-cpu lists are off in the model (every
// order-0 page goes through the buddy lists), so this is the kernel's buddy path, not its pcp
// fast path. One iteration is a batch of N allocations and N frees, which leaves every frame
// free again (checked after the loop: NR_FREE_PAGES is back to its boot value, no allocation
// failed, no free was refused). The baseline does the same 2N operations per iteration in the
// same order; each benchmark sets the ops_per_iter counter to 2N, so the ratio table is per
// operation (one alloc or one free).
//
// Why ratios: absolute nanoseconds depend on the host. The ratio to a free-list pop/push in the
// same run says what the buddy's faithful structures (struct page per frame, free lists per
// order and migratetype, watermark checks, zone fallback, split and merge) cost over the
// cheapest allocator of single frames.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "bench/ratio_reporter.hpp"
#include "impl/buddy/page_alloc.hpp"

namespace {

using mmref::buddy::alloc_result;
using mmref::buddy::bd_error;
using mmref::buddy::buddy_config;
using mmref::buddy::GFP_KERNEL;
using mmref::buddy::page_alloc;

constexpr const char* kBaselineName = "BM_freelist_pop_push";
constexpr const char* kFallbackArgs = "N:4096";
constexpr std::uint64_t kFreeOrderSeed = 0x6275646479ull;  // "buddy"
constexpr std::uint64_t kOrderSeed = 0x6f72646572ull;      // "order"
// The baseline list holds as many frames as the default machine has (4 GiB of 4 KiB frames).
constexpr std::uint32_t kBaselineFrames = std::uint32_t{1} << 20;
constexpr std::uint32_t kNilFrame = ~std::uint32_t{0};
constexpr std::uint64_t kNoPfn = ~std::uint64_t{0};

std::size_t batch_size(const benchmark::State& state) { return static_cast<std::size_t>(state.range(0)); }

// The order in which a batch of n is freed: a permutation of 0..n-1, the same for every
// benchmark with the same n. Fisher-Yates over mt19937_64's raw output, whose sequence the
// standard fixes (std::shuffle's use of it is the library's choice).
std::vector<std::size_t> free_order(std::size_t n) {
  std::vector<std::size_t> order(n);
  for (std::size_t k = 0; k < n; ++k) order[k] = k;
  std::mt19937_64 rng(kFreeOrderSeed);
  for (std::size_t k = n; k > 1; --k) {
    const std::size_t j = static_cast<std::size_t>(rng() % k);
    std::swap(order[k - 1], order[j]);
  }
  return order;
}

// The orders of BM_buddy_mixed's batch: 0 (50%), 1 (20%), 2 (15%), 3 (10%), 4..7 (5%).
std::vector<unsigned> mixed_orders(std::size_t n) {
  std::vector<unsigned> orders(n);
  std::mt19937_64 rng(kOrderSeed);
  for (unsigned& order : orders) {
    const std::uint64_t r = rng();
    const std::uint64_t pct = r % 100;
    if (pct < 50)
      order = 0;
    else if (pct < 70)
      order = 1;
    else if (pct < 85)
      order = 2;
    else if (pct < 95)
      order = 3;
    else
      order = 4 + static_cast<unsigned>((r / 100) % 4);
  }
  return orders;
}

// One iteration is n allocations and n frees.
void report_batch(benchmark::State& state, std::size_t n) {
  state.counters[mmref::bench::kOpsPerIter] = static_cast<double>(2 * n);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(2 * n));
}

// 1. The baseline: frames on an intrusive singly linked list, next[frame] the frame after it;
// initially every frame in ascending order, as the buddy hands out ascending frames after boot.
void BM_freelist_pop_push(benchmark::State& state) {
  const std::size_t n = batch_size(state);
  if (n > kBaselineFrames) {
    state.SkipWithError("the batch is larger than the baseline's list");
    return;
  }
  const std::vector<std::size_t> order = free_order(n);
  std::vector<std::uint32_t> next(kBaselineFrames);
  for (std::uint32_t f = 0; f < kBaselineFrames; ++f) next[f] = f + 1 < kBaselineFrames ? f + 1 : kNilFrame;
  std::uint32_t head = 0;
  std::vector<std::uint32_t> held(n);

  std::uint64_t empty = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t frame = head;
      if (frame == kNilFrame) {
        ++empty;
        break;
      }
      head = next[frame];
      held[i] = frame;
    }
    for (std::size_t k : order) {
      next[held[k]] = head;
      head = held[k];
    }
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(head);
  if (empty != 0) state.SkipWithError("the baseline's list ran empty");
  report_batch(state, n);
}

// 2 and 3. n allocations with the given orders, then n frees in free_order(n).
void alloc_free_batch(benchmark::State& state, const std::vector<unsigned>& orders) {
  const std::size_t n = orders.size();
  const std::vector<std::size_t> order = free_order(n);
  page_alloc pa(buddy_config::default_machine());
  const std::uint64_t free_at_boot = pa.total_free_pages();
  std::vector<std::uint64_t> held(n, kNoPfn);

  std::uint64_t failed_allocs = 0;
  std::uint64_t refused_frees = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) {
      const alloc_result r = pa.alloc_pages(GFP_KERNEL, orders[i]);
      if (r.pfn) {
        held[i] = *r.pfn;
      } else {
        held[i] = kNoPfn;
        ++failed_allocs;
      }
    }
    for (std::size_t k : order) {
      if (held[k] != kNoPfn && pa.__free_pages(held[k], orders[k]) != bd_error::none) ++refused_frees;
    }
  }
  if (failed_allocs != 0)
    state.SkipWithError("an allocation failed");
  else if (refused_frees != 0)
    state.SkipWithError("__free_pages refused a page it had handed out");
  else if (pa.total_free_pages() != free_at_boot)
    state.SkipWithError("NR_FREE_PAGES is not back to its boot value: not a steady state");
  report_batch(state, n);
}

void BM_buddy_order0(benchmark::State& state) {
  alloc_free_batch(state, std::vector<unsigned>(batch_size(state), 0));
}

void BM_buddy_mixed(benchmark::State& state) { alloc_free_batch(state, mixed_orders(batch_size(state))); }

BENCHMARK(BM_freelist_pop_push)->ArgName("N")->Arg(1)->Arg(4096)->Arg(65536);
BENCHMARK(BM_buddy_order0)->ArgName("N")->Arg(1)->Arg(4096)->Arg(65536);
BENCHMARK(BM_buddy_mixed)->ArgName("N")->Arg(4096)->Arg(65536);

}  // namespace

int main(int argc, char** argv) {
  return mmref::bench::run_with_ratio_table(
      argc, argv,
      {kBaselineName, kFallbackArgs,
       "a pop/push of an intrusive singly linked free list of frames, the same 2N operations in the same "
       "order (BM_freelist_pop_push)."},
      "bench_buddy");
}
