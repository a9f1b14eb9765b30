// impl/buddy/tests/test_views.cpp — /proc text formats and the zoneinfo constructor, against
// the shipped Linux 6.1 run.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "impl/buddy/tests/helpers.hpp"

namespace mmref::buddy {
namespace {

using namespace testing;

std::string read(const std::string& rel) {
  std::ifstream f(std::string(MMREF_SHARED_DATA) + "/" + rel);
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

const char* RUN61 = "linux-trace/linux-6.1/runA-boot-workload-pages/";

TEST(Views, ZoneinfoConstructorReproducesTheRealZones) {
  const std::string real = read(std::string(RUN61) + "zoneinfo.txt");
  ASSERT_FALSE(real.empty()) << "shared data missing";
  page_alloc pa(buddy_config::from_zoneinfo(real));
  EXPECT_EQ(pa.zone_at(ZONE_DMA).zone_start_pfn, 1u);
  EXPECT_EQ(pa.zone_at(ZONE_DMA).spanned_pages, 4095u);
  EXPECT_EQ(pa.zone_at(ZONE_DMA).present_pages, 3998u);
  EXPECT_EQ(pa.zone_at(ZONE_DMA).managed_pages, 3840u);
  EXPECT_EQ(pa.zone_at(ZONE_DMA32).spanned_pages, 520157u);
  EXPECT_EQ(pa.zone_at(ZONE_DMA32).present_pages, 520157u);
  EXPECT_EQ(pa.zone_at(ZONE_DMA32).managed_pages, 499694u);
  // THP's recommended min_free_kbytes: 512 * 2 zones * (2 + 9) pages = 45056 KiB, which is what
  // the real kernel's min watermarks add up to (86 + 11177 = 11263 pages, rounding down).
  EXPECT_EQ(pa.min_free_kbytes(), 45056);
  // Every line the model prints in common with the kernel's is byte-identical in format, and the
  // span/present/managed/protection shape lines match the real file for every zone.
  const std::vector<std::string> mine = lines_of(pa.zoneinfo()), theirs = lines_of(real);
  for (const char* key : {"        spanned  ", "        present  ", "        managed  ", "        cma      ",
                          "        boost    ", "  start_pfn:           ", "Node 0, zone "}) {
    std::vector<std::string> a, b;
    for (const std::string& l : mine)
      if (l.rfind(key, 0) == 0) a.push_back(l);
    for (const std::string& l : theirs)
      if (l.rfind(key, 0) == 0) b.push_back(l);
    EXPECT_EQ(a, b) << key;
  }
  // The watermarks differ from the file by the pages the kernel freed after boot (managed grew
  // after init_per_zone_wmark_min ran); they stay within 1%.
  for (const std::string& l : theirs)
    if (l.rfind("        min      ", 0) == 0) {
      const double real_min = std::stod(l.substr(17));
      if (real_min > 1000) {
        EXPECT_NEAR(static_cast<double>(pa.zone_at(ZONE_DMA32).min_wmark_pages()), real_min, real_min / 100.0);
      }
    }
  // Boot leaves DMA's 3840 managed pages as 256 + 512 + 3 * 1024.
  EXPECT_EQ(lines_of(pa.buddyinfo()).at(0),
            "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 ");
  // Pageblock counts: the real run has 8 in DMA and 1016 in DMA32.
  const std::string pti = pa.pagetypeinfo();
  EXPECT_NE(pti.find("Node 0, zone      DMA            0            8            0            0 "), std::string::npos) << pti;
  EXPECT_NE(pti.find("Node 0, zone    DMA32            0         1016            0            0 "), std::string::npos) << pti;
  expect_sound(pa);
}

TEST(Views, BuddyinfoFormatMatchesTheKernel) {
  const std::vector<std::string> real = lines_of(read(std::string(RUN61) + "buddyinfo.txt"));
  ASSERT_EQ(real.size(), 2u);
  page_alloc pa(buddy_config::from_zoneinfo(read(std::string(RUN61) + "zoneinfo.txt")));
  const std::vector<std::string> mine = lines_of(pa.buddyinfo());
  ASSERT_EQ(mine.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(mine[i].size(), real[i].size());
    EXPECT_EQ(mine[i].substr(0, 22), real[i].substr(0, 22));
  }
}

TEST(Views, ZoneinfoParseErrorsNameTheLine) {
  try {
    (void)buddy_config::from_zoneinfo("Node 0, zone      DMA\n        spanned  12x\n");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos);
  }
  EXPECT_THROW((void)buddy_config::from_zoneinfo("nothing here\n"), std::invalid_argument);
}

TEST(Views, GfpText) {
  EXPECT_EQ(gfp_text(GFP_KERNEL), "GFP_KERNEL");
  EXPECT_EQ(gfp_text(GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN), "GFP_KERNEL|__GFP_NOWARN|__GFP_ZERO");
  EXPECT_EQ(gfp_text(GFP_HIGHUSER_MOVABLE), "GFP_HIGHUSER_MOVABLE");
  EXPECT_EQ(gfp_text(0), "0");
}

}  // namespace
}  // namespace mmref::buddy
