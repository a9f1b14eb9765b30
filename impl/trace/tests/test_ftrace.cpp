// impl/trace/tests/test_ftrace.cpp — the trace readers: the README's example line of every event
// (both kernels), comm/pid splitting, errors with their line numbers, unknown events, xz
// streaming (round trip, truncation, corruption), and the shipped runs parsed completely with
// the per-event counts of their validate.out, their vmallocinfo files and run folders.
#include <gtest/gtest.h>
#include <lzma.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "impl/trace/ftrace.hpp"
#include "impl/trace/run.hpp"
#include "impl/trace/vmallocinfo.hpp"

namespace mmref::trace {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// helpers

std::vector<owned_event> events_of(const std::string& text, summary* s = nullptr,
                                   const std::string& name = "test.txt") {
  line_source src = line_source::from_string(text, name);
  std::vector<owned_event> out;
  summary sum = parse_trace(src, [&](const event& e) { out.emplace_back(e); });
  if (s != nullptr) *s = sum;
  return out;
}

owned_event one(const std::string& line) {
  std::vector<owned_event> v = events_of(line + "\n");
  EXPECT_EQ(v.size(), 1u) << line;
  return v.empty() ? owned_event{} : v.front();
}

// Runs parse_trace over text and returns the trace_error it must throw.
trace_error error_of(const std::string& text, const std::string& name = "test.txt") {
  try {
    events_of(text, nullptr, name);
  } catch (const trace_error& e) {
    return e;
  }
  ADD_FAILURE() << "no trace_error for:\n" << text;
  return trace_error(name, 0, "none");
}

fs::path temp_dir(const std::string& tag) {
  fs::path d = fs::temp_directory_path() /
               ("mmref-trace-" + tag + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string xz_compress(const std::string& text) {
  std::string out(lzma_stream_buffer_bound(text.size()), '\0');
  std::size_t pos = 0;
  const lzma_ret r = lzma_easy_buffer_encode(
      1, LZMA_CHECK_CRC64, nullptr, reinterpret_cast<const std::uint8_t*>(text.data()),
      text.size(), reinterpret_cast<std::uint8_t*>(out.data()), &pos, out.size());
  EXPECT_EQ(r, LZMA_OK);
  out.resize(pos);
  return out;
}

const std::string HEADER =
    "# tracer: nop\n"
    "#\n"
    "# entries-in-buffer/entries-written: 3/3   #P:2\n"
    "#\n"
    "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"
    "#              | |         |   |||||     |         |\n";

// ---------------------------------------------------------------------------------------------
// The README's example lines, Linux 6.1

TEST(Ftrace, Example61Alloc) {
  const owned_event e = one(
      "kthreadd-2 [000] ..... 39631: alloc: (alloc_vmap_area+0x0/0x880) size=20480 "
      "align=16384 vstart=0xffffc90000000000 vend=0xffffe8ffffffffff");
  EXPECT_EQ(e.kind, event_kind::alloc);
  EXPECT_EQ(e.comm, "kthreadd");
  EXPECT_EQ(e.pid, 2u);
  EXPECT_EQ(e.cpu, 0u);
  EXPECT_EQ(e.flags, ".....");
  EXPECT_EQ(e.counter, 39631u);
  EXPECT_EQ(e.probe, "alloc_vmap_area+0x0/0x880");
  EXPECT_EQ(e.site_symbol, "alloc_vmap_area");
  EXPECT_FALSE(e.is_return());
  EXPECT_EQ(e.u64("size"), 20480u);
  EXPECT_EQ(e.u64("align"), 16384u);
  EXPECT_EQ(e.u64("vstart"), 0xffffc90000000000u);
  EXPECT_EQ(e.u64("vend"), 0xffffe8ffffffffffu);
  EXPECT_EQ(e.fields.size(), 4u);
  EXPECT_EQ(e.line, 1u);
}

TEST(Ftrace, Example61AllocRet) {
  const owned_event e = one(
      "kthreadd-2 [000] ..... 39632: alloc_ret: (__get_vm_area_node+0xb1/0x150 <- "
      "alloc_vmap_area) ret=0xffff88807d66e280 va_start=0xffffc90000164000 "
      "va_end=0xffffc90000169000");
  EXPECT_EQ(e.kind, event_kind::alloc_ret);
  EXPECT_TRUE(e.is_return());
  EXPECT_EQ(e.site, "__get_vm_area_node+0xb1/0x150");
  EXPECT_EQ(e.site_symbol, "__get_vm_area_node");
  EXPECT_EQ(e.ret_function, "alloc_vmap_area");
  EXPECT_EQ(e.u64("ret"), 0xffff88807d66e280u);
  EXPECT_EQ(e.u64("va_start"), 0xffffc90000164000u);
  EXPECT_EQ(e.u64("va_end"), 0xffffc90000169000u);
  EXPECT_FALSE(e.has("flags"));
}

TEST(Ftrace, Example61FreePurgeDrain) {
  summary s;
  const std::vector<owned_event> v = events_of(
      "init-1 [000] ..... 52756: free_noflush: (free_vmap_area_noflush+0x0/0x340) "
      "va_start=0xffffc9000004d000 va_end=0xffffc9000004f000 lazy=0\n"
      "kworker/u4:0-9 [000] ..... 51040: purge: (__purge_vmap_area_lazy+0x0/0x750) "
      "start=0xffffffffffffffff end=0x0 lazy=0\n"
      "kworker/u4:0-9 [000] ..... 51041: purge_ret: (_vm_unmap_aliases.part.0+0xf4/0x130 <- "
      "__purge_vmap_area_lazy) ret=0 lazy=0\n"
      "kworker/1:1-34 [001] ..... 169313: drain: (drain_vmap_area_work+0x0/0x60) lazy=16397\n"
      "kworker/u4:0-9 [000] ..... 51039: unmap_aliases: (vm_unmap_aliases+0x0/0x30)\n",
      &s);
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v[0].kind, event_kind::free_noflush);
  EXPECT_EQ(v[0].u64("va_start"), 0xffffc9000004d000u);
  EXPECT_EQ(v[0].u64("va_end"), 0xffffc9000004f000u);
  EXPECT_EQ(v[0].s64("lazy"), 0);
  EXPECT_EQ(v[1].kind, event_kind::purge);
  EXPECT_EQ(v[1].comm, "kworker/u4:0");
  EXPECT_EQ(v[1].pid, 9u);
  EXPECT_EQ(v[1].u64("start"), 0xffffffffffffffffu);
  EXPECT_EQ(v[1].u64("end"), 0u);
  EXPECT_EQ(v[2].kind, event_kind::purge_ret);
  EXPECT_EQ(v[2].site, "_vm_unmap_aliases.part.0+0xf4/0x130");
  EXPECT_EQ(v[2].site_symbol, "_vm_unmap_aliases.part.0");
  EXPECT_EQ(v[2].ret_function, "__purge_vmap_area_lazy");
  EXPECT_EQ(v[2].u64("ret"), 0u);
  EXPECT_EQ(v[3].kind, event_kind::drain);
  EXPECT_EQ(v[3].comm, "kworker/1:1");
  EXPECT_EQ(v[3].pid, 34u);
  EXPECT_EQ(v[3].cpu, 1u);
  EXPECT_EQ(v[3].s64("lazy"), 16397);
  EXPECT_EQ(v[4].kind, event_kind::unmap_aliases);
  EXPECT_TRUE(v[4].fields.empty());
  EXPECT_EQ(v[4].site_symbol, "vm_unmap_aliases");
  // 52756 → 51040 and 169313 → 51039 go backwards: counted, not an error.
  EXPECT_EQ(s.counter_decreases, 2u);
  EXPECT_EQ(s.count(event_kind::purge), 1u);
}

TEST(Ftrace, Example61PcpuGetVmAreaVfree) {
  const std::vector<owned_event> v = events_of(
      "kworker/0:1-17 [000] ..... 40408: pcpu_get: (pcpu_get_vm_areas+0x0/0x1080) off0=0x0 "
      "size0=0x200000 nr=1 align=0x200000\n"
      "kworker/0:1-17 [000] ..... 40409: pcpu_get_ret: (pcpu_create_chunk+0xdd/0x1b0 <- "
      "pcpu_get_vm_areas) ret=0xffff88800d581708 addr0=0xffffe8ffffc00000 size0=0x200000\n"
      "kthreadd-2 [000] ..... 39630: get_vm_area: (__get_vm_area_node+0x0/0x150) size=16384 "
      "align=16384 shift=12 flags=0x22 start=0xffffc90000000000 end=0xffffe8ffffffffff "
      "caller=kernel_clone+0xbf/0x430\n"
      "<idle>-0 [001] ..s1. 52958: vfree: (vfree+0x0/0xa0) addr=0xffffc900003e0000 "
      "caller=rcu_do_batch+0x19a/0x540\n"
      "vmwork-505 [000] ..... 136289: vfree_atomic: (vfree_atomic+0x0/0x60) "
      "addr=0xffffc9000079d000 caller=free_ldt_struct.part.0+0x2a/0x50\n");
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v[0].kind, event_kind::pcpu_get);
  EXPECT_EQ(v[0].u64("off0"), 0u);
  EXPECT_EQ(v[0].u64("size0"), 0x200000u);
  EXPECT_EQ(v[0].s64("nr"), 1);
  EXPECT_EQ(v[0].u64("align"), 0x200000u);
  EXPECT_EQ(v[1].kind, event_kind::pcpu_get_ret);
  EXPECT_EQ(v[1].site_symbol, "pcpu_create_chunk");
  EXPECT_EQ(v[1].ret_function, "pcpu_get_vm_areas");
  EXPECT_EQ(v[1].u64("addr0"), 0xffffe8ffffc00000u);
  EXPECT_EQ(v[2].kind, event_kind::get_vm_area);
  EXPECT_EQ(v[2].u64("shift"), 12u);
  EXPECT_EQ(v[2].u64("flags"), 0x22u);
  EXPECT_EQ(v[2].text("caller"), "kernel_clone+0xbf/0x430");
  EXPECT_EQ(v[2].site_symbol, "__get_vm_area_node");
  EXPECT_EQ(v[3].kind, event_kind::vfree);
  EXPECT_EQ(v[3].comm, "<idle>");
  EXPECT_EQ(v[3].pid, 0u);
  EXPECT_EQ(v[3].flags, "..s1.");
  EXPECT_EQ(v[3].u64("addr"), 0xffffc900003e0000u);
  EXPECT_EQ(v[3].text("caller"), "rcu_do_batch+0x19a/0x540");
  EXPECT_EQ(v[4].kind, event_kind::vfree_atomic);
  EXPECT_EQ(v[4].text("caller"), "free_ldt_struct.part.0+0x2a/0x50");
  // A :symbol value is text, not a number.
  EXPECT_THROW(v[4].u64("caller"), trace_error);
}

// ---------------------------------------------------------------------------------------------
// Linux 6.12: tracepoints and the extra kprobe fields

TEST(Ftrace, Example612Tracepoints) {
  const std::vector<owned_event> v = events_of(
      "          <idle>-0       [000] d..1.            9: alloc_vmap_area: va_start: "
      "18446683600570023936 size=20480 align=1 vstart=0xffffc90000000000 "
      "vend=0xffffe8ffffffffff failed=0\n"
      "     kworker/0:1-10      [000] .....        53772: free_vmap_area_noflush: "
      "va_start=0xffffc900001d4000 nr_lazy=5 nr_lazy_max=16384\n"
      "          <idle>-0       [000] d..1.           14: purge_vmap_area_lazy: "
      "start=0xffffffffffffffff end=0x0 num_purged=0\n");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].kind, event_kind::alloc_vmap_area);
  EXPECT_EQ(v[0].comm, "<idle>");
  EXPECT_EQ(v[0].flags, "d..1.");
  EXPECT_EQ(v[0].counter, 9u);
  EXPECT_EQ(v[0].u64("va_start"), 0xffffc90000000000u);  // printed in decimal
  EXPECT_EQ(v[0].text("va_start"), "18446683600570023936");
  EXPECT_EQ(v[0].u64("size"), 20480u);
  EXPECT_EQ(v[0].u64("align"), 1u);
  EXPECT_EQ(v[0].u64("failed"), 0u);
  EXPECT_TRUE(v[0].probe.empty());
  EXPECT_EQ(v[1].kind, event_kind::free_vmap_area_noflush);
  EXPECT_EQ(v[1].comm, "kworker/0:1");
  EXPECT_EQ(v[1].pid, 10u);
  EXPECT_EQ(v[1].u64("nr_lazy"), 5u);
  EXPECT_EQ(v[1].u64("nr_lazy_max"), 16384u);
  EXPECT_EQ(v[2].kind, event_kind::purge_vmap_area_lazy);
  EXPECT_EQ(v[2].u64("num_purged"), 0u);
}

