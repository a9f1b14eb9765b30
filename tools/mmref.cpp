// tools/mmref.cpp — the mmref command.
//
//   mmref check [--seed N] [--junit FILE] [--json FILE]
//                                   every proof (Z3, re-checked by cvc5) and every property
//                                   suite on the built-in default machine with a fixed seed;
//                                   one row per proof/property and the invariant x evidence
//                                   matrix; --junit/--json also write them as JUnit XML / JSON.
//   mmref prove [--list] [--only NAME] [--emit-smt2 DIR] [--solver z3|cvc5|both] [--junit FILE] [--json FILE]
//   mmref props [--list] [--only NAME] [--seed N|random] [--cases N] [--size N] [--junit FILE] [--json FILE]
//   mmref show buddyinfo|zoneinfo|pagetypeinfo [--from-zoneinfo FILE]
//   mmref show vmallocinfo [--strategy NAME] [--ops N] [--seed S] [--svg FILE]
//   mmref show --svg FILE [--from-zoneinfo FILE]   the state drawn: address space, buddy map
//                                   the page allocator's /proc views after boot, on the
//                                   default machine or on the zones of a real /proc/zoneinfo.
//   mmref replay RUN [--strategy NAME] [--kernel M.m] [--cpus N] [--stop-at-first] [--no-vmap-nodes]
//                                   replay a real kernel's vmalloc trace (a run folder of
//                                   shared/data/linux-trace, a trace file, or - for stdin) and
//                                   compare it with the model event by event.
//
// Exit codes: 0 all hold; 1 a violation (a counterexample, a failing property, a vacuous
// proof, a solver disagreement); 2 usage or environment error (a --junit/--json file that cannot
// be written included); 3 a solver answered unknown.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <fstream>
#include <sstream>

#include "impl/buddy/invariants.hpp"
#include "impl/buddy/page_alloc.hpp"
#include "impl/picture/svg.hpp"
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
  std::string message;  // when not ok: the failure text as printed (counterexample or report, reproduce line)
  std::string suite;    // "proofs" or "properties": the JUnit test suite and the summary count it is in
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
  row x{o.name, o.proves, evidence_of(o), o.bound, "", r.z3_seconds + r.cvc5_seconds, r.ok(), r.solver_unknown(), "", "proofs"};
  x.result = std::string("z3 ") + proofs::verdict_text(r.z3) + (opts.cvc5 ? std::string(", cvc5 ") + proofs::verdict_text(r.cvc5) : "") +
             (r.parts > 1 ? " (" + std::to_string(r.parts) + " parts)" : "");
  if (!r.ok()) {
    x.message = proofs::failure_report(r, "  ");
    if (print_failure)
      std::cout << "\nFAILED " << o.name << " (proves " << o.proves << ", " << o.kind << ", " << o.bound << ")\n"
                << x.message << "\n";
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
        r.ok ? "passed" : "FAILED", r.seconds, r.ok, false, r.ok ? "" : r.message, "properties"};
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

// The invariant x evidence matrix: (catalogue ID, evidence) -> (rows that hold, rows that failed). Computed
// once per run; the printed matrix and the JSON report both read it.
using matrix_cells = std::map<std::pair<std::string, std::string>, std::pair<int, int>>;

matrix_cells matrix_of(const std::vector<row>& rows) {
  matrix_cells cells;
  for (const row& r : rows) {
    std::set<std::string> ids;
    for (const std::string& id : CATALOGUE)
      if ((" " + r.proves + " ").find(" " + id + " ") != std::string::npos) ids.insert(id);
    for (const std::string& id : ids) (r.ok ? cells[{id, r.evidence}].first : cells[{id, r.evidence}].second)++;
  }
  return cells;
}

