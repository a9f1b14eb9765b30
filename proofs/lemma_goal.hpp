// proofs/lemma_goal.hpp — one lemma of a chain (proofs/buddy_bounded.cpp,
// proofs/vmalloc_bounded.cpp) as a goal: its hypotheses are the preconditions of its own query
// and are shown in a counterexample with the claim; the states it relates (before and after a
// step), if any, are drawn for a counterexample.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "proofs/registry.hpp"
#include "proofs/spec.hpp"
#include "proofs/zword.hpp"

namespace mmref::proofs {

using named = std::vector<std::pair<std::string, z3::expr>>;
using hyps = std::vector<std::pair<std::string, zbool>>;

// snapshot(state, reader) -> picture::state_snapshot draws one state.
template <class State, class Snapshot>
goal lemma_goal(const hyps& h, const zbool& claim, named show, const std::vector<std::pair<std::string, State>>& states,
                Snapshot snapshot) {
  named pre;
  for (const auto& [hn, he] : h) {
    pre.push_back({hn, he.e});
    show.push_back({"hypothesis: " + hn, he.e});
  }
  show.push_back({"claim", claim.e});
  goal g = spec::make(std::move(pre), claim.e, std::move(show));
  if (!states.empty())
    g.draw = [states, snapshot](const model_reader& value) {
      drawn_states d;
      for (const auto& [label, st] : states) d.emplace_back(label, snapshot(st, value));
      return d;
    };
  return g;
}

}  // namespace mmref::proofs
