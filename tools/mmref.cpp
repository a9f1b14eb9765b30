// tools/mmref.cpp — the mmref command.
//
//   mmref check [--seed N]          every proof (Z3, re-checked by cvc5) and every property
//                                   suite on the built-in default machine with a fixed seed;
//                                   one row per proof/property and the invariant x evidence
//                                   matrix.
//   mmref prove [--list] [--only NAME] [--emit-smt2 DIR] [--solver z3|cvc5|both]
//   mmref props [--list] [--only NAME] [--seed N|random] [--cases N] [--size N]
//   mmref show buddyinfo|zoneinfo|pagetypeinfo [--from-zoneinfo FILE]
//   mmref show vmallocinfo [--strategy NAME] [--ops N] [--seed S]
//                                   the page allocator's /proc views after boot, on the
//                                   default machine or on the zones of a real /proc/zoneinfo.
//   mmref replay RUN [--strategy NAME] [--kernel M.m] [--cpus N] [--stop-at-first] [--no-vmap-nodes]
//                                   replay a real kernel's vmalloc trace (a run folder of
//                                   shared/data/linux-trace, a trace file, or - for stdin) and
//                                   compare it with the model event by event.
//
// Exit codes: 0 all hold; 1 a violation (a counterexample, a failing property, a vacuous
// proof, a solver disagreement); 2 usage or environment error; 3 a solver answered unknown.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <fstream>
#include <sstream>

#include "impl/buddy/invariants.hpp"
#include "impl/buddy/page_alloc.hpp"
#include "impl/replay/from_trace.hpp"
#include "impl/replay/replay.hpp"
#include "impl/vmalloc/invariants.hpp"
#include "impl/vmalloc/vmalloc.hpp"
#include "impl/vmalloc/workload.hpp"
#include "model/invariants.hpp"
#include "model/machine.hpp"
#include "proofs/registry.hpp"
#include "props/registry.hpp"

using namespace mmref;

namespace {

constexpr int EXIT_HOLDS = 0, EXIT_VIOLATION = 1, EXIT_USAGE = 2, EXIT_UNKNOWN = 3;

// The invariant catalogue (DESIGN.md) and the kinds of evidence, in the matrix's order.
const std::vector<std::string> CATALOGUE = {
    "VM-DISJOINT", "VM-RANGE",  "VM-PARTITION", "VM-LAZY-ACCT", "VM-NO-REUSE", "VM-PURGE",
    "VM-MAP",      "VM-NONCONTIG", "VM-NO-STRAY", "BD-PARTITION", "BD-ALIGN",  "BD-COALESCED",
    "BD-ACCT",     "BD-WMARK",  "BD-REF",       "PT-WF",        "TLB-COHERENT"};
const std::vector<std::string> EVIDENCE = {"z3-lemma", "z3-bounded", "stateful", "snapshot", "differential", "fault-inj"};

struct row {
  std::string name, proves, evidence, bound, result;
  double seconds = 0;
  bool ok = false;
  bool unknown = false;
};

std::string cvc5_path() {
  if (const char* p = std::getenv("MMREF_CVC5")) return p;
  return MMREF_CVC5;
}

bool cvc5_available(const std::string& path) {
  return std::system((path + " --version > /dev/null 2>&1").c_str()) == 0;
}

std::string fmt_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fs", s);
  return buf;
}

std::string evidence_of(const proofs::obligation& o) {
  if (o.kind == "bounded") return "z3-bounded";
  if (o.kind == "exhaustive") return "z3-exhaustive";  // every case of a finite domain, counted apart
  if (o.kind == "snapshot") return "snapshot";
  return "z3-lemma";
}

