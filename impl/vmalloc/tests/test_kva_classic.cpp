// Tests for impl/vmalloc/kva_classic.hpp: worked examples derived by hand from alloc_vmap_area()
// and __free_vmap_area() of Linux 5.0/5.1 (the expected addresses are written out), and a
// randomized run checked against an exact oracle.
//
// What the classic algorithm guarantees (derived from the code, and what the random test checks):
//   Let the request pass the BUG_ON checks, and call the cache "used" when free_vmap_cache is set,
//   size >= cached_hole_size, vstart >= cached_vstart, align >= cached_align and
//   ALIGN(cache->va_end, align) >= vstart (else `goto nocache`). The search starts at
//   from = cache->va_end when the cache is used, else at vstart; the walk then visits the
//   candidates ALIGN(from) and ALIGN(area->va_end) of the following areas in increasing order,
//   and every area before the current one ends at or below the candidate. Hence:
//     result == the lowest a = ALIGN(x, align), x >= from, with [a, a + size) free and no wrap,
//     provided a + size <= vend; failure exactly when there is no such a.
//   Without the cache this is the lowest aligned fit at or above vstart: complete (a fit in
//   [vstart, vend) is never missed). With the cache it is not: holes below the cache are never
//   considered, so a request can fail (and the kernel then purges and retries) although a fit
//   exists below. The address is checked against a brute-force search of the free gaps;
//   cached_hole_size against a re-run of the walk over a std::map; the cache pointer against the
//   rule of __free_vmap_area applied to a shadow list of records.
#include "model/hex.hpp"
#include "impl/vmalloc/kva_classic.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "model/align.hpp"

namespace mmref::vmalloc {
namespace {

using u64 = std::uint64_t;

constexpr u64 P = PAGE_SIZE;
constexpr u64 V = 0xffffc90000000000ULL;  // VMALLOC_START of the default x86-64 layout
constexpr u64 VE = V + 0x1000000;         // a 16 MiB window for the worked examples
constexpr u64 FAILED = ~u64{0};           // never a valid start (a start + P would wrap)
constexpr u64 ULONG_MAX_ = ~u64{0};

u64 test_seed() {
  const char* s = std::getenv("MMREF_SEED");
  const u64 seed = s != nullptr ? std::strtoull(s, nullptr, 0) : 20261207;
  std::cout << "[ seed ] MMREF_SEED=" << seed << "\n";
  return seed;
}

std::string iv(u64 s, u64 e) { return "[" + hex(s) + ", " + hex(e) + ")"; }
std::string iv(const std::optional<kva_interval>& i) { return i ? iv(i->start, i->end) : "none"; }
std::string iv(const vmap_area* va) { return va != nullptr ? iv(va->va_start, va->va_end) : "none"; }

u64 align_up(u64 x, u64 a) { return ALIGN(cword{x}, cword{a}).v; }

struct Classic : ::testing::Test {
  kmalloc_stub km;
  kva_classic kva{km, 2};

