// bench/bench_vmalloc.cpp — what an alloc+free pair of kernel virtual address space costs with
// the modern and the classic KVA allocator at 10^3, 10^4 and 10^5 live areas, as ratios to a
// std::map insert+erase at the same N.
//
// Synopsis
//   BM_std_map_insert_erase/N  the baseline: a std::map<uint64_t, uint64_t> of N entries; one
//                              iteration inserts a new pseudo-random key and erases a random
//                              live key (the same live-key vector and swap-remove as below), so
//                              the map keeps N entries: two O(log N) tree updates, one node
//                              allocated and one freed.
//   BM_kva_modern/N            kva_registry::create("modern"): free space in an augmented
//                              rb-tree (subtree_max_size), the Linux 5.2+ allocator. One
//                              iteration is alloc_vmap_area()'s part: a vmap_area descriptor from
//                              the kmalloc stub, preload(cpu), alloc() of the next request of a
//                              precomputed sequence; then release() of a random live area (the
//                              purge's merge_or_add_vmap_area_augment), so N stays constant.
//   BM_kva_classic/N           kva_registry::create("classic"): the busy tree of Linux <= 5.1
//                              with free_vmap_cache. The same iteration. Its search walks the
//                              areas in address order from the cache, or from vstart whenever the
//                              cache is invalidated (a request smaller than the largest hole
//                              skipped, or with a smaller align than the last): O(N) per request.
//                              That walk is what Uladzislau Rezki's 2019 rewrite ("mm/vmalloc.c:
//                              improve vmap allocation", 5.2) replaced with an O(log N) descent.
//
// The state per N: N live areas in the default x86-64 vmalloc window [0xffffc90000000000,
// 0xffffe8ffffffffff), each request one of 1..16 pages plus the guard page aligned to PAGE_SIZE
// (80%), or a kernel stack (THREAD_SIZE 16 KiB + guard = 5 pages, aligned to 16 KiB; 20%); then
// a random half is released and as many areas allocated again, so the space has holes. That
// history runs once per N through kva_registry::create("modern")'s alloc(), and its N areas are
// imported into each strategy under test with reserve() (an exact range, no search; the classic
// free_vmap_cache starts empty), so both strategies start from the same layout. Running the
// history through the classic strategy's own alloc() would cost O(N^2), minutes at N=10^5. The
// state is built anew, outside the timing, every time Google Benchmark calls the function.
//
// Fixed seeds: every benchmark sees the same requests and the same victims. The timed loop takes
// its steps from a precomputed cyclic sequence of 65536 (size, align, victim) entries; the victim
// is the live entry at index victim % live.size(), removed by swapping it with the last (the
// area just allocated is a candidate too). Before and after each run, outside the timing: no
// alloc or reserve failed, no release was refused, N areas are live, the strategy's
// check_structure() holds, and every descriptor is accounted for (live areas plus the strategy's
// own descriptors() equal the stub's live vmap_area count).
//
// What the strategies leave out: the modern kernel also inserts the busy area into
// vmap_area_root and erases it at free (an O(log N) rb-tree update), which the model keeps in
// vmalloc.hpp, not in the strategy; the classic busy tree is the strategy's own, so its insert and
// erase are measured. No purge, no lazy accounting, no page mapping: only the address space.
//
// Why ratios: absolute nanoseconds depend on the host. The ratio to a std::map insert+erase of
// the same N says how far each allocator's pair is from the cost of two balanced-tree updates,
// and how that distance grows with N (constant for an O(log N) allocator, linear for an O(N) one).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/ratio_reporter.hpp"
#include "impl/vmalloc/kmalloc.hpp"
#include "impl/vmalloc/kva.hpp"
#include "impl/vmalloc/vmap_area.hpp"
#include "model/align.hpp"

