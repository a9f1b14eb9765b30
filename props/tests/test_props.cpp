// Every registered property as its own gtest, with the CI seed (MMREF_SEED overrides it), and
// the harness's own negative tests: a planted TLB entry must be reported under TLB-COHERENT, a
// corrupted nr_free under BD-ACCT, a buddy model that forgets B7 must be caught, and VA released
// without its TLB flush must be reported under VM-NO-REUSE, each with
// a shrunk command sequence, the seed and the command that reproduces it.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#include "impl/vmalloc/tests/kva_firstfit.hpp"
#include "props/registry.hpp"

using namespace mmref::props;

namespace {

std::uint64_t seed() {
  const char* s = std::getenv("MMREF_SEED");
  return s ? std::strtoull(s, nullptr, 0) : CI_SEED;
}

// The sanitizer build runs each property with fewer cases (MMREF_CASES_DIVISOR, set by
// ci/test.sh); the release build runs the registry's full counts.
int cases_for(const property& p) {
  const char* d = std::getenv("MMREF_CASES_DIVISOR");
  const int div = d ? std::max(1, std::atoi(d)) : 1;
  return std::max(1, p.cases / div);
}

class PropTest : public ::testing::Test {
 public:
  explicit PropTest(const property* p) : p_(p) {}
  void TestBody() override {
    const prop_result r = run_property(*p_, seed(), cases_for(*p_));
    std::printf("%s: %d cases, seed=%llu, %.2fs\n", r.name.c_str(), r.cases, static_cast<unsigned long long>(r.seed), r.seconds);
    for (const auto& [tag, share] : r.shares) std::printf("  %5.1f%% %s\n", 100 * share, tag.c_str());
    EXPECT_TRUE(r.ok) << r.message;
  }

 private:
  const property* p_;
};

const bool registered = [] {
  for (const property& p : all_properties())
    ::testing::RegisterTest("Props", p.name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                            [&p]() -> ::testing::Test* { return new PropTest(&p); });
  return true;
}();

}  // namespace

namespace {

// The SVG texts of the pictures a failure report attaches for the state before and after
// `command` (empty, with a test failure, when they are missing).
std::pair<std::string, std::string> pictures_in(const std::string& message, const std::string& command) {
  const std::string tag = "pictures of the state before and after " + command + ":\n  ";
  const std::size_t at = message.find(tag);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no pictures for " << command << " in:\n" << message;
    return {};
  }
  const std::size_t b0 = at + tag.size(), b1 = message.find('\n', b0);
  const std::string before = message.substr(b0, b1 - b0);
  const std::string after = message.substr(b1 + 3, message.find('\n', b1 + 3) - (b1 + 3));
  std::ifstream fb(before), fa(after);
  if (!fb || !fa) ADD_FAILURE() << "cannot read " << before << " / " << after;
  return {std::string((std::istreambuf_iterator<char>(fb)), {}), std::string((std::istreambuf_iterator<char>(fa)), {})};
}

}  // namespace