  u64 at(u64 size, u64 align = P, u64 vstart = V, u64 vend = VE) {
    const kva_result r = kva.alloc({size, align, vstart, vend, 0});
    EXPECT_EQ(r.fit, NOTHING_FIT);
    EXPECT_FALSE(r.descriptor_failed);
    return r.ok ? r.addr : FAILED;
  }
  // The caller's side of release(): a descriptor from the same kmalloc_stub, kept on failure.
  bool release(u64 s, u64 e) {
    vmap_area* d = km.alloc<vmap_area>(kmalloc_kind::vmap_area, kmalloc_site::vmap_area);
    d->va_start = s;
    d->va_end = e;
    const u64 live = km.live(kmalloc_kind::vmap_area);
    const bool ok = kva.release(d);
    EXPECT_EQ(km.live(kmalloc_kind::vmap_area), ok ? live - 1 : live);
    if (!ok) km.free(d, kmalloc_kind::vmap_area);
    return ok;
  }
  std::string cache() const { return iv(kva.free_vmap_cache()); }
  std::string gaps() const {
    std::string out;
    for (const kva_interval& g : kva.free_intervals()) out += iv(g.start, g.end);
    return out;
  }
  void TearDown() override {
    EXPECT_EQ(kva.check_structure(), "");
    EXPECT_EQ(km.live(kmalloc_kind::vmap_area), 0u);
    EXPECT_EQ(kva.descriptors(), 0u);
  }
};

// ---------------------------------------------------------------------------------------------
// Worked examples. Every step is the kernel's code run by hand; the comments give the path.

TEST_F(Classic, NameAndEmptySpace) {
  EXPECT_EQ(kva.name(), "classic");
  EXPECT_EQ(gaps(), iv(1, ULONG_MAX_));
  EXPECT_EQ(cache(), "none");
  EXPECT_EQ(kva.cached_hole_size(), 0u);
  EXPECT_EQ(kva.cached_vstart(), 0u);
  EXPECT_EQ(kva.cached_align(), 0u);
}

TEST_F(Classic, CacheResumesAfterLastAllocationAndSkipsALowerHole) {
  // No cache: addr = ALIGN(V) = V, empty tree -> found.
  EXPECT_EQ(at(2 * P), V);
  EXPECT_EQ(cache(), iv(V, V + 2 * P));
  EXPECT_EQ(kva.cached_vstart(), V);
  EXPECT_EQ(kva.cached_align(), P);
  // Cache used: addr = ALIGN(cache end); the walk starts at the cached area, which is last.
  EXPECT_EQ(at(2 * P), V + 2 * P);
  EXPECT_EQ(at(2 * P), V + 4 * P);
  EXPECT_EQ(cache(), iv(V + 4 * P, V + 6 * P));
  // Freeing A = [V, V+2P): va_end >= cached_vstart and va_start <= cache->va_start, so the cache
  // becomes rb_prev(A) = none.
  EXPECT_TRUE(release(V, V + 2 * P));
  EXPECT_EQ(cache(), "none");
  // No cache, 4P: addr = V, first = [V+2P, V+4P) (lowest end >= V). Walk: V+4P > V+2P, hole
  // V+2P - V = 2P noted (0 + V < V+2P); addr = V+4P; first = [V+4P, V+6P): V+8P > V+4P, hole
  // 0 not > 2P; addr = V+6P; last -> found [V+6P, V+10P). cached_hole_size = 2P.
  EXPECT_EQ(at(4 * P), V + 6 * P);
  EXPECT_EQ(kva.cached_hole_size(), 2 * P);
  // 2P: size < cached_hole_size is false (2P < 2P), so the cache stays: addr = V+10P, although
  // the hole [V, V+2P) would fit. Not lowest fit.
  EXPECT_EQ(at(2 * P), V + 10 * P);
  EXPECT_EQ(cache(), iv(V + 10 * P, V + 12 * P));
  EXPECT_EQ(gaps(), iv(1, V + 2 * P) + iv(V + 12 * P, ULONG_MAX_));
  // The same request inside [V, V+12P) fails: the walk from the cache stops at vend. The kernel
  // would purge and retry; with nothing lazy the retry fails the same way. A fit exists below.
  EXPECT_EQ(at(2 * P, P, V, V + 12 * P), FAILED);
  EXPECT_EQ(cache(), iv(V + 10 * P, V + 12 * P));
  EXPECT_EQ(kva.cached_hole_size(), 2 * P);
  // P < cached_hole_size: invalidate; addr = V, first = [V+2P, V+4P); V+P > V+2P is false ->
  // found [V, V+P). cached_hole_size was reset to 0.
  EXPECT_EQ(at(P), V);
  EXPECT_EQ(kva.cached_hole_size(), 0u);
  EXPECT_EQ(cache(), iv(V, V + P));
  // Cache used again: addr = V+P, walk: cache area (V+2P > V), then [V+2P, V+4P): V+2P > V+2P
  // is false -> found [V+P, V+2P): the rest of the hole.
  EXPECT_EQ(at(P), V + P);
}

TEST_F(Classic, LowerVstartInvalidatesAHigherOneJumpsOverTheCache) {
  // No cache: addr = V+8P, empty -> [V+8P, V+10P); cached_vstart = V+8P.
  EXPECT_EQ(at(2 * P, P, V + 8 * P), V + 8 * P);
  // vstart V < cached_vstart: invalidate. addr = V, first = [V+8P, V+10P); V+2P > V+8P is false
  // -> found [V, V+2P).
  EXPECT_EQ(at(2 * P), V);
  EXPECT_EQ(cache(), iv(V, V + 2 * P));
  // vstart V+4P >= cached_vstart V: the cache is kept, but ALIGN(V+2P) < V+4P -> goto nocache:
  // addr = V+4P, first = [V+8P, V+10P) (lowest end >= V+4P); V+6P > V+8P is false -> V+4P.
  EXPECT_EQ(at(2 * P, P, V + 4 * P), V + 4 * P);
  EXPECT_EQ(cache(), iv(V + 4 * P, V + 6 * P));
  // vstart V+5P inside the cached area: ALIGN(V+6P) >= V+5P, cache used: walk the cached area,
  // then [V+8P, V+10P): V+7P > V+8P is false -> [V+6P, V+7P).
  EXPECT_EQ(at(P, P, V + 5 * P), V + 6 * P);
}

TEST_F(Classic, SmallerAlignInvalidatesAlignAbovePageSkipsUnalignedSpace) {
  // align 16P; V is 16P aligned. No cache -> [V, V+P).
  EXPECT_EQ(at(P, 16 * P), V);
  EXPECT_EQ(kva.cached_align(), 16 * P);
  // Cache used: addr = ALIGN(V+P, 16P) = V+16P; walk the cached area (no hole noted: the test
  // compares addr with the area's start) -> [V+16P, V+17P).
  EXPECT_EQ(at(P, 16 * P), V + 16 * P);
  EXPECT_EQ(kva.cached_hole_size(), 0u);
  // align P < cached_align: invalidate. addr = V, first = [V, V+P) (contains V); walk: addr =
  // V+P; [V+16P, V+17P): V+2P > V+16P is false -> [V+P, V+2P).
  EXPECT_EQ(at(P, P), V + P);
  // align 16P >= cached_align P, cache [V+P, V+2P) used: addr = ALIGN(V+2P, 16P) = V+16P; walk
  // the cached area, then [V+16P, V+17P): V+17P > V+16P, hole V+16P - V+16P = 0; addr =
  // ALIGN(V+17P, 16P) = V+32P; last -> [V+32P, V+33P).
  EXPECT_EQ(at(P, 16 * P), V + 32 * P);
  // Freeing [V, V+P), below the cache: cache = rb_prev([V, V+P)) = none. Then no cache: addr =
  // V, first = [V+P, V+2P) (lowest end >= V); V+P > V+P is false -> V, the lowest 16P-aligned fit.
  EXPECT_TRUE(release(V, V + P));
  EXPECT_EQ(cache(), "none");
  EXPECT_EQ(at(P, 16 * P), V);
}

TEST_F(Classic, ReleaseBelowTheCacheMovesItBackAboveLeavesIt) {
  EXPECT_EQ(at(2 * P), V);          // A
  EXPECT_EQ(at(2 * P), V + 2 * P);  // B
  EXPECT_EQ(at(2 * P), V + 4 * P);  // C
  EXPECT_EQ(at(2 * P), V + 6 * P);  // D, cached
  // B.va_start <= D.va_start: cache = rb_prev(B) = A.
  EXPECT_TRUE(release(V + 2 * P, V + 4 * P));
  EXPECT_EQ(cache(), iv(V, V + 2 * P));
  // Cache used: addr = V+2P; walk A, then C: V+4P > V+4P is false -> B's old place.
  EXPECT_EQ(at(2 * P), V + 2 * P);
  EXPECT_EQ(cache(), iv(V + 2 * P, V + 4 * P));
  // D lies above the cache: the cache stays.
  EXPECT_TRUE(release(V + 6 * P, V + 8 * P));
  EXPECT_EQ(cache(), iv(V + 2 * P, V + 4 * P));
  // vstart V+16P: ALIGN(V+4P) < V+16P -> goto nocache -> [V+16P, V+18P); cached_vstart = V+16P.
  EXPECT_EQ(at(2 * P, P, V + 16 * P), V + 16 * P);
  // A ends below cached_vstart: the cache is dropped.
  EXPECT_TRUE(release(V, V + 2 * P));
  EXPECT_EQ(cache(), "none");
}

TEST_F(Classic, HoleBetweenTwoAreasVersusAfterTheLast) {
  // reserve() does not touch the cache (none yet).
  ASSERT_TRUE(kva.reserve(V, V + 2 * P));
  ASSERT_TRUE(kva.reserve(V + 3 * P, V + 5 * P));
  ASSERT_TRUE(kva.reserve(V + 8 * P, V + 9 * P));
  EXPECT_EQ(cache(), "none");
  // 4P, no cache: addr = V, first = [V, V+2P) -> addr V+2P; [V+3P, V+5P): V+6P > V+3P, hole P
  // noted; addr = V+5P; [V+8P, V+9P): V+9P > V+8P, hole 3P noted; addr = V+9P; last -> after
  // the last area.
  EXPECT_EQ(at(4 * P), V + 9 * P);
  EXPECT_EQ(kva.cached_hole_size(), 3 * P);
  // P < 3P: invalidate; addr = V -> V+2P; [V+3P, V+5P): V+3P > V+3P is false -> between the
  // first two areas.
  EXPECT_EQ(at(P), V + 2 * P);
  EXPECT_EQ(kva.cached_hole_size(), 0u);
  // 3P, cache [V+2P, V+3P) used: addr = V+3P; walk the cached area, [V+3P, V+5P) -> addr
  // V+5P; [V+8P, V+9P): V+8P > V+8P is false -> the exact 3P hole between two areas.
  EXPECT_EQ(at(3 * P), V + 5 * P);
  EXPECT_EQ(gaps(), iv(1, V) + iv(V + 13 * P, ULONG_MAX_));
}

TEST_F(Classic, VendTooSmall) {
  ASSERT_TRUE(kva.reserve(V, V + 4 * P));
  // addr = V; walk [V, V+4P): V+2P <= V+5P -> addr V+4P; last -> found: V+6P > V+5P: overflow.
  EXPECT_EQ(at(2 * P, P, V, V + 5 * P), FAILED);
  EXPECT_EQ(cache(), "none");
  EXPECT_EQ(kva.cached_vstart(), V);
  // One page ends exactly at vend.
  EXPECT_EQ(at(P, P, V, V + 5 * P), V + 4 * P);
  // vend <= vstart: never fits.
  EXPECT_EQ(at(P, P, V + 64 * P, V + 64 * P), FAILED);
  EXPECT_EQ(at(P, P, V + 64 * P, V + 63 * P), FAILED);
}

TEST_F(Classic, WrapNearTheTopOfTheSpace) {
  const u64 top = u64{0} - 4 * P;  // 2^64 - 4P
  // addr = top; top + 8P wraps: overflow.
  EXPECT_EQ(at(8 * P, P, top, ULONG_MAX_), FAILED);
  EXPECT_EQ(at(2 * P, P, top, ULONG_MAX_), top);
  // vstart top+2P >= cached_vstart: cache used, addr = top+2P.
  EXPECT_EQ(at(P, P, top + 2 * P, ULONG_MAX_), top + 2 * P);
  // addr = 2^64 - P; addr + P wraps to 0: overflow. The cache stays.
  EXPECT_EQ(at(P, P, top + 2 * P, ULONG_MAX_), FAILED);
  EXPECT_EQ(cache(), iv(top + 2 * P, top + 3 * P));
  // align 2^63, vstart 2^63 + P: invalidated (lower vstart); ALIGN(vstart) wraps to 0, the walk
  // stops at once (P > top is false) and `addr < vstart` at found: fails (afd07389d3f4).
  const u64 half = u64{1} << 63;
  EXPECT_EQ(at(P, half, half + P, ULONG_MAX_), FAILED);
  EXPECT_EQ(cache(), "none");
  // From vstart 1 the only 2^63-aligned candidate is 2^63.
  EXPECT_EQ(at(P, half, 1, ULONG_MAX_), half);
  EXPECT_EQ(gaps(), iv(1, half) + iv(half + P, top) + iv(top + 3 * P, ULONG_MAX_));
}

TEST_F(Classic, HugeAlignWrapIsCaughtAtFound) {
  ASSERT_TRUE(kva.reserve(P, 2 * P));
  // align 2^63, vstart 2^63 + P: ALIGN(vstart) wraps to 0; first = [P, 2P) (lowest end >= 0);
  // 0 + 2P > P: hole P noted, addr = ALIGN(2P, 2^63) = 2^63; last -> found. 2^63 + 2P fits
  // below vend, but 2^63 < vstart: the check afd07389d3f4 added (before it: BUG_ON).
  const u64 half = u64{1} << 63;
  EXPECT_EQ(at(2 * P, half, half + P, ULONG_MAX_), FAILED);
  EXPECT_EQ(kva.cached_hole_size(), P);
  EXPECT_EQ(cache(), "none");
  EXPECT_EQ(gaps(), iv(1, P) + iv(2 * P, ULONG_MAX_));
  EXPECT_TRUE(release(P, 2 * P));
}

TEST_F(Classic, BadArgumentsFailAndChangeNothing) {
  EXPECT_EQ(at(2 * P), V);
  const std::string before = gaps();
  for (const kva_request q : {kva_request{0, P, V, VE, 0}, kva_request{P + 1, P, V, VE, 0},
                              kva_request{P, 0, V, VE, 0}, kva_request{P, 3 * P, V, VE, 0}}) {
    EXPECT_FALSE(kva.alloc(q).ok);
    EXPECT_EQ(gaps(), before);
    EXPECT_EQ(cache(), iv(V, V + 2 * P));
    EXPECT_EQ(kva.cached_vstart(), V);
    EXPECT_EQ(kva.cached_align(), P);
  }
  // A valid request that cannot fit still records its parameters, and here drops the cache:
  // ALIGN(V+2P) < vstart V+5P -> goto nocache; then V+6P > vend V+5P.
  EXPECT_EQ(at(P, P, V + 5 * P, V + 5 * P), FAILED);
  EXPECT_EQ(cache(), "none");
  EXPECT_EQ(kva.cached_vstart(), V + 5 * P);
  // vstart 0 would give address 0 in the kernel; the model's space starts at 1.
  EXPECT_EQ(at(P, P, 0, V), FAILED);
}

TEST_F(Classic, ReleaseOfAMergedUnionOfAdjacentRecords) {
  EXPECT_EQ(at(2 * P), V);          // A
  EXPECT_EQ(at(2 * P), V + 2 * P);  // B
  EXPECT_EQ(at(2 * P), V + 4 * P);  // C
  EXPECT_EQ(at(2 * P), V + 6 * P);  // D, cached
  // B u C in one descriptor. In address order: B -> cache = rb_prev(B) = A; C: V+4P <= V is
  // false -> stays A.
  EXPECT_TRUE(release(V + 2 * P, V + 6 * P));
  EXPECT_EQ(cache(), iv(V, V + 2 * P));
  EXPECT_EQ(gaps(), iv(1, V) + iv(V + 2 * P, V + 6 * P) + iv(V + 8 * P, ULONG_MAX_));
  // A u ... is not adjacent to D: nothing may change.
  const std::string before = gaps();
  for (const kva_interval r : {kva_interval{V, V + 8 * P},        // spans the gap
                               kva_interval{V, V + P},            // part of A
                               kva_interval{V + P, V + 2 * P},    // starts inside A
                               kva_interval{V, V + 3 * P},        // A and free space
                               kva_interval{V + 2 * P, V + 4 * P},  // free space
                               kva_interval{V + 6 * P, V + 9 * P},  // D and beyond
                               kva_interval{V, V}, kva_interval{V + 2 * P, V}}) {
    EXPECT_FALSE(release(r.start, r.end)) << iv(r.start, r.end);
    EXPECT_EQ(gaps(), before);
    EXPECT_EQ(kva.check_structure(), "");
    EXPECT_EQ(cache(), iv(V, V + 2 * P));
  }
  // A itself, then D (the cache is none after A: rb_prev(A) is none).
  EXPECT_TRUE(release(V, V + 2 * P));
  EXPECT_EQ(cache(), "none");
  EXPECT_TRUE(release(V + 6 * P, V + 8 * P));
  EXPECT_EQ(gaps(), iv(1, ULONG_MAX_));
}

TEST_F(Classic, ReleaseOfAUnionContainingTheCache) {
  EXPECT_EQ(at(2 * P), V);
  EXPECT_EQ(at(2 * P), V + 2 * P);
  EXPECT_EQ(at(2 * P), V + 4 * P);  // cached
  // A: A.va_start <= cache -> rb_prev(A) = none; B, C: no cache any more.
  EXPECT_TRUE(release(V, V + 6 * P));
  EXPECT_EQ(cache(), "none");
  EXPECT_EQ(gaps(), iv(1, ULONG_MAX_));
}

TEST_F(Classic, ReserveOnlyInFreeSpace) {
  EXPECT_EQ(at(2 * P), V);
  EXPECT_TRUE(kva.reserve(V + 2 * P, V + 3 * P));  // touching is fine
  EXPECT_FALSE(kva.reserve(V + P, V + 4 * P));     // overlaps
  EXPECT_FALSE(kva.reserve(V + 4 * P, V + 4 * P));  // empty
  EXPECT_FALSE(kva.reserve(0, P));                 // below the space
  EXPECT_TRUE(kva.reserve(1, P));
  EXPECT_TRUE(kva.reserve(ULONG_MAX_ - P, ULONG_MAX_));
  EXPECT_EQ(cache(), iv(V, V + 2 * P));  // reserve never moves the cache
  EXPECT_EQ(gaps(), iv(P, V) + iv(V + 3 * P, ULONG_MAX_ - P));
  // The cache is used from the allocated area: ALIGN(V+2P) -> walk [V+2P, V+3P) -> V+3P.
  EXPECT_EQ(at(P), V + 3 * P);
  EXPECT_TRUE(release(V + 2 * P, V + 4 * P));  // a reserved record and an allocated one
  EXPECT_TRUE(release(1, P));
  EXPECT_TRUE(release(ULONG_MAX_ - P, ULONG_MAX_));
  EXPECT_TRUE(release(V, V + 2 * P));
}

TEST_F(Classic, FreeBlockAtOrBelow) {
  EXPECT_EQ(iv(kva.free_block_at_or_below(0)), "none");
  EXPECT_EQ(iv(kva.free_block_at_or_below(1)), iv(1, ULONG_MAX_));
  EXPECT_EQ(iv(kva.free_block_at_or_below(ULONG_MAX_)), iv(1, ULONG_MAX_));
  ASSERT_TRUE(kva.reserve(V, V + 2 * P));
  ASSERT_TRUE(kva.reserve(V + 2 * P, V + 4 * P));  // adjacent: no gap between
  ASSERT_TRUE(kva.reserve(V + 8 * P, V + 9 * P));
  EXPECT_EQ(iv(kva.free_block_at_or_below(0)), "none");
  EXPECT_EQ(iv(kva.free_block_at_or_below(1)), iv(1, V));
  EXPECT_EQ(iv(kva.free_block_at_or_below(V)), iv(1, V));  // the end counts (inclusive)
  EXPECT_EQ(iv(kva.free_block_at_or_below(V + P)), iv(1, V));
  EXPECT_EQ(iv(kva.free_block_at_or_below(V + 3 * P)), iv(1, V));
  EXPECT_EQ(iv(kva.free_block_at_or_below(V + 4 * P)), iv(V + 4 * P, V + 8 * P));
  EXPECT_EQ(iv(kva.free_block_at_or_below(V + 8 * P)), iv(V + 4 * P, V + 8 * P));
  EXPECT_EQ(iv(kva.free_block_at_or_below(V + 8 * P + 1)), iv(V + 4 * P, V + 8 * P));
  EXPECT_EQ(iv(kva.free_block_at_or_below(V + 9 * P)), iv(V + 9 * P, ULONG_MAX_));
  EXPECT_EQ(iv(kva.free_block_at_or_below(ULONG_MAX_)), iv(V + 9 * P, ULONG_MAX_));
  ASSERT_TRUE(kva.reserve(1, P));  // no gap below V any more
  EXPECT_EQ(iv(kva.free_block_at_or_below(1)), "none");
  EXPECT_EQ(iv(kva.free_block_at_or_below(V + P)), iv(P, V));
  ASSERT_TRUE(kva.reserve(V + 9 * P, ULONG_MAX_));  // nor above V+9P
  EXPECT_EQ(iv(kva.free_block_at_or_below(ULONG_MAX_)), iv(V + 4 * P, V + 8 * P));
  for (const kva_interval r : {kva_interval{1, P}, kva_interval{V, V + 4 * P}, kva_interval{V + 8 * P, ULONG_MAX_}})
    EXPECT_TRUE(release(r.start, r.end));
}

TEST_F(Classic, CheckStructureReportsCorruption) {
  EXPECT_EQ(at(2 * P), V);
  EXPECT_EQ(at(2 * P), V + 2 * P);
  EXPECT_EQ(at(2 * P), V + 4 * P);
  // Corrupt a record on purpose (the test's own const_cast), then restore it.
  vmap_area* mid = const_cast<vmap_area*>(va_of_list(kva.busy_tree().head.next->next));
  ASSERT_EQ(iv(mid), iv(V + 2 * P, V + 4 * P));
  mid->va_end = mid->va_start;
  EXPECT_NE(kva.check_structure().find("empty area"), std::string::npos) << kva.check_structure();
  mid->va_end = V + 5 * P;
  EXPECT_NE(kva.check_structure().find("overlap"), std::string::npos) << kva.check_structure();
  mid->va_end = V + 4 * P;
  EXPECT_EQ(kva.check_structure(), "");
}

// ---------------------------------------------------------------------------------------------
// Randomized run against the oracle described at the top of the file.

using recmap = std::map<u64, u64>;  // start -> end of every record, the shadow of the busy tree

struct shadow_state {
  recmap recs;
  std::optional<u64> cache;  // va_start of the cached record
  u64 chs = 0, cvs = 0, cal = 0;
};

std::vector<kva_interval> gaps_of(const recmap& recs) {
  std::vector<kva_interval> out;
  u64 cursor = KVA_SPACE_START;
  for (const auto& [s, e] : recs) {
    if (s > cursor) out.push_back({cursor, s});
    cursor = std::max(cursor, e);
  }
  if (cursor < KVA_SPACE_END) out.push_back({cursor, KVA_SPACE_END});
  return out;
}

// Brute force: the lowest ALIGN(x, align), x >= from, with [a, a + size) inside a free gap.
std::optional<u64> lowest_aligned_fit(const std::vector<kva_interval>& gaps, u64 from, u64 size, u64 align) {
  for (const kva_interval& g : gaps) {
    if (g.end <= from) continue;
    const u64 lo = std::max(g.start, from);
    const u64 a = align_up(lo, align);
    if (a < lo || a + size < a) return std::nullopt;  // no aligned start / end left in 64 bits
    if (a + size <= g.end) return a;
  }
  return std::nullopt;
}

bool args_ok(const kva_request& q) { return q.size != 0 && q.size % P == 0 && is_pow2(q.align); }

bool uses_cache(const shadow_state& sh, const kva_request& q) {
  if (!sh.cache || q.size < sh.chs || q.vstart < sh.cvs || q.align < sh.cal) return false;
  return align_up(sh.recs.at(*sh.cache), q.align) >= q.vstart;
}

// The walk of alloc_vmap_area() re-run over the shadow map, for cached_hole_size only.
u64 walk_hole_size(const shadow_state& sh, const kva_request& q, bool use_cache) {
  u64 chs = use_cache ? sh.chs : 0;
  u64 addr = 0;
  recmap::const_iterator first;
  if (use_cache) {
    first = sh.recs.find(*sh.cache);
    addr = align_up(first->second, q.align);
    if (addr + q.size < addr) return chs;
  } else {
    addr = align_up(q.vstart, q.align);
    if (addr + q.size < addr) return chs;
    first = std::find_if(sh.recs.begin(), sh.recs.end(), [&](const auto& r) { return r.second >= addr; });
    if (first == sh.recs.end()) return chs;
  }
  while (addr + q.size > first->first && addr + q.size <= q.vend) {
    if (addr + chs < first->first) chs = first->first - addr;
    addr = align_up(first->second, q.align);
    if (addr + q.size < addr) return chs;
    if (++first == sh.recs.end()) return chs;
  }
  return chs;
}

// __free_vmap_area()'s cache rule for one record of the shadow, then its removal.
void shadow_free(shadow_state& sh, u64 start) {
  const auto it = sh.recs.find(start);
  if (sh.cache) {
    if (it->second < sh.cvs) {
      sh.cache.reset();
    } else if (it->first <= *sh.cache) {
      if (it == sh.recs.begin()) sh.cache.reset();
      else sh.cache = std::prev(it)->first;
    }
  }
  sh.recs.erase(it);
}

// The records exactly covering [s, e) (adjacent, first starting at s, last ending at e), or none.
std::optional<std::vector<u64>> covering_run(const recmap& recs, u64 s, u64 e) {
  if (e <= s) return std::nullopt;
  auto it = recs.find(s);
  if (it == recs.end()) return std::nullopt;
  std::vector<u64> run;
  u64 cursor = s;
  for (; it != recs.end() && it->first == cursor && it->second <= e; ++it) {
    run.push_back(it->first);
    cursor = it->second;
    if (cursor == e) return run;
  }
  return std::nullopt;
}

// "" when the strategy matches the shadow exactly.
std::string mismatch(const kva_classic& k, const shadow_state& sh) {
  if (std::string s = k.check_structure(); !s.empty()) return "check_structure: " + s;
  // The records, one by one.
  const va_tree& t = k.busy_tree();
  auto it = sh.recs.begin();
  for (const list_head* l = t.head.next; l != &t.head; l = l->next, ++it) {
    const vmap_area* va = va_of_list(l);
    if (it == sh.recs.end()) return "extra record " + iv(va);
    if (va->va_start != it->first || va->va_end != it->second)
      return "record " + iv(va) + " != shadow " + iv(it->first, it->second);
  }
  if (it != sh.recs.end()) return "missing record " + iv(it->first, it->second);
  // free_intervals() and the records partition [1, ULONG_MAX): walk both in address order.
  const std::vector<kva_interval> fi = k.free_intervals();
  if (fi != gaps_of(sh.recs)) return "free_intervals differ from the complement of the records";
  u64 cursor = KVA_SPACE_START;
  auto g = fi.begin();
  auto r = sh.recs.begin();
  while (g != fi.end() || r != sh.recs.end()) {
    if (g != fi.end() && g->start == cursor) {
      if (g->end <= g->start) return "empty free interval";
      cursor = (g++)->end;
      if (g != fi.end() && g->start == cursor) return "free intervals touch";
    } else if (r != sh.recs.end() && r->first == cursor) {
      cursor = (r++)->second;
    } else {
      return "hole or overlap in the partition at " + hex(cursor);
    }
  }
  if (cursor != KVA_SPACE_END) return "partition ends at " + hex(cursor);
  // The cache globals.
  const vmap_area* c = k.free_vmap_cache();
  if (sh.cache.has_value() != (c != nullptr) || (c != nullptr && c->va_start != *sh.cache))
    return "free_vmap_cache " + iv(c) + " != shadow " + (sh.cache ? hex(*sh.cache) : std::string("none"));
  if (k.cached_hole_size() != sh.chs) return "cached_hole_size " + hex(k.cached_hole_size()) + " != " + hex(sh.chs);
  if (k.cached_vstart() != sh.cvs) return "cached_vstart differs";
  if (k.cached_align() != sh.cal) return "cached_align differs";
  return {};
}

struct run_stats {
  u64 allocs = 0, alloc_ok = 0, bad_args = 0, cache_used = 0, cache_fail_with_lower_fit = 0;
  u64 not_lowest = 0, releases = 0, unions = 0, release_rejected = 0, reserves = 0, queries = 0;
  u64 max_records = 0;
};

TEST(ClassicRandom, MatchesTheOracleAfterEveryStep) {
  const u64 seed = test_seed();
  std::mt19937_64 rng(seed);
  auto pick = [&](u64 n) { return n == 0 ? 0 : std::uniform_int_distribution<u64>(0, n - 1)(rng); };

  kmalloc_stub km;
  kva_classic k(km, 2);
  shadow_state sh;
  run_stats st;

  constexpr u64 WN = 512;            // window pages
  constexpr u64 WE = V + WN * P;     // the vmalloc-like window [V, WE)
  const u64 top = u64{0} - 128 * P;  // the last 128 pages of the space

  // Phases of 500 steps: "steady" ones send only the common request (so the cache survives and
  // the window fills up), the others mix every kind.
  bool steady = false;
  auto make_request = [&]() {
    kva_request q;
    const u64 kind = steady ? 0 : pick(100);
    if (kind < 62) {  // the common case: one window, mostly page alignment
      q.vstart = V;
      q.vend = WE;
      const u64 a = pick(10);
      q.align = a < 6 ? P : a < 7 ? 1 : P << pick(7);
      q.size = P * (1 + pick(pick(4) == 0 ? 64 : 8));
    } else if (kind < 78) {  // sub-windows, sometimes unaligned or inverted
      q.vstart = V + P * pick(WN) + (pick(8) == 0 ? pick(P) : 0);
      q.vend = pick(10) == 0 ? q.vstart - P * pick(4) : q.vstart + P * pick(96);
      q.align = P << pick(5);
      q.size = P * (1 + pick(8));
    } else if (kind < 88) {  // the top of the space: overflow checks
      q.vstart = top + P * pick(128);
      q.vend = pick(2) == 0 ? ULONG_MAX_ : q.vstart + P * pick(64);
      q.align = pick(8) == 0 ? u64{1} << 63 : P << pick(4);
      q.size = P * (1 + pick(16));
    } else if (kind < 95) {  // anything: huge alignments, vstart/vend anywhere
      q.align = u64{1} << pick(64);
      q.vstart = 1 + rng() % (ULONG_MAX_ - 1);
      q.vend = pick(3) == 0 ? ULONG_MAX_ : rng();
      q.size = (rng() >> pick(64)) & PAGE_MASK;
    } else {  // invalid arguments
      q.vstart = V;
      q.vend = WE;
      q.size = pick(2) == 0 ? 0 : P * (1 + pick(4)) + 1 + pick(P - 1);
      q.align = pick(2) == 0 ? 0 : P * 3;
      if (pick(2) == 0) {
        q.size = P;
        q.align = pick(2) == 0 ? 0 : 3 * P;
      }
    }
    q.cpu = static_cast<unsigned>(pick(2));
    return q;
  };

  constexpr int STEPS = 30000;
  for (int step = 0; step < STEPS; ++step) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " step " + std::to_string(step));
    if (step % 500 == 0) steady = pick(2) == 0;
    const u64 op = pick(100);
    const std::vector<kva_interval> before = gaps_of(sh.recs);

