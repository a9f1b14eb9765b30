// Tests for impl/picture/svg.cpp: every piece of the address space is drawn once, with its kind
// and range in its tooltip, and the buddy map shows every free block's order row.
#include "impl/picture/svg.hpp"

#include <gtest/gtest.h>

#include <string>

#include "impl/vmalloc/workload.hpp"
#include "model/hex.hpp"

namespace mmref::picture {
namespace {

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(Svg, EveryPieceOfTheStateIsDrawnOnceWithItsKind) {
  buddy::buddy_machine bm(machine_config::small(16, 4, 2));
  vmalloc::vmap_state vs(*bm.buddy, *bm.mach, vmalloc::vmap_config{});
  vmalloc::run_workload(vs, 20261122, 60);
  const std::vector<va_piece> pieces = va_pieces(vs);
  std::size_t busy = 0, lazy = 0;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (i > 0) {
      EXPECT_EQ(pieces[i - 1].end, pieces[i].start) << "the pieces tile the address space";
    }
    busy += pieces[i].kind == va_kind::busy;
    lazy += pieces[i].kind == va_kind::lazy;
  }
  ASSERT_GT(busy, 0u);
  ASSERT_GT(lazy, 0u) << "the workload leaves lazily freed areas";
  const std::string svg = svg_state(&vs, *bm.buddy, "after the workload <seed 20261122>");
  EXPECT_EQ(svg.rfind("<svg xmlns='http://www.w3.org/2000/svg'", 0), 0u);
  EXPECT_NE(svg.find("&lt;seed 20261122&gt;"), std::string::npos) << "the title is escaped";
  // Busy and lazy pieces all lie in the vmalloc or the modules range: each drawn once.
  EXPECT_EQ(count(svg, "<title>busy ["), busy);
  EXPECT_EQ(count(svg, "<title>lazy (freed, not yet purged) ["), lazy);
  EXPECT_GT(count(svg, "last page the guard"), 0u);
  // The buddy map: one row per order per zone, with nr_free.
  std::size_t zones = 0;
  for (const auto& z : bm.buddy->zones()) zones += z.spanned_pages != 0;
  EXPECT_EQ(count(svg, ">order 0<"), zones);
  EXPECT_EQ(count(svg, "nr_free "), zones * buddy::NR_PAGE_ORDERS);
  EXPECT_EQ(count(svg, "<svg"), 1u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
}

TEST(Svg, WithoutAVmapStateOnlyTheBuddyMapIsDrawn) {
  buddy::buddy_machine bm(machine_config::small(8, 4, 1));
  const std::string svg = svg_state(nullptr, *bm.buddy, "buddy");
  EXPECT_EQ(svg.find("vmalloc range"), std::string::npos);
  EXPECT_NE(svg.find(">order 10<"), std::string::npos);
  EXPECT_FALSE(write_svg("/nonexistent-dir/x.svg", svg));
}

// The page-table picture: runs of pages merge only while the frames stay consecutive; an entry
// a CPU still caches after its unmap (the flush not yet done) is stale.
TEST(Svg, MappingsMergeConsecutiveFramesAndMarkStaleTlbEntries) {
  machine m(machine_config::small(16, 4, 2));
  const std::uint64_t base = m.config().layout.vmalloc_start;
  const std::uint64_t pfn = m.config().ram.front().start_pfn + 16;
  ASSERT_EQ(m.map_page(base, pfn), mm_status::ok);
  ASSERT_EQ(m.map_page(base + PAGE_SIZE, pfn + 1), mm_status::ok);  // consecutive: one piece
  ASSERT_EQ(m.map_page(base + 2 * PAGE_SIZE, pfn + 5), mm_status::ok);  // not: a new piece
  ASSERT_TRUE(m.translate(1, base + 2 * PAGE_SIZE).ok());  // CPU 1 caches it
  ASSERT_EQ(m.unmap(base + 2 * PAGE_SIZE), mm_status::ok);  // and keeps it until a flush
  ASSERT_TRUE(m.translate(0, base).ok());
  const state_snapshot s = mappings(m, {{"w", base, base + PMD_SIZE}});
  ASSERT_EQ(s.strips.size(), 3u);  // the window, CPU 0, CPU 1
  const std::vector<va_piece>& w = s.strips[0].pieces;
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].kind, va_kind::busy);
  EXPECT_EQ(w[0].end, base + 2 * PAGE_SIZE);
  EXPECT_EQ(w[0].note, "4K pfn " + hex(pfn));
  EXPECT_EQ(w[1].kind, va_kind::free);
  EXPECT_EQ(w[1].end, base + PMD_SIZE);
  ASSERT_EQ(s.strips[1].pieces.size(), 1u);
  EXPECT_EQ(s.strips[1].pieces[0].kind, va_kind::busy);
  ASSERT_EQ(s.strips[2].pieces.size(), 1u);
  EXPECT_EQ(s.strips[2].pieces[0].kind, va_kind::lazy);
  const std::string svg = svg_of(s, "mappings");
  EXPECT_EQ(count(svg, "<title>stale TLB entry ["), 1u);
  EXPECT_EQ(count(svg, "<title>mapped (TLB: agrees with the walk) ["), 2u);
  EXPECT_EQ(svg.find("vmap_lazy_nr"), std::string::npos);
}

}  // namespace
}  // namespace mmref::picture