TEST(Ftrace, Example612Kprobes) {
  const std::vector<owned_event> v = events_of(
      "kthreadd-2 [001] ..... 36880: alloc_ret: (__get_vm_area_node+0xcd/0x130 <- "
      "alloc_vmap_area) ret=0xffff88807d765558 va_start=0xffffc9000019c000 "
      "va_end=0xffffc900001a1000 flags=0x200\n"
      "kworker/0:1-10 [000] ..... 53771: free_noflush: (free_vmap_area_noflush+0x0/0x160) "
      "va_start=0xffffc900001d4000 va_end=0xffffc900001d9000 flags=0x200 lazy=0\n"
      "kworker/u8:1-31 [000] ..... 52042: purge: (__purge_vmap_area_lazy+0x0/0x320) "
      "start=0xffffffffffffffff end=0x0 full_decay=0 lazy=0\n"
      "kworker/u8:1-31 [000] ..... 52043: decay: (decay_va_pool_node+0x0/0x4b0) "
      "vn=0xffff888004054000 full=0\n"
      "init-1 [001] ..... 55934: purge_node: (purge_vmap_node+0x4/0x210) "
      "work=0xffff888004055858\n"
      "kworker/u8:1-31 [000] ..... 52044: reclaim_purge: (reclaim_and_purge_vmap_areas+0x0/0x10)\n"
      "kworker/u8:1-31 [000] ..... 52045: shrink_scan: (vmap_node_shrink_scan+0x0/0x10)\n"
      "kworker/u8:1-31 [000] ..... 52046: vunmap: (vunmap+0x0/0x50) addr=0xffffc90000010000 "
      "caller=foo+0x1/0x2\n");
  ASSERT_EQ(v.size(), 8u);
  EXPECT_EQ(v[0].u64("flags"), 0x200u);
  EXPECT_EQ(v[0].u64("flags") >> 8, 2u);
  EXPECT_EQ(v[1].u64("flags"), 0x200u);
  EXPECT_EQ(v[1].s64("lazy"), 0);
  EXPECT_EQ(v[2].u64("full_decay"), 0u);
  EXPECT_EQ(v[3].kind, event_kind::decay);
  EXPECT_EQ(v[3].u64("vn"), 0xffff888004054000u);
  EXPECT_EQ(v[3].u64("full"), 0u);
  EXPECT_EQ(v[4].kind, event_kind::purge_node);
  EXPECT_EQ(v[4].probe, "purge_vmap_node+0x4/0x210");
  EXPECT_EQ(v[4].u64("work"), 0xffff888004055858u);
  EXPECT_EQ(v[5].kind, event_kind::reclaim_purge);
  EXPECT_EQ(v[6].kind, event_kind::shrink_scan);
  EXPECT_EQ(v[7].kind, event_kind::vunmap);
}

