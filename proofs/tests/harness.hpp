// proofs/tests/harness.hpp — what the tests of the lemmas and the bounded proofs share: an
// obligation by name, a part's index by name, discharging one part with Z3, "the wrong
// operation fails where the real one proves", and "the failing part came with its pictures".
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "proofs/registry.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs::harness {

inline const obligation& named(const std::vector<obligation>& v, const std::string& name) {
  for (const obligation& o : v)
    if (o.name == name) return o;
  throw std::out_of_range(name);
}

// The index of the part whose name is `part` (exactly).
inline int part_index(const obligation& o, const std::string& part) {
  z3::context ctx;
  zscope scope(ctx);
  const auto parts = o.parts(ctx);
  for (std::size_t i = 0; i < parts.size(); ++i)
    if (parts[i].first == part) return static_cast<int>(i);
  throw std::out_of_range(o.name + ": no part " + part);
}

inline proof_result run(const obligation& o, int part = -1) {
  solver_opts opts;
  opts.only_part = part;
  return discharge(o, opts);
}

// Obligations built over a wrong set of operations fail in `part` of `name`, with a
// counterexample, where the same part over the real operations proves.
template <class Ops, class Make>
proof_result expect_wrong_fails_where_real_proves(Make make, const Ops& wrong, const Ops& real, const std::string& name,
                                                  const std::string& part) {
  const auto v = make(wrong);
  const obligation& o = named(v, name);
  const proof_result r = run(o, part_index(o, part));
  EXPECT_EQ(r.z3, verdict::violated) << name << " / " << part << ": " << r.detail;
  EXPECT_FALSE(r.counterexample.empty());
  EXPECT_EQ(r.failed_part, part_index(o, part));
  const auto rv = make(real);
  const obligation& ro = named(rv, name);
  const proof_result rr = run(ro, part_index(ro, part));
  EXPECT_EQ(rr.z3, verdict::proved) << name << " / " << part << ": " << rr.detail << rr.counterexample;
  return r;
}

// The violation came with SVG pictures of the state before and after the step, drawn from the
// counterexample, each holding `expect` (text the drawn state must show).
inline void expect_pictures(const proof_result& r, const std::string& expect) {
  ASSERT_EQ(r.pictures.size(), 2u) << r.detail;
  EXPECT_NE(r.pictures[0].filename().string().find(".before.svg"), std::string::npos) << r.pictures[0];
  EXPECT_NE(r.pictures[1].filename().string().find(".after.svg"), std::string::npos) << r.pictures[1];
  for (const std::filesystem::path& p : r.pictures) {
    std::ifstream f(p);
    const std::string svg{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
    EXPECT_EQ(svg.rfind("<svg", 0), 0u) << p;
    EXPECT_NE(svg.find(expect), std::string::npos) << p << " does not show " << expect;
  }
}

}  // namespace mmref::proofs::harness
