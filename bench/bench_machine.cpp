// bench/bench_machine.cpp — what the abstract machine costs, as ratios to a naive model.
//
// Synopsis
//   BM_unordered_map_lookup/N       the baseline: std::unordered_map<page VA, pfn>::find, the
//                                   structure a naive model would translate with.
//   BM_translate_tlb_hit/N          machine::translate(cpu, va) with every page already in that
//                                   CPU's TLB (the TLB lookup, no walk).
//   BM_walk_4level/N                machine::walk(va): the hardware page walk alone, four
//                                   levels of entries read from phys_mem and decoded — what a
//                                   TLB miss costs before translate's A/D update and fill.
//   BM_map_unmap_flush_4k           map_page + unmap + flush_tlb_kernel_range of one 4 KiB
//                                   page, tables already populated (steady state).
//   BM_map_unmap_flush_2m           map_huge + unmap + flush_tlb_kernel_range of one 2 MiB leaf.
//
// N (4096, 65536) pages are mapped at VMALLOC_START (0xffffc90000000000) onto data frames from
// pfn 0x100 up (RAM in the default machine, disjoint from its page-table pool at pfn 0x100000).
// Every lookup benchmark visits the same N page VAs in the same randomised order, computed
// before the timing loop, one lookup per iteration; map/unmap/flush is one cycle per iteration.
// So "per iteration" is "per item" throughout, and SetItemsProcessed says so.
//
// Why ratios: absolute nanoseconds depend on the host; the ratio to an unordered_map lookup
// over the same pages, measured in the same run, says how far the model's faithful structures
// (tables in frames, a std::map TLB) are from the cheapest thing that would give the same
// answer. main() runs the benchmarks through bench/ratio_reporter.hpp, which prints the ratio
// table (median over --benchmark_repetitions) after the normal console output.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

#include "bench/ratio_reporter.hpp"
#include "model/machine.hpp"