row prove_one(const proofs::obligation& o, const proofs::solver_opts& opts, bool print_failure) {
  const proofs::proof_result r = proofs::discharge(o, opts);
  row x{o.name, o.proves, evidence_of(o), o.bound, "", r.z3_seconds + r.cvc5_seconds, r.ok(), r.solver_unknown()};
  x.result = std::string("z3 ") + proofs::verdict_text(r.z3) + (opts.cvc5 ? std::string(", cvc5 ") + proofs::verdict_text(r.cvc5) : "") +
             (r.parts > 1 ? " (" + std::to_string(r.parts) + " parts)" : "");
  if (!r.ok() && print_failure) {
    std::cout << "\nFAILED " << o.name << " (proves " << o.proves << ", " << o.kind << ", " << o.bound << ")\n"
              << "  " << x.result << "\n";
    if (!r.counterexample.empty()) std::cout << "  counterexample (Z3 model):\n" << r.counterexample;
    if (!r.detail.empty()) std::cout << "  " << r.detail << "\n";
    if (!r.cvc5_output.empty()) std::cout << "  cvc5 said: " << r.cvc5_output << "\n";
    std::cout << "  SMT-LIB: " << r.smt2.string() << "\n"
              << "  reproduce: mmref prove --only " << o.name
              << (r.failed_part >= 0 ? " --part " + std::to_string(r.failed_part) : std::string()) << " --solver both\n\n";
  }
  return x;
}

row props_one(const props::property& p, std::uint64_t seed, int cases, int size, bool print_failure) {
  const props::prop_result r = props::run_property(p, seed, cases, size);
  std::string ids;
  for (const std::string& id : p.ids) ids += (ids.empty() ? "" : " ") + id;
  // A commuting property runs random operation sequences against the slot model: stateful.
  const std::string evidence = p.kind == "stateful" || p.kind == "commuting" ? "stateful"
                               : p.kind == "differential"                  ? "differential"
                               : p.kind == "fault-injection"               ? "fault-inj"
                               : p.kind == "snapshot"                      ? "snapshot"
                               : p.kind == "negative"                      ? "negative"
                                                                           : "round-trip";
  row x{p.name, ids, evidence,
        std::to_string(r.cases) + " cases, size " + std::to_string(r.size) + ", seed " + std::to_string(seed),
        r.ok ? "passed" : "FAILED", r.seconds, r.ok, false};
  if (!r.ok && print_failure) std::cout << "\nFAILED " << p.name << "\n" << r.message << "\n";
  return x;
}

void print_rows(const std::vector<row>& rows) {
  std::size_t w_name = 4, w_proves = 6, w_bound = 5, w_res = 6;
  for (const row& r : rows) {
    w_name = std::max(w_name, r.name.size());
    w_proves = std::max(w_proves, r.proves.size());
    w_bound = std::max(w_bound, r.bound.size());
    w_res = std::max(w_res, r.result.size());
  }
  std::printf("%-*s  %-*s  %-13s  %-*s  %-*s  %s\n", int(w_name), "name", int(w_proves), "proves", "evidence", int(w_bound),
              "bound", int(w_res), "result", "time");
  for (const row& r : rows)
    std::printf("%-*s  %-*s  %-13s  %-*s  %-*s  %s\n", int(w_name), r.name.c_str(), int(w_proves), r.proves.c_str(),
                r.evidence.c_str(), int(w_bound), r.bound.c_str(), int(w_res), r.result.c_str(), fmt_seconds(r.seconds).c_str());
}