    if (op < 60) {  // alloc
      const kva_request q = make_request();
      ++st.allocs;
      const kva_result r = k.alloc(q);
      ASSERT_EQ(r.fit, NOTHING_FIT);
      if (!args_ok(q)) {
        ++st.bad_args;
        ASSERT_FALSE(r.ok);
      } else {
        const bool uc = uses_cache(sh, q);
        const u64 from = uc ? sh.recs.at(*sh.cache) : q.vstart;
        const std::optional<u64> fit = lowest_aligned_fit(before, from, q.size, q.align);
        const bool expect_ok = fit.has_value() && *fit + q.size <= q.vend;
        // Completeness without the cache: any aligned fit in [vstart, vend) means success.
        const std::optional<u64> low = lowest_aligned_fit(before, q.vstart, q.size, q.align);
        const bool any_fit = low.has_value() && *low + q.size <= q.vend;
        if (!uc) {
          ASSERT_EQ(expect_ok, any_fit);
        }
        if (uc) ++st.cache_used;
        ASSERT_EQ(r.ok, expect_ok) << "size " << hex(q.size) << " align " << hex(q.align) << " vstart "
                                   << hex(q.vstart) << " vend " << hex(q.vend) << " cache used " << uc;
        if (r.ok) {
          ASSERT_EQ(r.addr, *fit);
          // Soundness, independently of the oracle: aligned, inside [vstart, vend), free before.
          ASSERT_TRUE(is_aligned(r.addr, q.align));
          ASSERT_GE(r.addr, q.vstart);
          ASSERT_LE(r.addr + q.size, q.vend);
          ASSERT_GT(r.addr + q.size, r.addr);
          ASSERT_TRUE(std::any_of(before.begin(), before.end(), [&](const kva_interval& g) {
            return g.start <= r.addr && r.addr + q.size <= g.end;
          }));
          ++st.alloc_ok;
          if (r.addr != *low) ++st.not_lowest;
        } else if (uc && any_fit) {
          ++st.cache_fail_with_lower_fit;
        }
        // The shadow's globals: the walk's hole size, the recorded parameters, the cache.
        sh.chs = walk_hole_size(sh, q, uc);
        sh.cvs = q.vstart;
        sh.cal = q.align;
        if (r.ok) {
          sh.recs.emplace(r.addr, r.addr + q.size);
          sh.cache = r.addr;
        } else if (!uc) {
          sh.cache.reset();
        }
      }
    } else if (op < 90) {  // release
      if (sh.recs.empty()) continue;
      u64 s = 0, e = 0;
      auto it = std::next(sh.recs.begin(), static_cast<std::ptrdiff_t>(pick(sh.recs.size())));
      const u64 mode = pick(10);
      if (mode < 7) {  // a run of up to 3 adjacent records, as the caller merges lazy areas
        s = it->first;
        e = it->second;
        for (u64 n = pick(3); n > 0; --n) {
          const auto nx = std::next(it);
          if (nx == sh.recs.end() || nx->first != e) break;
          it = nx;
          e = it->second;
        }
      } else if (mode < 8) {  // a record cut short or extended
        s = it->first;
        e = it->second + (pick(2) == 0 ? P : u64{0} - P);
      } else if (mode < 9) {  // from one record to the end of the next, adjacent or not
        s = it->first;
        const auto nx = std::next(it);
        e = nx == sh.recs.end() ? it->second : nx->second;
      } else {  // a random range in the window
        s = V + P * pick(WN);
        e = s + P * pick(8);
      }
      const std::optional<std::vector<u64>> run = covering_run(sh.recs, s, e);
      vmap_area* d = km.alloc<vmap_area>(kmalloc_kind::vmap_area, kmalloc_site::vmap_area);
      d->va_start = s;
      d->va_end = e;
      const bool ok = k.release(d);
      ASSERT_EQ(ok, run.has_value()) << iv(s, e);
      if (!ok) {
        km.free(d, kmalloc_kind::vmap_area);
        ++st.release_rejected;
        ASSERT_EQ(k.free_intervals(), before);
      } else {
        ++st.releases;
        if (run->size() > 1) ++st.unions;
        // The kernel's 4.7+ purge freed in llist order, not address order: check on a copy that
        // a shuffled order leaves the same cache, so the choice does not show.
        shadow_state other = sh;
        std::vector<u64> order = *run;
        std::shuffle(order.begin(), order.end(), rng);
        for (const u64 x : order) shadow_free(other, x);
        for (const u64 x : *run) shadow_free(sh, x);
        ASSERT_EQ(other.cache, sh.cache) << "release order changes free_vmap_cache for " << iv(s, e);
      }
    } else if (op < 95) {  // reserve
      const u64 s = pick(4) == 0 ? top + P * pick(128) : V + P * pick(WN);
      const u64 e = s + P * pick(8);
      const bool expect = e > s && std::any_of(before.begin(), before.end(), [&](const kva_interval& g) {
        return g.start <= s && e <= g.end;
      });
      ASSERT_EQ(k.reserve(s, e), expect) << iv(s, e);
      if (expect) {
        sh.recs.emplace(s, e);
        ++st.reserves;
      }
    } else {  // free_block_at_or_below against the gaps
      ++st.queries;
      u64 addr = 0;
      const u64 m = pick(4);
      if (m == 0) addr = rng();
      else if (m == 1 && !sh.recs.empty())
        addr = std::next(sh.recs.begin(), static_cast<std::ptrdiff_t>(pick(sh.recs.size())))->second;
      else addr = V + P * pick(WN) + pick(2) * pick(P);
      std::optional<kva_interval> expect;
      for (const kva_interval& g : before)
        if (g.start <= addr) expect = g;
      ASSERT_EQ(iv(k.free_block_at_or_below(addr)), iv(expect)) << hex(addr);
    }
    st.max_records = std::max<u64>(st.max_records, sh.recs.size());
    ASSERT_EQ(mismatch(k, sh), "");
  }

