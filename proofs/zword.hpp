// proofs/zword.hpp — the symbolic word backend: the cores' word interface over Z3 64-bit
// bit-vectors. Part of the trusted base (docs/TRUSTED.md).
//
// Synopsis
//   zscope s(ctx)         makes ctx the context zword::lit and zbool::lit build in (RAII).
//   zword::var("x")       a fresh 64-bit constant; zword::lit(x) a numeral.
//   zbool                 a Z3 formula; has no conversion to bool, so a core that branches on
//                         a comparison does not compile for this backend.
//   value_of(w)           the numeral a ground word simplifies to (differential tests).
//
// Every operation maps to exactly one SMT-LIB QF_BV operator, chosen by name (bvult, bvslt,
// bvlshr, bvashr, bvudiv, ...). z3++'s own `<`, `/`, `%`, `>>` are never reached from here.
#pragma once

#include <z3++.h>

#include <cstdint>
#include <optional>
#include <string>

#include "model/word.hpp"

namespace mmref::proofs {

class zscope {
 public:
  explicit zscope(z3::context& c) : prev_(current_) { current_ = &c; }
  ~zscope() { current_ = prev_; }
  zscope(const zscope&) = delete;
  zscope& operator=(const zscope&) = delete;
  static z3::context& ctx() { return *current_; }

 private:
  z3::context* prev_;
  static inline thread_local z3::context* current_ = nullptr;
};

struct zbool {
  z3::expr e;
  static zbool lit(bool b) { return {zscope::ctx().bool_val(b)}; }
  friend zbool operator&&(const zbool& a, const zbool& b) { return {a.e && b.e}; }
  friend zbool operator||(const zbool& a, const zbool& b) { return {a.e || b.e}; }
  friend zbool operator!(const zbool& a) { return {!a.e}; }
};
static_assert(!std::is_convertible_v<zbool, bool>, "a symbolic boolean must not convert to bool");

struct zword {
  using boolean = zbool;
  z3::expr e;

  static zword lit(std::uint64_t x) { return {zscope::ctx().bv_val(static_cast<std::uint64_t>(x), 64)}; }
  static zword var(const std::string& name) { return {zscope::ctx().bv_const(name.c_str(), 64)}; }

  friend zword operator+(const zword& a, const zword& b) { return {z3::to_expr(a.e.ctx(), Z3_mk_bvadd(a.e.ctx(), a.e, b.e))}; }
  friend zword operator-(const zword& a, const zword& b) { return {z3::to_expr(a.e.ctx(), Z3_mk_bvsub(a.e.ctx(), a.e, b.e))}; }
  friend zword operator*(const zword& a, const zword& b) { return {z3::to_expr(a.e.ctx(), Z3_mk_bvmul(a.e.ctx(), a.e, b.e))}; }
  friend zword operator&(const zword& a, const zword& b) { return {z3::to_expr(a.e.ctx(), Z3_mk_bvand(a.e.ctx(), a.e, b.e))}; }
  friend zword operator|(const zword& a, const zword& b) { return {z3::to_expr(a.e.ctx(), Z3_mk_bvor(a.e.ctx(), a.e, b.e))}; }
  friend zword operator^(const zword& a, const zword& b) { return {z3::to_expr(a.e.ctx(), Z3_mk_bvxor(a.e.ctx(), a.e, b.e))}; }
  friend zword operator~(const zword& a) { return {z3::to_expr(a.e.ctx(), Z3_mk_bvnot(a.e.ctx(), a.e))}; }
};

#define MMREF_ZCMP(name, z3fn)                                                   \
  inline zbool name(const zword& a, const zword& b) {                            \
    return {z3::to_expr(a.e.ctx(), z3fn(a.e.ctx(), a.e, b.e))};                  \
  }
MMREF_ZCMP(ult, Z3_mk_bvult)
MMREF_ZCMP(ule, Z3_mk_bvule)
MMREF_ZCMP(ugt, Z3_mk_bvugt)
MMREF_ZCMP(uge, Z3_mk_bvuge)
MMREF_ZCMP(slt, Z3_mk_bvslt)
MMREF_ZCMP(sle, Z3_mk_bvsle)
MMREF_ZCMP(sgt, Z3_mk_bvsgt)
MMREF_ZCMP(sge, Z3_mk_bvsge)
MMREF_ZCMP(eq, Z3_mk_eq)
#undef MMREF_ZCMP
inline zbool ne(const zword& a, const zword& b) { return !eq(a, b); }

#define MMREF_ZBIN(name, z3fn)                                                   \
  inline zword name(const zword& a, const zword& b) {                            \
    return {z3::to_expr(a.e.ctx(), z3fn(a.e.ctx(), a.e, b.e))};                  \
  }
MMREF_ZBIN(shl, Z3_mk_bvshl)
MMREF_ZBIN(lshr, Z3_mk_bvlshr)
MMREF_ZBIN(ashr, Z3_mk_bvashr)
MMREF_ZBIN(udiv, Z3_mk_bvudiv)
MMREF_ZBIN(urem, Z3_mk_bvurem)
#undef MMREF_ZBIN

inline zword select(const zbool& c, const zword& a, const zword& b) { return {z3::ite(c.e, a.e, b.e)}; }
inline zbool select(const zbool& c, const zbool& a, const zbool& b) { return {z3::ite(c.e, a.e, b.e)}; }

static_assert(word<zword>);

// The value a ground expression simplifies to, if it is a numeral.
inline std::optional<std::uint64_t> value_of(const zword& w) {
  const z3::expr s = w.e.simplify();
  std::uint64_t v = 0;
  if (!s.is_numeral() || !Z3_get_numeral_uint64(s.ctx(), s, &v)) return std::nullopt;
  return v;
}
inline std::optional<bool> value_of(const zbool& b) {
  const z3::expr s = b.e.simplify();
  if (s.is_true()) return true;
  if (s.is_false()) return false;
  return std::nullopt;
}

}  // namespace mmref::proofs
