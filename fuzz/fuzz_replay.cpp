// fuzz/fuzz_replay.cpp — libFuzzer target: the replay engine (impl/replay) on event sequences
// no kernel would write.
//
// Synopsis
//   Input    header byte: bit 0 picks the record (0: 6.1 kprobes, 1: 6.12 tracepoints with vmap
//            nodes), bits 1-2 the CPUs (1..4), bit 3 whether a small /init-start snapshot and a
//            final vmallocinfo come with the run. Then events, each an opcode byte (% 12)
//            and operands (a byte past the end reads 0); at most MAX_EVENTS (96):
//              0 alloc (entry)            4 purge (entry)            8 pcpu_get_ret
//              1 alloc_ret                5 purge_ret                9 drain
//              2 free_noflush (entry)     6 tracepoint purge        10 marker "capture: init start"
//              3 tracepoint free          7 pcpu_get                11 tracepoint alloc
//            Addresses are pages of a 64-page window at VMALLOC_START or one of the last 8
//            addresses the sequence named (so frees and allocations collide); sizes 1..16 pages,
//            aligns 1 << (0, 12..16), lazy values near the real counter or arbitrary, CPUs and
//            pids small. Kernel answers are arbitrary: most sequences diverge, which is fine.
//   Oracles  run_replay returns a report, or throws std::runtime_error for input it cannot
//            start from (no events, an initial area that cannot be rebuilt). Whatever the input,
//            the model must keep every invariant: the report's invariant_violations (checked
//            after every event and after every purge) must be empty. Anything else — another
//            exception, a sanitizer report — is a failure.
//   Failure  the decoded events and the report go to stderr, then __builtin_trap().
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "impl/replay/replay.hpp"

using namespace mmref::replay;

namespace {

constexpr std::uint64_t VSTART = 0xffffc90000000000ULL, VEND = 0xffffe8ffffffffffULL;
constexpr std::uint64_t PG = 4096;
constexpr std::size_t MAX_EVENTS = 96;

struct reader {
  const std::uint8_t* p;
  std::size_t n, i = 0;
  std::uint8_t byte() { return i < n ? p[i++] : 0; }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v = (v << 8) | byte();
    return v;
  }
};

struct decoder {
  reader r;
  std::vector<std::uint64_t> named;  // addresses the sequence used
  std::uint64_t line = 1;

  std::uint64_t addr() {
    const std::uint8_t b = r.byte();
    if ((b & 0xc0) == 0xc0 && !named.empty()) return named[(b & 7) % named.size()];
    const std::uint64_t a = VSTART + (b % 64) * PG;
    named.push_back(a);
    if (named.size() > 8) named.erase(named.begin());
    return a;
  }
  std::uint64_t pages() { return 1 + r.byte() % 16; }
  std::uint64_t align() {
    const std::uint8_t b = r.byte() % 6;
    return b == 0 ? 1 : std::uint64_t{1} << (11 + b);
  }
  std::int64_t lazy() {
    const std::uint8_t b = r.byte();
    return (b & 0x80) ? static_cast<std::int64_t>(r.u64()) : b;
  }
  vm_event ev(vm_ev k, const char* name) {
    vm_event e;
    e.line = line++;
    e.counter = e.line;
    const std::uint8_t who = r.byte();
    e.cpu = who & 3;
    e.pid = 1 + (who >> 2) % 4;
    e.kind = k;
    e.name = name;
    return e;
  }
};

std::string describe(const vm_event& e) {
  char b[256];
  std::snprintf(b, sizeof b, "line %llu cpu %u pid %lld %s size %#llx align %#llx va [%#llx, %#llx) lazy %lld start %#llx end %#llx",
                static_cast<unsigned long long>(e.line), e.cpu, static_cast<long long>(e.pid), e.name.c_str(),
                static_cast<unsigned long long>(e.size), static_cast<unsigned long long>(e.align),
                static_cast<unsigned long long>(e.va_start), static_cast<unsigned long long>(e.va_end),
                static_cast<long long>(e.lazy), static_cast<unsigned long long>(e.start), static_cast<unsigned long long>(e.end));
  return b;
}

