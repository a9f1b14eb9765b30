// fuzz/fuzz_machine.cpp — libFuzzer target: operation sequences on mmref::machine.
//
// Synopsis
//   Input    three header bytes pick machine_config::small(mib, levels, cpus):
//            mib = 64 - b0 % 64, levels = 4 + (b1 & 1), cpus = 1 + (b2 + 1) % 4 (all-zero
//            bytes give 64 MiB, 4-level, 2 CPUs: room for 2 MiB leaves). Then operations,
//            each an opcode byte (% 10) followed by its operands; a byte past the end reads 0;
//            at most MAX_OPS (64) operations run, each followed by a full check.
//              0 map_page(va, pfn, prot)     4 read_u64(cpu, va)                 8 flush_tlb_all()
//              1 map_huge(va, pfn, prot)     5 write_u64(cpu, va, value)         9 fail_nth(n): the n-th
//              2 unmap(va)                   6 flush_tlb_kernel_range(s, e)        next table allocation
//              3 translate(cpu, va, write)   7 flush_tlb_one_cpu(cpu, s, e)        fails (no_memory)
//            The machine's frame provider is a simple_frame_provider over the config's pool,
//            owned by the harness so that op 9 can inject allocation failures.
//   Operands VAs from a 4 MiB window at VMALLOC_START (so operations collide), the same at
//            MODULES_VADDR and at user address 0, one of the last 8 VAs picked (optionally
//            rounded down to 2 MiB: map, unmap, flush the same place), a spread of 2 MiB steps
//            over vmalloc (table allocation), edges of the layout (canonical hole, region ends,
//            top of the address space) and arbitrary 64-bit values. PFNs in RAM below the
//            page-table pool, one of the last 8 picked, in the pool, near MAXPHYADDR and
//            arbitrary. Protections from PAGE_KERNEL, a table of common and odd values, or
//            arbitrary bits.
//   Corruption-free: a leaf inside vmalloc/modules never maps a pool frame (PT-WF forbids it;
//            such operations are skipped), and a data write whose target frame is in the pool
//            is skipped, so page tables change only through the machine's own operations.
//   Oracles  after every operation check_machine() must be empty. A refused map/unmap leaves
//            the leaves of its 2 MiB window, the TLBs, the owed flushes and (unless no_memory)
//            the table frames unchanged; a refused flush leaves TLBs and owed flushes alone; a
//            faulting access leaves its CPU's TLB and the window alone. Successful operations
//            are checked against the walk (the leaf mapped or gone, the TLB fill), flushes
//            against the TLBs and owed flushes they must have cleared, translations against
//            a prediction from the TLB and the walk, and reads against a shadow of every word
//            written. Any exception is a failure.
//   Failure  the decoded operation sequence, what went wrong and report()/dump_machine() go
//            to stderr, then __builtin_trap(). Run the binary on a crash file to decode it;
//            MMREF_FUZZ_TRACE=1 also prints every operation as it runs.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/hex.hpp"
#include "model/frame_provider.hpp"
#include "model/interval.hpp"
#include "model/invariants.hpp"
#include "model/machine.hpp"
#include "model/paging.hpp"
#include "model/pte.hpp"
#include "model/status.hpp"
#include "model/tlb.hpp"

