// model/interval.hpp — half-open address intervals [start, end): the one overlap and
// containment predicate every layer uses (TLB flushes, owed flushes, and later vmap areas).
//
// Synopsis
//   overlaps(a_start, a_end, b_start, b_end)   the intervals share a byte.
//   contains(o_start, o_end, i_start, i_end)   [i_start, i_end) lies inside [o_start, o_end).
// Both are branch-free word cores; an interval with end <= start is empty and overlaps nothing.
#pragma once

#include <cstdint>

#include "model/word.hpp"

namespace mmref {

template <word W>
constexpr bool_t<W> overlaps(W a_start, W a_end, W b_start, W b_end) {
  return ult(a_start, a_end) && ult(b_start, b_end) && ult(a_start, b_end) && ult(b_start, a_end);
}

template <word W>
constexpr bool_t<W> contains(W o_start, W o_end, W i_start, W i_end) {
  return ule(o_start, i_start) && ule(i_end, o_end) && ult(i_start, i_end);
}

constexpr bool ranges_overlap(std::uint64_t a_start, std::uint64_t a_end, std::uint64_t b_start, std::uint64_t b_end) {
  return truth(overlaps(cword{a_start}, cword{a_end}, cword{b_start}, cword{b_end}));
}

}  // namespace mmref
