// Tests for impl/replay/replay.cpp on small traces written here: what agrees, what diverges
// (and is then corrected so it does not cascade), what a concurrent purge explains, and how
// the final vmallocinfo is compared.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "impl/replay/replay.hpp"

using namespace mmref;
using namespace mmref::replay;

namespace {

constexpr std::uint64_t VSTART = 0xffffc90000000000ULL, VEND = 0xffffe8ffffffffffULL;
constexpr std::uint64_t PG = 4096;

struct builder {
  replay_input in;
  std::uint64_t line = 1;
  builder() {
    in.name = "synthetic";
    in.kernel_major = 6;
    in.kernel_minor = 1;
    in.nr_cpus = 2;
    in.vmalloc_start = VSTART;
    in.vmalloc_end = VEND;
  }
  vm_event ev(vm_ev k, unsigned cpu, std::int64_t pid, const char* name) {
    vm_event e;
    e.line = line++;
    e.counter = e.line;
    e.cpu = cpu;
    e.pid = pid;
    e.kind = k;
    e.name = name;
    return e;
  }
  // alloc + alloc_ret of `pages` pages (guard included) that the kernel put at `at`.
  void alloc(std::uint64_t pages, std::uint64_t align, std::uint64_t at, unsigned cpu = 0, std::int64_t pid = 1) {
    vm_event a = ev(vm_ev::alloc, cpu, pid, "alloc");
    a.size = pages * PG;
    a.align = align;
    a.vstart = VSTART;
    a.vend = VEND;
    in.events.push_back(a);
    vm_event r = ev(vm_ev::alloc_ret, cpu, pid, "alloc_ret");
    r.va_start = at;
    r.va_end = at + pages * PG;
    in.events.push_back(r);
  }
  void free(std::uint64_t at, std::uint64_t pages, std::int64_t lazy_before, unsigned cpu = 0, std::int64_t pid = 1) {
    vm_event f = ev(vm_ev::free, cpu, pid, "free_noflush");
    f.va_start = at;
    f.va_end = at + pages * PG;
    f.lazy = lazy_before;
    in.events.push_back(f);
  }
  void purge(std::int64_t lazy_before, unsigned cpu = 0, std::int64_t pid = 9) {
    vm_event p = ev(vm_ev::purge, cpu, pid, "purge");
    p.start = ~std::uint64_t{0};
    p.end = 0;
    p.lazy = lazy_before;
    in.events.push_back(p);
  }
  void purge_ret(bool ret, std::int64_t lazy_after, unsigned cpu = 0, std::int64_t pid = 9) {
    vm_event p = ev(vm_ev::purge_ret, cpu, pid, "purge_ret");
    p.ret = ret;
    p.lazy = lazy_after;
    p.site = "drain_vmap_area_work";
    in.events.push_back(p);
  }
};

replay_options opts() {
  replay_options o;
  o.check_every = 1;  // every invariant after every event
  return o;
}

TEST(Replay, LowestFitsAndLazyAccountingAgree) {
  builder b;
  b.alloc(3, 1, VSTART);           // [0, 3)
  b.alloc(2, 1, VSTART + 3 * PG);  // [3, 5)
  b.free(VSTART, 3, 0);
  b.alloc(4, 1, VSTART + 5 * PG);  // the lazy [0, 3) is not reusable
  b.purge(3);
  b.purge_ret(true, 0);
  b.alloc(3, 1, VSTART);           // after the purge it is
  const replay_report r = run_replay(b.in, opts());
  EXPECT_EQ(r.allocs.total, 4u);
  EXPECT_EQ(r.allocs.matched, 4u);
  EXPECT_EQ(r.frees.matched, 1u);
  EXPECT_EQ(r.purges.total, 1u);
  EXPECT_EQ(r.purges.matched, 1u);
  EXPECT_EQ(r.unexplained_total, 0u);
  EXPECT_TRUE(r.invariant_violations.empty()) << r.invariant_violations.front();
  EXPECT_TRUE(r.ok()) << format_report(r);
}

TEST(Replay, AWrongAddressIsReportedWithItsPictureAndCorrected) {
  builder b;
  b.alloc(2, 1, VSTART + 8 * PG);  // the kernel says page 8; the model takes page 0
  b.alloc(2, 1, VSTART);           // then the kernel takes page 0: agrees after the correction
  const replay_report r = run_replay(b.in, opts());
  EXPECT_EQ(r.allocs.total, 2u);
  EXPECT_EQ(r.allocs.matched, 1u);
  ASSERT_EQ(r.unexplained_total, 1u);
  const divergence& d = r.unexplained.front();
  EXPECT_EQ(d.line, 2u);
  EXPECT_EQ(d.kernel, VSTART + 8 * PG);
  EXPECT_EQ(d.model, VSTART);
  EXPECT_NE(d.picture.find("the kernel chose"), std::string::npos) << d.picture;
  EXPECT_NE(d.picture.find("the model chose"), std::string::npos) << d.picture;
  EXPECT_FALSE(r.ok());
  const std::string text = format_report(r);
  EXPECT_NE(text.find("first unexplained divergence, trace line 2"), std::string::npos) << text;
  EXPECT_TRUE(r.invariant_violations.empty());
}

TEST(Replay, AWrongCounterIsADivergence) {
  builder b;
  b.alloc(5, 1, VSTART);
  b.free(VSTART, 5, 7);  // the kernel's counter said 7 before the free; the model has 0
  const replay_report r = run_replay(b.in, opts());
  EXPECT_EQ(r.frees.total, 1u);
  EXPECT_EQ(r.frees.matched, 0u);
  EXPECT_EQ(r.unexplained_total, 1u);
}

TEST(Replay, ACounterReadDuringAnotherCpusPurgeIsExplainedOnlyByAPrefixOfThatPurge) {
  for (const std::int64_t seen : {std::int64_t{3}, std::int64_t{4}}) {
    builder b;
    b.alloc(3, 1, VSTART);            // A [0, 3)
    b.alloc(1, 1, VSTART + 3 * PG);   // a busy page between, so the lazy areas stay apart
    b.alloc(5, 1, VSTART + 4 * PG);   // B [4, 9)
    b.alloc(2, 1, VSTART + 9 * PG);   // C [9, 11)
    b.free(VSTART, 3, 0);
    b.free(VSTART + 4 * PG, 5, 3);
    b.purge(8, 1, 50);                // CPU 1 purges A and B
    // CPU 0 frees C while that purge has returned A (3 pages) but not yet B (5): the kernel
    // reads 8 - 3 = 5 ... with `seen` = 3 no prefix fits.
    b.free(VSTART + 9 * PG, 2, seen == 3 ? 3 : 5, 0, 1);
    b.purge_ret(true, 2, 1, 50);
    const replay_report r = run_replay(b.in, opts());
    if (seen == 3) {
      EXPECT_EQ(r.unexplained_total, 1u) << format_report(r);
      EXPECT_TRUE(r.explained.empty());
    } else {
      EXPECT_EQ(r.unexplained_total, 0u) << format_report(r);
      ASSERT_EQ(r.explained.size(), 1u);
      EXPECT_NE(r.explained.front().cause.find("had returned 1 of its 2 areas"), std::string::npos)
          << r.explained.front().cause;
      EXPECT_EQ(r.frees.matched, 3u);
    }
  }
}

TEST(Replay, TwoFreesOnTwoCpusMayBothReadTheCounterBeforeEitherAdds) {
  for (const bool cpu0_traced_in_between : {false, true}) {
    builder b;
    b.alloc(3, 1, VSTART);
    b.alloc(8, 1, VSTART + 3 * PG, 1, 2);
    b.free(VSTART, 3, 0, 0, 1);                 // CPU 0 reads 0, adds 3 after
    if (cpu0_traced_in_between) b.in.events.push_back(b.ev(vm_ev::caller_level, 0, 1, "vfree"));
    b.free(VSTART + 3 * PG, 8, 0, 1, 2);        // CPU 1 also reads 0
    const replay_report r = run_replay(b.in, opts());
    if (cpu0_traced_in_between) {
      // CPU 0 traced another event after its free: its add had landed; 0 is unexplained.
      EXPECT_EQ(r.unexplained_total, 1u) << format_report(r);
      EXPECT_TRUE(r.explained.empty());
    } else {
      EXPECT_EQ(r.unexplained_total, 0u) << format_report(r);
      ASSERT_EQ(r.explained.size(), 1u);
      EXPECT_NE(r.explained.front().cause.find("had not yet added its pages"), std::string::npos);
      EXPECT_EQ(r.frees.matched, 2u);
    }
  }
}

// 6.12 style: the tracepoints are the record (the counter after each free's own add), the entry
// kprobes say when each free began.
TEST(Replay, TwoFreesInFlightTogetherMayAddInEitherOrderButNoOtherValueIsExplained) {
  for (const std::uint64_t seen_first : {std::uint64_t{3}, std::uint64_t{8}, std::uint64_t{5}}) {
    builder b;
    b.in.kernel_minor = 12;
    const auto tp_alloc = [&](std::uint64_t pages, std::uint64_t at, unsigned cpu) {
      vm_event a = b.ev(vm_ev::tp_alloc, cpu, 1, "alloc_vmap_area");
      a.va_start = at;
      a.size = pages * PG;
      a.va_end = at + pages * PG;
      a.align = 1;
      a.vstart = VSTART;
      a.vend = VEND;
      b.in.events.push_back(a);
    };
    const auto tp_free = [&](std::uint64_t at, std::uint64_t nr_lazy, unsigned cpu, std::int64_t pid) {
      vm_event f = b.ev(vm_ev::tp_free, cpu, pid, "free_vmap_area_noflush");
      f.va_start = at;
      f.nr_lazy = nr_lazy;
      f.nr_lazy_max = 16384;
      b.in.events.push_back(f);
    };
    tp_alloc(3, VSTART, 0);
    tp_alloc(8, VSTART + 3 * PG, 1);
    b.free(VSTART, 3, 0, 0, 1);           // CPU 0's entry: reads 0
    b.free(VSTART + 3 * PG, 8, 0, 1, 2);  // CPU 1's entry: reads 0 too (CPU 0 has not added)
    // The adds: CPU 0's first gives 3 then 11; CPU 1's first gives 8 then 11. 5 is neither.
    tp_free(seen_first == 3 ? VSTART : VSTART + 3 * PG, seen_first, seen_first == 3 ? 0 : 1, seen_first == 3 ? 1 : 2);
    if (seen_first != 5) tp_free(seen_first == 3 ? VSTART + 3 * PG : VSTART, 11, seen_first == 3 ? 1 : 0, seen_first == 3 ? 2 : 1);
    const replay_report r = run_replay(b.in, opts());
    if (seen_first == 5) {
      EXPECT_GE(r.unexplained_total, 1u) << format_report(r);
    } else {
      EXPECT_EQ(r.unexplained_total, 0u) << format_report(r);
      EXPECT_EQ(r.frees.total, 2u);
      EXPECT_EQ(r.frees.matched, 2u);
      // The second entry's read is explained by the first free's add not having landed; with
      // CPU 1's add first, both tracepoint values are explained by the other order.
      EXPECT_EQ(r.explained.size(), seen_first == 3 ? 1u : 3u) << format_report(r);
    }
  }
}

TEST(Replay, TheStateBeforeTheTraceIsRebuiltFromTheInitStartSnapshot) {
  builder b;
  // Two early areas the trace never saw, and one the trace creates before the marker.
  b.in.has_initstart = true;
  b.in.initstart = {{1, VSTART, VSTART + 5 * PG, false, "early"},
                    {2, VSTART + 5 * PG, VSTART + 7 * PG, false, "traced"},
                    {3, VSTART + 12 * PG, VSTART + 13 * PG, false, "early"}};
  b.alloc(2, 1, VSTART + 5 * PG);   // the lowest hole after the early area: [5, 7)
  vm_event m = b.ev(vm_ev::marker, 0, 1, "tracing_mark_write");
  m.site = "capture: init start, tracing_on=1";
  b.in.events.push_back(m);
  b.alloc(6, 1, VSTART + 13 * PG);  // 6 pages do not fit in [7, 12)
  const replay_report r = run_replay(b.in, opts());
  EXPECT_EQ(r.early_areas, 2u);
  EXPECT_EQ(r.allocs.matched, 2u) << format_report(r);
  EXPECT_TRUE(r.ok()) << format_report(r);
}

TEST(Replay, TheFinalVmallocinfoIsComparedWithItsAllowedResiduals) {
  builder b;
  b.alloc(2, 1, VSTART);            // busy at the end
  b.alloc(3, 1, VSTART + 2 * PG);   // freed after tracing stopped: unpurged in the snapshot
  b.in.has_final = true;
  b.in.final_info = {{1, VSTART, VSTART + 2 * PG, false, "busy"},
                     {2, VSTART + 2 * PG, VSTART + 5 * PG, true, "unpurged vm_area"},
                     {3, VSTART + 9 * PG, VSTART + 11 * PG, false, "allocated after tracing stopped"}};
  replay_report r = run_replay(b.in, opts());
  EXPECT_EQ(r.vi_lines, 3u);
  EXPECT_EQ(r.vi_matched, 1u);
  EXPECT_EQ(r.vi_dump_phase, 2u);
  EXPECT_TRUE(r.vi_unmatched.empty());
  EXPECT_TRUE(r.ok()) << format_report(r);
  // A line over a model busy area with another end matches nothing.
  b.in.final_info[0].end = VSTART + PG;
  r = run_replay(b.in, opts());
  EXPECT_EQ(r.vi_unmatched.size(), 2u) << format_report(r);  // the line, and the model's area
  EXPECT_FALSE(r.ok());
}

TEST(Replay, AFreeOfAnAreaTheModelDoesNotHoldIsADivergence) {
  builder b;
  b.alloc(2, 1, VSTART);
  b.free(VSTART + 64 * PG, 2, 0);
  const replay_report r = run_replay(b.in, opts());
  EXPECT_EQ(r.unexplained_total, 1u);
  EXPECT_EQ(r.unexplained.front().what, "free");
}

TEST(Replay, BadInputIsAnError) {
  builder b;
  EXPECT_THROW(run_replay(b.in, opts()), std::runtime_error);  // no events
  b.alloc(1, 1, VSTART);
  replay_options o = opts();
  o.strategy = "no-such-strategy";
  EXPECT_THROW(run_replay(b.in, o), std::runtime_error);
}

}  // namespace
