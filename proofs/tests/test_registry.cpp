// Tests for proofs/registry.hpp: the prover must be seen to fail. A false claim is reported
// with a counterexample, an unsatisfiable precondition is reported as vacuous, cvc5 agrees on
// a violation, and names are unique and follow the naming scheme.
#include "proofs/registry.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "model/align.hpp"
#include "proofs/spec.hpp"
#include "proofs/zword.hpp"

using namespace mmref;
using namespace mmref::proofs;

namespace {
solver_opts both() {
  solver_opts o;
  o.cvc5 = true;
  o.cvc5_path = MMREF_CVC5;
  o.timeout_seconds = 60;
  return o;
}

// ALIGN without the overflow precondition: wraps to 0 near 2^64, so "ALIGN(x, 4096) >= x"
// is false. The prover must find that.
obligation false_align_claim() {
  return {"negative__ALIGN_without_overflow_check", "ALIGN", "lemma", "all 64-bit inputs", [](z3::context&) {
            const zword x = zword::var("x");
            return spec::make({}, z3::uge(PAGE_ALIGN(x).e, x.e), {{"x", x.e}, {"PAGE_ALIGN(x)", PAGE_ALIGN(x).e}});
          }};
}
}  // namespace

TEST(Registry, AFalseClaimIsReportedWithACounterexampleByBothSolvers) {
  const proof_result r = discharge(false_align_claim(), both());
  EXPECT_EQ(r.z3, verdict::violated);
  EXPECT_EQ(r.cvc5, verdict::violated);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.counterexample.find("x = "), std::string::npos) << r.counterexample;
  EXPECT_NE(r.counterexample.find("PAGE_ALIGN(x) = 0"), std::string::npos) << r.counterexample;
}

TEST(Registry, AnUnsatisfiablePreconditionIsReportedAsVacuous) {
  const obligation o{"negative__vacuous", "none", "lemma", "all", [](z3::context&) {
                       const zword x = zword::var("x");
                       return spec::make({{"x < 1", z3::ult(x.e, spec::bv(1))}, {"x > 1", z3::ugt(x.e, spec::bv(1))}},
                                         x.e == spec::bv(7), {{"x", x.e}});
                     }};
  const proof_result r = discharge(o, solver_opts{});
  EXPECT_EQ(r.z3, verdict::vacuous);
  EXPECT_FALSE(r.ok());
}

TEST(Registry, ExportedFileSetsItsLogicAndHoldsTheNegatedClaim) {
  z3::context ctx;
  const std::string text = smtlib_of(false_align_claim(), ctx);
  EXPECT_NE(text.find("(set-logic QF_BV)"), std::string::npos);
  EXPECT_NE(text.find("(declare-fun x () (_ BitVec 64))"), std::string::npos) << text;
  EXPECT_NE(text.find("(check-sat)"), std::string::npos);
  EXPECT_NE(text.find("bvuge"), std::string::npos);
}

TEST(Registry, AnUnparsableFileIsAnErrorNotAnAgreement) {
  const std::filesystem::path f = std::filesystem::temp_directory_path() / "mmref-negative-parse.smt2";
  std::ofstream(f) << "(set-logic QF_BV)\n(declare-fun x () (_ BitVec 64))\n(assert (bvfoo x))\n(check-sat)\n";
  const auto [v, out] = cvc5_check_file(both(), f);
  EXPECT_EQ(v, verdict::error) << out;
  std::ofstream(f) << "(set-logic QF_BV)\n(declare-fun x () (_ BitVec 64))\n(assert (distinct x x))\n(check-sat)\n";
  EXPECT_EQ(cvc5_check_file(both(), f).first, verdict::proved);
}

TEST(Registry, Cvc5UnknownIsNotAgreement) {
  proof_result r;
  r.z3 = verdict::proved;
  r.cvc5 = verdict::unknown;
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.solver_unknown());
}

TEST(Registry, NamesAreUniqueAndFollowTheScheme) {
  std::set<std::string> names;
  for (const obligation& o : all_obligations()) {
    EXPECT_TRUE(names.insert(o.name).second) << "duplicate " << o.name;
    const bool lemma = o.name.rfind("lemma__", 0) == 0;
    const bool op = o.name.find("__preserves__") != std::string::npos ||
                    o.name.find("__establishes__") != std::string::npos;
    // `nonvacuous__<op>_<path>`: a path of an operation reached from a state satisfying the
    // invariants (its preconditions are checked satisfiable like every obligation's).
    const bool path = o.name.rfind("nonvacuous__", 0) == 0 && o.name.size() > 12 && o.name.find("__", 12) == std::string::npos;
    EXPECT_TRUE(lemma || op || path) << o.name;
    if (op) {
      EXPECT_NE(o.name.find(o.proves), std::string::npos) << o.name << " should name " << o.proves;
    }
  }
  EXPECT_GE(all_obligations().size(), 30u);
}