TEST(Ftrace, ExamplePageEventsAndMarker) {
  const std::vector<owned_event> v = events_of(
      "<idle>-0 [000] d..1. 4: mm_page_alloc: page=0000000011b22842 pfn=0x8af6 order=1 "
      "migratetype=0 gfp_flags=__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP\n"
      "<idle>-0 [000] ...1. 35: mm_page_free: page=0000000031ac1b62 pfn=0x3306 order=0\n"
      "kworker/u4:1-46 [001] ...2. 52656: mm_page_free_batched: page=00000000d677b031 "
      "pfn=0xe296 order=0\n"
      "<idle>-0 [000] d..4. 3: mm_page_alloc_zone_locked: page=0000000011b22842 pfn=0x8af6 "
      "order=1 migratetype=0 percpu_refill=1\n"
      "kworker/u4:0-9 [001] d..3. 142214: mm_page_pcpu_drain: page=00000000ec13967e "
      "pfn=0x20633 order=0 migratetype=0\n"
      "kthreadd-2 [000] d..3. 258: mm_page_alloc_extfrag: page=0000000020a8c56c pfn=0x9000 "
      "alloc_order=0 fallback_order=10 pageblock_order=9 alloc_migratetype=0 "
      "fallback_migratetype=1 fragmenting=0 change_ownership=1\n"
      "init-1 [000] ..... 58057: tracing_mark_write: capture: init start, tracing_on=1 "
      "buffer_size_kb=65538\n");
  ASSERT_EQ(v.size(), 7u);
  EXPECT_EQ(v[0].kind, event_kind::mm_page_alloc);
  EXPECT_EQ(v[0].u64("pfn"), 0x8af6u);
  EXPECT_EQ(v[0].u64("order"), 1u);
  EXPECT_EQ(v[0].u64("page"), 0x11b22842u);  // hashed %p: bare hex
  EXPECT_EQ(v[0].text("gfp_flags"), "__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP");
  EXPECT_EQ(v[1].kind, event_kind::mm_page_free);
  EXPECT_EQ(v[1].u64("pfn"), 0x3306u);
  EXPECT_EQ(v[1].u64("page"), 0x31ac1b62u);
  EXPECT_EQ(v[2].kind, event_kind::mm_page_free_batched);
  EXPECT_EQ(v[2].u64("pfn"), 0xe296u);
  EXPECT_EQ(v[3].kind, event_kind::mm_page_alloc_zone_locked);
  EXPECT_EQ(v[3].u64("percpu_refill"), 1u);
  EXPECT_EQ(v[3].flags, "d..4.");
  EXPECT_EQ(v[4].kind, event_kind::mm_page_pcpu_drain);
  EXPECT_EQ(v[4].u64("pfn"), 0x20633u);
  EXPECT_EQ(v[5].kind, event_kind::mm_page_alloc_extfrag);
  EXPECT_EQ(v[5].u64("alloc_order"), 0u);
  EXPECT_EQ(v[5].u64("fallback_order"), 10u);
  EXPECT_EQ(v[5].u64("change_ownership"), 1u);
  EXPECT_EQ(v[6].kind, event_kind::tracing_mark_write);
  EXPECT_EQ(v[6].marker, "capture: init start, tracing_on=1 buffer_size_kb=65538");
  EXPECT_TRUE(v[6].fields.empty());
  EXPECT_TRUE(is_page_kind(v[0].kind));
  EXPECT_FALSE(is_page_kind(v[6].kind));
  EXPECT_TRUE(is_vmap_kind(v[6].kind));
}

TEST(Ftrace, KindNamesRoundTrip) {
  for (std::size_t i = 0; i < event_kind_count; ++i) {
    const auto k = static_cast<event_kind>(i);
    const auto back = kind_from_name(kind_name(k));
    ASSERT_TRUE(back.has_value()) << kind_name(k);
    EXPECT_EQ(*back, k);
  }
  EXPECT_FALSE(kind_from_name("sched_switch").has_value());
  EXPECT_EQ(required_fields(event_kind::alloc).size(), 4u);
  EXPECT_EQ(required_fields(event_kind::alloc_vmap_area).size(), 6u);
  EXPECT_TRUE(is_kretprobe_kind(event_kind::purge_ret));
  EXPECT_FALSE(is_kretprobe_kind(event_kind::purge));
}

// ---------------------------------------------------------------------------------------------
// comm, pid, header, module callers, signed values

TEST(Ftrace, CommWithSpacesAndDashes) {
  const std::vector<owned_event> v = events_of(
      "  my task-name-12 -3-1234   [001] ..... 7: drain: (drain_vmap_area_work+0x0/0x60) "
      "lazy=1\n"
      "     kworker/u4:0-9       [000] ..... 8: drain: (drain_vmap_area_work+0x0/0x60) lazy=2\n"
      "<...>-4242 [003] d..1. 9: drain: (drain_vmap_area_work+0x0/0x60) lazy=3\n"
      "a [b]-7 [002] ..... 10: drain: (drain_vmap_area_work+0x0/0x60) lazy=4\n");
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[0].comm, "my task-name-12 -3");
  EXPECT_EQ(v[0].pid, 1234u);
  EXPECT_EQ(v[0].cpu, 1u);
  EXPECT_EQ(v[1].comm, "kworker/u4:0");
  EXPECT_EQ(v[1].pid, 9u);
  EXPECT_EQ(v[2].comm, "<...>");
  EXPECT_EQ(v[2].pid, 4242u);
  EXPECT_EQ(v[2].cpu, 3u);
  EXPECT_EQ(v[3].comm, "a [b]");
  EXPECT_EQ(v[3].pid, 7u);
  EXPECT_EQ(v[3].cpu, 2u);
}

