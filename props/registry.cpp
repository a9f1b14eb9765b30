// props/registry.cpp
#include "props/registry.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

namespace mmref::props {

namespace {
struct lists {
  std::vector<property> all, negative;
  lists() {
    register_core_roundtrips(all);
    register_pt_stateful(all, negative);
    register_buddy_stateful(all, negative);
    register_buddy_abstraction(all, negative);
    register_vmalloc_stateful(all, negative);
    register_vmalloc_abstraction(all, negative);
  }
};
const lists& registry() {
  static const lists l;
  return l;
}

std::string percent(double share) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * share);
  return buf;
}
}  // namespace

const std::vector<property>& all_properties() { return registry().all; }
const std::vector<property>& negative_properties() { return registry().negative; }

std::string reproduce_command(const property& p, std::uint64_t seed, int cases, int size) {
  return "mmref props --only " + p.name + " --seed " + std::to_string(seed) + " --cases " + std::to_string(cases) +
         " --size " + std::to_string(size);
}

prop_result run_property(const property& p, std::uint64_t seed, int cases, int size) {
  prop_result r;
  r.name = p.name;
  r.seed = seed;
  r.size = size > 0 ? size : p.size;
  rc::detail::TestParams params;
  params.seed = seed;
  params.maxSuccess = cases > 0 ? cases : p.cases;
  params.maxSize = r.size;
  rc::detail::TestMetadata meta;
  meta.id = p.name;
  meta.description = p.name;

  const auto t0 = std::chrono::steady_clock::now();
  const rc::detail::TestResult result = rc::detail::checkProperty(p.make(), meta, params);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::ostringstream msg;
  if (result.is<rc::detail::SuccessResult>()) {
    const auto& s = result.get<rc::detail::SuccessResult>();
    r.cases = s.numSuccess;
    r.ok = true;
    // Share of cases whose tags include each event (a case is tagged once, with every event
    // it hit).
    std::map<std::string, int> hits;
    for (const auto& [tags, count] : s.distribution)
      for (std::string t : tags) {
        if (t.size() >= 2 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);  // rc::toString quotes
        hits[t] += count;
      }
    for (const auto& [tag, n] : hits) r.shares[tag] = s.numSuccess ? double(n) / s.numSuccess : 0.0;
    for (const auto& [tag, least] : p.min_share) {
      const double got = r.shares.count(tag) ? r.shares[tag] : 0.0;
      if (got < least || got == 0.0) {
        r.ok = false;
        msg << "coverage: event '" << tag << "' in " << percent(got) << " of cases, below its minimum "
            << percent(least) << "\n";
      }
    }
  } else {
    if (result.is<rc::detail::FailureResult>()) r.cases = result.get<rc::detail::FailureResult>().numSuccess;
    rc::detail::printResultMessage(result, msg);
    msg << "\n";
  }
  if (!r.ok) {
    msg << "property " << p.name << " (checks";
    for (const std::string& id : p.ids) msg << " " << id;
    msg << ") seed=" << seed << "\nreproduce: " << reproduce_command(p, seed, params.maxSuccess, r.size) << "\n";
  }
  r.message = msg.str();
  return r;
}

}  // namespace mmref::props
