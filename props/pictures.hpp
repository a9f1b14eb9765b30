// props/pictures.hpp — rc::state::runAll with pictures: when a command fails, its report gets
// SVG files of the state before and after it (impl/picture).
//
// Synopsis
//   run_with_pictures(cmds, s0, sut, property, fresh, draw)
//       runs the commands as rc::state::runAll does. When one fails (RC_FAIL), draws the system
//       after it, rebuilds the state before it by running the earlier commands on fresh() (a new
//       system: the systems under test are deterministic, so passing runs pay nothing), draws
//       that too, writes both to $TMPDIR/mmref-pictures-<pid>/<property>-{before,after}.svg and
//       rethrows the failure with their paths appended. The files of the last failing run stand;
//       RapidCheck runs the shrunk sequence last.
//   draw(sut, title) -> std::string   the SVG of a system
#pragma once

#include <rapidcheck.h>

#include <cstddef>
#include <filesystem>
#include <sstream>
#include <string>

#include "impl/picture/svg.hpp"

namespace mmref::props {

template <class Cmds, class Model, class Sut, class Fresh, class Draw>
void run_with_pictures(const Cmds& cmds, const Model& s0, Sut& w, const std::string& property, Fresh fresh, Draw draw) {
  Model cur = s0;
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    const auto& c = cmds[i];
    c->checkPreconditions(cur);
    try {
      c->run(cur, w);
    } catch (const rc::detail::CaseResult& r) {
      if (r.type != rc::detail::CaseResult::Type::Failure) throw;
      std::ostringstream cmd;
      c->show(cmd);
      const std::string after = draw(w, "after " + cmd.str());
      std::string before;
      try {
        auto again = fresh();
        Model p = s0;
        for (std::size_t j = 0; j < i; ++j) {
          cmds[j]->run(p, *again);
          cmds[j]->apply(p);
        }
        before = draw(*again, "before " + cmd.str());
      } catch (...) {
        before.clear();  // the rerun did not reach the failing command the same way
      }
      const std::filesystem::path dir = picture::pictures_dir();
      const std::string b = (dir / (property + "-before.svg")).string(), a = (dir / (property + "-after.svg")).string();
      std::string note;
      if (!picture::write_svg(a, after) || (!before.empty() && !picture::write_svg(b, before)))
        note = "\n(the pictures could not be written to " + dir.string() + ")";
      else
        note = "\npictures of the state " + std::string(before.empty() ? "after " : "before and after ") + cmd.str() + ":\n" +
               (before.empty() ? "" : "  " + b + "\n") + "  " + a;
      throw rc::detail::CaseResult(rc::detail::CaseResult::Type::Failure, r.description + note);
    }
    c->apply(cur);
  }
}

}  // namespace mmref::props