namespace {

using mmref::access_result;
using mmref::hex;
using mmref::fault_kind;
using mmref::leaf_info;
using mmref::machine;
using mmref::machine_config;
using mmref::mm_status;
using mmref::PAGE_SIZE;
using mmref::PMD_SIZE;
using mmref::tlb_entry;

constexpr std::size_t MAX_OPS = 64;
constexpr std::uint64_t PAGES_PER_PMD = PMD_SIZE / PAGE_SIZE;

// __PAGE_KERNEL_RO — arch/x86/include/asm/pgtable_types.h
constexpr std::uint64_t PAGE_KERNEL_RO =
    mmref::_PAGE_PRESENT | mmref::_PAGE_ACCESSED | mmref::_PAGE_DIRTY | mmref::_PAGE_GLOBAL | mmref::_PAGE_NX;

constexpr std::uint64_t PROTS[] = {
    mmref::PAGE_KERNEL,
    PAGE_KERNEL_RO,
    mmref::__PAGE_KERNEL_EXEC,
    mmref::_PAGE_PRESENT,
    mmref::_PAGE_PRESENT | mmref::_PAGE_RW,
    mmref::_PAGE_PRESENT | mmref::_PAGE_RW | mmref::_PAGE_ACCESSED,
    mmref::_PAGE_PRESENT | mmref::_PAGE_RW | mmref::_PAGE_GLOBAL | mmref::_PAGE_NX,
    mmref::_PAGE_PRESENT | mmref::_PAGE_PAT,
    mmref::_PAGE_PRESENT | mmref::_PAGE_PAT_LARGE,
    mmref::_PAGE_PRESENT | mmref::_PAGE_RW | mmref::_PAGE_PCD | mmref::_PAGE_PWT,
    0,
    mmref::_PAGE_RW,
    mmref::PAGE_KERNEL_LARGE,
    mmref::_PAGE_PRESENT | (std::uint64_t{1} << 52),
    mmref::_PAGE_PRESENT | (std::uint64_t{1} << 62),
    mmref::_PAGE_PRESENT | mmref::_PAGE_RW | mmref::_PAGE_USER,
};
constexpr std::size_t N_PROTS = sizeof PROTS / sizeof PROTS[0];

bool trace_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("MMREF_FUZZ_TRACE");
    return v != nullptr && *v != '\0' && *v != '0';
  }();
  return on;
}


std::string leaf_text(const leaf_info& l) {
  return "{va " + hex(l.va) + " size " + hex(l.size) + " pfn " + hex(l.pfn) + " flags " + hex(l.flags) +
         " level " + std::to_string(l.level) + "}";
}

// Little-endian operands from the front of the input; past the end everything reads 0.
class reader {
 public:
  reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  std::uint8_t u8() { return pos_ < size_ ? data_[pos_++] : std::uint8_t{0}; }
  std::uint16_t u16() {
    const unsigned lo = u8();
    return static_cast<std::uint16_t>(lo | (unsigned{u8()} << 8));
  }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < 8; ++i) v |= std::uint64_t{u8()} << (8 * i);
    return v;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

bool tlb_equal(const std::vector<std::map<std::uint64_t, tlb_entry>>& a, const machine& m) {
  for (unsigned c = 0; c < m.nr_cpus(); ++c)
    if (a[c] != m.cpu_tlb(c).entries()) return false;
  return true;
}

// What translate() must answer, derived from the TLB and the walk before the call.
struct prediction {
  fault_kind fault = fault_kind::none;
  std::uint64_t pa = 0;
  bool tlb_hit = false;
};

class harness {
 public:
  harness(machine& m, mmref::simple_frame_provider& provider, std::string header)
      : m_(m), provider_(provider), cfg_(m.config()), log_(std::move(header)) {
    const mmref::kernel_layout& l = cfg_.layout;
    const unsigned bits = mmref::va_bits(cfg_.levels());
    const std::uint64_t hole_lo = std::uint64_t{1} << (bits - 1);  // first non-canonical address
    edges_ = {0,
              hole_lo - PMD_SIZE,
              ~std::uint64_t{0} << (bits - 1),  // first canonical address of the upper half
              l.vmalloc_end + 1 - PMD_SIZE,
              l.modules_vaddr - PMD_SIZE,
              l.modules_end - PMD_SIZE,
              0 - PMD_SIZE,
              l.page_offset};
    vas_.fill(l.vmalloc_start);
    pfns_.fill(1);
  }

  void run(reader& in) {
    check_invariants();
    for (std::size_t n = 0; n < MAX_OPS && !in.empty(); ++n) {
      step_ = n + 1;
      switch (in.u8() % 10) {
        case 0: op_map(in, false); break;
        case 1: op_map(in, true); break;
        case 2: op_unmap(in); break;
        case 3: op_access(in, 3); break;
        case 4: op_access(in, 4); break;
        case 5: op_access(in, 5); break;
        case 6: op_flush(in, false); break;
        case 7: op_flush(in, true); break;
        case 8: op_flush_all(); break;
        default: op_fail_nth(in); break;
      }
      check_invariants();
    }
  }

  [[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "\n==== mmref fuzz_machine: FAILURE at step %zu ====\n%s\n", step_, what.c_str());
    std::fprintf(stderr, "---- operations (step: operation -> result) ----\n%s", log_.c_str());
    const std::vector<mmref::violation> v = mmref::check_machine(m_);
    std::fprintf(stderr, "---- state ----\n%s", v.empty() ? mmref::dump_machine(m_, 256).c_str()
                                                          : mmref::report(v, m_).c_str());
    std::fflush(stderr);
    __builtin_trap();
  }

