// proofs/registry.cpp — discharging obligations: Z3 in process, cvc5 as a separate process on
// the very file Z3 checked.
#include "proofs/registry.hpp"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

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

std::string model_text(const z3::model& m, const goal& g) {
  std::ostringstream os;
  for (const auto& [name, e] : g.show) {
    const z3::expr v = m.eval(e, true);
    std::uint64_t u = 0;
    if (v.is_numeral() && Z3_get_numeral_uint64(v.ctx(), v, &u)) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(u));
      os << "    " << name << " = " << buf << "\n";
    } else {
      os << "    " << name << " = " << v.to_string() << "\n";
    }
  }
  return os.str();
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
    return v;
  }();
  return all;
}

std::string smtlib_of(const obligation& o, z3::context& ctx) {
  zscope scope(ctx);
  const goal g = o.build(ctx);
  z3::expr_vector asserted(ctx);
  for (const auto& [name, e] : g.pre) asserted.push_back(e);
  const z3::expr negated = !g.claim;
  std::vector<Z3_ast> pre;
  for (unsigned i = 0; i < asserted.size(); ++i) pre.push_back(asserted[static_cast<int>(i)]);
  std::string text = Z3_benchmark_to_smtlib_string(ctx, o.name.c_str(), "QF_BV", "unknown", "",
                                                   static_cast<unsigned>(pre.size()), pre.data(), negated);
  // Z3 writes (set-logic QF_BV) after its set-info lines; make sure it is there.
  if (text.find("(set-logic QF_BV)") == std::string::npos) text = "(set-logic QF_BV)\n" + text;
  text += "(exit)\n";
  return text;
}

proof_result discharge(const obligation& o, const solver_opts& opts) {
  proof_result r;
  r.name = o.name;
  // Z3 checks every model it reports against the assertions (Z3 issue #2415).
  static const bool validate = (z3::set_param("model_validate", true), true);
  (void)validate;
  try {
    z3::context ctx;
    zscope scope(ctx);
    const std::string text = smtlib_of(o, ctx);
    const std::filesystem::path dir = opts.emit_dir.empty() ? default_emit_dir() : opts.emit_dir;
    std::filesystem::create_directories(dir);
    r.smt2 = dir / (o.name + ".smt2");
    {
      std::ofstream f(r.smt2);
      f << text;
      if (!f) throw std::runtime_error("cannot write " + r.smt2.string());
    }

    if (opts.z3) {
      const auto t0 = std::chrono::steady_clock::now();
      const goal g = o.build(ctx);  // same names, same context: the model speaks of these
      // Z3 checks the exported text itself, so both solvers answer the same question.
      z3::solver s(ctx, "QF_BV");
      z3::params p(ctx);
      p.set("rlimit", o.z3_rlimit);
      s.set(p);
      s.from_string(text.c_str());
      r.z3 = from_check(s.check());
      if (r.z3 == verdict::violated) r.counterexample = model_text(s.get_model(), g);
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
