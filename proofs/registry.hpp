// proofs/registry.hpp — the proof registry: every obligation with a stable name, what it
// proves (an invariant ID or a lemma), how to build it, and how to discharge it with Z3 and
// re-check it with cvc5.
//
// Synopsis
//   obligation           name (`<op>__preserves__<ID>`, `lemma__<core>__<fact>`,
//                        `nonvacuous__<op>_<path>`), proves,
//                        kind ("lemma": all 64-bit inputs; "bounded"; "exhaustive"), bound,
//                        build(ctx) -> goal, Z3 rlimit; or parts(ctx) -> named goals over
//                        disjoint variables (a chain of per-step lemmas): it holds iff every
//                        part holds, each part is its own query, file and non-vacuity check;
//                        parts run on every core, each worker in its own Z3 context.
//   goal                 named preconditions, the claim, and the variables a counterexample
//                        shows.
//   all_obligations()    every obligation, in a stable order.
//   discharge(o, opts)   Z3: preconditions ∧ ¬claim must be unsat; the preconditions alone
//                        must be sat (non-vacuity); the exact assertions are exported as
//                        SMT-LIB 2 (QF_BV) and, with cvc5, re-checked by a separate process.
//                        A counterexample to a goal that draws its states (the bounded proofs:
//                        the state before the operation and after) gets their pictures in
//                        $TMPDIR/mmref-pictures-<pid>/<file>.<label>.svg.
//   failure_report(r)    what `mmref prove` and the proof tests print for a failure.
//
// Budgets: Z3 runs under a deterministic rlimit; cvc5 under its own rlimit, both with an
// OS-level timeout as a backstop. `unknown` from either is "not agreed".
#pragma once

#include <z3++.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "impl/picture/svg.hpp"

namespace mmref::proofs {

// Reads a term's value in a counterexample: a bit-vector as a word, a Boolean as 0 or 1.
using model_reader = std::function<std::uint64_t(const z3::expr&)>;
// The states a counterexample describes (the state before the operation, the one after), each
// with its label, drawn for the report (impl/picture).
using drawn_states = std::vector<std::pair<std::string, picture::state_snapshot>>;

struct goal {
  std::vector<std::pair<std::string, z3::expr>> pre;  // named preconditions
  z3::expr claim;
  std::vector<std::pair<std::string, z3::expr>> show;  // shown in a counterexample
  std::function<drawn_states(const model_reader&)> draw = nullptr;  // unset: no pictures
};

struct obligation {
  std::string name;
  std::string proves;     // invariant ID (DESIGN.md) or lemma name
  std::string kind;       // "lemma", "bounded", "exhaustive"
  std::string bound;      // "all 64-bit inputs", "K=8", ...
  std::function<goal(z3::context&)> build;
  unsigned z3_rlimit = 20'000'000;
  bool smoke = false;     // in the small subset the sanitizer build runs
  // When set, used instead of `build`: the obligation is the conjunction of these goals, each
  // discharged alone (rlimit per part). Parts share no variables, so the conjunction of their
  // claims under the conjunction of their preconditions holds iff each part does.
  std::function<std::vector<std::pair<std::string, goal>>(z3::context&)> parts = nullptr;
};

enum class verdict { proved, violated, unknown, vacuous, error, skipped };
const char* verdict_text(verdict v);

struct solver_opts {
  bool z3 = true;
  bool cvc5 = false;
  std::filesystem::path emit_dir;     // where .smt2 files go ("" = a temporary directory)
  std::string cvc5_path = "cvc5";
  unsigned long cvc5_rlimit = 20'000'000;
  unsigned timeout_seconds = 120;     // OS-level backstop per solver call
  int only_part = -1;                 // an obligation with parts: discharge only this one
};

struct proof_result {
  std::string name;
  verdict z3 = verdict::skipped;
  double z3_seconds = 0;
  std::string counterexample;        // Z3's model values, when violated
  std::vector<std::filesystem::path> pictures;  // SVGs of the counterexample's states, if the goal draws them
  bool nonvacuous_checked = false;   // false when there are no preconditions
  verdict cvc5 = verdict::skipped;
  double cvc5_seconds = 0;
  std::string cvc5_output;           // first line(s) when not "unsat"
  std::filesystem::path smt2;        // the file checked (the first part that failed, if any)
  std::string detail;                // error text; names the part that failed
  unsigned parts = 1;                // queries discharged (1 unless the obligation has parts)
  int failed_part = -1;              // the part the verdict came from, when one failed
  // Agreed: Z3 proved it, preconditions satisfiable, and cvc5 (if run) said unsat too.
  bool ok() const;
  bool solver_unknown() const { return z3 == verdict::unknown || cvc5 == verdict::unknown; }
};

const std::vector<obligation>& all_obligations();
proof_result discharge(const obligation& o, const solver_opts& opts);

// The report of a result that is not agreed, each line indented by `indent`: the verdicts, the
// counterexample, what went wrong, what cvc5 said, the SMT-LIB file, the pictures, and the
// command that reproduces it.
std::string failure_report(const proof_result& r, const std::string& indent);

// The SMT-LIB 2 text of exactly the assertions Z3 checks for `o` (preconditions and the
// negated claim), with its logic set; for an obligation with parts, the first part.
std::string smtlib_of(const obligation& o, z3::context& ctx);
std::string smtlib_of(const std::string& name, const goal& g, z3::context& ctx);

// cvc5 on one SMT-LIB file: unsat -> proved, sat -> violated, unknown or timeout -> unknown,
// anything else (a parse error, a crash) -> error. Returns the verdict and what cvc5 printed.
std::pair<verdict, std::string> cvc5_check_file(const solver_opts& opts, const std::filesystem::path& file);

// Registration, one function per file of lemmas.
void register_align_lemmas(std::vector<obligation>& out);
void register_paging_lemmas(std::vector<obligation>& out);
void register_pte_lemmas(std::vector<obligation>& out);
void register_pt_invariant_proofs(std::vector<obligation>& out);
void register_buddy_lemmas(std::vector<obligation>& out);
void register_buddy_bounded_proofs(std::vector<obligation>& out);
void register_vmalloc_lemmas(std::vector<obligation>& out);
void register_vmalloc_snapshot_proofs(std::vector<obligation>& out);
void register_vmalloc_bounded_proofs(std::vector<obligation>& out);

}  // namespace mmref::proofs
