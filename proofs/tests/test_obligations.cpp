// Every registered obligation as its own test: Z3 proves it (with non-vacuous preconditions),
// cvc5 agrees on the exported file, and a small smoke subset for the sanitizer build.
#include <gtest/gtest.h>

#include "proofs/registry.hpp"

using namespace mmref::proofs;

namespace {

std::vector<std::string> names(bool smoke_only) {
  std::vector<std::string> out;
  for (const obligation& o : all_obligations())
    if (!smoke_only || o.smoke) out.push_back(o.name);
  return out;
}

const obligation& find(const std::string& name) {
  for (const obligation& o : all_obligations())
    if (o.name == name) return o;
  throw std::out_of_range(name);
}

std::string explain(const proof_result& r) { return failure_report(r, ""); }

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

class Proof : public ::testing::TestWithParam<std::string> {};
class Cvc5Proof : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(Proof, HoldsAndIsNotVacuous) {
  const proof_result r = discharge(find(GetParam()), solver_opts{});
  EXPECT_EQ(r.z3, verdict::proved) << explain(r);
}

// cvc5 alone on the exported files (proofs.z3 runs Z3 on the same files): both must prove.
TEST_P(Cvc5Proof, Cvc5Agrees) {
  solver_opts o;
  o.z3 = false;
  o.cvc5 = true;
  o.cvc5_path = MMREF_CVC5;
  const proof_result r = discharge(find(GetParam()), o);
  EXPECT_TRUE(r.ok()) << explain(r);
}

INSTANTIATE_TEST_SUITE_P(Z3, Proof, ::testing::ValuesIn(names(false)), test_name);
INSTANTIATE_TEST_SUITE_P(Cvc5, Cvc5Proof, ::testing::ValuesIn(names(false)), test_name);
INSTANTIATE_TEST_SUITE_P(Smoke, Proof, ::testing::ValuesIn(names(true)), test_name);
