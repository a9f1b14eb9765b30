// proofs/registry.cpp — discharging obligations: Z3 in process, cvc5 as a separate process on
// the very file Z3 checked.
#include "proofs/registry.hpp"

#include <malloc.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <algorithm>

#include "model/hex.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

verdict from_check(z3::check_result r) {
  switch (r) {
    case z3::unsat: return verdict::proved;
    case z3::sat: return verdict::violated;
    default: return verdict::unknown;
  }
}

// An evaluated term as a word (a Boolean as 0 or 1), if it is one.
std::optional<std::uint64_t> word_of(const z3::expr& v) {
  if (v.is_true()) return 1;
  if (v.is_false()) return 0;
  std::uint64_t u = 0;
  if (v.is_numeral() && Z3_get_numeral_uint64(v.ctx(), v, &u)) return u;
  return std::nullopt;
}

std::string model_text(const z3::model& m, const goal& g) {
  std::ostringstream os;
  for (const auto& [name, e] : g.show) {
    const z3::expr v = m.eval(e, true);
    // Booleans as the solver prints them; words in hex.
    const std::optional<std::uint64_t> u = v.is_bool() ? std::nullopt : word_of(v);
    os << "    " << name << " = " << (u ? hex(*u) : v.to_string()) << "\n";
  }
  return os.str();
}

std::uint64_t model_value(const z3::model& m, const z3::expr& e) {
  const z3::expr v = m.eval(e, true);
  if (const std::optional<std::uint64_t> u = word_of(v)) return *u;
  throw std::runtime_error("a drawn term has no 64-bit value in the model: " + v.to_string());
}

// The pictures of a counterexample's states, one file per state.
std::vector<std::filesystem::path> draw_counterexample(const z3::model& m, const goal& g, const std::string& file_name) {
  std::vector<std::filesystem::path> files;
  const drawn_states states = g.draw([&](const z3::expr& e) { return model_value(m, e); });
  const std::filesystem::path dir = picture::pictures_dir();
  for (const auto& [label, snap] : states) {
    const std::filesystem::path f = dir / (file_name + "." + label + ".svg");
    if (!picture::write_svg(f.string(), picture::svg_of(snap, file_name + ": " + label)))
      throw std::runtime_error("cannot write " + f.string());
    files.push_back(f);
  }
  return files;
}

std::filesystem::path default_emit_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path d = std::filesystem::temp_directory_path() / ("mmref-smt2-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

}  // namespace

// Runs cvc5 on a file under an OS-level timeout; returns its verdict and raw output.
std::pair<verdict, std::string> cvc5_check_file(const solver_opts& opts, const std::filesystem::path& file) {
  const std::string cmd = "timeout -k 2 " + std::to_string(opts.timeout_seconds) + " " + opts.cvc5_path +
                          " --lang=smt2 --rlimit=" + std::to_string(opts.cvc5_rlimit) + " '" + file.string() +
                          "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {verdict::error, "cannot start cvc5"};
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), p)) out += buf.data();
  const int status = ::pclose(p);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::string first = out.substr(0, out.find('\n'));
  if (first == "unsat") return {verdict::proved, out};
  if (first == "sat") return {verdict::violated, out};
  if (first == "unknown" || code == 124 || code == 137) return {verdict::unknown, out};
  return {verdict::error, out.empty() ? "cvc5 exited with code " + std::to_string(code) : out};
}

const char* verdict_text(verdict v) {
  switch (v) {
    case verdict::proved: return "proved";
    case verdict::violated: return "VIOLATED";
    case verdict::unknown: return "UNKNOWN";
    case verdict::vacuous: return "VACUOUS";
    case verdict::error: return "ERROR";
    case verdict::skipped: return "-";
  }
  return "?";
}

bool proof_result::ok() const {
  const auto fine = [](verdict v) { return v == verdict::proved || v == verdict::skipped; };
  return fine(z3) && fine(cvc5) && !(z3 == verdict::skipped && cvc5 == verdict::skipped);
}

const std::vector<obligation>& all_obligations() {
  static const std::vector<obligation> all = [] {
    std::vector<obligation> v;
    register_align_lemmas(v);
    register_paging_lemmas(v);
    register_pte_lemmas(v);
    register_pt_invariant_proofs(v);
    register_buddy_lemmas(v);
    register_buddy_bounded_proofs(v);
    register_vmalloc_lemmas(v);
    register_vmalloc_snapshot_proofs(v);
    register_vmalloc_bounded_proofs(v);
    return v;
  }();
  return all;
}