TEST(Ftrace, HeaderValuesAndCounts) {
  summary s;
  const std::vector<owned_event> v = events_of(
      HEADER +
          "init-1 [000] ..... 10: drain: (drain_vmap_area_work+0x0/0x60) lazy=1\n"
          "init-1 [000] ..... 10: drain: (drain_vmap_area_work+0x0/0x60) lazy=1\n"
          "\n"
          "init-1 [001] ..... 12: mm_page_free: page=0000000031ac1b62 pfn=0x3306 order=0\n",
      &s);
  EXPECT_EQ(v.size(), 3u);
  EXPECT_EQ(s.lines, 10u);
  EXPECT_EQ(s.header_lines, 6u);
  EXPECT_EQ(s.events, 3u);
  ASSERT_TRUE(s.header_cpus.has_value());
  EXPECT_EQ(*s.header_cpus, 2u);
  EXPECT_EQ(s.entries_in_buffer, std::optional<std::uint64_t>(3));
  EXPECT_EQ(s.entries_written, std::optional<std::uint64_t>(3));
  EXPECT_EQ(s.counter_repeats, 1u);
  EXPECT_EQ(s.counter_decreases, 0u);
  EXPECT_EQ(s.first_counter, 10u);
  EXPECT_EQ(s.last_counter, 12u);
  EXPECT_EQ(s.count(event_kind::drain), 2u);
  EXPECT_EQ(s.count(event_kind::mm_page_free), 1u);
  EXPECT_EQ(v[2].line, 10u);
  const auto table = s.table();
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table[0], (std::pair<std::string, std::uint64_t>("drain", 2)));
  EXPECT_EQ(table[1], (std::pair<std::string, std::uint64_t>("mm_page_free", 1)));
}

TEST(Ftrace, ModuleCallerKeepsItsModule) {
  const owned_event e = one(
      "modprobe-461 [001] ..... 104771: get_vm_area: (__get_vm_area_node+0x0/0x150) size=4096 "
      "align=1 shift=12 flags=0x1 start=0xffffc90000000000 end=0xffffe8ffffffffff "
      "caller=vp_modern_map_capability+0x148/0x1d0 [virtio_pci_modern_dev]");
  EXPECT_EQ(e.text("caller"), "vp_modern_map_capability+0x148/0x1d0 [virtio_pci_modern_dev]");
  EXPECT_EQ(e.u64("end"), 0xffffe8ffffffffffu);
  const owned_event r = one(
      "rmmod-535 [001] ..... 127782: vfree: (vfree+0x4/0x50) addr=0xffffc90000443000 "
      "caller=__this_module+0x495/0x500 [isofs]");
  EXPECT_EQ(r.text("caller"), "__this_module+0x495/0x500 [isofs]");
  EXPECT_EQ(r.site_symbol, "vfree");
}

TEST(Ftrace, SignedValues) {
  const owned_event e =
      one("init-1 [000] ..... 5: drain: (drain_vmap_area_work+0x0/0x60) lazy=-5");
  EXPECT_EQ(e.s64("lazy"), -5);
  EXPECT_THROW(e.u64("lazy"), trace_error);
  const owned_event big = one(
      "init-1 [000] ..... 5: vfree: (vfree+0x0/0xa0) addr=0xffffc900003e0000 caller=x+0x1/0x2");
  EXPECT_THROW(big.s64("addr"), trace_error);
}

TEST(Ftrace, AccessorErrorsNameTheLine) {
  const std::vector<owned_event> v =
      events_of(HEADER + "init-1 [000] ..... 5: drain: (drain_vmap_area_work+0x0/0x60) lazy=1\n",
                nullptr, "run/trace.txt");
  ASSERT_EQ(v.size(), 1u);
  try {
    (void)v[0].u64("nope");
    FAIL() << "no throw";
  } catch (const trace_error& err) {
    EXPECT_EQ(err.line(), 7u);
    EXPECT_EQ(std::string(err.what()), "run/trace.txt:7: drain: field 'nope' missing");
  }
  // The view event's accessors too.
  line_source src = line_source::from_string(
      "init-1 [000] ..... 5: vfree: (vfree+0x0/0xa0) addr=0x1 caller=x+0x1/0x2\n", "t");
  bool seen = false;
  parse_trace(src, [&](const event& e) {
    seen = true;
    EXPECT_EQ(e.u64("addr"), 1u);
    EXPECT_EQ(e.text("caller"), "x+0x1/0x2");
    EXPECT_THROW((void)e.u64("caller"), trace_error);
    EXPECT_THROW((void)e.text("size"), trace_error);
  });
  EXPECT_TRUE(seen);
}

// ---------------------------------------------------------------------------------------------
// Errors with line numbers

TEST(Ftrace, TruncatedLineIsAnErrorAtItsLine) {
  const std::string good =
      "kthreadd-2 [000] ..... 39630: drain: (drain_vmap_area_work+0x0/0x60) lazy=1\n";
  for (const std::string bad :
       {"kthreadd-2 [000] ..... 39631: alloc: (alloc_vmap_are", "kthreadd-2 [000] ..... 396",
        "kthreadd-2 [000", "kthreadd-2 [000] ..... 39631: alloc: (alloc_vmap_area+0x0/0x880) "
                           "size=20480 align=16384 vstart=0xffffc90000000000",
        "garbage", "kthreadd-2 [000] ..... 39631", "kthreadd-2 [000] ..... 39631: alloc",
        "kthreadd-2 [000] ..... 1.5: alloc: (a) size=1"}) {
    const trace_error e = error_of(HEADER + good + good + bad + "\n" + good, "t.txt");
    EXPECT_EQ(e.line(), 9u) << bad;
    EXPECT_EQ(std::string(e.what()).rfind("t.txt:9: ", 0), 0u) << e.what();
  }
  // The error message for a non-counter clock says so.
  const trace_error e =
      error_of("a-1 [000] ..... 12.345678: drain: (drain_vmap_area_work+0x0/0x60) lazy=1\n");
  EXPECT_NE(std::string(e.what()).find("trace_clock=counter"), std::string::npos) << e.what();
}

TEST(Ftrace, BadNumberIsAnErrorAtItsLine) {
  const trace_error e = error_of(
      "a-1 [000] ..... 1: alloc: (alloc_vmap_area+0x0/0x880) size=20480 align=16384 "
      "vstart=0xffffc90000000000 vend=0xffffe8ffffffffff\n"
      "a-1 [000] ..... 2: alloc: (alloc_vmap_area+0x0/0x880) size=20x480 align=16384 "
      "vstart=0xffffc90000000000 vend=0xffffe8ffffffffff\n");
  EXPECT_EQ(e.line(), 2u);
  EXPECT_NE(std::string(e.what()).find("alloc: field 'size' is not a number: '20x480'"),
            std::string::npos)
      << e.what();
  // Too large for 64 bits.
  EXPECT_EQ(error_of("a-1 [000] ..... 1: drain: (drain_vmap_area_work+0x0/0x60) "
                     "lazy=99999999999999999999\n")
                .line(),
            1u);
  EXPECT_EQ(error_of("a-1 [000] ..... 1: free_vmap_area_noflush: va_start=0x "
                     "nr_lazy=5 nr_lazy_max=16384\n")
                .line(),
            1u);
  // An optional numeric field, when present, must be numeric.
  EXPECT_EQ(error_of("a-1 [000] ..... 1: free_noflush: (free_vmap_area_noflush+0x0/0x160) "
                     "va_start=0x1 va_end=0x2 flags=zz lazy=0\n")
                .line(),
            1u);
}

