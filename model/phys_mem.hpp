// model/phys_mem.hpp — physical memory with contents, stored sparsely by frame.
//
// Synopsis
//   phys_mem(maxphyaddr)          addresses at or above 2^MAXPHYADDR do not exist.
//   read_u64 / write_u64(pa)      8-byte aligned accesses (page-table entries, test data).
//   read_u8 / write_u8(pa)        byte accesses.
//   clear_frame(pfn)              zero a frame (clear_page) and drop its storage.
//   frames_stored()               how many frames hold a non-zero byte ever written.
//
// A frame never written reads as zero. An access outside MAXPHYADDR or misaligned throws
// std::out_of_range / std::invalid_argument: those are bugs in the caller, not guest faults
// (the machine turns guest-visible problems into fault results before it gets here).
#pragma once

#include <array>
#include <cstdint>
#include <unordered_map>

#include "model/align.hpp"

namespace mmref {

class phys_mem {
 public:
  explicit phys_mem(unsigned maxphyaddr);

  unsigned maxphyaddr() const { return maxphyaddr_; }
  std::uint64_t max_pfn() const { return std::uint64_t{1} << (maxphyaddr_ - PAGE_SHIFT); }

  std::uint64_t read_u64(std::uint64_t pa) const;
  void write_u64(std::uint64_t pa, std::uint64_t value);
  std::uint8_t read_u8(std::uint64_t pa) const;
  void write_u8(std::uint64_t pa, std::uint8_t value);

  // clear_page() on the frame: contents become zero.
  void clear_frame(std::uint64_t pfn);
  // True when every byte of the frame is zero.
  bool frame_is_zero(std::uint64_t pfn) const;
  std::size_t frames_stored() const { return frames_.size(); }

  bool operator==(const phys_mem&) const = default;

 private:
  using frame = std::array<std::uint64_t, PAGE_SIZE / 8>;
  void check_pa(std::uint64_t pa, std::uint64_t align) const;

  unsigned maxphyaddr_;
  std::unordered_map<std::uint64_t, frame> frames_;
};

}  // namespace mmref