std::string smtlib_of(const std::string& name, const goal& g, z3::context& ctx) {
  std::vector<Z3_ast> pre;
  for (const auto& [n, e] : g.pre) pre.push_back(e);
  const z3::expr negated = !g.claim;
  std::string text = Z3_benchmark_to_smtlib_string(ctx, name.c_str(), "QF_BV", "unknown", "",
                                                   static_cast<unsigned>(pre.size()), pre.data(), negated);
  // Z3 writes (set-logic QF_BV) after its set-info lines; make sure it is there.
  if (text.find("(set-logic QF_BV)") == std::string::npos) text = "(set-logic QF_BV)\n" + text;
  text += "(exit)\n";
  return text;
}

namespace {
std::vector<std::pair<std::string, goal>> goals_of(const obligation& o, z3::context& ctx) {
  if (o.parts) return o.parts(ctx);
  std::vector<std::pair<std::string, goal>> one;
  one.emplace_back("", o.build(ctx));
  return one;
}

// One query: exported, checked by Z3 from the exported text, non-vacuity, cvc5 on the file.
proof_result discharge_goal(const std::string& file_name, const goal& g, unsigned rlimit, const solver_opts& opts,
                            z3::context& ctx) {
  proof_result r;
  const std::string text = smtlib_of(file_name, g, ctx);
  const std::filesystem::path dir = opts.emit_dir.empty() ? default_emit_dir() : opts.emit_dir;
  std::filesystem::create_directories(dir);
  r.smt2 = dir / (file_name + ".smt2");
  {
    std::ofstream f(r.smt2);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + r.smt2.string());
  }
  if (opts.z3) {
    const auto t0 = std::chrono::steady_clock::now();
    // Z3 checks the exported text itself, so both solvers answer the same question; the
    // goal's own terms (same names, same context) read the model.
    z3::solver s(ctx, "QF_BV");
    z3::params p(ctx);
    p.set("rlimit", rlimit);
    s.set(p);
    s.from_string(text.c_str());
    r.z3 = from_check(s.check());
    if (r.z3 == verdict::violated) {
      const z3::model m = s.get_model();
      r.counterexample = model_text(m, g);
      if (g.draw) {
        try {
          r.pictures = draw_counterexample(m, g, file_name);
        } catch (const std::exception& e) {
          r.detail = std::string("(no pictures: ") + e.what() + ")";  // the verdict stands
        }
      }
    }
    if (r.z3 == verdict::unknown) r.detail = "z3: " + s.reason_unknown();
    // Non-vacuity: the preconditions alone are satisfiable.
    if (r.z3 == verdict::proved && !g.pre.empty()) {
      z3::solver nv(ctx, "QF_BV");
      nv.set(p);
      for (const auto& [name, e] : g.pre) nv.add(e);
      const z3::check_result c = nv.check();
      r.nonvacuous_checked = true;
      if (c == z3::unsat) {
        r.z3 = verdict::vacuous;
        r.detail = "the preconditions are unsatisfiable: the claim holds vacuously";
      } else if (c == z3::unknown) {
        r.z3 = verdict::unknown;
        r.detail = "z3 (non-vacuity): " + nv.reason_unknown();
      }
    }
    r.z3_seconds = seconds_since(t0);
  }
  if (opts.cvc5) {
    const auto t0 = std::chrono::steady_clock::now();
    auto [v, out] = cvc5_check_file(opts, r.smt2);
    r.cvc5 = v;
    if (v != verdict::proved) r.cvc5_output = out.substr(0, 400);
    r.cvc5_seconds = seconds_since(t0);
  }
  return r;
}
}  // namespace

std::string failure_report(const proof_result& r, const std::string& indent) {
  std::ostringstream m;
  m << indent << "z3 " << verdict_text(r.z3) << ", cvc5 " << verdict_text(r.cvc5) << "\n";
  if (!r.counterexample.empty()) m << indent << "counterexample (Z3 model):\n" << r.counterexample;
  if (!r.detail.empty()) m << indent << r.detail << "\n";
  if (!r.cvc5_output.empty()) m << indent << "cvc5 said: " << r.cvc5_output << "\n";
  if (!r.smt2.empty()) m << indent << "SMT-LIB: " << r.smt2.string() << "\n";
  for (const std::filesystem::path& p : r.pictures) m << indent << "picture: " << p.string() << "\n";
  m << indent << "reproduce: mmref prove --only " << r.name
    << (r.failed_part >= 0 ? " --part " + std::to_string(r.failed_part) : std::string()) << " --solver both\n";
  return m.str();
}

std::string smtlib_of(const obligation& o, z3::context& ctx) {
  zscope scope(ctx);
  const auto gs = goals_of(o, ctx);
  return smtlib_of(gs.front().first.empty() ? o.name : o.name + "." + gs.front().first, gs.front().second, ctx);
}