TEST(Ftrace, MissingRequiredFieldIsAnErrorAtItsLine) {
  const std::string ok =
      "a-1 [000] ..... 1: mm_page_free: page=0000000031ac1b62 pfn=0x3306 order=0\n";
  struct bad_case {
    std::string line;
    std::string field;
  };
  const std::vector<bad_case> cases = {
      {"a-1 [000] ..... 2: alloc: (alloc_vmap_area+0x0/0x880) size=1 align=1 vstart=0x0", "vend"},
      {"a-1 [000] ..... 2: alloc_ret: (x+0x1/0x2 <- alloc_vmap_area) ret=0x1 va_start=0x1",
       "va_end"},
      {"a-1 [000] ..... 2: free_noflush: (free_vmap_area_noflush+0x0/0x340) va_start=0x1 "
       "va_end=0x2",
       "lazy"},
      {"a-1 [000] ..... 2: purge: (__purge_vmap_area_lazy+0x0/0x750) start=0x1 lazy=0", "end"},
      {"a-1 [000] ..... 2: purge_ret: (x+0x1/0x2 <- __purge_vmap_area_lazy) ret=0", "lazy"},
      {"a-1 [000] ..... 2: pcpu_get: (pcpu_get_vm_areas+0x0/0x1080) off0=0x0 size0=0x1 nr=1",
       "align"},
      {"a-1 [000] ..... 2: pcpu_get_ret: (x+0x1/0x2 <- pcpu_get_vm_areas) ret=0x1 addr0=0x1",
       "size0"},
      {"a-1 [000] ..... 2: drain: (drain_vmap_area_work+0x0/0x60)", "lazy"},
      {"a-1 [000] ..... 2: alloc_vmap_area: va_start: 1 size=1 align=1 vstart=0x0 vend=0x1",
       "failed"},
      {"a-1 [000] ..... 2: free_vmap_area_noflush: va_start=0x1 nr_lazy=5", "nr_lazy_max"},
      {"a-1 [000] ..... 2: purge_vmap_area_lazy: start=0x1 end=0x2", "num_purged"},
      {"a-1 [000] ..... 2: decay: (decay_va_pool_node+0x0/0x4b0) vn=0x1", "full"},
      {"a-1 [000] ..... 2: mm_page_alloc: page=0000000011b22842 pfn=0x8af6 migratetype=0",
       "order"},
      {"a-1 [000] ..... 2: mm_page_free: page=0000000011b22842 order=0", "pfn"},
      {"a-1 [000] ..... 2: mm_page_alloc_extfrag: page=0000000020a8c56c pfn=0x9000 "
       "alloc_order=0",
       "fallback_order"},
  };
  for (const bad_case& c : cases) {
    const trace_error e = error_of(ok + c.line + "\n" + ok);
    EXPECT_EQ(e.line(), 2u) << c.line;
    EXPECT_NE(std::string(e.what()).find("field '" + c.field + "' missing"), std::string::npos)
        << e.what();
  }
}

TEST(Ftrace, KprobeShapeErrors) {
  // A return probe without "<-", an entry probe with one, no parentheses, stray words.
  for (const std::string bad :
       {"a-1 [000] ..... 2: purge_ret: (x+0x1/0x2) ret=0 lazy=0",
        "a-1 [000] ..... 2: drain: (x+0x1/0x2 <- y) lazy=0",
        "a-1 [000] ..... 2: drain: lazy=0", "a-1 [000] ..... 2: drain: (x+0x1/0x2 lazy=0",
        "a-1 [000] ..... 2: drain: (x+0x1/0x2) lazy=0 stray",
        "a-1 [000] ..... 2: drain: (x+0x1/0x2) bad-name=1 lazy=0",
        "a-1 [000] ..... 2: alloc_vmap_area: size=1 align=1 vstart=0x0 vend=0x1 failed=0 "
        "va_start:"}) {
    EXPECT_EQ(error_of(bad + "\n").line(), 1u) << bad;
  }
}

TEST(Ftrace, UnknownEventsAreCountedAndSkipped) {
  summary s;
  const std::vector<owned_event> v = events_of(
      "a-1 [000] ..... 1: sched_switch: prev_comm=a prev_pid=1 ==> next_comm=b\n"
      "a-1 [000] ..... 2: drain: (drain_vmap_area_work+0x0/0x60) lazy=1\n"
      "a-1 [000] ..... 3: sched_switch: anything at all (not parsed)\n"
      "a-1 [000] ..... 4: my_probe: \n"
      "a-1 [000] ..... 5: other:\n",
      &s);
  EXPECT_EQ(v.size(), 1u);
  EXPECT_EQ(s.events, 5u);
  EXPECT_EQ(s.known_events(), 1u);
  ASSERT_EQ(s.unknown.size(), 3u);
  EXPECT_EQ(s.unknown.at("sched_switch"), 2u);
  EXPECT_EQ(s.unknown.at("my_probe"), 1u);
  EXPECT_EQ(s.unknown.at("other"), 1u);
  EXPECT_EQ(s.table().size(), 4u);
}

TEST(Ftrace, OwnedEventsOutliveTheLine) {
  line_source src = line_source::from_string(
      "a-1 [000] ..... 1: drain: (drain_vmap_area_work+0x0/0x60) lazy=1\n"
      "a-1 [000] ..... 2: mm_page_free: page=0000000031ac1b62 pfn=0x3306 order=0\n"
      "a-1 [000] ..... 3: tracing_mark_write: capture: phase1\n",
      "t");
  summary s;
  const std::vector<owned_event> v = load_vmap_events(src, &s);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].kind, event_kind::drain);
  EXPECT_EQ(v[0].s64("lazy"), 1);
  EXPECT_EQ(*v[0].file, "t");
  EXPECT_EQ(v[1].marker, "capture: phase1");
  EXPECT_EQ(v[1].line, 3u);
  EXPECT_EQ(s.count(event_kind::mm_page_free), 1u);
}

// ---------------------------------------------------------------------------------------------
// Line sources

TEST(LineSource, LineEndingsAndLongLines) {
  line_source src = line_source::from_string("one\r\ntwo\n\nthree", "t");
  std::string_view l;
  std::vector<std::string> got;
  while (src.next(l)) got.emplace_back(l);
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two", "", "three"}));
  EXPECT_EQ(src.line_number(), 4u);
  EXPECT_FALSE(src.compressed());

  line_source empty = line_source::from_string("", "e");
  EXPECT_FALSE(empty.next(l));
  EXPECT_EQ(empty.line_number(), 0u);

  line_source longer = line_source::from_string(
      "ok\n" + std::string(line_source::max_line + 10, 'x') + "\n", "long");
  EXPECT_TRUE(longer.next(l));
  try {
    longer.next(l);
    FAIL() << "no throw";
  } catch (const trace_error& e) {
    EXPECT_EQ(e.line(), 2u);
  }
}

