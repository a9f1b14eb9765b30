// model/frame_provider.hpp — where page-table pages come from.
//
// Synopsis
//   frame_provider            the interface the page tables allocate table pages through
//                             (the kernel's pte_alloc_one_kernel / pmd_alloc_one / ...
//                             all end in the page allocator; the buddy issue plugs it in).
//   simple_frame_provider     a pool of frames [first, last) handed out lowest first, with
//                             fault injection (fail the n-th allocation) for tests.
#pragma once

#include <cstdint>
#include <optional>
#include <set>

namespace mmref {

class frame_provider {
 public:
  virtual ~frame_provider() = default;
  // A zeroed frame for a page table, or nothing when memory is exhausted.
  virtual std::optional<std::uint64_t> alloc_table_frame() = 0;
  // Give a table frame back (pmd_free_pte_page is the only caller in the model).
  virtual void free_table_frame(std::uint64_t pfn) = 0;
  // Whether pfn is currently handed out by this provider (PT-WF: tables are allocated frames).
  virtual bool frame_allocated(std::uint64_t pfn) const = 0;
};

class simple_frame_provider final : public frame_provider {
 public:
  simple_frame_provider(std::uint64_t first_pfn, std::uint64_t last_pfn);

  std::optional<std::uint64_t> alloc_table_frame() override;
  void free_table_frame(std::uint64_t pfn) override;
  bool frame_allocated(std::uint64_t pfn) const override { return allocated_.count(pfn) != 0; }

  // Fault injection: the n-th allocation from now (1 = the next one) fails; 0 disarms.
  void fail_nth(unsigned n) { fail_countdown_ = n; }
  std::size_t allocated_count() const { return allocated_.size(); }
  std::uint64_t first_pfn() const { return first_; }
  std::uint64_t last_pfn() const { return last_; }

 private:
  std::uint64_t first_, last_;
  std::uint64_t next_;               // frames at or above next_ were never handed out
  std::set<std::uint64_t> freed_;    // frames handed out and returned
  std::set<std::uint64_t> allocated_;
  unsigned fail_countdown_ = 0;
};

}  // namespace mmref