void print_matrix(const std::vector<row>& rows) {
  // cell: number of passing items, or FAIL when any failed; '.' when nothing covers it yet.
  std::map<std::pair<std::string, std::string>, std::pair<int, int>> cells;  // (id, evidence) -> (ok, failed)
  for (const row& r : rows) {
    std::set<std::string> ids;
    for (const std::string& id : CATALOGUE)
      if ((" " + r.proves + " ").find(" " + id + " ") != std::string::npos) ids.insert(id);
    for (const std::string& id : ids) (r.ok ? cells[{id, r.evidence}].first : cells[{id, r.evidence}].second)++;
  }
  std::printf("\ninvariant x evidence (n = proofs/properties that hold; FAIL = one failed; . = none yet)\n");
  std::printf("%-14s", "");
  for (const std::string& e : EVIDENCE) std::printf("  %-12s", e.c_str());
  std::printf("\n");
  int covered = 0;
  for (const std::string& id : CATALOGUE) {
    std::printf("%-14s", id.c_str());
    bool any = false;
    for (const std::string& e : EVIDENCE) {
      const auto it = cells.find({id, e});
      std::string cell = ".";
      if (it != cells.end()) {
        any = true;
        cell = it->second.second ? "FAIL" : std::to_string(it->second.first) + " ok";
      }
      std::printf("  %-12s", cell.c_str());
    }
    covered += any;
    std::printf("\n");
  }
  std::string thin;
  for (const std::string& id : CATALOGUE) {
    int kinds = 0;
    for (const std::string& e : EVIDENCE) kinds += cells.count({id, e}) ? 1 : 0;
    if (kinds < 2) thin += " " + id;
  }
  std::printf("%d of %zu catalogue invariants have evidence; fewer than two kinds:%s\n", covered, CATALOGUE.size(),
              thin.empty() ? " none" : thin.c_str());
}

int verdict_exit(const std::vector<row>& rows) {
  bool unknown = false, failed = false;
  for (const row& r : rows) {
    if (r.unknown) unknown = true;
    else if (!r.ok) failed = true;
  }
  if (failed) return EXIT_VIOLATION;
  if (unknown) return EXIT_UNKNOWN;
  return EXIT_HOLDS;
}

int cmd_check(std::uint64_t seed) {
  const std::string cvc5 = cvc5_path();
  if (!cvc5_available(cvc5)) {
    std::cerr << "mmref check: cvc5 not found at '" << cvc5 << "' (install it: bash ci/setup.sh)\n";
    return EXIT_USAGE;
  }
  // The built-in default machine: booting it must already satisfy the machine invariants.
  const machine_config cfg = machine_config::default_machine();
  std::cout << "mmref check on " << cfg.describe() << "\n";
  {
    machine m(cfg);
    const std::vector<violation> v = check_machine(m);
    if (!v.empty()) {
      std::cout << report(v, m);
      return EXIT_VIOLATION;
    }
  }
  {
    // The page allocator on the same machine, its page tables drawn from it.
    buddy::buddy_machine bm(cfg);
    const std::vector<violation> v = buddy::check_buddy(*bm.buddy);
    if (!v.empty()) {
      std::cout << buddy::buddy_report(v, *bm.buddy);
      return EXIT_VIOLATION;
    }
    std::cout << "buddy allocator booted: " << bm.buddy->total_managed_pages() << " managed pages, "
              << bm.buddy->total_free_pages() << " free, min_free_kbytes " << bm.buddy->min_free_kbytes()
              << "; BD-* invariants hold\n";
  }
  proofs::solver_opts opts;
  opts.cvc5 = true;
  opts.cvc5_path = cvc5;
  std::vector<row> rows;
  const auto t0 = std::chrono::steady_clock::now();
  for (const proofs::obligation& o : proofs::all_obligations()) rows.push_back(prove_one(o, opts, true));
  for (const props::property& p : props::all_properties()) rows.push_back(props_one(p, seed, 0, 0, true));
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "\n";
  print_rows(rows);
  print_matrix(rows);
  // The proofs' rows come first (a snapshot proof's evidence is "snapshot", not "z3-...").
  const std::size_t nr_proofs = proofs::all_obligations().size();
  int proofs_ok = 0, props_ok = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) (i < nr_proofs ? proofs_ok : props_ok) += rows[i].ok;
  std::printf("\n%d/%zu proofs agreed by Z3 and cvc5, %d/%zu property suites passed (seed %llu), %.1fs\n", proofs_ok,
              nr_proofs, props_ok, props::all_properties().size(),
              static_cast<unsigned long long>(seed), total);
  const int rc = verdict_exit(rows);
  std::printf("%s\n", rc == EXIT_HOLDS ? "all hold" : rc == EXIT_UNKNOWN ? "a solver answered unknown" : "VIOLATION");
  return rc;
}

