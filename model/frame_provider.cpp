// model/frame_provider.cpp
#include "model/frame_provider.hpp"

#include <stdexcept>

namespace mmref {

simple_frame_provider::simple_frame_provider(std::uint64_t first_pfn, std::uint64_t last_pfn)
    : first_(first_pfn), last_(last_pfn), next_(first_pfn) {
  if (first_pfn >= last_pfn) throw std::invalid_argument("simple_frame_provider: empty frame pool");
}

std::optional<std::uint64_t> simple_frame_provider::alloc_table_frame() {
  if (fail_countdown_ != 0 && --fail_countdown_ == 0) return std::nullopt;
  std::uint64_t pfn;
  if (!freed_.empty()) {
    pfn = *freed_.begin();
    freed_.erase(freed_.begin());
  } else if (next_ < last_) {
    pfn = next_++;
  } else {
    return std::nullopt;
  }
  allocated_.insert(pfn);
  return pfn;
}

void simple_frame_provider::free_table_frame(std::uint64_t pfn) {
  if (allocated_.erase(pfn) == 0) throw std::logic_error("simple_frame_provider: freeing a frame it does not own");
  freed_.insert(pfn);
}

}  // namespace mmref