 private:
  // ---- operand decoding ----

  // 2 MiB-aligned base + one of two PMDs + a page: half the time one of the first 8 pages.
  static std::uint64_t window_va(reader& in, std::uint64_t base) {
    const std::uint8_t a = in.u8();
    const std::uint8_t b = in.u8();
    const std::uint64_t pmd = a & 1u;
    const std::uint64_t page = (a & 2u) ? (b & 7u) : (b | (std::uint64_t{(a >> 2) & 1u} << 8));
    return base + pmd * PMD_SIZE + page * PAGE_SIZE;
  }

  std::uint64_t pick_va(reader& in) {
    const mmref::kernel_layout& l = cfg_.layout;
    const std::uint8_t sel = in.u8();
    std::uint64_t va = 0;
    switch (sel % 8) {
      case 0:
      case 1: va = window_va(in, l.vmalloc_start); break;
      case 2:
      case 3: {  // an earlier VA again, or the start of its 2 MiB
        const std::uint8_t h = in.u8();
        va = vas_[h % vas_.size()];
        return (h & 0x80u) ? va & ~(PMD_SIZE - 1) : va;
      }
      case 4: va = window_va(in, (sel & 0x80u) ? l.modules_vaddr : 0); break;
      case 5: {
        const std::uint8_t k = in.u8();
        const auto delta = static_cast<std::int64_t>(static_cast<std::int8_t>(in.u8()));
        const std::uint64_t unit = (k & 8u) ? PMD_SIZE : PAGE_SIZE;
        va = edges_[k % 8u] + static_cast<std::uint64_t>(delta) * unit;
        break;
      }
      case 6: va = l.vmalloc_start + std::uint64_t{in.u16()} * PMD_SIZE; break;
      default: va = in.u64(); break;
    }
    vas_[next_va_++ % vas_.size()] = va;
    return va;
  }

  // A VA for a data access: pick_va plus an offset in the page, now and then misaligned.
  std::uint64_t pick_data_va(reader& in) {
    const std::uint64_t va = pick_va(in);
    const std::uint8_t o = in.u8();
    const std::uint64_t off = (std::uint64_t{o & 0x7fu} << 5) | ((o & 0x80u) ? ((o >> 4) & 7u) : 0u);
    return va + off;
  }

  std::uint64_t pick_pfn(reader& in, bool huge) {
    const std::uint8_t k = in.u8();
    if (k % 8 == 3) return pfns_[in.u8() % pfns_.size()];  // an earlier PFN again (aliasing)
    const std::uint64_t pfn = fresh_pfn(in, huge, k);
    pfns_[next_pfn_++ % pfns_.size()] = pfn;
    return pfn;
  }

  std::uint64_t fresh_pfn(reader& in, bool huge, std::uint8_t k) {
    const std::uint64_t pool_lo = cfg_.table_pool.start_pfn;
    const std::uint64_t pool_n = cfg_.table_pool.end_pfn - pool_lo;
    const std::uint64_t max_pfn = m_.phys().max_pfn();
    switch (k % 8) {
      case 0:
      case 1:
      case 2:  // RAM below the page-table pool (pfn 0 is reserved)
        if (huge) {
          const std::uint64_t n = pool_lo / PAGES_PER_PMD;
          if (n == 0) return 1;
          std::uint64_t pfn = (in.u16() % n) * PAGES_PER_PMD;
          if (k & 0x80u) pfn += 1 + in.u8();  // misaligned on purpose
          return pfn;
        }
        return pool_lo > 1 ? 1 + in.u16() % (pool_lo - 1) : 1;
      case 4: return pool_lo + in.u16() % pool_n;  // a pool frame (filtered in kernel ranges)
      case 5: {
        std::uint64_t pfn = in.u64() & (max_pfn - 1);
        if (huge && (k & 0x80u)) pfn &= ~(PAGES_PER_PMD - 1);
        return pfn;
      }
      case 6: return max_pfn - (huge ? PAGES_PER_PMD : 1) * (in.u8() % 4u);  // at or just below MAXPHYADDR
      default: return in.u64();
    }
  }

