// props/registry.hpp — the property registry: one list that feeds both gtest and `mmref props`,
// with per-property parameters (cases, size) and a seed that replays a run exactly.
//
// Synopsis
//   property          name, invariant IDs it checks, kind, cases, size, minimum shares of the
//                     events it exists to exercise, and the RapidCheck property itself.
//   all_properties()  every property, in a stable order.
//   run_property(p, seed[, cases, size])
//                     runs it through rc::detail::checkProperty with explicit TestParams; the
//                     result carries RapidCheck's report (shrunk counterexample), the seed, the
//                     reproducing command, and the event distribution. A property whose event
//                     falls below its minimum share fails, and an event at 0% always fails.
#pragma once

#include <rapidcheck.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mmref::props {

inline constexpr std::uint64_t CI_SEED = 20261122;  // the fixed seed CI and `mmref check` use

struct property {
  std::string name;
  std::vector<std::string> ids;  // invariant IDs or lemma names it checks
  std::string kind;              // "stateful", "commuting" (an abstraction function against
                                 // the real operations), "round-trip", "negative"
  int cases = 100;               // RapidCheck max_success
  int size = 100;                // RapidCheck max_size (commands per sequence, roughly)
  std::vector<std::pair<std::string, double>> min_share;  // event tag -> least share of cases
  std::function<rc::detail::Property()> make;
};

struct prop_result {
  std::string name;
  bool ok = false;
  int cases = 0;                 // cases run to success (or before the failure)
  std::uint64_t seed = 0;
  int size = 0;
  double seconds = 0;
  std::string message;           // RapidCheck's report, coverage failures, reproduce line
  std::map<std::string, double> shares;  // event tag -> share of cases that hit it
};

template <class Testable>
std::function<rc::detail::Property()> make_property(Testable t) {
  return [t] { return rc::detail::toProperty(t); };
}

const std::vector<property>& all_properties();
// Properties that must fail (they check that failures are found and reported); not in
// all_properties().
const std::vector<property>& negative_properties();

prop_result run_property(const property& p, std::uint64_t seed, int cases = 0, int size = 0);
std::string reproduce_command(const property& p, std::uint64_t seed, int cases, int size);

// Registration, one function per file of properties.
void register_pt_stateful(std::vector<property>& out, std::vector<property>& negative);
void register_core_roundtrips(std::vector<property>& out);
void register_buddy_stateful(std::vector<property>& out, std::vector<property>& negative);
void register_buddy_abstraction(std::vector<property>& out, std::vector<property>& negative);
void register_vmalloc_stateful(std::vector<property>& out, std::vector<property>& negative);
void register_vmalloc_abstraction(std::vector<property>& out, std::vector<property>& negative);

}  // namespace mmref::props