  std::printf("classic random: %llu allocs (%llu ok, %llu bad args, %llu used the cache, %llu not lowest, "
              "%llu cache failures with a lower fit), %llu releases (%llu unions, %llu rejected), "
              "%llu reserves, %llu queries, up to %llu records\n",
              static_cast<unsigned long long>(st.allocs), static_cast<unsigned long long>(st.alloc_ok),
              static_cast<unsigned long long>(st.bad_args), static_cast<unsigned long long>(st.cache_used),
              static_cast<unsigned long long>(st.not_lowest),
              static_cast<unsigned long long>(st.cache_fail_with_lower_fit),
              static_cast<unsigned long long>(st.releases), static_cast<unsigned long long>(st.unions),
              static_cast<unsigned long long>(st.release_rejected), static_cast<unsigned long long>(st.reserves),
              static_cast<unsigned long long>(st.queries), static_cast<unsigned long long>(st.max_records));
  // The run must have exercised what it claims to check.
  EXPECT_GT(st.cache_used, 0u);
  EXPECT_GT(st.not_lowest, 0u);
  EXPECT_GT(st.cache_fail_with_lower_fit, 0u);
  EXPECT_GT(st.unions, 0u);
  EXPECT_GT(st.release_rejected, 0u);
  EXPECT_GT(st.alloc_ok, 0u);
  EXPECT_LT(st.alloc_ok, st.allocs - st.bad_args);
}

}  // namespace
}  // namespace mmref::vmalloc
