// impl/picture/svg.hpp — pictures of a state, as SVG: the kernel virtual address space of
// vmalloc (busy, lazy, pooled and free, guard pages) and the buddy allocator's free blocks by
// order in each zone. `mmref show --svg FILE` draws one; failing properties attach the state
// before and after the failing command.
//
// Synopsis
//   va_piece                  one interval of the address space and what it is
//   va_pieces(vs)             busy, lazy, pooled and free pieces of the vmalloc and modules
//                             ranges, in address order
//   snapshot(vs, pa)          what a picture shows, copied out (vs may be null: buddy only);
//                             or filled in by hand with strips (a proof's slots, page tables)
//   svg_of(snapshot, title)   one SVG: the VA strip, then the buddy map of every zone
//   mappings(m, windows)      a machine's page tables over some windows, and its TLBs
//   svg_state(vs, pa, title)  svg_of(snapshot(vs, pa), title)
//   write_svg(path, text)     the file, or false
//   pictures_dir()            $TMPDIR/mmref-pictures-<pid>, created: where failing properties
//                             and proofs put their pictures
//
// The VA picture is a strip of the pieces in address order, each as wide as log2 of its size
// (so that a 4 KiB guard page and a 32 TiB free block are both visible), wrapped into rows, with
// the address at the start of each row; busy areas show their guard page in a darker shade. The
// buddy map draws each zone's pfn range to scale, one row per order (order 0 at the top), a mark
// for each free block where it lies, with nr_free beside each row.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "impl/buddy/page_alloc.hpp"
#include "impl/vmalloc/vmalloc.hpp"
#include "model/machine.hpp"

namespace mmref::picture {

enum class va_kind { busy, lazy, pooled, free };

struct va_piece {
  std::uint64_t start = 0, end = 0;
  va_kind kind = va_kind::free;
  bool guard = false;  // busy: the last page is its guard page
  std::string note;    // shown with the piece (a proof's slot number, for instance)
};

std::vector<va_piece> va_pieces(const vmalloc::vmap_state& vs);

// A row of pieces under a title (see state_snapshot::strips).
struct va_strip {
  std::string title;
  std::vector<va_piece> pieces;
};

// What a picture shows, copied out of the live state (cheap enough to take before every
// command of a stateful test, and drawn only when one fails).
struct zone_view {
  std::string name;
  std::uint64_t start_pfn = 0, spanned = 0;
  std::int64_t free_pages = 0;
  std::array<std::vector<std::uint64_t>, buddy::NR_PAGE_ORDERS> blocks{};  // free heads by order
  std::array<std::uint64_t, buddy::NR_PAGE_ORDERS> nr_free{};
};
struct state_snapshot {
  bool has_va = false;
  std::uint64_t lazy_nr = 0, lazy_max = 0;
  std::uint64_t vmalloc_start = 0, vmalloc_end = 0, modules_vaddr = 0, modules_end = 0;
  std::vector<va_piece> pieces;
  // Set: these strips are drawn instead of the vmalloc and modules ranges, each piece in the
  // order given, unclipped (a proof's symbolic state, whose pieces need not lie in the ranges nor
  // be in order: a counterexample may break exactly that; or the mappings of page tables), with
  // `legend` saying what each kind's colour means there (the default: busy, lazy, ...).
  std::vector<va_strip> strips;
  std::vector<std::pair<va_kind, std::string>> legend;
  std::vector<zone_view> zones;
};
state_snapshot snapshot(const vmalloc::vmap_state* vs, const buddy::page_alloc& pa);

// The page tables of a machine as strips: for each window (a title and [start, end)), its
// pages in address order, each run of mapped pages with the same leaf size and consecutive
// frames one "busy" piece (noted with its first pfn), each run of unmapped pages one "free"
// piece; then each CPU's TLB entries, "busy" where the walk gives the same translation, "lazy"
// (drawn orange, named "stale") where it does not.
struct va_window {
  std::string title;
  std::uint64_t start = 0, end = 0;
};
state_snapshot mappings(const machine& m, const std::vector<va_window>& windows);

std::string svg_of(const state_snapshot& s, const std::string& title);
std::string svg_state(const vmalloc::vmap_state* vs, const buddy::page_alloc& pa, const std::string& title);

bool write_svg(const std::string& path, const std::string& svg);

std::filesystem::path pictures_dir();

}  // namespace mmref::picture
