// model/status.hpp — outcomes of model operations that can refuse their input.
//
// Every refusal leaves the state exactly as it was; `status_text` gives the message a user
// sees. Faults (what the CPU would raise on an access) are results, not errors: see
// `fault_kind` in model/machine.hpp.
#pragma once

namespace mmref {

enum class mm_status {
  ok,
  non_canonical,     // the address is not canonical for this paging depth
  misaligned_va,     // VA not aligned to the page (or 2 MiB) size, or inside a larger leaf
  misaligned_pfn,    // PFN not aligned to the leaf size
  pfn_out_of_range,  // PFN at or beyond 2^(MAXPHYADDR-12)
  bad_flags,         // protection bits outside the leaf's flag field, or not present
  already_mapped,    // a leaf already maps this address
  huge_in_way,       // a 4 KiB map inside a 2 MiB leaf
  table_in_way,      // a 2 MiB map over a PTE table that still maps 4 KiB pages
  not_mapped,        // unmap of an address no leaf maps
  no_memory,         // the frame provider had no page for a table
  bad_cpu,           // CPU number outside the machine
  bad_range,         // empty, reversed or non-canonical range
};

constexpr const char* status_text(mm_status s) {
  switch (s) {
    case mm_status::ok: return "ok";
    case mm_status::non_canonical: return "address is not canonical";
    case mm_status::misaligned_va: return "virtual address is not aligned to the mapping size";
    case mm_status::misaligned_pfn: return "frame number is not aligned to the mapping size";
    case mm_status::pfn_out_of_range: return "frame number is beyond MAXPHYADDR";
    case mm_status::bad_flags: return "protection bits are not valid for this entry (or not present)";
    case mm_status::already_mapped: return "address is already mapped";
    case mm_status::huge_in_way: return "a 2 MiB mapping covers this address";
    case mm_status::table_in_way: return "4 KiB pages are still mapped under this 2 MiB range";
    case mm_status::not_mapped: return "address is not mapped";
    case mm_status::no_memory: return "no frame for a page table";
    case mm_status::bad_cpu: return "no such CPU";
    case mm_status::bad_range: return "empty, reversed or non-canonical range";
  }
  return "unknown status";
}

}  // namespace mmref