[[noreturn]] void fail(const replay_input& in, const std::string& what) {
  std::fprintf(stderr, "fuzz_replay: %s\nevents:\n", what.c_str());
  for (const vm_event& e : in.events) std::fprintf(stderr, "  %s\n", describe(e).c_str());
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  decoder d{reader{data, size}, {}};
  const std::uint8_t head = d.r.byte();
  replay_input in;
  in.name = "fuzz";
  in.kernel_major = 6;
  in.kernel_minor = (head & 1) ? 12 : 1;
  in.nr_cpus = 1 + ((head >> 1) & 3);
  in.vmalloc_start = VSTART;
  in.vmalloc_end = VEND;
  if (head & 8) {
    in.has_initstart = in.has_final = true;
    in.initstart = {{1, VSTART + 60 * PG, VSTART + 62 * PG, false, "early"}};
    in.final_info = {{1, VSTART, VSTART + 2 * PG, false, "busy"}, {2, VSTART + 4 * PG, VSTART + 8 * PG, true, "unpurged"}};
  }
  for (std::size_t k = 0; k < MAX_EVENTS && d.r.i < d.r.n; ++k) {
    switch (d.r.byte() % 12) {
      case 0: {
        vm_event e = d.ev(vm_ev::alloc, "alloc");
        e.size = d.pages() * PG;
        e.align = d.align();
        e.vstart = VSTART;
        e.vend = (d.r.byte() & 1) ? VEND : VSTART + 64 * PG;
        in.events.push_back(e);
        break;
      }
      case 1:
      case 11: {
        const bool tp = d.r.i > 0 && d.r.p[d.r.i - 1] % 12 == 11;
        vm_event e = d.ev(tp ? vm_ev::tp_alloc : vm_ev::alloc_ret, tp ? "alloc_vmap_area" : "alloc_ret");
        e.va_start = d.addr();
        e.size = d.pages() * PG;
        e.va_end = e.va_start + e.size;
        e.align = d.align();
        e.vstart = VSTART;
        e.vend = VEND;
        e.flags = static_cast<std::uint64_t>(d.r.byte() % 4) << 8;
        e.has_flags = true;
        in.events.push_back(e);
        break;
      }
      case 2: {
        vm_event e = d.ev(vm_ev::free, "free_noflush");
        e.va_start = d.addr();
        e.va_end = e.va_start + d.pages() * PG;
        e.lazy = d.lazy();
        in.events.push_back(e);
        break;
      }
      case 3: {
        vm_event e = d.ev(vm_ev::tp_free, "free_vmap_area_noflush");
        e.va_start = d.addr();
        e.nr_lazy = static_cast<std::uint64_t>(d.lazy());
        e.nr_lazy_max = 16384;
        in.events.push_back(e);
        break;
      }
      case 4: {
        vm_event e = d.ev(vm_ev::purge, "purge");
        e.start = (d.r.byte() & 1) ? ~std::uint64_t{0} : d.addr();
        e.end = (d.r.byte() & 1) ? 0 : d.addr();
        e.lazy = d.lazy();
        e.full = d.r.byte() & 1;
        in.events.push_back(e);
        break;
      }
      case 5: {
        vm_event e = d.ev(vm_ev::purge_ret, "purge_ret");
        e.ret = d.r.byte() & 1;
        e.lazy = d.lazy();
        in.events.push_back(e);
        break;
      }
      case 6: {
        vm_event e = d.ev(vm_ev::tp_purge, "purge_vmap_area_lazy");
        e.start = d.addr();
        e.end = d.addr();
        e.num_purged = d.r.byte() % 8;
        in.events.push_back(e);
        break;
      }
      case 7: {
        vm_event e = d.ev(vm_ev::pcpu_get, "pcpu_get");
        e.off0 = (d.r.byte() % 4) * PG;
        e.size0 = d.pages() * PG;
        e.nr = 1;
        e.align = (d.r.byte() & 1) ? PG : 0x200000;
        in.events.push_back(e);
        break;
      }
      case 8: {
        vm_event e = d.ev(vm_ev::pcpu_get_ret, "pcpu_get_ret");
        e.addr0 = (d.r.byte() & 1) ? VEND + 1 - 0x200000 : d.addr();
        e.size0 = d.pages() * PG;
        in.events.push_back(e);
        break;
      }
      case 9: {
        vm_event e = d.ev(vm_ev::drain, "drain");
        e.lazy = d.lazy();
        in.events.push_back(e);
        break;
      }
      case 10: {
        vm_event e = d.ev(vm_ev::marker, "tracing_mark_write");
        e.site = "capture: init start";
        in.events.push_back(e);
        break;
      }
    }
  }
  replay_options opt;
  opt.check_every = 1;
  try {
    const replay_report rep = run_replay(in, opt);
    if (!rep.invariant_violations.empty())
      fail(in, "the model broke an invariant:\n" + format_report(rep));
  } catch (const std::runtime_error&) {
    // input the replay cannot start from: a clear error is the right answer
  } catch (const std::exception& e) {
    fail(in, std::string("unexpected exception: ") + e.what());
  }
  return 0;
}