TEST(Harness, APlantedTlbEntryIsReportedWithIdSequenceSeedAndReproducer) {
  ASSERT_FALSE(negative_properties().empty());
  const property& p = negative_properties().front();
  const prop_result r = run_property(p, seed());
  ASSERT_FALSE(r.ok) << "the harness did not notice a corrupted TLB";
  EXPECT_NE(r.message.find("TLB-COHERENT violated"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("CorruptTlbForTest"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("seed="), std::string::npos);
  EXPECT_NE(r.message.find("reproduce: mmref props --only " + p.name), std::string::npos);
  EXPECT_NE(r.message.find("state judged"), std::string::npos);
  // Shrinking leaves the corrupting command and little else.
  const auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = r.message.find(what); at != std::string::npos; at = r.message.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_LE(count("Map") + count("Unmap") + count("Read") + count("Write") + count("Flush"), 6u) << r.message;
  // The pictures of the page tables and TLBs before and after: the planted entry shows as stale
  // after the command and not before it.
  const std::size_t cmd = r.message.find("CorruptTlbForTest(va=");
  ASSERT_NE(cmd, std::string::npos);
  const auto [before, after] = pictures_in(r.message, r.message.substr(cmd, r.message.find(')', cmd) + 1 - cmd));
  EXPECT_NE(before.find("<title>not mapped ["), std::string::npos) << "before: the windows are drawn";
  EXPECT_EQ(before.find("<title>stale TLB entry ["), std::string::npos) << "before: no stale entry yet";
  EXPECT_NE(after.find("<title>stale TLB entry ["), std::string::npos) << "after: the planted entry is stale";
}

TEST(Harness, PropertyNamesAreUnique) {
  std::set<std::string> names;
  for (const property& p : all_properties()) EXPECT_TRUE(names.insert(p.name).second) << p.name;
}

namespace {

const property& negative_named(const std::string& name) {
  for (const property& p : negative_properties())
    if (p.name == name) return p;
  throw std::runtime_error("no negative property " + name);
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Commands of the buddy stateful test named in a failure message (each appears once in the
// shrunk sequence, and the failing one again in the "after ..." line).
std::size_t buddy_commands(const std::string& m) {
  std::size_t n = 0;
  for (const char* c : {"AllocPages(", "FreePages(", "GetZeroedPage(", "GetPage(", "PutPage(", "Reclaim(", "FaultInjection(",
                        "BadInput(", "Fragment("})
    n += occurrences(m, c);
  return n;
}

}  // namespace

TEST(Harness, ACorruptedNrFreeIsReportedUnderBdAcctWithSequenceSeedAndReproducer) {
  const property& p = negative_named("negative__buddy_stateful_corrupt_nr_free");
  const prop_result r = run_property(p, seed());
  ASSERT_FALSE(r.ok) << "the buddy checker did not notice a corrupted nr_free";
  EXPECT_NE(r.message.find("BD-ACCT violated"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("CorruptNrFreeForTest"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("state judged"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("seed="), std::string::npos);
  EXPECT_NE(r.message.find("reproduce: mmref props --only " + p.name), std::string::npos);
  // Shrinking leaves the corrupting command and little else.
  EXPECT_LE(buddy_commands(r.message), 2u) << r.message;
}

TEST(Harness, AModelThatForgetsTailFreeingIsCaughtAndShrunk) {
  // __free_pages on a non-compound block someone else still references frees its tail pages at
  // once (B7). A model without that rule must disagree with the allocator on the free count,
  // and shrinking must find the three commands that show it.
  const property& p = negative_named("negative__buddy_stateful_model_forgets_b7");
  const prop_result r = run_property(p, seed());
  ASSERT_FALSE(r.ok) << "a model that forgets B7 passed";
  EXPECT_NE(r.message.find("the allocator and the model disagree"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("BD-ACCT (model)"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("GetPage("), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("FreePages("), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("reproduce: mmref props --only " + p.name), std::string::npos);
  EXPECT_LE(buddy_commands(r.message), 5u) << r.message;
}

namespace {
std::size_t vmalloc_commands(const std::string& m) {
  std::size_t n = 0;
  for (const char* c : {"Vmalloc(", "Vfree(", "Vmap(", "Vunmap(", "PurgeVmapAreaLazy(", "VmUnmapAliases(", "Write(", "Read(",
                        "BadInput(", "Fragment(", "Unfragment(", "WindowCycle("})
    n += occurrences(m, c);
  return n;
}
}  // namespace

TEST(Harness, APurgeWithoutFlushIsReportedUnderVmNoReuseWithSequenceSeedAndReproducer) {
  const property& p = negative_named("negative__vmalloc_stateful_purge_without_flush");
  const prop_result r = run_property(p, seed());
  ASSERT_FALSE(r.ok) << "VA released without its TLB flush went unnoticed";
  EXPECT_NE(r.message.find("VM-NO-REUSE violated"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("ReleaseLazyWithoutFlushForTest"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("state judged"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("seed="), std::string::npos);
  EXPECT_NE(r.message.find("reproduce: mmref props --only " + p.name), std::string::npos);
  // The pictures of the state before and after the failing command are attached, and differ
  // where the bug is: the lazily freed area is gone.
  const std::size_t at = r.message.find("pictures of the state before and after ReleaseLazyWithoutFlushForTest()");
  const auto [sb, sa] = pictures_in(r.message, "ReleaseLazyWithoutFlushForTest()");
  EXPECT_NE(sb.find("<title>lazy"), std::string::npos) << "before: the area is lazily freed";
  EXPECT_EQ(sa.find("<title>lazy"), std::string::npos) << "after: released without its flush";
  // Shrunk to an allocation, its vfree and the planted release (the failing command is shown
  // again in the "after" line and in the pictures' line).
  EXPECT_LE(vmalloc_commands(r.message.substr(0, at)), 4u) << r.message;
}

// A strategy registered at run time gets the stateful property (and the differential test):
// the README's example, a plain first fit over a std::map.
TEST(Harness, ARegisteredStrategyRunsThroughTheVmallocProperties) {
  using namespace mmref::vmalloc;
  kva_registry::add("firstfit", [](kmalloc_stub& c, unsigned) -> std::unique_ptr<kva_allocator> {
    return std::make_unique<example::kva_firstfit>(c);
  });
  for (const char* name : {"vmalloc_stateful_strategies", "vmalloc_differential"}) {
    const property* p = nullptr;
    for (const property& q : all_properties())
      if (q.name == name) p = &q;
    ASSERT_NE(p, nullptr) << name;
    // 40 cases in the release build; the sanitizer build's divisor applies here too.
    const char* d = std::getenv("MMREF_CASES_DIVISOR");
    const int cases = std::max(8, 40 / (d ? std::max(1, std::atoi(d)) : 1));
    const prop_result r = run_property(*p, seed(), cases, 40);
    EXPECT_TRUE(r.ok) << r.message;
    if (std::string(name) == "vmalloc_stateful_strategies") {
      EXPECT_GT(r.shares.count("strategy firstfit") ? r.shares.at("strategy firstfit") : 0.0, 0.2) << "the registered strategy was not drawn";
    }
  }
}