void print_matrix(const matrix_cells& cells) {
  // cell: number of passing items, or FAIL when any failed; '.' when nothing covers it yet.
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

// What a run adds up to, by suite: the counts `mmref check` prints last and the JSON summary holds.
struct summary {
  int proofs_ok = 0, proofs = 0, props_ok = 0, props = 0;
};

summary summary_of(const std::vector<row>& rows) {
  summary s;
  for (const row& r : rows) {
    if (r.suite == "proofs") {
      s.proofs += 1;
      s.proofs_ok += r.ok;
    } else if (r.suite == "properties") {
      s.props += 1;
      s.props_ok += r.ok;
    }
  }
  return s;
}

// --- Reports for CI: JUnit XML and JSON, written from the rows of a run -------------------------

struct run_info {
  std::string command;                 // "check", "prove" or "props"
  std::optional<std::string> machine;  // the machine the run is on (check: the default machine)
  std::optional<std::uint64_t> seed;   // the RapidCheck seed, when properties ran
  double seconds = 0;                  // wall time of the run
  int exit_code = EXIT_HOLDS;
};

// The length of the well-formed UTF-8 sequence at s[i] when it encodes a character XML 1.0 allows
// (control characters are the caller's business), else 0.
std::size_t utf8_char_len(const std::string& s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return std::uint32_t{static_cast<unsigned char>(s[k])}; };
  const std::uint32_t c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  std::uint32_t cp = 0, least = 0;
  if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F, least = 0x80;
  else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F, least = 0x800;
  else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07, least = 0x10000;
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < least || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF) return 0;
  return n;
}

// Text for an XML attribute value or element content. Solver and RapidCheck output is ASCII in
// practice, but a generated value shown in a counterexample could hold any byte: malformed UTF-8
// becomes U+FFFD and a control character XML cannot carry becomes \xNN.
std::string xml_escape(const std::string& s, bool attribute) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_char_len(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(s, i, n);
      i += n;
      continue;
    }
    const char c = s[i++];
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\n': out += attribute ? "&#10;" : "\n"; break;  // an attribute would fold a raw one to a space
      case '\t': out += attribute ? "&#9;" : "\t"; break;
      case '\r': out += "&#13;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", unsigned{static_cast<unsigned char>(c)});
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string fmt_xml_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s);
  return buf;
}

// A failure's one-line summary for the message attribute: the first line of its text that is not
// blank (a proof's verdicts, RapidCheck's "Falsifiable after ..."), else the result column.
std::string failure_summary(const row& r) {
  std::istringstream in(r.message);
  for (std::string line; std::getline(in, line);) {
    const std::size_t b = line.find_first_not_of(" \t");
    if (b != std::string::npos) return line.substr(b);
  }
  return r.result;
}