int cmd_prove(bool list, const std::string& only, const std::string& emit, const std::string& solver, int part) {
  if (list) {
    for (const proofs::obligation& o : proofs::all_obligations())
      std::printf("%-55s %-22s %-10s %s\n", o.name.c_str(), o.proves.c_str(), o.kind.c_str(), o.bound.c_str());
    return EXIT_HOLDS;
  }
  proofs::solver_opts opts;
  opts.z3 = solver != "cvc5";
  opts.cvc5 = solver != "z3";
  opts.cvc5_path = cvc5_path();
  opts.emit_dir = emit;
  opts.only_part = part;
  if (part >= 0 && only.empty()) {
    std::cerr << "mmref prove: --part needs --only\n";
    return EXIT_USAGE;
  }
  if (opts.cvc5 && !cvc5_available(opts.cvc5_path)) {
    std::cerr << "mmref prove: cvc5 not found at '" << opts.cvc5_path << "'\n";
    return EXIT_USAGE;
  }
  std::vector<row> rows;
  for (const proofs::obligation& o : proofs::all_obligations())
    if (only.empty() || o.name == only) rows.push_back(prove_one(o, opts, true));
  if (rows.empty()) {
    std::cerr << "mmref prove: no obligation named '" << only << "' (see mmref prove --list)\n";
    return EXIT_USAGE;
  }
  print_rows(rows);
  std::map<std::string, std::pair<int, int>> by_kind;  // evidence -> (held, run)
  for (const row& r : rows) {
    by_kind[r.evidence].first += r.ok;
    by_kind[r.evidence].second += 1;
  }
  std::printf("\n");
  for (const auto& [kind, n] : by_kind) std::printf("%s: %d of %d hold\n", kind.c_str(), n.first, n.second);
  if (!emit.empty()) std::cout << "SMT-LIB files in " << emit << "\n";
  return verdict_exit(rows);
}

int cmd_props(bool list, const std::string& only, const std::string& seed_text, int cases, int size) {
  if (list) {
    for (const props::property& p : props::all_properties()) {
      std::printf("%-32s %-10s %5d cases  size %4d  checks", p.name.c_str(), p.kind.c_str(), p.cases, p.size);
      for (const std::string& id : p.ids) std::printf(" %s", id.c_str());
      std::printf("\n");
    }
    return EXIT_HOLDS;
  }
  std::uint64_t seed = props::CI_SEED;
  if (seed_text == "random") {
    seed = (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  } else if (!seed_text.empty()) {
    char* end = nullptr;
    seed = std::strtoull(seed_text.c_str(), &end, 0);
    if (!end || *end) {
      std::cerr << "mmref props: --seed takes a number or 'random'\n";
      return EXIT_USAGE;
    }
  }
  std::printf("seed=%llu (replay: mmref props --seed %llu%s%s)\n", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed), only.empty() ? "" : " --only ", only.c_str());
  std::vector<row> rows;
  for (const props::property& p : props::all_properties())
    if (only.empty() || p.name == only) rows.push_back(props_one(p, seed, cases, size, true));
  // A negative property (one that must fail) runs only when named, to reproduce its report.
  for (const props::property& p : props::negative_properties())
    if (!only.empty() && p.name == only) rows.push_back(props_one(p, seed, cases, size, true));
  if (rows.empty()) {
    std::cerr << "mmref props: no property named '" << only << "' (see mmref props --list)\n";
    return EXIT_USAGE;
  }
  print_rows(rows);
  return verdict_exit(rows);
}

