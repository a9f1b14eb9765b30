// model/word.hpp — the word interface the arithmetic cores are written against, and its
// concrete backend.
//
// Synopsis
//   cword, cbool        64-bit machine word and its boolean: what the model runs.
//   word<W>             the concept every backend meets (proofs/zword.hpp is the other one).
//   W::lit(x)           a constant; B::lit(b) a boolean constant.
//   + - * & | ^ ~       wrap modulo 2^64 in every backend.
//   ult ule ugt uge     unsigned comparisons; slt sle sgt sge signed; eq ne.
//   shl lshr ashr       shifts by a word (or an unsigned constant); a count >= 64 gives
//                       SMT-LIB's answer (0, or all sign bits for ashr), never C++ UB.
//   udiv urem           SMT-LIB semantics: x udiv 0 = ~0, x urem 0 = x.
//   select(c, a, b)     the only way to choose: both arms are evaluated.
//   truth(cbool)        leaves the word world; exists only for the concrete backend.
//
// Why a wrapper and not bare std::uint64_t: the cores must also compile against a symbolic
// word whose boolean is a Z3 formula. Making the concrete boolean a struct with no conversion
// to bool means `if (eq(a, b))` fails to compile for *both* backends, so a core cannot grow a
// branch that the symbolic run would not see. The wrapper is a single uint64_t member and
// every operation is constexpr and inline: it costs nothing at run time.
#pragma once

#include <concepts>
#include <cstdint>
#include <type_traits>

namespace mmref {

struct cbool {
  bool v;
  static constexpr cbool lit(bool b) { return {b}; }
  friend constexpr cbool operator&&(cbool a, cbool b) { return {a.v && b.v}; }
  friend constexpr cbool operator||(cbool a, cbool b) { return {a.v || b.v}; }
  friend constexpr cbool operator!(cbool a) { return {!a.v}; }
};
static_assert(!std::is_convertible_v<cbool, bool>, "a word boolean must not convert to bool");

// The concrete backend's exit from the word world (call sites outside the cores).
constexpr bool truth(cbool b) { return b.v; }

struct cword {
  using boolean = cbool;
  std::uint64_t v;

  static constexpr cword lit(std::uint64_t x) { return {x}; }

  friend constexpr cword operator+(cword a, cword b) { return {a.v + b.v}; }
  friend constexpr cword operator-(cword a, cword b) { return {a.v - b.v}; }
  friend constexpr cword operator*(cword a, cword b) { return {a.v * b.v}; }
  friend constexpr cword operator&(cword a, cword b) { return {a.v & b.v}; }
  friend constexpr cword operator|(cword a, cword b) { return {a.v | b.v}; }
  friend constexpr cword operator^(cword a, cword b) { return {a.v ^ b.v}; }
  friend constexpr cword operator~(cword a) { return {~a.v}; }
};

constexpr cbool eq(cword a, cword b) { return {a.v == b.v}; }
constexpr cbool ne(cword a, cword b) { return {a.v != b.v}; }
constexpr cbool ult(cword a, cword b) { return {a.v < b.v}; }
constexpr cbool ule(cword a, cword b) { return {a.v <= b.v}; }
constexpr cbool ugt(cword a, cword b) { return {a.v > b.v}; }
constexpr cbool uge(cword a, cword b) { return {a.v >= b.v}; }
constexpr cbool slt(cword a, cword b) {
  return {static_cast<std::int64_t>(a.v) < static_cast<std::int64_t>(b.v)};
}
constexpr cbool sle(cword a, cword b) {
  return {static_cast<std::int64_t>(a.v) <= static_cast<std::int64_t>(b.v)};
}
constexpr cbool sgt(cword a, cword b) { return slt(b, a); }
constexpr cbool sge(cword a, cword b) { return sle(b, a); }

// Shifts with SMT-LIB semantics for counts >= 64.
constexpr cword shl(cword a, cword n) { return {n.v >= 64 ? 0 : a.v << n.v}; }
constexpr cword lshr(cword a, cword n) { return {n.v >= 64 ? 0 : a.v >> n.v}; }
constexpr cword ashr(cword a, cword n) {
  // Arithmetic right shift written with unsigned operations only (no implementation-defined
  // signed shift): fill the vacated high bits with copies of bit 63.
  const std::uint64_t sign = a.v >> 63;
  if (n.v >= 64) return {sign ? ~std::uint64_t{0} : 0};
  const std::uint64_t shifted = a.v >> n.v;
  const std::uint64_t fill = (sign && n.v != 0) ? ~std::uint64_t{0} << (64 - n.v) : 0;
  return {shifted | fill};
}
// Division with SMT-LIB semantics for a zero divisor.
constexpr cword udiv(cword a, cword b) { return {b.v == 0 ? ~std::uint64_t{0} : a.v / b.v}; }
constexpr cword urem(cword a, cword b) { return {b.v == 0 ? a.v : a.v % b.v}; }

constexpr cword select(cbool c, cword a, cword b) { return c.v ? a : b; }
constexpr cbool select(cbool c, cbool a, cbool b) { return c.v ? a : b; }

// The interface every backend provides. Cores are templates constrained by it.
template <class W>
concept word = requires(W a, W b, typename W::boolean c, std::uint64_t x, bool t) {
  { W::lit(x) } -> std::same_as<W>;
  { W::boolean::lit(t) } -> std::same_as<typename W::boolean>;
  { a + b } -> std::same_as<W>;
  { a - b } -> std::same_as<W>;
  { a & b } -> std::same_as<W>;
  { a | b } -> std::same_as<W>;
  { a ^ b } -> std::same_as<W>;
  { ~a } -> std::same_as<W>;
  { eq(a, b) } -> std::same_as<typename W::boolean>;
  { ult(a, b) } -> std::same_as<typename W::boolean>;
  { slt(a, b) } -> std::same_as<typename W::boolean>;
  { shl(a, b) } -> std::same_as<W>;
  { lshr(a, b) } -> std::same_as<W>;
  { ashr(a, b) } -> std::same_as<W>;
  { select(c, a, b) } -> std::same_as<W>;
  { c && c } -> std::same_as<typename W::boolean>;
  { c || c } -> std::same_as<typename W::boolean>;
  { !c } -> std::same_as<typename W::boolean>;
  requires !std::is_convertible_v<typename W::boolean, bool>;
};

template <word W>
using bool_t = typename W::boolean;

// Shifts by a constant count, for readability in the cores.
template <word W>
constexpr W shl(W a, unsigned n) { return shl(a, W::lit(n)); }
template <word W>
constexpr W lshr(W a, unsigned n) { return lshr(a, W::lit(n)); }
template <word W>
constexpr W ashr(W a, unsigned n) { return ashr(a, W::lit(n)); }

// Boolean implication, for stating lemmas and invariants.
template <class B>
constexpr B implies(B a, B b) { return !a || b; }

// A mask of bits lo..hi inclusive (hi <= 63), as a plain constant.
constexpr std::uint64_t bit_range(unsigned hi, unsigned lo) {
  const std::uint64_t upto_hi = hi >= 63 ? ~std::uint64_t{0} : (std::uint64_t{1} << (hi + 1)) - 1;
  return upto_hi & ~((std::uint64_t{1} << lo) - 1);
}

static_assert(word<cword>);

}  // namespace mmref
