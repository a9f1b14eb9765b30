// bench/bench_replay.cpp — replay throughput against parse-only throughput on the same real
// kernel trace, in one run.
//
// Synopsis
//   BM_parse_only/run:R     the baseline: the whole trace of shipped run R (0: linux-6.1, 1:
//                           linux-6.12, runA) read and parsed (impl/trace: every line split into
//                           its fields, every known event's fields checked), events discarded.
//   BM_replay/run:R         what `mmref replay` does with the same trace: parse, turn the vmap
//                           events into the replay's terms, rebuild the state before the trace,
//                           replay every event through vmap_state (modern strategy; 6.12 with
//                           the vmap nodes), check every invariant every 256 events, compare the
//                           final vmallocinfo.
// Each iteration handles every line of the trace once; the items/s column is lines per second and
// the ratio table divides by the number of lines (kOpsPerIter), so its ratio is replay's cost per
// line over parsing's. The decompressed trace is written once to a temporary file, outside the
// timing, and both benchmarks read it from there (the page cache), so xz decoding is not measured.
// Without ../shared/data/linux-trace beside the repository both benchmarks report an error.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "bench/ratio_reporter.hpp"
#include "impl/replay/from_trace.hpp"
#include "impl/replay/replay.hpp"
#include "impl/trace/ftrace.hpp"

namespace {

namespace fs = std::filesystem;
using namespace mmref;

const char* const kRuns[] = {"linux-6.1/runA-boot-workload-pages", "linux-6.12/runA-boot-workload-pages"};

struct prepared {
  std::string error;
  fs::path dir;           // a copy of the run folder whose trace is plain text
  std::uint64_t lines = 0;
};

// The run folder with its trace decompressed into trace.txt, in a temporary directory.
const prepared& prepare(std::size_t run) {
  static prepared cache[2];
  prepared& p = cache[run];
  if (!p.dir.empty() || !p.error.empty()) return p;
  const fs::path src = fs::path(MMREF_SHARED_DATA) / "linux-trace" / kRuns[run];
  if (!fs::exists(src / "trace.txt.xz")) {
    p.error = "no " + (src / "trace.txt.xz").string();
    return p;
  }
  p.dir = fs::temp_directory_path() / ("mmref-bench-replay-" + std::to_string(::getpid()) + "-" + std::to_string(run));
  fs::create_directories(p.dir);
  for (const char* f : {"uname.txt", "nr_cpus.txt", "vmallocinfo_initstart.txt", "vmallocinfo.txt"})
    fs::copy_file(src / f, p.dir / f, fs::copy_options::overwrite_existing);
  trace::line_source in = trace::line_source::open((src / "trace.txt.xz").string());
  std::ofstream out(p.dir / "trace.txt", std::ios::binary);
  std::string_view line;
  while (in.next(line)) {
    out << line << '\n';
    ++p.lines;
  }
  return p;
}

void BM_parse_only(benchmark::State& state) {
  const prepared& p = prepare(static_cast<std::size_t>(state.range(0)));
  if (!p.error.empty()) {
    state.SkipWithError(p.error.c_str());
    return;
  }
  std::uint64_t events = 0;
  for (auto _ : state) {
    trace::line_source src = trace::line_source::open((p.dir / "trace.txt").string());
    const trace::summary s = trace::parse_trace(src, [&](const trace::event& e) { benchmark::DoNotOptimize(e.counter); });
    events = s.events;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(p.lines));
  state.counters[bench::kOpsPerIter] = static_cast<double>(p.lines);
  state.counters["events"] = static_cast<double>(events);
}

void BM_replay(benchmark::State& state) {
  const prepared& p = prepare(static_cast<std::size_t>(state.range(0)));
  if (!p.error.empty()) {
    state.SkipWithError(p.error.c_str());
    return;
  }
  bool agrees = true;
  for (auto _ : state) {
    const replay::replay_input in = replay::load_replay_input(p.dir.string());
    const replay::replay_report r = replay::run_replay(in, replay::replay_options{});
    agrees = agrees && r.ok();
  }
  if (!agrees) state.SkipWithError("the replay did not agree with the kernel");
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(p.lines));
  state.counters[bench::kOpsPerIter] = static_cast<double>(p.lines);
}

BENCHMARK(BM_parse_only)->ArgName("run")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_replay)->ArgName("run")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  const int rc = mmref::bench::run_with_ratio_table(
      argc, argv,
      {"BM_parse_only", "run:0",
       "reading and parsing the same trace (every line split into fields, every known event checked), "
       "events discarded (BM_parse_only); per trace line."},
      "bench_replay");
  for (std::size_t run = 0; run < 2; ++run) {
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("mmref-bench-replay-" + std::to_string(::getpid()) + "-" + std::to_string(run)), ec);
  }
  return rc;
}