// /proc/vmallocinfo of the default machine after a seeded workload: vmalloc/vzalloc of
// assorted sizes (some large enough for a nested pages array), a huge vmalloc, vmap of pages
// the workload owns, module_alloc, and vfree/vunmap of about a third, so that lazily freed
// ("unpurged") areas show too. Every invariant is checked at the end.
int cmd_show_vmallocinfo(const std::string& strategy, int ops, std::uint64_t seed) {
  buddy::buddy_machine bm(machine_config::default_machine());
  vmalloc::vmap_config vc;
  vc.nr_cpus = bm.mach->nr_cpus();
  vc.strategy = strategy;
  vmalloc::vmap_state vs(*bm.buddy, *bm.mach, vc);
  vmalloc::run_workload(vs, seed, ops);
  std::cout << vs.vmallocinfo();
  std::cerr << "mmref show vmallocinfo: " << ops << " operations, strategy " << strategy << ", seed " << seed
            << " (replay: mmref show vmallocinfo --strategy " << strategy << " --ops " << ops << " --seed " << seed << ")\n";
  const auto v = vmalloc::check_vmalloc(vs);
  if (!v.empty()) {
    std::cerr << vmalloc::vmalloc_report(v, vs);
    return EXIT_VIOLATION;
  }
  return EXIT_HOLDS;
}

int cmd_show(const std::string& what, const std::string& zoneinfo_file) {
  buddy::buddy_config cfg = buddy::buddy_config::default_machine();
  if (!zoneinfo_file.empty()) {
    std::ifstream f(zoneinfo_file);
    if (!f) {
      std::cerr << "mmref show: cannot read " << zoneinfo_file << "\n";
      return EXIT_USAGE;
    }
    std::ostringstream text;
    text << f.rdbuf();
    cfg = buddy::buddy_config::from_zoneinfo(text.str());
  }
  const buddy::page_alloc pa(cfg);
  if (what == "buddyinfo") std::cout << pa.buddyinfo();
  else if (what == "zoneinfo") std::cout << pa.zoneinfo();
  else std::cout << pa.pagetypeinfo();
  return EXIT_HOLDS;
}