namespace {

using mmref::mm_status;
using mmref::PAGE_SHIFT;
using mmref::PAGE_SIZE;
using mmref::PMD_SIZE;

constexpr std::uint64_t kVaBase = 0xffffc90000000000ull;  // VMALLOC_START, 4-level, no KASLR
constexpr std::uint64_t kFirstDataPfn = 0x100;            // first RAM frame above the ISA hole
constexpr std::uint64_t kHugePfn = 0x200;                 // 2 MiB aligned, RAM
constexpr unsigned kCpu = 0;
constexpr const char* kBaselineName = "BM_unordered_map_lookup";
constexpr const char* kFallbackArgs = "N:4096";  // baseline for benchmarks without an N

std::size_t page_count(const benchmark::State& state) { return static_cast<std::size_t>(state.range(0)); }

std::uint64_t page_va(std::size_t k) { return kVaBase + static_cast<std::uint64_t>(k) * PAGE_SIZE; }
std::uint64_t page_pfn(std::size_t k) { return kFirstDataPfn + static_cast<std::uint64_t>(k); }

// The N page VAs in a fixed pseudo-random order: the same order for every benchmark with the
// same N, so the baseline and the model do the same lookups.
std::vector<std::uint64_t> shuffled_page_vas(std::size_t n) {
  std::vector<std::uint64_t> vas(n);
  for (std::size_t k = 0; k < n; ++k) vas[k] = page_va(k);
  std::mt19937_64 rng(0x6d6d726566ull);
  std::shuffle(vas.begin(), vas.end(), rng);
  return vas;
}

// Maps page k at page_va(k) onto page_pfn(k) for k < n: vmap_pte_range() -> set_pte_at().
bool map_pages(mmref::machine& m, std::size_t n) {
  const mmref::machine_config& cfg = m.config();
  if (!cfg.layout.is_vmalloc_addr(page_va(0)) || !cfg.layout.is_vmalloc_addr(page_va(n - 1))) return false;
  for (std::size_t k = 0; k < n; ++k) {
    if (!cfg.is_ram(page_pfn(k))) return false;
    if (page_pfn(k) >= cfg.table_pool.start_pfn && page_pfn(k) < cfg.table_pool.end_pfn) return false;
    if (m.map_page(page_va(k), page_pfn(k)) != mm_status::ok) return false;
  }
  return true;
}

std::uint64_t expected_pa(std::uint64_t va) {
  return (page_pfn(static_cast<std::size_t>((va - kVaBase) >> PAGE_SHIFT)) << PAGE_SHIFT) | (va & (PAGE_SIZE - 1));
}

// 1. The baseline: a hash map from page VA to pfn over the same pages.
void BM_unordered_map_lookup(benchmark::State& state) {
  const std::size_t n = page_count(state);
  const std::vector<std::uint64_t> order = shuffled_page_vas(n);
  std::unordered_map<std::uint64_t, std::uint64_t> table;
  table.reserve(n);
  for (std::size_t k = 0; k < n; ++k) table.emplace(page_va(k), page_pfn(k));

  std::size_t i = 0;
  std::uint64_t misses = 0;
  for (auto _ : state) {
    const auto it = table.find(order[i]);
    std::uint64_t pfn = ~std::uint64_t{0};
    if (it != table.end())
      pfn = it->second;
    else
      ++misses;
    benchmark::DoNotOptimize(pfn);
    if (++i == n) i = 0;
  }
  if (misses != 0) state.SkipWithError("baseline lookup missed a page it was given");
  state.SetItemsProcessed(state.iterations());
}

// 2. machine::translate() on a TLB hit. translate is what the MMU does on an access: the TLB,
// then on a miss the hardware page walk. Every page was translated once on this CPU before the
// loop, so each lookup is served by tlb::lookup without a walk.
void BM_translate_tlb_hit(benchmark::State& state) {
  const std::size_t n = page_count(state);
  const std::vector<std::uint64_t> order = shuffled_page_vas(n);
  mmref::machine m(mmref::machine_config::default_machine());
  if (!map_pages(m, n)) {
    state.SkipWithError("map_page refused a page while setting up");
    return;
  }
  // Warm the TLB: the first access on this CPU walks and fills.
  for (std::uint64_t va : order) {
    const mmref::access_result r = m.translate(kCpu, va);
    if (!r.ok() || r.pa != expected_pa(va)) {
      state.SkipWithError("translate gave a wrong answer while warming the TLB");
      return;
    }
  }

  std::size_t i = 0;
  std::uint64_t misses = 0;
  for (auto _ : state) {
    const mmref::access_result r = m.translate(kCpu, order[i]);
    if (!r.tlb_hit) ++misses;
    std::uint64_t pa = r.pa;
    benchmark::DoNotOptimize(pa);
    if (++i == n) i = 0;
  }
  if (misses != 0) state.SkipWithError("translate missed the TLB after warming it");
  state.SetItemsProcessed(state.iterations());
}

// 3. The TLB-miss path's core: the 4-level walk alone (page_tables::walk through machine::walk),
// reading and decoding PGD, PUD, PMD and PTE entries from phys_mem. translate() on a real miss
// does more (mark_accessed's second descent setting A/D, tlb::fill), so this is a lower bound.
void BM_walk_4level(benchmark::State& state) {
  const std::size_t n = page_count(state);
  const std::vector<std::uint64_t> order = shuffled_page_vas(n);
  mmref::machine m(mmref::machine_config::default_machine());
  if (!map_pages(m, n)) {
    state.SkipWithError("map_page refused a page while setting up");
    return;
  }
  for (std::uint64_t va : order) {
    const mmref::walk_result w = m.walk(va);
    if (!w.ok() || w.leaf.level != 1 || (w.leaf.pfn << PAGE_SHIFT) != expected_pa(va)) {
      state.SkipWithError("walk gave a wrong answer before timing");
      return;
    }
  }

  std::size_t i = 0;
  std::uint64_t faults = 0;
  for (auto _ : state) {
    const mmref::walk_result w = m.walk(order[i]);
    if (!w.ok()) ++faults;
    std::uint64_t pfn = w.leaf.pfn;
    benchmark::DoNotOptimize(pfn);
    if (++i == n) i = 0;
  }
  if (faults != 0) state.SkipWithError("walk faulted on a mapped page");
  state.SetItemsProcessed(state.iterations());
}

// 4. One map / unmap / flush cycle of a single leaf in steady state. map is
// vmap_pte_range() -> set_pte_at() (4 KiB) or vmap_try_huge_pmd() -> pmd_set_huge() (2 MiB);
// unmap is vunmap_pte_range() / pmd_clear_huge(), which leaves the TLB flush owed; the flush is
// flush_tlb_kernel_range(), which discharges it. Without the flush the owed map would grow, so
// the flush is part of what is measured (hence the names).
template <bool Huge>
void map_unmap_flush(benchmark::State& state) {
  const std::uint64_t va = kVaBase;
  const std::uint64_t size = Huge ? PMD_SIZE : PAGE_SIZE;
  const std::uint64_t pfn = Huge ? kHugePfn : kFirstDataPfn;
  mmref::machine m(mmref::machine_config::default_machine());
  const auto cycle = [&m, va, size, pfn]() {
    const mm_status mapped = Huge ? m.map_huge(va, pfn) : m.map_page(va, pfn);
    const mm_status unmapped = m.unmap(va);
    const mm_status flushed = m.flush_tlb_kernel_range(va, va + size);
    return mapped == mm_status::ok && unmapped == mm_status::ok && flushed == mm_status::ok;
  };
  // The first cycle allocates the PMD (and, for 4 KiB, the PTE) table; later cycles reuse them.
  if (!cycle() || !m.owed().empty()) {
    state.SkipWithError("the first map/unmap/flush cycle failed");
    return;
  }
  const std::size_t tables_before = m.tables().tables().size();

  std::uint64_t failures = 0;
  for (auto _ : state) {
    if (!cycle()) ++failures;
    benchmark::ClobberMemory();
  }
  if (failures != 0)
    state.SkipWithError("a map/unmap/flush cycle failed");
  else if (!m.owed().empty())
    state.SkipWithError("a flush stayed owed after flush_tlb_kernel_range");
  else if (m.tables().tables().size() != tables_before)
    state.SkipWithError("the page-table tree changed shape: not a steady state");
  state.SetItemsProcessed(state.iterations());
}

void BM_map_unmap_flush_4k(benchmark::State& state) { map_unmap_flush<false>(state); }
void BM_map_unmap_flush_2m(benchmark::State& state) { map_unmap_flush<true>(state); }

BENCHMARK(BM_unordered_map_lookup)->ArgName("N")->Arg(4096)->Arg(65536);
BENCHMARK(BM_translate_tlb_hit)->ArgName("N")->Arg(4096)->Arg(65536);
BENCHMARK(BM_walk_4level)->ArgName("N")->Arg(4096)->Arg(65536);
BENCHMARK(BM_map_unmap_flush_4k);
BENCHMARK(BM_map_unmap_flush_2m);

}  // namespace

int main(int argc, char** argv) {
  return mmref::bench::run_with_ratio_table(
      argc, argv,
      {kBaselineName, kFallbackArgs,
       "a std::unordered_map<page VA, pfn> lookup over the same N pages (BM_unordered_map_lookup)."},
      "mmref_bench");
}
