// model/phys_mem.cpp
#include "model/phys_mem.hpp"

#include <stdexcept>
#include <string>

namespace mmref {

phys_mem::phys_mem(unsigned maxphyaddr) : maxphyaddr_(maxphyaddr) {
  if (maxphyaddr < 32 || maxphyaddr > 52)
    throw std::invalid_argument("MAXPHYADDR must be between 32 and 52, got " + std::to_string(maxphyaddr));
}

void phys_mem::check_pa(std::uint64_t pa, std::uint64_t align) const {
  if (pa >> maxphyaddr_) throw std::out_of_range("physical address beyond MAXPHYADDR");
  if (pa & (align - 1)) throw std::invalid_argument("misaligned physical access");
}

std::uint64_t phys_mem::read_u64(std::uint64_t pa) const {
  check_pa(pa, 8);
  const auto it = frames_.find(phys_pfn(pa));
  return it == frames_.end() ? 0 : it->second[(pa & (PAGE_SIZE - 1)) / 8];
}

void phys_mem::write_u64(std::uint64_t pa, std::uint64_t value) {
  check_pa(pa, 8);
  const auto it = frames_.find(phys_pfn(pa));
  if (it == frames_.end()) {
    if (value == 0) return;  // keeps untouched frames unstored
    frames_[phys_pfn(pa)].fill(0);
    frames_[phys_pfn(pa)][(pa & (PAGE_SIZE - 1)) / 8] = value;
    return;
  }
  it->second[(pa & (PAGE_SIZE - 1)) / 8] = value;
}

std::uint8_t phys_mem::read_u8(std::uint64_t pa) const {
  const std::uint64_t word = read_u64(pa & ~std::uint64_t{7});
  return static_cast<std::uint8_t>(word >> (8 * (pa & 7)));
}

void phys_mem::write_u8(std::uint64_t pa, std::uint8_t value) {
  const std::uint64_t wpa = pa & ~std::uint64_t{7};
  const unsigned shift = static_cast<unsigned>(8 * (pa & 7));
  const std::uint64_t word = read_u64(wpa);
  write_u64(wpa, (word & ~(std::uint64_t{0xff} << shift)) | (std::uint64_t{value} << shift));
}

void phys_mem::clear_frame(std::uint64_t pfn) {
  check_pa(pfn_phys(pfn), PAGE_SIZE);
  frames_.erase(pfn);
}

bool phys_mem::frame_is_zero(std::uint64_t pfn) const {
  const auto it = frames_.find(pfn);
  if (it == frames_.end()) return true;
  for (std::uint64_t w : it->second)
    if (w) return false;
  return true;
}

}  // namespace mmref
