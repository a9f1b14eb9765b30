// bench/ratio_reporter.hpp — the console output of Google Benchmark plus a table of every
// benchmark's time per operation as a ratio to a baseline benchmark measured in the same run.
//
// Synopsis
//   ratio_baseline                which benchmark function is the baseline, which of its
//                                 argument sets stands in for benchmarks that have none of
//                                 their own, and a sentence saying what it is.
//   ratio_reporter                a ConsoleReporter that also records each run's times and
//                                 prints the ratio table (print_ratio_table).
//   run_with_ratio_table(...)     the whole main(): Initialize, run, table, Shutdown; returns
//                                 the exit status (1 when nothing matched or a run failed).
//   kOpsPerIter                   the user counter a benchmark sets when one iteration does
//                                 more than one operation (a batch): the table divides the
//                                 time per iteration by it. Without it, one iteration is one
//                                 operation.
//
// Each benchmark is matched with the baseline run that has the same arguments ("N:4096"), or
// with the fallback arguments when the baseline has none such. Aggregate runs (mean, median,
// stddev under --benchmark_repetitions) are skipped; the table shows the median over the
// repetitions of each benchmark (with one repetition, that run). Ratios use CPU time, the time
// Google Benchmark itself reports by default; real time is shown beside it.
#pragma once

#include <benchmark/benchmark.h>

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace mmref::bench {

inline constexpr const char* kOpsPerIter = "ops_per_iter";

struct ratio_baseline {
  std::string function;       // the baseline's benchmark function, e.g. "BM_unordered_map_lookup"
  std::string fallback_args;  // e.g. "N:4096": the baseline for benchmarks without such args
  std::string description;    // what the baseline is, printed above the table
};

// The median of a non-empty sample.
inline double median_of(std::vector<double> xs) {
  const std::size_t mid = xs.size() / 2;
  std::nth_element(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(mid), xs.end());
  const double upper = xs[mid];
  if (xs.size() % 2 != 0) return upper;
  const double lower = *std::max_element(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2.0;
}

class ratio_reporter final : public benchmark::ConsoleReporter {
 public:
  ratio_reporter(ratio_baseline baseline, OutputOptions opts)
      : benchmark::ConsoleReporter(opts), baseline_(std::move(baseline)) {}

  void ReportRuns(const std::vector<Run>& reports) override {
    benchmark::ConsoleReporter::ReportRuns(reports);
    for (const Run& run : reports) {
      if (run.run_type != Run::RT_Iteration) continue;
      if (run.error_occurred) {
        ++errors_;
        continue;
      }
      if (run.iterations <= 0) continue;
      // GetAdjusted*Time() is per iteration in run.time_unit; convert to nanoseconds per op.
      double ops = 1.0;
      const auto counter = run.counters.find(kOpsPerIter);
      if (counter != run.counters.end() && counter->second.value > 0.0) ops = counter->second.value;
      const double to_ns_per_op = 1e9 / benchmark::GetTimeUnitMultiplier(run.time_unit) / ops;
      const std::string name = run.benchmark_name();
      auto found = std::find_if(rows_.begin(), rows_.end(), [&](const row& r) { return r.name == name; });
      if (found == rows_.end()) {
        rows_.push_back({name, run.run_name.function_name, run.run_name.args, {}, {}});
        found = rows_.end() - 1;
      }
      found->real_ns.push_back(run.GetAdjustedRealTime() * to_ns_per_op);
      found->cpu_ns.push_back(run.GetAdjustedCPUTime() * to_ns_per_op);
    }
  }

  unsigned errors() const { return errors_; }

  void print_ratio_table(std::ostream& out) const {
    if (rows_.empty()) return;
    std::map<std::string, double> baseline_cpu;  // args ("N:4096") -> median cpu ns/op
    for (const row& r : rows_)
      if (r.function == baseline_.function) baseline_cpu[r.args] = median_of(r.cpu_ns);

    std::size_t width = std::string("benchmark").size();
    for (const row& r : rows_) width = std::max(width, r.name.size());

    out << "\nbenchmark, ns/op (median over the repetitions), ratio to the baseline:\n"
        << baseline_.description << "\nRatio = cpu ns/op / baseline cpu ns/op with the same arguments (with "
        << baseline_.fallback_args << " where the baseline has no run with them).\n";
    out << std::left << std::setw(static_cast<int>(width)) << "benchmark" << std::right << std::setw(14)
        << "real ns/op" << std::setw(14) << "cpu ns/op" << std::setw(10) << "ratio"
        << "  baseline\n";
    out << std::string(width + 48, '-') << '\n';
    for (const row& r : rows_) {
      const double cpu = median_of(r.cpu_ns);
      const std::string key = baseline_cpu.count(r.args) != 0 ? r.args : baseline_.fallback_args;
      out << std::left << std::setw(static_cast<int>(width)) << r.name << std::right << std::fixed
          << std::setprecision(1) << std::setw(14) << median_of(r.real_ns) << std::setw(14) << cpu;
      const auto base = baseline_cpu.find(key);
      if (base == baseline_cpu.end() || base->second <= 0.0) {
        out << std::setw(10) << "n/a" << "  (baseline not run)\n";
      } else {
        out << std::setw(10) << std::setprecision(2) << cpu / base->second << "  " << baseline_.function << '/'
            << key << '\n';
      }
    }
    out << std::defaultfloat << std::flush;
  }

 private:
  struct row {
    std::string name;      // full benchmark name, e.g. BM_walk_4level/N:4096
    std::string function;  // BM_walk_4level
    std::string args;      // N:4096, or "" for benchmarks without arguments
    std::vector<double> real_ns;  // per op, one sample per repetition
    std::vector<double> cpu_ns;
  };
  ratio_baseline baseline_;
  std::vector<row> rows_;  // in the order the benchmarks ran
  unsigned errors_ = 0;
};

// main() of a benchmark program: the registered benchmarks, the console output, the ratio
// table. `program` names the binary in error messages.
inline int run_with_ratio_table(int argc, char** argv, ratio_baseline baseline, const char* program) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // A display reporter passed in replaces the one --benchmark_format would pick; colour only
  // on a terminal (--benchmark_color is not visible through the public API).
  ratio_reporter reporter(std::move(baseline), isatty(fileno(stdout)) ? benchmark::ConsoleReporter::OO_Color
                                                                      : benchmark::ConsoleReporter::OO_None);
  const std::size_t matched = benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratio_table(reporter.GetOutputStream());
  benchmark::Shutdown();
  if (matched == 0) {
    std::cerr << program << ": no benchmark matched the filter\n";
    return 1;
  }
  if (reporter.errors() != 0) {
    std::cerr << program << ": " << reporter.errors() << " benchmark run(s) reported an error\n";
    return 1;
  }
  return 0;
}

}  // namespace mmref::bench