  static std::uint64_t pick_prot(reader& in) {
    switch (in.u8() % 4) {
      case 0: return mmref::PAGE_KERNEL;
      case 1: return PROTS[in.u8() % N_PROTS];
      case 2: {
        const std::uint16_t v = in.u16();
        return (v & 0x1fffu) | ((v & 0x8000u) ? mmref::_PAGE_NX : 0) | ((v & 0x4000u) ? mmref::_PAGE_PRESENT : 0);
      }
      default: return in.u64();
    }
  }

  unsigned pick_cpu(reader& in) const {
    const std::uint8_t b = in.u8();
    if (b < 0xf0) return b % (m_.nr_cpus() + 1);  // nr_cpus itself is a bad CPU
    static constexpr unsigned bad[] = {machine::MAX_CPUS, machine::MAX_CPUS + 1, 0x80000000u, 0xffffffffu};
    return bad[b & 3u];
  }

  std::uint64_t pick_end(reader& in, std::uint64_t start) {
    switch (in.u8() % 8) {
      case 0: return start + PAGE_SIZE;
      case 1: return start + (std::uint64_t{in.u8()} + 1) * PAGE_SIZE;
      case 2: return start + PMD_SIZE;
      case 3: return start + 2 * PMD_SIZE;
      case 4: return start;  // empty
      case 5: return pick_va(in);  // anywhere, possibly reversed
      case 6: return start + mmref::PUD_SIZE;
      default: return start + in.u64();  // may wrap
    }
  }

  // ---- helpers ----

  void note(const std::string& line) {
    const std::string s = std::to_string(step_) + ": " + line + "\n";
    log_ += s;
    if (trace_enabled()) std::fputs(s.c_str(), stderr);
  }

  void check_invariants() {
    const std::vector<mmref::violation> v = mmref::check_machine(m_);
    if (!v.empty()) fail("invariant violated after this operation (report below)");
  }

  bool in_pool(std::uint64_t pfn, std::uint64_t frames) const {
    const std::uint64_t end = pfn + frames < pfn ? ~std::uint64_t{0} : pfn + frames;
    return pfn < cfg_.table_pool.end_pfn && cfg_.table_pool.start_pfn < end;
  }
  bool kernel_range(std::uint64_t va) const {
    return cfg_.layout.is_vmalloc_addr(va) || cfg_.layout.is_module_addr(va);
  }

  // Present leaves in the 2 MiB window around va.
  std::vector<leaf_info> window(std::uint64_t va) const {
    const std::uint64_t lo = va & ~(PMD_SIZE - 1);
    const std::uint64_t hi = lo + PMD_SIZE == 0 ? ~std::uint64_t{0} : lo + PMD_SIZE;
    return m_.tables().leaves(lo, hi);
  }

  struct snapshot {
    std::vector<leaf_info> window;
    machine::owed_map owed;
    std::vector<std::map<std::uint64_t, tlb_entry>> tlbs;
    std::size_t tables_allocated = 0;
    std::size_t frames_stored = 0;
  };

  std::size_t tables_allocated() const { return provider_.allocated_count(); }

  snapshot take(std::uint64_t va) const {
    snapshot s;
    s.window = window(va);
    s.owed = m_.owed();
    for (unsigned c = 0; c < m_.nr_cpus(); ++c) s.tlbs.push_back(m_.cpu_tlb(c).entries());
    s.tables_allocated = tables_allocated();
    s.frames_stored = m_.phys().frames_stored();
    return s;
  }

  // A refusal must leave the state as it was (no_memory may leave new, empty tables).
  void expect_unchanged(const snapshot& s, std::uint64_t va, mm_status st) {
    if (window(va) != s.window) fail("refused operation (" + std::string(mmref::status_text(st)) +
                                     ") changed the leaves around " + hex(va));
    if (m_.owed() != s.owed) fail("refused operation changed the owed flushes");
    if (!tlb_equal(s.tlbs, m_)) fail("refused operation changed a TLB");
    if (st != mm_status::no_memory) {
      if (tables_allocated() != s.tables_allocated) fail("refused operation allocated or freed a table frame");
      if (m_.phys().frames_stored() != s.frames_stored) fail("refused operation wrote physical memory");
    }
  }