TEST(LineSource, StreamsAndFiles) {
  std::istringstream in("a\nb\n");
  line_source src = line_source::from_stream(in, "stdin");
  std::string_view l;
  ASSERT_TRUE(src.next(l));
  EXPECT_EQ(l, "a");
  ASSERT_TRUE(src.next(l));
  EXPECT_EQ(l, "b");
  EXPECT_FALSE(src.next(l));

  EXPECT_THROW(line_source::open("/nonexistent/trace.txt"), trace_error);
  const fs::path d = temp_dir("notxz");
  write_file(d / "plain.txt.xz", "not compressed\n");
  try {
    line_source::open((d / "plain.txt.xz").string());
    FAIL() << "no throw";
  } catch (const trace_error& e) {
    EXPECT_NE(std::string(e.what()).find("not xz data"), std::string::npos) << e.what();
  }
  fs::remove_all(d);
}

// A trace big enough to cross many read chunks, through xz: file, stream and memory.
std::string synthetic_trace(std::size_t n) {
  std::string t = HEADER;
  for (std::size_t i = 0; i < n; ++i) {
    t += "     kworker/u4:0-9       [001] d..3.  " + std::to_string(100 + i) +
         ": mm_page_free: page=0000000031ac1b62 pfn=0x" + std::to_string(i) + " order=0\n";
  }
  return t;
}

TEST(LineSource, XzRoundTrip) {
  const std::size_t n = 60000;
  const std::string text = synthetic_trace(n);
  const std::string xz = xz_compress(text);
  const fs::path d = temp_dir("xz");
  write_file(d / "trace.txt.xz", xz);
  write_file(d / "trace-no-suffix", xz);

  for (const std::string name : {"trace.txt.xz", "trace-no-suffix"}) {
    line_source src = line_source::open((d / name).string());
    std::uint64_t pfn_sum = 0;
    const summary s = parse_trace(src, [&](const event& e) { pfn_sum += e.u64("pfn"); });
    EXPECT_TRUE(src.compressed());
    EXPECT_EQ(s.count(event_kind::mm_page_free), n);
    EXPECT_EQ(s.lines, n + 6);
    // pfn=0x<decimal digits> is read as hex: sum of the decimal strings parsed as hex.
    std::uint64_t want = 0;
    for (std::size_t i = 0; i < n; ++i) want += std::stoull(std::to_string(i), nullptr, 16);
    EXPECT_EQ(pfn_sum, want);
  }
  {
    std::ifstream f(d / "trace.txt.xz", std::ios::binary);
    line_source src = line_source::from_stream(f, "-");
    EXPECT_EQ(parse_trace(src, nullptr).count(event_kind::mm_page_free), n);
  }
  {
    line_source src = line_source::from_string(xz + xz, "two streams");  // concatenated
    EXPECT_EQ(parse_trace(src, nullptr).count(event_kind::mm_page_free), 2 * n);
  }
  fs::remove_all(d);
}

TEST(LineSource, TruncatedXzNamesTheLastLine) {
  const std::string text = synthetic_trace(60000);
  const std::string xz = xz_compress(text);
  const fs::path d = temp_dir("xztrunc");
  const std::string path = (d / "trace.txt.xz").string();
  write_file(path, xz.substr(0, xz.size() / 2));
  line_source src = line_source::open(path);
  std::uint64_t events = 0;
  try {
    parse_trace(src, [&](const event&) { ++events; });
    FAIL() << "no throw";
  } catch (const trace_error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": truncated xz stream after line " +
                                         std::to_string(e.line()));
    EXPECT_EQ(e.line(), events + 6);  // every complete line before the cut was delivered
    EXPECT_GT(events, 1000u);
    EXPECT_LT(events, 60000u);
  }
  // Cut inside the stream footer: all data decoded, the stream is still incomplete.
  write_file(path, xz.substr(0, xz.size() - 4));
  line_source src2 = line_source::open(path);
  try {
    parse_trace(src2, nullptr);
    FAIL() << "no throw";
  } catch (const trace_error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated xz stream after line"), std::string::npos)
        << e.what();
  }
  // Only the magic bytes.
  write_file(path, xz.substr(0, 6));
  line_source src3 = line_source::open(path);
  std::string_view l;
  try {
    src3.next(l);
    FAIL() << "no throw";
  } catch (const trace_error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": truncated xz stream after line 0");
  }
  fs::remove_all(d);
}

TEST(LineSource, CorruptXzIsAnError) {
  const std::string text = synthetic_trace(20000);
  const std::string good = xz_compress(text);
  // The byte before the 12-byte stream footer belongs to the index's CRC32: a data error once
  // every line has been decoded.
  std::string xz = good;
  xz[xz.size() - 13] = static_cast<char>(xz[xz.size() - 13] ^ 0x55);
  line_source src = line_source::from_string(xz, "bad.xz");
  std::string_view l;
  try {
    while (src.next(l)) {
    }
    FAIL() << "no throw";
  } catch (const trace_error& e) {
    EXPECT_EQ(std::string(e.what()), "bad.xz: corrupt xz stream after line 20006 (data error)");
    EXPECT_EQ(e.line(), 20006u);
  }
  // Damage in the middle: garbage may decode for a while, but the end is always an error.
  xz = good;
  xz[xz.size() / 2] = static_cast<char>(xz[xz.size() / 2] ^ 0x55);
  line_source mid = line_source::from_string(xz, "mid.xz");
  EXPECT_THROW(
      {
        while (mid.next(l)) {
        }
      },
      trace_error);
}

// ---------------------------------------------------------------------------------------------
// The shipped runs

std::string shared_run(const std::string& kernel) {
  return std::string(MMREF_SHARED_DATA) + "/linux-trace/linux-" + kernel +
         "/runA-boot-workload-pages";
}

bool have_run(const std::string& kernel) { return fs::is_directory(shared_run(kernel)); }

// validate.out's "events:" table: "  <name>   <count>" lines.
std::map<std::string, std::uint64_t> validate_counts(const std::string& dir) {
  std::ifstream f(dir + "/validate.out");
  std::map<std::string, std::uint64_t> out;
  std::string line;
  bool in = false;
  while (std::getline(f, line)) {
    if (line == "events:") {
      in = true;
      continue;
    }
    if (!in) continue;
    if (line.empty() || line[0] != ' ') break;
    std::istringstream ls(line);
    std::string name;
    std::uint64_t n = 0;
    ls >> name >> n;
    out[name] = n;
  }
  return out;
}