// JUnit XML: one <testsuite> per suite ("proofs", "properties"), one <testcase> per row with the
// evidence kind as its classname. A violation is a <failure>, a solver's unknown an <error>; the
// element holds the failure text as printed, the message attribute its first line.
std::string junit_xml(const std::vector<row>& rows, const run_info& info) {
  std::vector<std::string> suites;  // in the order the run met them
  for (const row& r : rows)
    if (std::find(suites.begin(), suites.end(), r.suite) == suites.end()) suites.push_back(r.suite);
  const auto count = [&](const std::string& suite, auto pred) {
    return std::count_if(rows.begin(), rows.end(), [&](const row& r) { return (suite.empty() || r.suite == suite) && pred(r); });
  };
  const auto any = [](const row&) { return true; };
  const auto failed = [](const row& r) { return !r.ok && !r.unknown; };
  const auto unknown = [](const row& r) { return !r.ok && r.unknown; };

  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<testsuites name=\"mmref " << xml_escape(info.command, true) << "\" tests=\"" << rows.size() << "\" failures=\""
    << count("", failed) << "\" errors=\"" << count("", unknown) << "\" time=\"" << fmt_xml_seconds(info.seconds) << "\">\n";
  for (const std::string& suite : suites) {
    double seconds = 0;
    for (const row& r : rows)
      if (r.suite == suite) seconds += r.seconds;
    x << "  <testsuite name=\"" << xml_escape(suite, true) << "\" tests=\"" << count(suite, any) << "\" failures=\""
      << count(suite, failed) << "\" errors=\"" << count(suite, unknown) << "\" skipped=\"0\" time=\""
      << fmt_xml_seconds(seconds) << "\">\n"
      << "    <properties>\n"
      << "      <property name=\"command\" value=\"mmref " << xml_escape(info.command, true) << "\"/>\n";
    if (info.machine) x << "      <property name=\"machine\" value=\"" << xml_escape(*info.machine, true) << "\"/>\n";
    if (info.seed) x << "      <property name=\"seed\" value=\"" << *info.seed << "\"/>\n";
    x << "    </properties>\n";
    for (const row& r : rows) {
      if (r.suite != suite) continue;
      x << "    <testcase classname=\"" << xml_escape(r.evidence, true) << "\" name=\"" << xml_escape(r.name, true)
        << "\" time=\"" << fmt_xml_seconds(r.seconds) << "\">\n";
      if (!r.ok) {
        const char* element = r.unknown ? "error" : "failure";
        x << "      <" << element << " message=\"" << xml_escape(failure_summary(r), true) << "\" type=\""
          << (r.unknown ? "unknown" : "violation") << "\">" << xml_escape(r.message, false) << "</" << element << ">\n";
      }
      x << "      <system-out>" << xml_escape("proves: " + r.proves + "\nbound: " + r.bound + "\nresult: " + r.result + "\n", false)
        << "</system-out>\n"
        << "    </testcase>\n";
    }
    x << "  </testsuite>\n";
  }
  x << "</testsuites>\n";
  return x.str();
}

