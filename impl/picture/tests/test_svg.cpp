// Tests for impl/picture/svg.cpp: every piece of the address space is drawn once, with its kind
// and range in its tooltip, and the buddy map shows every free block's order row.
#include "impl/picture/svg.hpp"

#include <gtest/gtest.h>

#include <string>

#include "impl/vmalloc/workload.hpp"

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

}  // namespace
}  // namespace mmref::picture