void check_full_trace(const std::string& kernel, const std::map<std::string, std::uint64_t>& spot,
                      std::uint64_t repeats) {
  if (!have_run(kernel)) GTEST_SKIP() << "shared data not found: " << shared_run(kernel);
  const std::string dir = shared_run(kernel);
  const run_files run = load_run(dir);
  ASSERT_EQ(run.trace.filename(), "trace.txt.xz");
  line_source src = run.open_trace();
  std::uint64_t handled = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const summary s = parse_trace(src, [&](const event&) { ++handled; });
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
  std::printf("  linux-%s trace.txt.xz: %llu lines parsed in %lld ms\n", kernel.c_str(),
              static_cast<unsigned long long>(s.lines), static_cast<long long>(ms));

  EXPECT_TRUE(src.compressed());
  EXPECT_TRUE(s.unknown.empty());
  EXPECT_EQ(handled, s.events);
  ASSERT_TRUE(s.entries_in_buffer.has_value());
  EXPECT_EQ(s.events, *s.entries_in_buffer);
  EXPECT_EQ(s.lines, s.events + s.header_lines);
  EXPECT_EQ(s.header_cpus, std::optional<unsigned>(2));
  EXPECT_EQ(s.counter_decreases, 0u);
  EXPECT_EQ(s.counter_repeats, repeats);

  const std::map<std::string, std::uint64_t> want = validate_counts(dir);
  ASSERT_FALSE(want.empty());
  std::map<std::string, std::uint64_t> got;
  for (const auto& [name, n] : s.table()) got[name] = n;
  EXPECT_EQ(got, want);
  for (const auto& [name, n] : spot) {
    const auto k = kind_from_name(name);
    ASSERT_TRUE(k.has_value()) << name;
    EXPECT_EQ(s.count(*k), n) << name;
  }

  // The vmalloc-only file: the same events without mm_page_*.
  line_source only = line_source::open(dir + "/trace-vmalloc-only.txt");
  const summary v = parse_trace(only, nullptr);
  for (std::size_t i = 0; i < event_kind_count; ++i) {
    const auto k = static_cast<event_kind>(i);
    EXPECT_EQ(v.count(k), is_page_kind(k) ? 0u : s.count(k)) << kind_name(k);
  }
}

TEST(SharedRuns, Linux61TraceParsesCompletely) {
  check_full_trace("6.1",
                   {{"alloc", 1386},
                    {"alloc_ret", 1386},
                    {"free_noflush", 1321},
                    {"purge", 723},
                    {"purge_ret", 723},
                    {"mm_page_free", 191874},
                    {"mm_page_alloc_zone_locked", 127441},
                    {"tracing_mark_write", 37}},
                   2);
}

TEST(SharedRuns, Linux612TraceParsesCompletely) {
  check_full_trace("6.12",
                   {{"alloc_vmap_area", 1560},
                    {"free_vmap_area_noflush", 1362},
                    {"purge_vmap_area_lazy", 390},
                    {"alloc_ret", 1491},
                    {"decay", 762},
                    {"purge_node", 149},
                    {"mm_page_free", 194079},
                    {"tracing_mark_write", 36}},
                   1);
}

TEST(SharedRuns, VmapEventsOf61) {
  if (!have_run("6.1")) GTEST_SKIP() << "shared data not found: " << shared_run("6.1");
  line_source src = line_source::open(shared_run("6.1") + "/trace-vmalloc-only.txt");
  summary s;
  const std::vector<owned_event> v = load_vmap_events(src, &s);
  EXPECT_EQ(v.size(), s.events);
  // The first traced allocation (after fs_initcall).
  const auto it = std::find_if(v.begin(), v.end(),
                               [](const owned_event& e) { return e.kind == event_kind::alloc_ret; });
  ASSERT_NE(it, v.end());
  EXPECT_EQ(it->counter, 39632u);
  EXPECT_EQ(it->u64("va_start"), 0xffffc90000164000u);
  EXPECT_EQ(it->line, 15u);
  // Every purge_ret names its trigger.
  std::map<std::string, std::uint64_t> triggers;
  for (const owned_event& e : v) {
    if (e.kind == event_kind::purge_ret) ++triggers[e.site_symbol];
  }
  std::uint64_t total = 0;
  for (const auto& [sym, n] : triggers) {
    total += n;
    EXPECT_TRUE(sym == "_vm_unmap_aliases.part.0" || sym == "drain_vmap_area_work" ||
                sym == "alloc_vmap_area")
        << sym;
  }
  EXPECT_EQ(total, 723u);
}

struct vi_expect {
  const char* kernel;
  const char* file;
  std::size_t lines;
  std::size_t unpurged;
};

TEST(SharedRuns, VmallocinfoFiles) {
  const vi_expect cases[] = {
      {"6.1", "vmallocinfo_initstart.txt", 87, 5},
      {"6.1", "vmallocinfo.txt", 268, 132},
      {"6.12", "vmallocinfo_initstart.txt", 100, 7},
      {"6.12", "vmallocinfo.txt", 326, 113},
  };
  for (const vi_expect& c : cases) {
    if (!have_run(c.kernel)) GTEST_SKIP() << "shared data not found: " << shared_run(c.kernel);
    const std::vector<vmallocinfo_entry> v =
        load_vmallocinfo(shared_run(c.kernel) + "/" + c.file);
    EXPECT_EQ(v.size(), c.lines) << c.kernel << " " << c.file;
    std::size_t unpurged = 0;
    for (const vmallocinfo_entry& e : v) {
      if (e.unpurged) {
        ++unpurged;
        EXPECT_TRUE(e.caller.empty());
        EXPECT_TRUE(e.flags.empty());
      } else {
        EXPECT_FALSE(e.caller.empty()) << e.line;
        EXPECT_FALSE(e.flags.empty()) << e.line;
      }
      EXPECT_EQ(e.end - e.start, e.size) << c.file << ":" << e.line;
      if (e.has_flag("vmalloc") && e.caller_symbol != "pcpu_get_vm_areas") {
        EXPECT_TRUE(e.pages.has_value()) << c.file << ":" << e.line;
      }
      if (e.has_flag("ioremap")) {
        EXPECT_TRUE(e.phys.has_value()) << c.file << ":" << e.line;
      }
    }
    EXPECT_EQ(unpurged, c.unpurged) << c.kernel << " " << c.file;
  }
  // Line 1 of the 6.1 final file and a module caller.
  const std::vector<vmallocinfo_entry> v = load_vmallocinfo(shared_run("6.1") + "/vmallocinfo.txt");
  EXPECT_EQ(v[0].start, 0xffffc90000000000u);
  EXPECT_EQ(v[0].end, 0xffffc90000005000u);
  EXPECT_EQ(v[0].size, 20480u);
  EXPECT_EQ(v[0].caller, "irq_init_percpu_irqstack+0xf0/0x120");
  EXPECT_EQ(v[0].caller_symbol, "irq_init_percpu_irqstack");
  EXPECT_EQ(v[0].flags, std::vector<std::string>{"vmap"});
  EXPECT_FALSE(v[0].pages.has_value());
  EXPECT_EQ(v[1].phys, std::optional<std::uint64_t>(0x7ffe1000));
  EXPECT_EQ(v[1].flags, std::vector<std::string>{"ioremap"});
  EXPECT_EQ(v[4].pages, std::optional<std::uint64_t>(1));
  EXPECT_EQ(v[4].nodes, (std::vector<std::pair<unsigned, std::uint64_t>>{{0, 1}}));
  const auto mod = std::find_if(v.begin(), v.end(), [](const vmallocinfo_entry& e) {
    return e.caller.find("[zsmalloc]") != std::string::npos;
  });
  ASSERT_NE(mod, v.end());
  EXPECT_EQ(mod->caller, "zs_shrinker_count+0x23/0x50 [zsmalloc]");
  EXPECT_EQ(mod->caller_symbol, "zs_shrinker_count");
  EXPECT_EQ(mod->pages, std::optional<std::uint64_t>(11));
}