// mmref replay RUN: exit 0 when the model agrees with the kernel (nothing unexplained), 1 when
// it diverges, 2 on unreadable input.
int cmd_replay(const std::string& run, const std::string& strategy, const std::string& kernel, unsigned cpus,
               bool stop_at_first, bool no_nodes) {
  replay::run_overrides o;
  if (!kernel.empty()) {
    unsigned major = 0, minor = 0;
    if (std::sscanf(kernel.c_str(), "%u.%u", &major, &minor) != 2 || major == 0) {
      std::cerr << "mmref replay: --kernel takes MAJOR.MINOR, e.g. 6.1\n";
      return EXIT_USAGE;
    }
    o.kernel_major = major;
    o.kernel_minor = minor;
  }
  o.nr_cpus = cpus;
  replay::replay_input in;
  try {
    in = replay::load_replay_input(run, o);
  } catch (const std::exception& e) {
    std::cerr << "mmref replay: " << e.what() << "\n";
    return EXIT_USAGE;
  }
  replay::replay_options opt;
  opt.strategy = strategy;
  opt.stop_at_first = stop_at_first;
  opt.vmap_nodes = !no_nodes;
  const replay::replay_report r = replay::run_replay(in, opt);
  std::cout << replay::format_report(r);
  return r.ok() ? EXIT_HOLDS : EXIT_VIOLATION;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mmref: a reference model of Linux vmalloc and the buddy allocator over an abstract x86-64 machine, "
               "and the suite that checks it"};
  app.require_subcommand(1);

  std::uint64_t check_seed = props::CI_SEED;
  CLI::App* check = app.add_subcommand("check", "every proof and property suite on the default machine, fixed seed");
  check->add_option("--seed", check_seed, "RapidCheck seed (default: the CI seed)");

  bool prove_list = false;
  std::string prove_only, prove_emit, prove_solver = "z3";
  int prove_part = -1;
  CLI::App* prove = app.add_subcommand("prove", "discharge proof obligations");
  prove->add_flag("--list", prove_list, "list the obligations");
  prove->add_option("--only", prove_only, "one obligation by name");
  prove->add_option("--emit-smt2", prove_emit, "write each obligation's SMT-LIB 2 file to this directory");
  prove->add_option("--solver", prove_solver, "z3, cvc5 or both")->check(CLI::IsMember({"z3", "cvc5", "both"}));
  prove->add_option("--part", prove_part, "with --only: one part of an obligation proved in parts (the number a failure names)")
      ->check(CLI::NonNegativeNumber);

  bool props_list = false;
  std::string props_only, props_seed;
  int props_cases = 0, props_size = 0;
  CLI::App* propc = app.add_subcommand("props", "run the RapidCheck property suites");
  propc->add_flag("--list", props_list, "list the properties");
  propc->add_option("--only", props_only, "one property by name");
  propc->add_option("--seed", props_seed, "a seed, or 'random' (default: the CI seed)");
  propc->add_option("--cases", props_cases, "cases per property (default: the registry's)")->check(CLI::PositiveNumber);
  propc->add_option("--size", props_size, "RapidCheck max size (default: the registry's)")->check(CLI::PositiveNumber);

  std::string show_what, show_zoneinfo, show_strategy = "modern", show_seed = "20261122";
  int show_ops = 200;
  CLI::App* show = app.add_subcommand("show", "the /proc views: the page allocator's after boot, vmallocinfo after a workload");
  show->add_option("view", show_what, "buddyinfo, zoneinfo, pagetypeinfo or vmallocinfo")
      ->required()
      ->check(CLI::IsMember({"buddyinfo", "zoneinfo", "pagetypeinfo", "vmallocinfo"}));
  show->add_option("--from-zoneinfo", show_zoneinfo, "build the zones from a real /proc/zoneinfo file");
  show->add_option("--strategy", show_strategy, "vmallocinfo: the KVA allocator (modern, classic, or a registered one)");
  show->add_option("--ops", show_ops, "vmallocinfo: operations in the workload")->check(CLI::NonNegativeNumber);
  show->add_option("--seed", show_seed, "vmallocinfo: the workload's seed, or 'random'");

  std::string replay_run, replay_strategy = "modern", replay_kernel;
  unsigned replay_cpus = 0;
  bool replay_stop = false, replay_no_nodes = false;
  CLI::App* replayc = app.add_subcommand("replay", "replay a real kernel's vmalloc trace and compare, event by event");
  replayc->add_option("run", replay_run, "a run folder (trace.txt.xz, vmallocinfo*.txt, nr_cpus.txt, uname.txt), a trace file, or - for stdin")
      ->required();
  replayc->add_option("--strategy", replay_strategy, "the KVA allocator: modern, classic, or a registered one");
  replayc->add_option("--kernel", replay_kernel, "for a single trace file: the kernel version, MAJOR.MINOR");
  replayc->add_option("--cpus", replay_cpus, "for a single trace file: the number of CPUs")->check(CLI::PositiveNumber);
  replayc->add_flag("--stop-at-first", replay_stop, "stop at the first unexplained divergence");
  replayc->add_flag("--no-vmap-nodes", replay_no_nodes, "6.9+: replay without the per-node pools (to see what they decide)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? EXIT_HOLDS : EXIT_USAGE;
  }
  std::cout.setf(std::ios::unitbuf);
  try {
    if (*check) return cmd_check(check_seed);
    if (*prove) return cmd_prove(prove_list, prove_only, prove_emit, prove_solver, prove_part);
    if (*replayc) return cmd_replay(replay_run, replay_strategy, replay_kernel, replay_cpus, replay_stop, replay_no_nodes);
    if (*propc) return cmd_props(props_list, props_only, props_seed, props_cases, props_size);
    if (*show && show_what == "vmallocinfo") {
      const std::uint64_t seed = show_seed == "random" ? std::random_device{}() : std::stoull(show_seed, nullptr, 0);
      return cmd_show_vmallocinfo(show_strategy, show_ops, seed);
    }
    if (*show) return cmd_show(show_what, show_zoneinfo);
  } catch (const std::exception& e) {
    std::cerr << "mmref: " << e.what() << "\n";
    return EXIT_USAGE;
  }
  return EXIT_USAGE;
}
