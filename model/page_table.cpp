// model/page_table.cpp — the page-table operations over frames in phys_mem.
#include "model/page_table.hpp"

#include <stdexcept>

namespace mmref {

namespace {

pte_fields<cword> decode(std::uint64_t entry, unsigned level, unsigned maxphyaddr) {
  return pte_decode(cword{entry}, level, maxphyaddr);
}

std::uint64_t encode(std::uint64_t pfn, std::uint64_t flags, unsigned level, unsigned maxphyaddr) {
  return pte_encode(cword{pfn}, cword{flags}, level, maxphyaddr).v;
}

}  // namespace

page_tables::page_tables(phys_mem& mem, frame_provider& provider, unsigned levels)
    : mem_(mem), provider_(provider), levels_(levels) {
  if (levels != 4 && levels != 5) throw std::invalid_argument("paging levels must be 4 or 5");
  const std::optional<std::uint64_t> root = provider_.alloc_table_frame();
  if (!root) throw std::runtime_error("no frame for the top-level page table");
  root_pfn_ = *root;
  mem_.clear_frame(root_pfn_);
}

mm_status page_tables::check_va(std::uint64_t va, std::uint64_t align) const {
  if (!canonical(va, levels_)) return mm_status::non_canonical;
  if (!is_aligned(va, align)) return mm_status::misaligned_va;
  // Intervals are half-open in 64 bits: a leaf ending at 2^64 (the fixmap's last page) has no
  // representable end, so the model does not map it.
  if (va + align == 0) return mm_status::bad_range;
  return mm_status::ok;
}

mm_status page_tables::descend(std::uint64_t va, unsigned target, bool dry_run, slot& out) {
  const unsigned maxphy = mem_.maxphyaddr();
  std::uint64_t table = root_pfn_;
  for (unsigned level = levels_; level > target; --level) {
    const std::uint64_t pa = entry_pa(table, pt_index(va, level));
    const pte_fields<cword> f = decode(read(pa), level, maxphy);
    out = {pa, level};
    if (!truth(f.present)) {
      if (dry_run) return mm_status::ok;  // nothing below: no leaf can be in the way
      // pud_alloc / pmd_alloc / pte_alloc_kernel: a zeroed table page, linked with
      // _KERNPG_TABLE. Like the kernel, a table allocated before a later failure stays.
      const std::optional<std::uint64_t> fresh = provider_.alloc_table_frame();
      if (!fresh) return mm_status::no_memory;
      mem_.clear_frame(*fresh);
      mem_.write_u64(pa, encode(*fresh, _KERNPG_TABLE, level, maxphy));
      table = *fresh;
      continue;
    }
    if (truth(f.leaf) || !truth(f.reserved_clear)) return mm_status::huge_in_way;
    table = f.pfn.v;
  }
  out = {entry_pa(table, pt_index(va, target)), target};
  return mm_status::ok;
}

mm_status page_tables::preallocate(std::uint64_t start, std::uint64_t end) {
  if (start >= end || !canonical(start, levels_) || !canonical(end - 1, levels_)) return mm_status::bad_range;
  const std::uint64_t step = level_size(levels_);
  for (std::uint64_t va = start & ~(step - 1); va < end && va >= (start & ~(step - 1)); va += step) {
    slot s{};
    if (mm_status st = descend(va, levels_ - 1, false, s); st != mm_status::ok) return st;
    if (va + step < va) break;  // the last top-level entry
  }
  return mm_status::ok;
}

mm_status page_tables::map_page(std::uint64_t va, std::uint64_t pfn, std::uint64_t prot) {
  const unsigned maxphy = mem_.maxphyaddr();
  if (mm_status st = check_va(va, PAGE_SIZE); st != mm_status::ok) return st;
  if (!truth(pte_pfn_valid(cword{pfn}, cbool{false}, PT_PTE, maxphy))) return mm_status::pfn_out_of_range;
  if ((prot & ~pte_flags_mask(leaf_kind::page_4k)) || !(prot & _PAGE_PRESENT)) return mm_status::bad_flags;
  slot s{};
  // A dry walk first, so a refusal allocates nothing.
  if (mm_status st = descend(va, PT_PTE, true, s); st != mm_status::ok) return st;
  if (s.level == PT_PTE && truth(decode(read(s.pa), PT_PTE, maxphy).present)) return mm_status::already_mapped;
  if (mm_status st = descend(va, PT_PTE, false, s); st != mm_status::ok) return st;
  mem_.write_u64(s.pa, encode(pfn, prot, PT_PTE, maxphy));  // set_pte_at()
  return mm_status::ok;
}

mm_status page_tables::map_pmd(std::uint64_t va, std::uint64_t pfn, std::uint64_t prot,
                               std::optional<std::uint64_t>* freed_table) {
  const unsigned maxphy = mem_.maxphyaddr();
  if (freed_table) freed_table->reset();
  if (mm_status st = check_va(va, PMD_SIZE); st != mm_status::ok) return st;
  if (pfn >= mem_.max_pfn()) return mm_status::pfn_out_of_range;
  if (!truth(pte_pfn_valid(cword{pfn}, cbool{true}, PT_PMD, maxphy))) return mm_status::misaligned_pfn;
  const std::uint64_t leaf_prot = prot | _PAGE_PSE;
  if ((leaf_prot & ~pte_flags_mask(leaf_kind::pmd_2m)) || !(prot & _PAGE_PRESENT)) return mm_status::bad_flags;
  slot s{};
  if (mm_status st = descend(va, PT_PMD, true, s); st != mm_status::ok) return st;
  std::optional<std::uint64_t> pte_table;
  if (s.level == PT_PMD) {
    const pte_fields<cword> f = decode(read(s.pa), PT_PMD, maxphy);
    if (truth(f.present)) {
      if (truth(f.leaf)) return mm_status::already_mapped;
      // pmd_free_pte_page(): only an empty PTE table may be replaced.
      if (!mem_.frame_is_zero(f.pfn.v)) return mm_status::table_in_way;
      pte_table = f.pfn.v;
    }
  }
  if (mm_status st = descend(va, PT_PMD, false, s); st != mm_status::ok) return st;
  if (pte_table) {
    mem_.write_u64(s.pa, 0);  // pmd_clear()
    provider_.free_table_frame(*pte_table);
    if (freed_table) *freed_table = pte_table;
  }
  mem_.write_u64(s.pa, encode(pfn, leaf_prot, PT_PMD, maxphy));  // pmd_set_huge()
  return mm_status::ok;
}

mm_status page_tables::unmap(std::uint64_t va, leaf_info* unmapped) {
  const walk_result w = walk(va);
  if (w.fault == walk_fault::non_canonical) return mm_status::non_canonical;
  if (!w.ok()) return mm_status::not_mapped;
  if (w.leaf.va != va) return mm_status::misaligned_va;
  mem_.write_u64(w.leaf.entry_pa, 0);  // ptep_get_and_clear() / pmd_clear_huge()
  if (unmapped) *unmapped = w.leaf;
  return mm_status::ok;
}

walk_result page_tables::walk(std::uint64_t va) const {
  walk_result r;
  if (!canonical(va, levels_)) {
    r.fault = walk_fault::non_canonical;
    return r;
  }
  const unsigned maxphy = mem_.maxphyaddr();
  std::uint64_t table = root_pfn_;
  for (unsigned level = levels_; level >= 1; --level) {
    const std::uint64_t pa = entry_pa(table, pt_index(va, level));
    const pte_fields<cword> f = decode(read(pa), level, maxphy);
    r.fault_level = level;
    if (!truth(f.present)) {
      r.fault = walk_fault::not_present;
      return r;
    }
    if (!truth(f.reserved_clear)) {
      r.fault = walk_fault::reserved_bit;
      return r;
    }
    if (truth(f.leaf)) {
      const std::uint64_t size = level_size(level);
      r.leaf = {va & ~(size - 1), size, f.pfn.v, f.flags.v, level, pa};
      return r;
    }
    table = f.pfn.v;
  }
  throw std::logic_error("page walk fell through the PTE level");
}

walk_result page_tables::mark_accessed(std::uint64_t va, bool write) {
  const unsigned maxphy = mem_.maxphyaddr();
  std::uint64_t table = root_pfn_;
  for (unsigned level = levels_; level >= 1; --level) {
    const std::uint64_t pa = entry_pa(table, pt_index(va, level));
    const std::uint64_t e = read(pa);
    const pte_fields<cword> f = decode(e, level, maxphy);
    if (!truth(f.present) || !truth(f.reserved_clear)) return walk(va);
    const bool leaf = truth(f.leaf);
    const std::uint64_t marked = e | _PAGE_ACCESSED | (leaf && write ? _PAGE_DIRTY : 0);
    if (marked != e) mem_.write_u64(pa, marked);
    if (leaf) {
      const std::uint64_t size = level_size(level);
      walk_result r;
      r.fault_level = level;
      r.leaf = {va & ~(size - 1), size, f.pfn.v, (f.flags | cword{marked & ~e}).v, level, pa};
      return r;
    }
    table = f.pfn.v;
  }
  throw std::logic_error("page walk fell through the PTE level");
}

void page_tables::visit(std::uint64_t table_pfn, unsigned level, std::uint64_t va_base, std::uint64_t start,
                        std::uint64_t last, const std::function<void(const leaf_info&)>& on_leaf,
                        std::vector<std::pair<std::uint64_t, unsigned>>* tables) const {
  const unsigned maxphy = mem_.maxphyaddr();
  const std::uint64_t size = level_size(level);
  for (unsigned i = 0; i < PTRS_PER_TABLE; ++i) {
    const std::uint64_t raw = va_base + size * i;
    const std::uint64_t va = level == levels_ ? sign_extend(cword{raw}, va_bits(levels_)).v : raw;
    const std::uint64_t va_last = va + (size - 1);
    if (va > last || va_last < start) continue;
    const std::uint64_t pa = entry_pa(table_pfn, i);
    const pte_fields<cword> f = decode(read(pa), level, maxphy);
    if (!truth(f.present)) continue;
    if (truth(f.leaf)) {
      if (on_leaf) on_leaf({va, size, f.pfn.v, f.flags.v, level, pa});
      continue;
    }
    if (level == PT_PTE) continue;
    if (tables) tables->emplace_back(f.pfn.v, level - 1);
    visit(f.pfn.v, level - 1, va, start, last, on_leaf, tables);
  }
}

std::vector<leaf_info> page_tables::leaves(std::uint64_t start, std::uint64_t end) const {
  std::vector<leaf_info> out;
  if (start >= end) return out;
  visit(root_pfn_, levels_, 0, start, end - 1, [&](const leaf_info& l) { out.push_back(l); }, nullptr);
  return out;
}

std::vector<std::pair<std::uint64_t, unsigned>> page_tables::tables() const {
  std::vector<std::pair<std::uint64_t, unsigned>> out{{root_pfn_, levels_}};
  visit(root_pfn_, levels_, 0, 0, ~std::uint64_t{0}, nullptr, &out);
  return out;
}

}  // namespace mmref