// JSON: the run, its rows, the invariant x evidence matrix (every catalogue ID, every printed
// evidence column, plus any other evidence kind a row gave that ID) and the summary.
std::string json_report(const std::vector<row>& rows, const matrix_cells& cells, const run_info& info) {
  using json = nlohmann::ordered_json;
  json j = json::object();
  j["command"] = info.command;
  j["machine"] = info.machine ? json(*info.machine) : json(nullptr);
  j["seed"] = info.seed ? json(*info.seed) : json(nullptr);
  const auto rounded = [](double s) { return std::round(s * 1000.0) / 1000.0; };

  json& out_rows = j["rows"] = json::array();
  for (const row& r : rows) {
    json proves = json::array();
    std::istringstream ids(r.proves);
    for (std::string id; ids >> id;) proves.push_back(id);
    json o = json::object();
    o["name"] = r.name;
    o["proves"] = std::move(proves);
    o["evidence"] = r.evidence;
    o["bound"] = r.bound;
    o["result"] = r.result;
    o["ok"] = r.ok;
    o["seconds"] = rounded(r.seconds);
    o["message"] = r.message;
    out_rows.push_back(std::move(o));
  }

  json& matrix = j["matrix"] = json::object();
  const auto cell = [](std::pair<int, int> n) {
    json c = json::object();
    c["ok"] = n.first;
    c["failed"] = n.second;
    return c;
  };
  for (const std::string& id : CATALOGUE) {
    json m = json::object();
    for (const std::string& e : EVIDENCE) {
      const auto it = cells.find({id, e});
      m[e] = cell(it == cells.end() ? std::pair<int, int>{0, 0} : it->second);
    }
    for (const auto& [key, n] : cells)
      if (key.first == id && std::find(EVIDENCE.begin(), EVIDENCE.end(), key.second) == EVIDENCE.end()) m[key.second] = cell(n);
    matrix[id] = std::move(m);
  }

  const summary s = summary_of(rows);
  json& sum = j["summary"] = json::object();
  sum["proofs_ok"] = s.proofs_ok;
  sum["proofs"] = s.proofs;
  sum["props_ok"] = s.props_ok;
  sum["props"] = s.props;
  sum["seconds"] = rounded(info.seconds);
  sum["exit_code"] = info.exit_code;
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

// --junit FILE and --json FILE. Both are opened (created or truncated) before anything runs, so a
// path that cannot be written is a usage error at once, not after a 13-minute run, and a report
// left by an earlier run cannot pass for this one's. They are written when the run ends.
class report_files {
 public:
  report_files(std::string junit, std::string json) : junit_{std::move(junit), nullptr}, json_{std::move(json), nullptr} {}
  report_files(const report_files&) = delete;
  report_files& operator=(const report_files&) = delete;
  ~report_files() {
    for (file* f : {&junit_, &json_})
      if (f->fp) std::fclose(f->fp);
  }

  // Opens the files asked for; on failure prints why and returns false (exit EXIT_USAGE).
  bool open(const std::string& command) {
    command_ = command;
    if (!junit_.path.empty() && !json_.path.empty()) {
      std::error_code e1, e2, e3;
      const auto a = std::filesystem::weakly_canonical(junit_.path, e1), b = std::filesystem::weakly_canonical(json_.path, e2);
      if ((!e1 && !e2 && a == b) || std::filesystem::equivalent(junit_.path, json_.path, e3)) {
        std::cerr << "mmref " << command_ << ": --junit and --json name the same file ('" << junit_.path << "')\n";
        return false;
      }
    }
    for (file* f : {&junit_, &json_}) {
      if (f->path.empty()) continue;
      f->fp = std::fopen(f->path.c_str(), "w");
      if (!f->fp) {
        std::cerr << "mmref " << command_ << ": cannot write " << (f == &junit_ ? "--junit" : "--json") << " file '" << f->path
                  << "': " << std::strerror(errno) << "\n";
        discard();
        return false;
      }
    }
    return true;
  }

  // Writes the reports; on failure prints why and returns false.
  bool write(const std::vector<row>& rows, const matrix_cells& cells, const run_info& info) {
    bool ok = true;
    if (junit_.fp) ok &= finish(junit_, "--junit", junit_xml(rows, info));
    if (json_.fp) ok &= finish(json_, "--json", json_report(rows, cells, info));
    if (ok)
      for (const file* f : {&junit_, &json_})
        if (!f->path.empty()) std::cout << "wrote " << (f == &junit_ ? "JUnit XML" : "JSON") << " report " << f->path << "\n";
    return ok;
  }

  // The run ended in a usage or environment error before it had results: no report files.
  void discard() {
    for (file* f : {&junit_, &json_}) {
      if (!f->fp) continue;
      std::fclose(f->fp);
      f->fp = nullptr;
      std::remove(f->path.c_str());
    }
  }

 private:
  struct file {
    std::string path;
    std::FILE* fp;
  };

  bool finish(file& f, const char* flag, const std::string& text) {
    const bool wrote = std::fwrite(text.data(), 1, text.size(), f.fp) == text.size() && std::fflush(f.fp) == 0;
    const int err = errno;
    const bool closed = std::fclose(f.fp) == 0;
    f.fp = nullptr;
    if (wrote && closed) return true;
    std::cerr << "mmref " << command_ << ": writing the " << flag << " file '" << f.path << "' failed: " << std::strerror(wrote ? errno : err)
              << "\n";
    return false;
  }

  file junit_, json_;
  std::string command_;
};

// The end of a run that has rows: the reports, then the exit code (a report that could not be
// written is an environment error: exit 2, the verdict having been printed).
int finish_run(report_files& reports, const std::vector<row>& rows, const matrix_cells& cells, run_info info, int rc) {
  info.exit_code = rc;
  return reports.write(rows, cells, info) ? rc : EXIT_USAGE;
}

int cmd_check(std::uint64_t seed, report_files& reports) {
  if (!reports.open("check")) return EXIT_USAGE;
  const std::string cvc5 = cvc5_path();
  if (!cvc5_available(cvc5)) {
    std::cerr << "mmref check: cvc5 not found at '" << cvc5 << "' (install it: bash ci/setup.sh)\n";
    reports.discard();
    return EXIT_USAGE;
  }
  // The built-in default machine: booting it must already satisfy the machine invariants.
  const machine_config cfg = machine_config::default_machine();
  std::cout << "mmref check on " << cfg.describe() << "\n";
  run_info info{"check", cfg.describe(), seed, 0, EXIT_HOLDS};
  // A boot that breaks an invariant ends the run; the reports hold it as the one failing row.
  const auto boot_failed = [&](const std::string& name, const std::vector<violation>& v, const std::string& text) {
    std::set<std::string> ids;
    for (const violation& x : v) ids.insert(x.id);
    std::string proves;
    for (const std::string& id : ids) proves += (proves.empty() ? "" : " ") + id;
    const std::vector<row> rows{{name, proves, "snapshot", "the default machine after boot", "VIOLATION", 0, false, false, text, "boot"}};
    return finish_run(reports, rows, matrix_of(rows), info, EXIT_VIOLATION);
  };
  {
    machine m(cfg);
    const std::vector<violation> v = check_machine(m);
    if (!v.empty()) {
      const std::string text = report(v, m);
      std::cout << text;
      return boot_failed("boot__default_machine", v, text);
    }
  }
  {
    // The page allocator on the same machine, its page tables drawn from it.
    buddy::buddy_machine bm(cfg);
    const std::vector<violation> v = buddy::check_buddy(*bm.buddy);
    if (!v.empty()) {
      const std::string text = buddy::buddy_report(v, *bm.buddy);
      std::cout << text;
      return boot_failed("boot__buddy_default_machine", v, text);
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
  info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "\n";
  print_rows(rows);
  const matrix_cells cells = matrix_of(rows);
  print_matrix(cells);
  const summary s = summary_of(rows);
  std::printf("\n%d/%d proofs agreed by Z3 and cvc5, %d/%d property suites passed (seed %llu), %.1fs\n", s.proofs_ok, s.proofs,
              s.props_ok, s.props, static_cast<unsigned long long>(seed), info.seconds);
  const int rc = verdict_exit(rows);
  std::printf("%s\n", rc == EXIT_HOLDS ? "all hold" : rc == EXIT_UNKNOWN ? "a solver answered unknown" : "VIOLATION");
  return finish_run(reports, rows, cells, info, rc);
}

int cmd_prove(bool list, const std::string& only, const std::string& emit, const std::string& solver, int part,
              report_files& reports) {
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
  if (!only.empty() && std::none_of(proofs::all_obligations().begin(), proofs::all_obligations().end(),
                                    [&](const proofs::obligation& o) { return o.name == only; })) {
    std::cerr << "mmref prove: no obligation named '" << only << "' (see mmref prove --list)\n";
    return EXIT_USAGE;
  }
  if (opts.cvc5 && !cvc5_available(opts.cvc5_path)) {
    std::cerr << "mmref prove: cvc5 not found at '" << opts.cvc5_path << "'\n";
    return EXIT_USAGE;
  }
  if (!reports.open("prove")) return EXIT_USAGE;
  std::vector<row> rows;
  const auto t0 = std::chrono::steady_clock::now();
  for (const proofs::obligation& o : proofs::all_obligations())
    if (only.empty() || o.name == only) rows.push_back(prove_one(o, opts, true));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  print_rows(rows);
  std::map<std::string, std::pair<int, int>> by_kind;  // evidence -> (held, run)
  for (const row& r : rows) {
    by_kind[r.evidence].first += r.ok;
    by_kind[r.evidence].second += 1;
  }
  std::printf("\n");
  for (const auto& [kind, n] : by_kind) std::printf("%s: %d of %d hold\n", kind.c_str(), n.first, n.second);
  if (!emit.empty()) std::cout << "SMT-LIB files in " << emit << "\n";
  return finish_run(reports, rows, matrix_of(rows), run_info{"prove", std::nullopt, std::nullopt, seconds, EXIT_HOLDS},
                    verdict_exit(rows));
}

int cmd_props(bool list, const std::string& only, const std::string& seed_text, int cases, int size, report_files& reports) {
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
  // The properties to run. A negative property (one that must fail) runs only when named, to
  // reproduce its report.
  std::vector<const props::property*> chosen;
  for (const props::property& p : props::all_properties())
    if (only.empty() || p.name == only) chosen.push_back(&p);
  for (const props::property& p : props::negative_properties())
    if (!only.empty() && p.name == only) chosen.push_back(&p);
  if (chosen.empty()) {
    std::cerr << "mmref props: no property named '" << only << "' (see mmref props --list)\n";
    return EXIT_USAGE;
  }
  if (!reports.open("props")) return EXIT_USAGE;
  std::printf("seed=%llu (replay: mmref props --seed %llu%s%s)\n", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed), only.empty() ? "" : " --only ", only.c_str());
  std::vector<row> rows;
  const auto t0 = std::chrono::steady_clock::now();
  for (const props::property* p : chosen) rows.push_back(props_one(*p, seed, cases, size, true));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  print_rows(rows);
  return finish_run(reports, rows, matrix_of(rows), run_info{"props", std::nullopt, seed, seconds, EXIT_HOLDS}, verdict_exit(rows));
}

// /proc/vmallocinfo of the default machine after a seeded workload: vmalloc/vzalloc of
// assorted sizes (some large enough for a nested pages array), a huge vmalloc, vmap of pages
// the workload owns, module_alloc, and vfree/vunmap of about a third, so that lazily freed
// ("unpurged") areas show too. Every invariant is checked at the end.
// With an SVG path, the same state is drawn (impl/picture): the address space and the buddy map.
int cmd_show_vmallocinfo(const std::string& strategy, int ops, std::uint64_t seed, bool print, const std::string& svg) {
  buddy::buddy_machine bm(machine_config::default_machine());
  vmalloc::vmap_config vc;
  vc.nr_cpus = bm.mach->nr_cpus();
  vc.strategy = strategy;
  vmalloc::vmap_state vs(*bm.buddy, *bm.mach, vc);
  vmalloc::run_workload(vs, seed, ops);
  if (print) std::cout << vs.vmallocinfo();
  const std::string what = "the default machine after " + std::to_string(ops) + " workload operations, strategy " + strategy +
                           ", seed " + std::to_string(seed);
  if (!svg.empty() && !picture::write_svg(svg, picture::svg_state(&vs, *bm.buddy, what))) {
    std::cerr << "mmref show: cannot write " << svg << "\n";
    return EXIT_USAGE;
  }
  std::cerr << "mmref show: " << what << (svg.empty() ? "" : ", drawn in " + svg) << " (replay: mmref show"
            << (print ? " vmallocinfo" : "") << " --strategy " << strategy << " --ops " << ops << " --seed " << seed
            << (svg.empty() ? "" : " --svg " + svg) << ")\n";
  const auto v = vmalloc::check_vmalloc(vs);
  if (!v.empty()) {
    std::cerr << vmalloc::vmalloc_report(v, vs);
    return EXIT_VIOLATION;
  }
  return EXIT_HOLDS;
}

int cmd_show(const std::string& what, const std::string& zoneinfo_file, const std::string& svg) {
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
  else if (what == "pagetypeinfo") std::cout << pa.pagetypeinfo();
  if (!svg.empty() &&
      !picture::write_svg(svg, picture::svg_state(nullptr, pa, "the page allocator of " + (zoneinfo_file.empty() ? std::string("the default machine") : zoneinfo_file) + " after boot"))) {
    std::cerr << "mmref show: cannot write " << svg << "\n";
    return EXIT_USAGE;
  }
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

  // --junit FILE / --json FILE on check, prove and props: the run's rows as a JUnit XML / JSON report.
  std::string report_junit, report_json;
  const auto add_report_options = [&](CLI::App* cmd) {
    return std::pair{cmd->add_option("--junit", report_junit, "also write the results as JUnit XML to FILE (opened before the run)")
                         ->type_name("FILE"),
                     cmd->add_option("--json", report_json, "also write the rows, the matrix and a summary as JSON to FILE")
                         ->type_name("FILE")};
  };

  std::uint64_t check_seed = props::CI_SEED;
  CLI::App* check = app.add_subcommand("check", "every proof and property suite on the default machine, fixed seed");
  check->add_option("--seed", check_seed, "RapidCheck seed (default: the CI seed)");
  add_report_options(check);

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
  {
    const auto [junit, json] = add_report_options(prove);
    junit->excludes("--list");
    json->excludes("--list");
  }

  bool props_list = false;
  std::string props_only, props_seed;
  int props_cases = 0, props_size = 0;
  CLI::App* propc = app.add_subcommand("props", "run the RapidCheck property suites");
  propc->add_flag("--list", props_list, "list the properties");
  propc->add_option("--only", props_only, "one property by name");
  propc->add_option("--seed", props_seed, "a seed, or 'random' (default: the CI seed)");
  propc->add_option("--cases", props_cases, "cases per property (default: the registry's)")->check(CLI::PositiveNumber);
  propc->add_option("--size", props_size, "RapidCheck max size (default: the registry's)")->check(CLI::PositiveNumber);
  {
    const auto [junit, json] = add_report_options(propc);
    junit->excludes("--list");
    json->excludes("--list");
  }

  std::string show_what, show_zoneinfo, show_strategy = "modern", show_seed = "20261122";
  int show_ops = 200;
  CLI::App* show = app.add_subcommand("show", "the /proc views: the page allocator's after boot, vmallocinfo after a workload");
  std::string show_svg;
  show->add_option("view", show_what, "buddyinfo, zoneinfo, pagetypeinfo or vmallocinfo")
      ->check(CLI::IsMember({"buddyinfo", "zoneinfo", "pagetypeinfo", "vmallocinfo"}));
  show->add_option("--svg", show_svg,
                   "draw the state as SVG: the address space and the buddy map after the seeded workload (with "
                   "--from-zoneinfo: the buddy map of those zones after boot)");
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
  report_files reports(report_junit, report_json);
  try {
    if (*check) return cmd_check(check_seed, reports);
    if (*prove) return cmd_prove(prove_list, prove_only, prove_emit, prove_solver, prove_part, reports);
    if (*replayc) return cmd_replay(replay_run, replay_strategy, replay_kernel, replay_cpus, replay_stop, replay_no_nodes);
    if (*propc) return cmd_props(props_list, props_only, props_seed, props_cases, props_size, reports);
    if (*show && show_what.empty() && show_svg.empty()) {
      std::cerr << "mmref show: give a view (buddyinfo, zoneinfo, pagetypeinfo, vmallocinfo), --svg FILE, or both\n";
      return EXIT_USAGE;
    }
    if (*show && (show_what == "vmallocinfo" || (show_what.empty() && show_zoneinfo.empty()))) {
      const std::uint64_t seed = show_seed == "random" ? std::random_device{}() : std::stoull(show_seed, nullptr, 0);
      return cmd_show_vmallocinfo(show_strategy, show_ops, seed, show_what == "vmallocinfo", show_svg);
    }
    if (*show) return cmd_show(show_what, show_zoneinfo, show_svg);
  } catch (const std::exception& e) {
    std::cerr << "mmref: " << e.what() << "\n";
    reports.discard();
    return EXIT_USAGE;
  }
  return EXIT_USAGE;
}