  prediction predict(unsigned cpu, std::uint64_t va, bool write, bool data) const {
    prediction p;
    if (data && (va & 7u)) return {fault_kind::misaligned, 0, false};
    if (cpu >= m_.nr_cpus()) return {fault_kind::bad_cpu, 0, false};
    if (!mmref::canonical(va, cfg_.levels())) return {fault_kind::non_canonical, 0, false};
    std::optional<tlb_entry> hit = m_.cpu_tlb(cpu).lookup(va);
    if (hit && write && (hit->flags & mmref::_PAGE_RW) && !(hit->flags & mmref::_PAGE_DIRTY)) hit.reset();
    std::uint64_t leaf_va = 0, pfn = 0, flags = 0;
    if (hit) {
      p.tlb_hit = true;
      leaf_va = hit->va;
      pfn = hit->pfn;
      flags = hit->flags;
    } else {
      const mmref::walk_result w = m_.walk(va);
      if (!w.ok()) {
        p.fault = w.fault == mmref::walk_fault::reserved_bit ? fault_kind::reserved_bit : fault_kind::not_present;
        return p;
      }
      leaf_va = w.leaf.va;
      pfn = w.leaf.pfn;
      flags = w.leaf.flags;
    }
    if (write && !(flags & mmref::_PAGE_RW)) {
      p.fault = fault_kind::write_protect;
      return p;
    }
    p.pa = mmref::pfn_phys(pfn) + (va - leaf_va);
    return p;
  }

  // ---- operations ----

  void op_map(reader& in, bool huge) {
    const std::uint64_t va = pick_va(in);
    const std::uint64_t pfn = pick_pfn(in, huge);
    const std::uint64_t prot = pick_prot(in);
    const std::uint64_t size = huge ? PMD_SIZE : PAGE_SIZE;
    const std::string call = std::string(huge ? "map_huge" : "map_page") + "(va=" + hex(va) + ", pfn=" + hex(pfn) +
                             ", prot=" + hex(prot) + ")";
    if (kernel_range(va & ~(size - 1)) && in_pool(pfn, size / PAGE_SIZE)) {
      note(call + " skipped: a vmalloc/module leaf may not map a page-table pool frame");
      return;
    }
    const snapshot before = take(va);
    const mm_status st = huge ? m_.map_huge(va, pfn, prot) : m_.map_page(va, pfn, prot);
    note(call + " -> " + mmref::status_text(st));
    if (st != mm_status::ok) {
      expect_unchanged(before, va, st);
      return;
    }
    const mmref::walk_result w = m_.walk(va);
    const std::uint64_t flags = huge ? prot | mmref::_PAGE_PSE : prot;
    const leaf_info want{va, size, pfn, flags, static_cast<unsigned>(huge ? mmref::PT_PMD : mmref::PT_PTE),
                         w.leaf.entry_pa};
    if (!w.ok() || w.leaf != want)
      fail("after a successful map the walk gives " + (w.ok() ? leaf_text(w.leaf) : std::string("a fault")) +
           ", expected " + leaf_text(want));
  }