namespace {

using mmref::PAGE_SIZE;
using mmref::vmalloc::kmalloc_kind;
using mmref::vmalloc::kmalloc_site;
using mmref::vmalloc::kmalloc_stub;
using mmref::vmalloc::kva_allocator;
using mmref::vmalloc::kva_registry;
using mmref::vmalloc::kva_request;
using mmref::vmalloc::kva_result;
using mmref::vmalloc::vmap_area;

constexpr const char* kBaselineName = "BM_std_map_insert_erase";
constexpr const char* kFallbackArgs = "N:10000";
constexpr std::uint64_t kPopulateSeed = 0x766d616c6c6f63ull;  // "vmalloc"
constexpr std::uint64_t kStepSeed = 0x6b76617374657073ull;     // "kvasteps"
constexpr std::uint64_t kVstart = 0xffffc90000000000ull;       // VMALLOC_START, default x86-64 layout
constexpr std::uint64_t kVend = 0xffffe8ffffffffffull;         // VMALLOC_END
constexpr std::uint64_t kStackAlign = 16 * 1024;               // THREAD_ALIGN = THREAD_SIZE
constexpr std::uint64_t kStackSize = 4 * PAGE_SIZE + PAGE_SIZE;  // THREAD_SIZE + the guard page
constexpr unsigned kStackPercent = 20;
constexpr unsigned kMaxPages = 16;
constexpr unsigned kNrCpus = 2;
constexpr unsigned kCpu = 0;
constexpr const char* kLayoutStrategy = "modern";  // builds the start layout (see the top)
constexpr std::size_t kSteps = std::size_t{1} << 16;  // the timed loop's cyclic sequence

std::size_t live_count(const benchmark::State& state) { return static_cast<std::size_t>(state.range(0)); }

// One request of the mix: size (guard page included) and align.
struct area_request {
  std::uint64_t size = 0;
  std::uint64_t align = 0;
};

area_request draw_request(std::mt19937_64& rng) {
  const std::uint64_t r = rng();
  if (r % 100 < kStackPercent) return {kStackSize, kStackAlign};
  const std::uint64_t pages = 1 + (r / 100) % kMaxPages;
  return {(pages + 1) * PAGE_SIZE, PAGE_SIZE};
}

// One step of a timed loop: the request to allocate, then the victim among the live areas.
struct step {
  area_request req;
  std::uint64_t victim = 0;  // index victim % live.size()
};

// The same sequence for every benchmark, the baseline included (it takes the victims, and the
// sizes as the values it inserts).
const std::vector<step>& steps() {
  static const std::vector<step> seq = [] {
    std::vector<step> s(kSteps);
    std::mt19937_64 rng(kStepSeed);
    for (step& st : s) {
      st.req = draw_request(rng);
      st.victim = rng();
    }
    return s;
  }();
  return seq;
}

// Remove live[k] by swapping it with the last element; returns the removed value.
template <class T>
T swap_remove(std::vector<T>& live, std::size_t k) {
  T out = live[k];
  live[k] = live.back();
  live.pop_back();
  return out;
}

// --- The KVA state ---------------------------------------------------------------------------

struct range {
  std::uint64_t start = 0, end = 0;
};

class kva_state {
 public:
  explicit kva_state(const std::string& strategy) : kva_(kva_registry::create(strategy, cache_, kNrCpus)) {}

  ~kva_state() {
    // The strategy holds free space; the busy descriptors are ours (vmalloc.hpp's, in the model).
    for (vmap_area* va : live_) cache_.free(va, kmalloc_kind::vmap_area);
  }

  kva_state(const kva_state&) = delete;
  kva_state& operator=(const kva_state&) = delete;

  // The history: n allocations of the mix, a random half released, as many allocated again.
  void populate(std::size_t n) {
    live_.reserve(n + 1);
    std::mt19937_64 rng(kPopulateSeed);
    for (std::size_t i = 0; i < n; ++i) alloc_one(draw_request(rng));
    for (std::size_t i = 0; i < n / 2 && !live_.empty(); ++i)
      release_one(static_cast<std::size_t>(rng() % live_.size()));
    while (live_.size() < n && failed_ == 0) alloc_one(draw_request(rng));
  }

  // The busy areas, in the live vector's order.
  std::vector<range> ranges() const {
    std::vector<range> out;
    out.reserve(live_.size());
    for (const vmap_area* va : live_) out.push_back({va->va_start, va->va_end});
    return out;
  }

  // Make exactly these areas busy (reserve(): no search, no cache update), in this order.
  void import(const std::vector<range>& areas) {
    live_.reserve(areas.size() + 1);
    for (const range& a : areas) {
      vmap_area* va = new_descriptor();
      if (va == nullptr || !kva_->reserve(a.start, a.end)) {
        ++failed_;
        cache_.free(va, kmalloc_kind::vmap_area);
        continue;
      }
      va->va_start = a.start;
      va->va_end = a.end;
      live_.push_back(va);
    }
  }

  // alloc_vmap_area()'s part under test: the descriptor, preload_this_cpu_lock(), the search
  // and carve. A failure is counted and the descriptor freed.
  void alloc_one(const area_request& req) {
    vmap_area* va = new_descriptor();
    kva_->preload(kCpu);
    kva_result r = kva_->alloc(kva_request{req.size, req.align, kVstart, kVend, kCpu});
    benchmark::DoNotOptimize(r);
    if (va == nullptr || !r.ok) {
      ++failed_;
      cache_.free(va, kmalloc_kind::vmap_area);
      return;
    }
    va->va_start = r.addr;
    va->va_end = r.addr + req.size;
    live_.push_back(va);
  }

  // live[k]'s range goes back to free space; the strategy takes the descriptor.
  void release_one(std::size_t k) {
    vmap_area* va = swap_remove(live_, k);
    if (!kva_->release(va)) {
      ++refused_releases_;
      cache_.free(va, kmalloc_kind::vmap_area);  // refused: still ours
    }
  }

  // One timed iteration: the next step's alloc, then the release of its victim.
  void pair() {
    const step& s = steps()[cursor_++ & (kSteps - 1)];
    alloc_one(s.req);
    if (!live_.empty()) release_one(static_cast<std::size_t>(s.victim % live_.size()));
  }

  std::size_t live() const { return live_.size(); }