TEST(Vmallocinfo, FormsAndErrors) {
  line_source src = line_source::from_string(
      "0xffffc90000000000-0xffffc90000005000   20480 irq_init_percpu_irqstack+0xf0/0x120 vmap\n"
      "0xffffc900000a5000-0xffffc900000a8000   12288 unpurged vm_area\n"
      "0xffffc900000b0000-0xffffc900000b4000   16384 vm_map_ram\n"
      "0xffffc900000c0000-0xffffc900000c5000   20480 f+0x1/0x2 pages=4 vmalloc user vpages "
      "dma-coherent N0=3 N1=1\n"
      "\n"
      "0xffffe8fffee00000-0xffffe8ffff000000 2097152 pcpu_get_vm_areas+0x0/0x1040 vmalloc\n",
      "vi");
  const std::vector<vmallocinfo_entry> v = parse_vmallocinfo(src);
  ASSERT_EQ(v.size(), 5u);
  EXPECT_TRUE(v[1].unpurged);
  EXPECT_FALSE(v[2].unpurged);
  EXPECT_TRUE(v[2].has_flag("vm_map_ram"));
  EXPECT_TRUE(v[2].caller.empty());
  EXPECT_EQ(v[3].flags, (std::vector<std::string>{"vmalloc", "user", "vpages", "dma-coherent"}));
  EXPECT_EQ(v[3].nodes, (std::vector<std::pair<unsigned, std::uint64_t>>{{0, 3}, {1, 1}}));
  EXPECT_EQ(v[4].line, 6u);
  EXPECT_EQ(v[4].size, 2097152u);

  for (const std::string bad :
       {"0xffffc90000000000 20480 x+0x1/0x2 vmap", "0xffffc90000000000-0xzz 20480 vmap",
        "0xffffc90000000000-0xffffc90000005000 20k x+0x1/0x2 vmap",
        "0xffffc90000000000-0xffffc90000005000 20480 x+0x1/0x2 pages=x vmalloc",
        "0xffffc90000000000-0xffffc90000005000 20480 x+0x1/0x2 phys=12 ioremap",
        "0xffffc90000000000-0xffffc90000005000 20480 x+0x1/0x2 Vmalloc",
        "0xffffc90000000000-0xffffc90000005000"}) {
    line_source s2 = line_source::from_string(
        "0xffffc900000a5000-0xffffc900000a8000   12288 unpurged vm_area\n" + bad + "\n", "vi");
    try {
      parse_vmallocinfo(s2);
      ADD_FAILURE() << "no throw: " << bad;
    } catch (const trace_error& e) {
      EXPECT_EQ(e.line(), 2u) << bad;
      EXPECT_EQ(std::string(e.what()).rfind("vi:2: malformed vmallocinfo line", 0), 0u)
          << e.what();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Run folders

TEST(Runs, ShippedRunFolders) {
  for (const char* kernel : {"6.1", "6.12"}) {
    if (!have_run(kernel)) GTEST_SKIP() << "shared data not found: " << shared_run(kernel);
    const run_files r = load_run(shared_run(kernel));
    EXPECT_EQ(r.trace.filename(), "trace.txt.xz");
    EXPECT_TRUE(r.trace_has_page_events);
    EXPECT_EQ(r.kernel.major, 6u);
    EXPECT_EQ(r.kernel.minor, std::string(kernel) == "6.1" ? 1u : 12u);
    EXPECT_EQ(r.nr_cpus, 2u);
    EXPECT_EQ(r.cpuinfo_cpus, std::optional<unsigned>(2));
    EXPECT_EQ(r.initstart_path().filename(), "vmallocinfo_initstart.txt");
    EXPECT_EQ(r.final_path().filename(), "vmallocinfo.txt");
  }
}

TEST(Runs, KernelReleases) {
  const kernel_version a = parse_kernel_release("6.1.0-56-amd64", "u");
  EXPECT_EQ(a.major, 6u);
  EXPECT_EQ(a.minor, 1u);
  EXPECT_EQ(a.patch, 0u);
  const kernel_version b = parse_kernel_release("6.12.117+deb12-amd64", "u");
  EXPECT_EQ(b.major, 6u);
  EXPECT_EQ(b.minor, 12u);
  EXPECT_EQ(b.patch, 117u);
  EXPECT_TRUE(b.at_least(6, 9));
  EXPECT_FALSE(a.at_least(6, 9));
  const kernel_version c = parse_uname(
      "Linux (none) 6.12.117+deb12-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 "
      "(2026-11-14) x86_64 GNU/Linux",
      "uname.txt");
  EXPECT_EQ(c.minor, 12u);
  EXPECT_EQ(c.release, "6.12.117+deb12-amd64");
  EXPECT_EQ(parse_kernel_release("5.4", "u").minor, 4u);
  EXPECT_THROW(parse_kernel_release("six", "u"), trace_error);
  EXPECT_THROW(parse_kernel_release("6", "u"), trace_error);
  EXPECT_THROW(parse_uname("Linux host", "uname.txt"), trace_error);
}

TEST(Runs, MissingFilesAreClearErrors) {
  const fs::path d = temp_dir("run");
  auto expect_error = [&](const std::string& fragment) {
    try {
      load_run(d);
      ADD_FAILURE() << "no throw, expected " << fragment;
    } catch (const trace_error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_error("no trace");
  write_file(d / "trace-vmalloc-only.txt", HEADER);
  expect_error("uname.txt: missing");
  write_file(d / "uname.txt", "Linux (none) 6.1.0-56-amd64 #1 SMP\n");
  expect_error("nr_cpus.txt: missing");
  write_file(d / "nr_cpus.txt", "two\n");
  expect_error("nr_cpus.txt:1: expected a CPU count");
  write_file(d / "nr_cpus.txt", "4\n");
  run_files r = load_run(d);
  EXPECT_EQ(r.trace.filename(), "trace-vmalloc-only.txt");
  EXPECT_FALSE(r.trace_has_page_events);
  EXPECT_EQ(r.nr_cpus, 4u);
  EXPECT_FALSE(r.cpuinfo_cpus.has_value());
  EXPECT_THROW((void)r.initstart_path(), trace_error);
  EXPECT_THROW((void)r.final_path(), trace_error);
  write_file(d / "trace.txt", HEADER);
  EXPECT_EQ(load_run(d).trace.filename(), "trace.txt");
  write_file(d / "trace.txt.xz", xz_compress(HEADER));
  r = load_run(d);
  EXPECT_EQ(r.trace.filename(), "trace.txt.xz");
  line_source src = r.open_trace();
  EXPECT_EQ(parse_trace(src, nullptr).header_cpus, std::optional<unsigned>(2));
  EXPECT_THROW(load_run(d / "nope"), trace_error);
  fs::remove_all(d);
}

}  // namespace
}  // namespace mmref::trace
