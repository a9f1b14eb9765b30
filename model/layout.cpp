// model/layout.cpp — default layouts and KASLR offsets.
#include "model/layout.hpp"

#include "model/align.hpp"
#include "model/paging.hpp"

namespace mmref {

kernel_layout kernel_layout::for_levels(unsigned levels) {
  kernel_layout l;
  l.levels = levels;
  if (levels == 5) {
    l.page_offset = __PAGE_OFFSET_BASE_L5;
    l.direct_map_size = DIRECT_MAP_SIZE_L5;
    l.vmalloc_start = __VMALLOC_BASE_L5;
    l.vmalloc_end = __VMALLOC_BASE_L5 + (VMALLOC_SIZE_TB_L5 << 40) - 1;
    l.vmemmap_start = __VMEMMAP_BASE_L5;
    l.vmemmap_size = VMEMMAP_SIZE_L5;
  }
  return l;
}

std::string kernel_layout::validate() const {
  if (levels != 4 && levels != 5) return "paging levels must be 4 or 5";
  const std::uint64_t gib = PUD_SIZE;
  if (!is_aligned(page_offset, gib) || !is_aligned(vmalloc_start, gib) || !is_aligned(vmemmap_start, gib))
    return "direct map, vmalloc and vmemmap bases must be 1 GiB aligned";
  if (page_offset + direct_map_size < page_offset || vmalloc_end <= vmalloc_start ||
      vmemmap_start + vmemmap_size < vmemmap_start)
    return "a region wraps around the top of the address space";
  if (!(page_offset + direct_map_size <= vmalloc_start && vmalloc_end < vmemmap_start &&
        vmemmap_start + vmemmap_size <= modules_vaddr && modules_vaddr < modules_end))
    return "regions out of order: direct map < vmalloc < vmemmap < modules";
  for (std::uint64_t va : {page_offset, vmalloc_start, vmalloc_end, vmemmap_start, modules_vaddr, modules_end - 1})
    if (!canonical(va, levels)) return "a region bound is not canonical for this paging depth";
  return "";
}

std::string kernel_layout::randomize(std::uint64_t direct_off, std::uint64_t vmalloc_off,
                                     std::uint64_t vmemmap_off) {
  kernel_layout moved = *this;
  moved.page_offset += direct_off;
  moved.vmalloc_start += vmalloc_off;
  moved.vmalloc_end += vmalloc_off;
  moved.vmemmap_start += vmemmap_off;
  if (std::string err = moved.validate(); !err.empty()) return "KASLR offsets rejected: " + err;
  *this = moved;
  return "";
}

}  // namespace mmref