  void op_unmap(reader& in) {
    const std::uint64_t va = pick_va(in);
    const std::string call = "unmap(va=" + hex(va) + ")";
    const snapshot before = take(va);
    const mmref::walk_result pre = m_.walk(va);
    leaf_info gone;
    const mm_status st = m_.unmap(va, &gone);
    note(call + " -> " + mmref::status_text(st) + (st == mm_status::ok ? " unmapped " + leaf_text(gone) : ""));
    if (st != mm_status::ok) {
      expect_unchanged(before, va, st);
      return;
    }
    if (!pre.ok() || pre.leaf != gone || gone.va != va)
      fail("unmap reported " + leaf_text(gone) + " but the walk before it gave " +
           (pre.ok() ? leaf_text(pre.leaf) : std::string("a fault")));
    if (m_.walk(va).ok()) fail("address still translates after a successful unmap");
    const auto o = m_.owed().find({gone.va, gone.size});
    const std::uint64_t all = m_.nr_cpus() >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << m_.nr_cpus()) - 1;
    if (o == m_.owed().end() || o->second.cpus != all) fail("unmap did not record a flush owed by every CPU");
  }

  void op_access(reader& in, unsigned kind) {
    const unsigned cpu = pick_cpu(in);
    const bool data = kind != 3;
    const std::uint64_t va = pick_data_va(in);
    const bool write = kind == 5 || (kind == 3 && (in.u8() & 1u));
    const std::uint64_t value = kind == 5 ? in.u64() : 0;
    std::string call = kind == 3   ? "translate(cpu=" + std::to_string(cpu) + ", va=" + hex(va) +
                                         ", write=" + (write ? "1" : "0") + ")"
                       : kind == 4 ? "read_u64(cpu=" + std::to_string(cpu) + ", va=" + hex(va) + ")"
                                   : "write_u64(cpu=" + std::to_string(cpu) + ", va=" + hex(va) +
                                         ", value=" + hex(value) + ")";
    const prediction p = predict(cpu, va, write, data);
    if (kind == 5 && p.fault == fault_kind::none && in_pool(mmref::phys_pfn(p.pa), 1)) {
      note(call + " skipped: would write page-table pool frame " + hex(mmref::phys_pfn(p.pa)));
      return;
    }
    const bool cpu_ok = cpu < m_.nr_cpus();
    const std::map<std::uint64_t, tlb_entry> tlb_before =
        cpu_ok ? m_.cpu_tlb(cpu).entries() : std::map<std::uint64_t, tlb_entry>{};
    const std::vector<leaf_info> window_before = window(va);

    access_result r;
    if (kind == 3) r = m_.translate(cpu, va, write);
    else if (kind == 4) r = m_.read_u64(cpu, va);
    else r = m_.write_u64(cpu, va, value);
    note(call + " -> " + (r.ok() ? "pa " + hex(r.pa) + (r.tlb_hit ? " (tlb)" : " (walk)") +
                                       (kind == 4 ? " value " + hex(r.value) : std::string())
                                 : std::string(mmref::fault_text(r.fault))));

    if (r.fault != p.fault || (r.ok() && (r.pa != p.pa || r.tlb_hit != p.tlb_hit)))
      fail(std::string("access result differs from the TLB/walk prediction: expected ") +
           (p.fault == fault_kind::none ? "pa " + hex(p.pa) + (p.tlb_hit ? " (tlb)" : " (walk)")
                                        : std::string(mmref::fault_text(p.fault))));
    if (!r.ok()) {
      if (cpu_ok && m_.cpu_tlb(cpu).entries() != tlb_before) fail("a faulting access changed its CPU's TLB");
      if (window(va) != window_before) fail("a faulting access changed the page tables");
      return;
    }
    if (va - r.leaf.va >= r.leaf.size) fail("translation used a leaf that does not cover the address");
    if (!r.tlb_hit) {
      const mmref::walk_result w = m_.walk(va);
      if (!w.ok() || w.leaf != r.leaf) fail("walk after the access differs from the leaf it used");
      if (!(w.leaf.flags & mmref::_PAGE_ACCESSED) || (write && !(w.leaf.flags & mmref::_PAGE_DIRTY)))
        fail("walk did not set A (or D on a write)");
      const std::optional<tlb_entry> e = m_.cpu_tlb(cpu).lookup(va);
      const tlb_entry want{r.leaf.va, r.leaf.size, r.leaf.pfn, r.leaf.flags};
      if (!e || *e != want) fail("the walk did not fill the TLB with the leaf it used");
    }
    if (kind == 5) shadow_[r.pa] = value;
    if (kind == 4 && !in_pool(mmref::phys_pfn(r.pa), 1)) {
      const auto it = shadow_.find(r.pa);
      const std::uint64_t want = it == shadow_.end() ? 0 : it->second;
      if (r.value != want) fail("read " + hex(r.value) + " at pa " + hex(r.pa) + ", last written " + hex(want));
    }
  }

  void op_flush(reader& in, bool one_cpu) {
    const unsigned cpu = one_cpu ? pick_cpu(in) : 0;
    const std::uint64_t start = pick_va(in);
    const std::uint64_t end = pick_end(in, start);
    const std::string call = one_cpu ? "flush_tlb_one_cpu(cpu=" + std::to_string(cpu) + ", start=" + hex(start) +
                                           ", end=" + hex(end) + ")"
                                     : "flush_tlb_kernel_range(start=" + hex(start) + ", end=" + hex(end) + ")";
    const snapshot before = take(start);
    const mm_status st = one_cpu ? m_.flush_tlb_one_cpu(cpu, start, end) : m_.flush_tlb_kernel_range(start, end);
    note(call + " -> " + mmref::status_text(st));
    const unsigned levels = cfg_.levels();
    const bool range_ok = start < end && mmref::canonical(start, levels) && mmref::canonical(end - 1, levels);
    const mm_status want = one_cpu && cpu >= m_.nr_cpus() ? mm_status::bad_cpu
                           : range_ok                     ? mm_status::ok
                                                          : mm_status::bad_range;
    if (st != want) fail(std::string("flush returned ") + mmref::status_text(st) + ", expected " + mmref::status_text(want));
    if (st != mm_status::ok) {
      expect_unchanged(before, start, st);
      return;
    }
    for (unsigned c = 0; c < m_.nr_cpus(); ++c) {
      if (one_cpu && c != cpu) {
        if (m_.cpu_tlb(c).entries() != before.tlbs[c]) fail("flush_tlb_one_cpu changed another CPU's TLB");
        continue;
      }
      for (const auto& [key, e] : m_.cpu_tlb(c).entries())
        if (mmref::ranges_overlap(e.va, e.va + e.size, start, end))
          fail("CPU " + std::to_string(c) + " still caches " + hex(e.va) + " after flushing its range");
    }
    const std::uint64_t mask = one_cpu ? std::uint64_t{1} << cpu : ~std::uint64_t{0};
    for (const auto& [key, o] : m_.owed())
      if (mmref::ranges_overlap(o.va, o.va + o.size, start, end) && (o.cpus & mask))
        fail("flush left owed flush " + hex(o.va) + "+" + hex(o.size) + " cpus " + hex(o.cpus) + " undischarged");
  }

  void op_fail_nth(reader& in) {
    const unsigned n = 1 + in.u8() % 4u;
    provider_.fail_nth(n);
    note("fail_nth(" + std::to_string(n) + ")");
  }

  void op_flush_all() {
    m_.flush_tlb_all();
    note("flush_tlb_all()");
    for (unsigned c = 0; c < m_.nr_cpus(); ++c)
      if (!m_.cpu_tlb(c).entries().empty()) fail("flush_tlb_all left TLB entries");
    if (!m_.owed().empty()) fail("flush_tlb_all left owed flushes");
  }

  machine& m_;
  mmref::simple_frame_provider& provider_;
  const machine_config& cfg_;
  std::string log_;
  std::size_t step_ = 0;
  std::vector<std::uint64_t> edges_;
  std::array<std::uint64_t, 8> vas_{};   // the last VAs picked (not counting reuses)
  std::array<std::uint64_t, 8> pfns_{};  // the last PFNs picked (not counting reuses)
  std::size_t next_va_ = 0;
  std::size_t next_pfn_ = 0;
  std::unordered_map<std::uint64_t, std::uint64_t> shadow_;  // last value written, by physical address
};