  // "" when the state is sound: no failure, the strategy's invariants, no descriptor leaked.
  std::string problem() const {
    if (failed_ != 0) return "an allocation or reservation failed (" + std::to_string(failed_) + ")";
    if (refused_releases_ != 0) return "release refused an area it had handed out";
    const std::string structure = kva_->check_structure();
    if (!structure.empty()) return "check_structure: " + structure;
    if (cache_.live(kmalloc_kind::vmap_area) != live_.size() + kva_->descriptors())
      return "vmap_area descriptors leaked or lost";
    return {};
  }

 private:
  vmap_area* new_descriptor() {
    return cache_.alloc<vmap_area>(kmalloc_kind::vmap_area, kmalloc_site::vmap_area);
  }

  kmalloc_stub cache_;  // declared first: the strategy frees its descriptors into it
  std::unique_ptr<kva_allocator> kva_;
  std::vector<vmap_area*> live_;  // the busy areas, in no order
  std::size_t cursor_ = 0;
  std::uint64_t failed_ = 0;
  std::uint64_t refused_releases_ = 0;
};

// The N live areas every strategy starts from: populate(n) run through the modern strategy's
// alloc(), once per n. Empty when that history failed.
const std::vector<range>& layout(std::size_t n) {
  static std::map<std::size_t, std::vector<range>> layouts;
  auto found = layouts.find(n);
  if (found == layouts.end()) {
    kva_state builder(kLayoutStrategy);
    builder.populate(n);
    found = layouts.emplace(n, builder.problem().empty() ? builder.ranges() : std::vector<range>{}).first;
  }
  return found->second;
}

// --- The baseline -----------------------------------------------------------------------------

// splitmix64's finaliser: a bijection of 64-bit words, so distinct counters give distinct keys.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

class map_state {
 public:
  explicit map_state(std::size_t n) {
    keys_.reserve(n + 1);
    for (std::size_t i = 0; i < n; ++i) insert_one(PAGE_SIZE);
  }

  void insert_one(std::uint64_t value) {
    const std::uint64_t key = mix(next_key_++);
    auto result = map_.emplace(key, value);
    benchmark::DoNotOptimize(result);
    if (!result.second) {
      ++duplicates_;
      return;
    }
    keys_.push_back(key);
  }

  void pair() {
    const step& s = steps()[cursor_++ & (kSteps - 1)];
    insert_one(s.req.size);
    if (!keys_.empty()) {
      std::size_t erased = map_.erase(swap_remove(keys_, static_cast<std::size_t>(s.victim % keys_.size())));
      benchmark::DoNotOptimize(erased);
      if (erased != 1) ++missing_;
    }
  }

  std::size_t live() const { return map_.size(); }

  std::string problem() const {
    if (duplicates_ != 0) return "a key was inserted twice";
    if (missing_ != 0 || map_.size() != keys_.size()) return "the map and the live keys disagree";
    return {};
  }

 private:
  std::map<std::uint64_t, std::uint64_t> map_;
  std::vector<std::uint64_t> keys_;
  std::uint64_t next_key_ = 0;
  std::size_t cursor_ = 0;
  std::uint64_t duplicates_ = 0;
  std::uint64_t missing_ = 0;
};

template <class S>
void run_pairs(benchmark::State& state, S& s, std::size_t n) {
  std::string problem = s.problem();
  if (problem.empty() && s.live() != n) problem = "the state does not hold N live entries";
  if (!problem.empty()) {
    state.SkipWithError(("setup: " + problem).c_str());
    return;
  }
  for (auto _ : state) s.pair();
  problem = s.problem();
  if (problem.empty() && s.live() != n) problem = "the number of live entries changed";
  if (!problem.empty()) state.SkipWithError(problem.c_str());
  state.SetItemsProcessed(state.iterations());
}

void BM_std_map_insert_erase(benchmark::State& state) {
  const std::size_t n = live_count(state);
  map_state s(n);
  run_pairs(state, s, n);
}

void kva_pairs(benchmark::State& state, const std::string& strategy) {
  const std::size_t n = live_count(state);
  const std::vector<range>& areas = layout(n);
  if (areas.size() != n) {
    state.SkipWithError("setup: the layout's history failed");
    return;
  }
  kva_state s(strategy);
  s.import(areas);
  run_pairs(state, s, n);
}

void BM_kva_modern(benchmark::State& state) { kva_pairs(state, "modern"); }
void BM_kva_classic(benchmark::State& state) { kva_pairs(state, "classic"); }

BENCHMARK(BM_std_map_insert_erase)->ArgName("N")->Arg(1000)->Arg(10000)->Arg(100000);
BENCHMARK(BM_kva_modern)->ArgName("N")->Arg(1000)->Arg(10000)->Arg(100000);
BENCHMARK(BM_kva_classic)->ArgName("N")->Arg(1000)->Arg(10000)->Arg(100000);

}  // namespace

int main(int argc, char** argv) {
  return mmref::bench::run_with_ratio_table(
      argc, argv,
      {kBaselineName, kFallbackArgs,
       "a std::map<uint64_t, uint64_t> of N entries: insert of a new key + erase of a random live key, "
       "the same live-key bookkeeping (BM_std_map_insert_erase)."},
      "bench_vmalloc");
}