proof_result discharge(const obligation& o, const solver_opts& opts) {
  // Z3 allocates and frees large blocks in every query, and glibc by default hands them back to
  // the kernel (munmap, trimming the heap), so the next query faults them in again. Keeping them
  // measured 30 s -> 20 s wall and 10.5 s -> 0.6 s system time on
  // lemma__slots_alloc_take__explicit. The worker threads of an obligation in parts would each
  // get their own glibc arena, whose heaps are trimmed regardless; one arena measured
  // free__preserves__BD-ACCT at 32 s -> 15 s wall and 12.4 s -> 0.9 s system time on 2 cores.
  // Blocks above the mmap threshold (at most 32 MiB) were still mapped and unmapped per query:
  // taking them from the heap too measured alloc__preserves__BD-PARTITION at 101.6 s -> 93.0 s
  // wall, 49.1 s -> 12.6 s system time, 6.9 M -> 0.15 M page faults.
  // (The sanitizers' allocators ignore mallopt.)
  static const bool keep_freed_memory = [] {
    ::mallopt(M_ARENA_MAX, 1);
    ::mallopt(M_TRIM_THRESHOLD, 1 << 30);
    ::mallopt(M_TOP_PAD, 256 << 20);
    ::mallopt(M_MMAP_MAX, 0);
    return true;
  }();
  (void)keep_freed_memory;
  proof_result r;
  r.name = o.name;
  // Z3 checks every model it reports against the assertions (Z3 issue #2415).
  static const bool validate = (z3::set_param("model_validate", true), true);
  (void)validate;
  const auto file_of = [&](const std::string& part, std::size_t i) {
    // Part files are numbered so that their names stay short and sort in chain order.
    return part.empty() ? o.name : o.name + ".part" + std::to_string(i);
  };
  try {
    // Parts are independent queries: they run on every core, each worker in its own Z3
    // context (zscope is per thread) over its own build of the parts.
    z3::context ctx;
    zscope scope(ctx);
    const auto gs = goals_of(o, ctx);
    std::vector<proof_result> part_results(gs.size());
    std::vector<std::string> errors(gs.size());
    const unsigned workers = gs.size() < 2 ? 1u : std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
    const auto work = [&](unsigned w, z3::context& c, const std::vector<std::pair<std::string, goal>>& mine) {
      for (std::size_t i = w; i < mine.size(); i += workers) {
        if (opts.only_part >= 0 && i != static_cast<std::size_t>(opts.only_part)) continue;
        try {
          part_results[i] = discharge_goal(file_of(mine[i].first, i), mine[i].second, o.z3_rlimit, opts, c);
        } catch (const z3::exception& e) {
          errors[i] = std::string("z3 exception: ") + e.msg();
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      }
    };
    std::vector<std::thread> pool;
    for (unsigned w = 1; w < workers; ++w)
      pool.emplace_back([&, w] {
        z3::context c;
        zscope sc(c);
        work(w, c, goals_of(o, c));
      });
    work(0, ctx, gs);
    for (std::thread& t : pool) t.join();

    if (opts.only_part >= static_cast<int>(gs.size()))
      throw std::runtime_error(o.name + " has " + std::to_string(gs.size()) + " part(s); there is no part " +
                               std::to_string(opts.only_part));
    r.parts = opts.only_part >= 0 ? 1 : static_cast<unsigned>(gs.size());
    r.z3 = opts.z3 ? verdict::proved : verdict::skipped;
    r.cvc5 = opts.cvc5 ? verdict::proved : verdict::skipped;
    for (std::size_t i = 0; i < gs.size(); ++i) {
      const std::string& part = gs[i].first;
      if (opts.only_part >= 0 && i != static_cast<std::size_t>(opts.only_part)) continue;
      if (!errors[i].empty()) throw std::runtime_error((part.empty() ? "" : "part " + std::to_string(i) + " (" + part + "): ") + errors[i]);
      const proof_result& p = part_results[i];
      r.z3_seconds += p.z3_seconds;
      r.cvc5_seconds += p.cvc5_seconds;
      r.nonvacuous_checked = r.nonvacuous_checked || p.nonvacuous_checked;
      if (r.smt2.empty()) r.smt2 = p.smt2;
      if (p.ok()) continue;
      r.failed_part = part.empty() ? -1 : static_cast<int>(i);
      // The first part that is not agreed decides the verdict and is what the report shows.
      r.z3 = p.z3;
      r.cvc5 = p.cvc5;
      r.counterexample = p.counterexample;
      r.pictures = p.pictures;
      r.cvc5_output = p.cvc5_output;
      r.smt2 = p.smt2;
      r.detail = part.empty() ? p.detail : "part " + std::to_string(i) + " (" + part + ")" + (p.detail.empty() ? "" : ": " + p.detail);
      break;
    }
  } catch (const z3::exception& e) {
    r.z3 = verdict::error;
    r.detail = std::string("z3 exception: ") + e.msg();
  } catch (const std::exception& e) {
    r.z3 = verdict::error;
    r.detail = e.what();
  }
  return r;
}

}  // namespace mmref::proofs