[[noreturn]] void fail_outside(const std::string& header, const std::string& what) {
  std::fprintf(stderr, "\n==== mmref fuzz_machine: FAILURE ====\n%s\n%s\n", header.c_str(), what.c_str());
  std::fflush(stderr);
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader in(data, size);
  const std::uint64_t mib = 64 - in.u8() % 64u;
  const unsigned levels = 4 + (in.u8() & 1u);
  const unsigned cpus = 1 + (in.u8() + 1u) % 4u;
  const std::string header = "0: machine_config::small(mib=" + std::to_string(mib) + ", levels=" +
                             std::to_string(levels) + ", cpus=" + std::to_string(cpus) + ")";

  // The provider outlives the machine that points at it.
  std::unique_ptr<mmref::simple_frame_provider> provider;
  std::unique_ptr<machine> m;
  try {
    machine_config cfg = machine_config::small(mib, levels, cpus);
    if (std::string err = cfg.validate(); !err.empty()) fail_outside(header, "small() built an invalid config: " + err);
    provider = std::make_unique<mmref::simple_frame_provider>(cfg.table_pool.start_pfn, cfg.table_pool.end_pfn);
    m = std::make_unique<machine>(std::move(cfg), provider.get());
  } catch (const std::invalid_argument&) {
    return 0;  // a config the machine refuses: not reached for small() configs that validate
  } catch (const std::exception& e) {
    fail_outside(header, std::string("constructing the machine threw: ") + e.what());
  }

  harness h(*m, *provider, header + "\n");
  try {
    h.run(in);
  } catch (const std::exception& e) {
    h.fail(std::string("exception escaped the model: ") + e.what());
  }
  return 0;
}
