// props/pt_stateful.cpp — the machine's stateful test: map, unmap, translate, access and flush
// commands on several CPUs against an abstract model, with PT-WF and TLB-COHERENT checked
// after every command and the machine compared with the model after every command.
//
// The abstract model (trusted base, docs/TRUSTED.md) is deliberately naive: a map from leaf
// VA to (size, frame, flags), the set of 2 MiB regions that hold a PTE table, per-CPU maps of
// cached translations (which go stale on unmap), the owed flushes by exact extent with the
// CPUs still owing them, and the words written to physical memory. It knows nothing of
// frames, entries or walks.
//
// Machines are generated (1-64 MiB, 4- or 5-level, 1-4 CPUs, holes); a second property runs
// longer sequences on the built-in default machine. Addresses come from two small windows
// (four 2 MiB regions at VMALLOC_START, two at MODULES_VADDR), biased to the first pages of
// each region so that commands collide.
#include <rapidcheck.h>
#include <rapidcheck/state.h>

#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "impl/picture/svg.hpp"
#include "model/hex.hpp"
#include "model/invariants.hpp"
#include "model/machine.hpp"
#include "props/pictures.hpp"
#include "props/registry.hpp"

namespace mmref::props {

namespace {


// ---------------------------------------------------------------------------------------
// The environment of one test case: the machine and where commands draw addresses from.

struct pt_env {
  machine_config cfg;
  std::uint64_t vmalloc_win = 0;  // four 2 MiB regions
  std::uint64_t modules_win = 0;  // two 2 MiB regions
  std::uint64_t data_first = 0, data_last = 0;  // 4 KiB data frames: RAM below the table pool
  std::uint64_t huge_first = 0;                 // 2 MiB frames: above RAM, 512-aligned
};

pt_env make_env(machine_config cfg) {
  pt_env e;
  e.vmalloc_win = cfg.layout.vmalloc_start;
  e.modules_win = cfg.layout.modules_vaddr;
  e.data_first = cfg.ram.front().start_pfn;
  e.data_last = cfg.table_pool.start_pfn;  // exclusive; may span holes: the model maps any frame
  e.huge_first = (cfg.ram.back().end_pfn + 511) & ~std::uint64_t{511};
  e.cfg = std::move(cfg);
  return e;
}

rc::Gen<machine_config> gen_small_machine() {
  return rc::gen::apply(
      [](std::uint64_t mib, unsigned levels, unsigned cpus, std::uint64_t hole_at, std::uint64_t hole_len) {
        std::vector<mem_range> holes;
        // A hole in the lower half, so the top range stays large enough for the table pool.
        const std::uint64_t pages = (mib << 20) >> PAGE_SHIFT;
        if (hole_len > 0 && pages >= 512) {
          const std::uint64_t start = 16 + hole_at % (pages / 2 - 16);
          holes.push_back({start, std::min(start + hole_len, pages / 2)});
        }
        return machine_config::small(mib, levels, cpus, holes);
      },
      rc::gen::inRange<std::uint64_t>(1, 65), rc::gen::element(4u, 5u), rc::gen::inRange(1u, 5u),
      rc::gen::arbitrary<std::uint64_t>(), rc::gen::element<std::uint64_t>(0, 0, 1, 64, 200));
}

// ---------------------------------------------------------------------------------------
// The abstract model.

struct abs_map {
  std::uint64_t size, pfn, flags;
  bool operator==(const abs_map&) const = default;
};

struct pt_model {
  std::shared_ptr<const pt_env> env;
  std::map<std::uint64_t, abs_map> leaves;                 // by first byte
  std::set<std::uint64_t> pte_tables;                      // 2 MiB regions holding a PTE table
  std::vector<std::map<std::uint64_t, abs_map>> tlb;       // per CPU, by first byte
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> owed;  // extent -> CPUs
  std::map<std::uint64_t, std::uint64_t> mem;              // physical address -> word

  unsigned cpus() const { return env->cfg.nr_cpus; }
  std::uint64_t all_cpus() const { return cpus() >= 64 ? ~0ull : (1ull << cpus()) - 1; }

  template <class M>
  static auto covering(M& m, std::uint64_t va) -> decltype(m.begin()) {
    auto it = m.upper_bound(va);
    if (it == m.begin()) return m.end();
    --it;
    return va - it->first < it->second.size ? it : m.end();
  }
  void flush(unsigned cpu, std::uint64_t start, std::uint64_t end) {
    auto& t = tlb[cpu];
    for (auto it = t.begin(); it != t.end();)
      it = (it->first < end && start < it->first + it->second.size) ? t.erase(it) : std::next(it);
    for (auto it = owed.begin(); it != owed.end();) {
      const auto [va, size] = it->first;
      if (va < end && start < va + size) it->second &= ~(1ull << cpu);
      it = it->second == 0 ? owed.erase(it) : std::next(it);
    }
  }
  void flush_all_cpus(std::uint64_t start, std::uint64_t end) {
    for (unsigned c = 0; c < cpus(); ++c) flush(c, start, end);
  }
};

using pt_command = rc::state::Command<pt_model, machine>;

// After every command: the invariants hold, and the machine is exactly what the model says.
void check_after(const pt_model& s, const machine& m, const std::string& after) {
  const std::vector<violation> v = check_machine(m);
  if (!v.empty()) RC_FAIL("after " + after + ":\n" + report(v, m));
  std::map<std::uint64_t, abs_map> leaves;
  for (std::uint64_t base : {s.env->vmalloc_win, s.env->modules_win})
    for (const leaf_info& l : m.tables().leaves(base, base + 4 * PMD_SIZE)) leaves[l.va] = {l.size, l.pfn, l.flags};
  if (leaves != s.leaves) RC_FAIL("after " + after + ": page tables differ from the model\n" + dump_machine(m));
  for (unsigned c = 0; c < m.nr_cpus(); ++c) {
    std::map<std::uint64_t, abs_map> t;
    for (const auto& [va, e] : m.cpu_tlb(c).entries()) t[va] = {e.size, e.pfn, e.flags};
    if (t != s.tlb[c]) RC_FAIL("after " + after + ": TLB of CPU " + std::to_string(c) + " differs from the model\n" + dump_machine(m));
  }
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> owed;
  for (const auto& [key, o] : m.owed()) owed[key] = o.cpus;
  if (owed != s.owed) RC_FAIL("after " + after + ": owed flushes differ from the model\n" + dump_machine(m));
}

std::string show_of(const pt_command& c) {
  std::ostringstream os;
  c.show(os);
  return os.str();
}

// Addresses: a window, a 2 MiB region in it, and a page biased to the region's first pages.
rc::Gen<std::uint64_t> gen_va(const pt_env& e) {
  return rc::gen::apply(
      [](std::uint64_t base, std::uint64_t region, std::uint64_t page) { return base + region * PMD_SIZE + page * PAGE_SIZE; },
      rc::gen::weightedElement<std::uint64_t>({{4, e.vmalloc_win}, {1, e.modules_win}}), rc::gen::inRange<std::uint64_t>(0, 2),
      rc::gen::weightedOneOf<std::uint64_t>({{3, rc::gen::inRange<std::uint64_t>(0, 4)}, {1, rc::gen::inRange<std::uint64_t>(0, 512)}}));
}
rc::Gen<std::uint64_t> gen_prot() {
  // PAGE_KERNEL, read-only, and one without A/D so the walker's updates are exercised.
  return rc::gen::element(PAGE_KERNEL, PAGE_KERNEL & ~_PAGE_RW, _PAGE_PRESENT | _PAGE_RW | _PAGE_NX);
}

// ---------------------------------------------------------------------------------------
// Commands. Each `apply` is the model's transition; each `run` does the same on the machine,
// asserts the outcome the model predicts, then checks everything.

struct MapPage : pt_command {
  std::uint64_t va, pfn, prot;
  explicit MapPage(const pt_model& s)
      : va(*gen_va(*s.env)), pfn(*rc::gen::inRange(s.env->data_first, s.env->data_last)), prot(*gen_prot()) {}
  mm_status expect(const pt_model& s) const {
    const auto it = pt_model::covering(s.leaves, va);
    if (it == s.leaves.end()) return mm_status::ok;
    return it->second.size == PAGE_SIZE ? mm_status::already_mapped : mm_status::huge_in_way;
  }
  void apply(pt_model& s) const override {
    if (expect(s) != mm_status::ok) return;
    s.leaves[va] = {PAGE_SIZE, pfn, prot};
    s.pte_tables.insert(va / PMD_SIZE);
  }
  void run(const pt_model& s, machine& m) const override {
    RC_ASSERT(m.map_page(va, pfn, prot) == expect(s));
    check_after(nextState(s), m, show_of(*this));
  }
  void show(std::ostream& os) const override { os << "MapPage(va=" << hex(va) << ", pfn=" << hex(pfn) << ", prot=" << hex(prot) << ")"; }
};

struct MapHuge : pt_command {
  std::uint64_t va, pfn, prot;
  explicit MapHuge(const pt_model& s)
      : va(*gen_va(*s.env) & ~(PMD_SIZE - 1)),
        pfn(s.env->huge_first + 512 * *rc::gen::inRange<std::uint64_t>(0, 16)),
        prot(*gen_prot()) {}
  mm_status expect(const pt_model& s) const {
    const auto at = s.leaves.find(va);
    if (at != s.leaves.end() && at->second.size == PMD_SIZE) return mm_status::already_mapped;
    const auto next = s.leaves.lower_bound(va);
    if (next != s.leaves.end() && next->first < va + PMD_SIZE) return mm_status::table_in_way;
    return mm_status::ok;
  }
  void apply(pt_model& s) const override {
    if (expect(s) != mm_status::ok) return;
    if (s.pte_tables.erase(va / PMD_SIZE)) s.flush_all_cpus(va, va + PAGE_SIZE);  // pmd_free_pte_page
    s.leaves[va] = {PMD_SIZE, pfn, prot | _PAGE_PSE};
  }
  void run(const pt_model& s, machine& m) const override {
    RC_ASSERT(m.map_huge(va, pfn, prot) == expect(s));
    check_after(nextState(s), m, show_of(*this));
  }
  void show(std::ostream& os) const override { os << "MapHuge(va=" << hex(va) << ", pfn=" << hex(pfn) << ", prot=" << hex(prot) << ")"; }
};

struct Unmap : pt_command {
  std::uint64_t va;
  explicit Unmap(const pt_model& s) {
    // Mostly an existing leaf's first byte; sometimes any address.
    if (!s.leaves.empty() && *rc::gen::inRange(0, 4) != 0) {
      // Leaves some CPU has cached count twice: unmapping them opens a stale window.
      std::vector<std::uint64_t> vas;
      for (const auto& [v, l] : s.leaves) {
        vas.push_back(v);
        for (const auto& t : s.tlb)
          if (t.count(v)) vas.push_back(v);
      }
      va = *rc::gen::elementOf(vas);
    } else {
      va = *gen_va(*s.env);
    }
  }
  mm_status expect(const pt_model& s) const {
    const auto it = pt_model::covering(s.leaves, va);
    if (it == s.leaves.end()) return mm_status::not_mapped;
    return it->first == va ? mm_status::ok : mm_status::misaligned_va;
  }
  void apply(pt_model& s) const override {
    if (expect(s) != mm_status::ok) return;
    const std::uint64_t size = s.leaves.at(va).size;
    s.leaves.erase(va);
    s.owed[{va, size}] = s.all_cpus();
  }
  void run(const pt_model& s, machine& m) const override {
    RC_ASSERT(m.unmap(va) == expect(s));
    check_after(nextState(s), m, show_of(*this));
  }
  void show(std::ostream& os) const override { os << "Unmap(va=" << hex(va) << ")"; }
};

// What the model predicts for an access: the fault, whether it hit the TLB, the address, and
// the model after it (fills, A/D updates).
struct predicted {
  fault_kind fault = fault_kind::none;
  bool hit = false;
  std::uint64_t pa = 0;
};
predicted access(pt_model& s, unsigned cpu, std::uint64_t va, bool write) {
  predicted p;
  auto& t = s.tlb[cpu];
  auto hit = pt_model::covering(t, va);
  if (hit != t.end() && write && (hit->second.flags & _PAGE_RW) && !(hit->second.flags & _PAGE_DIRTY)) hit = t.end();
  abs_map used{};
  std::uint64_t base = 0;
  if (hit != t.end()) {
    p.hit = true;
    used = hit->second;
    base = hit->first;
  } else {
    const auto leaf = pt_model::covering(s.leaves, va);
    if (leaf == s.leaves.end()) {
      p.fault = fault_kind::not_present;
      return p;
    }
    if (write && !(leaf->second.flags & _PAGE_RW)) {
      p.fault = fault_kind::write_protect;
      return p;
    }
    leaf->second.flags |= _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0);
    for (auto it = t.begin(); it != t.end();)
      it = (it->first < leaf->first + leaf->second.size && leaf->first < it->first + it->second.size) ? t.erase(it)
                                                                                                   : std::next(it);
    t[leaf->first] = leaf->second;
    used = leaf->second;
    base = leaf->first;
  }
  if (write && !(used.flags & _PAGE_RW)) {
    p.fault = fault_kind::write_protect;
    return p;
  }
  p.pa = pfn_phys(used.pfn) + (va - base);
  return p;
}

struct Access : pt_command {
  unsigned cpu;
  std::uint64_t va;
  bool write;
  std::uint64_t value;
  explicit Access(const pt_model& s)
      : cpu(*rc::gen::inRange(0u, s.cpus())), va(pick_va(s)), write(*rc::gen::arbitrary<bool>()),
        value(*rc::gen::arbitrary<std::uint64_t>()) {}
  // Mostly where something is cached or mapped (so stale entries get used), else anywhere.
  static std::uint64_t pick_va(const pt_model& s) {
    std::vector<std::uint64_t> hot;
    for (const auto& t : s.tlb)
      for (const auto& [v, e] : t) hot.push_back(v);
    for (const auto& [v, l] : s.leaves) hot.push_back(v);
    const std::uint64_t offset = 8 * *rc::gen::inRange<std::uint64_t>(0, 512);
    if (!hot.empty() && *rc::gen::inRange(0, 4) != 0) return *rc::gen::elementOf(hot) + offset;
    return *gen_va(*s.env) + offset;
  }
  void apply(pt_model& s) const override {
    const predicted p = access(s, cpu, va, write);
    if (p.fault == fault_kind::none && write) s.mem[p.pa] = value;
  }
  void run(const pt_model& s, machine& m) const override {
    pt_model after = s;
    const predicted p = access(after, cpu, va, write);
    const access_result r = write ? m.write_u64(cpu, va, value) : m.read_u64(cpu, va);
    RC_ASSERT(r.fault == p.fault);
    if (p.fault == fault_kind::none) {
      RC_ASSERT(r.tlb_hit == p.hit);
      RC_ASSERT(r.pa == p.pa);
      if (!write) {
        const auto w = s.mem.find(p.pa);
        RC_ASSERT(r.value == (w == s.mem.end() ? 0 : w->second));
      } else {
        RC_ASSERT(m.phys().read_u64(p.pa) == value);  // written through the VA, read through the frame
      }
    }
    check_after(nextState(s), m, show_of(*this));
  }
  void show(std::ostream& os) const override {
    os << (write ? "Write" : "Read") << "(cpu=" << cpu << ", va=" << hex(va);
    if (write) os << ", value=" << hex(value);
    os << ")";
  }
};

rc::Gen<std::pair<std::uint64_t, std::uint64_t>> gen_range(const pt_env& e) {
  return rc::gen::apply(
      [](std::uint64_t start, std::uint64_t pages) { return std::make_pair(start, start + pages * PAGE_SIZE); },
      gen_va(e), rc::gen::weightedElement<std::uint64_t>({{4, 1}, {2, 2}, {1, 512}, {1, 1024}}));
}

struct Flush : pt_command {
  std::uint64_t start, end;
  explicit Flush(const pt_model& s) { std::tie(start, end) = *gen_range(*s.env); }
  void apply(pt_model& s) const override { s.flush_all_cpus(start, end); }
  void run(const pt_model& s, machine& m) const override {
    RC_ASSERT(m.flush_tlb_kernel_range(start, end) == mm_status::ok);
    check_after(nextState(s), m, show_of(*this));
  }
  void show(std::ostream& os) const override { os << "Flush(" << hex(start) << ", " << hex(end) << ")"; }
};

struct FlushCpu : pt_command {
  unsigned cpu;
  std::uint64_t start, end;
  explicit FlushCpu(const pt_model& s) : cpu(*rc::gen::inRange(0u, s.cpus())) { std::tie(start, end) = *gen_range(*s.env); }
  void apply(pt_model& s) const override { s.flush(cpu, start, end); }
  void run(const pt_model& s, machine& m) const override {
    RC_ASSERT(m.flush_tlb_one_cpu(cpu, start, end) == mm_status::ok);
    check_after(nextState(s), m, show_of(*this));
  }
  void show(std::ostream& os) const override { os << "FlushCpu(cpu=" << cpu << ", " << hex(start) << ", " << hex(end) << ")"; }
};

struct FlushAll : pt_command {
  explicit FlushAll(const pt_model&) {}
  void apply(pt_model& s) const override {
    for (auto& t : s.tlb) t.clear();
    s.owed.clear();
  }
  void run(const pt_model& s, machine& m) const override {
    m.flush_tlb_all();
    check_after(nextState(s), m, show_of(*this));
  }
  void show(std::ostream& os) const override { os << "FlushAll()"; }
};

// Bad input: each must be refused with its own status and change nothing (the model does not
// move, and check_after compares the whole machine with it).
struct BadInput : pt_command {
  int kind;
  std::uint64_t va;
  explicit BadInput(const pt_model& s) : kind(*rc::gen::inRange(0, 9)), va(*gen_va(*s.env)) {}
  void apply(pt_model&) const override {}
  void run(const pt_model& s, machine& m) const override {
    const std::uint64_t noncanon = s.env->cfg.levels() == 4 ? 0x0000800000000000ull : 0x0100000000000000ull;
    const std::uint64_t pfn = s.env->data_first;
    switch (kind) {
      case 0: RC_ASSERT(m.map_page(noncanon, pfn) == mm_status::non_canonical); break;
      case 1: RC_ASSERT(m.map_page(va + 8, pfn) == mm_status::misaligned_va); break;
      case 2: RC_ASSERT(m.map_page(va, std::uint64_t{1} << 40) == mm_status::pfn_out_of_range); break;
      case 3: {
        const mm_status st = m.map_page(va, pfn, 0);
        RC_ASSERT(st == mm_status::bad_flags || st == mm_status::already_mapped || st == mm_status::huge_in_way);
        break;
      }
      case 4: {
        const mm_status st = m.map_huge(va & ~(PMD_SIZE - 1), s.env->huge_first + 1);
        RC_ASSERT(st == mm_status::misaligned_pfn);
        break;
      }
      case 5: RC_ASSERT(m.translate(s.cpus(), va).fault == fault_kind::bad_cpu); break;
      case 6: RC_ASSERT(m.flush_tlb_kernel_range(va + PAGE_SIZE, va) == mm_status::bad_range); break;
      case 7: RC_ASSERT(m.read_u64(0, va + 4).fault == fault_kind::misaligned); break;
      default: RC_ASSERT(m.translate(0, noncanon).fault == fault_kind::non_canonical); break;
    }
    check_after(s, m, show_of(*this));
  }
  void show(std::ostream& os) const override { os << "BadInput(kind=" << kind << ", va=" << hex(va) << ")"; }
};

// Negative harness only: plants a TLB entry no walk produced. The property that includes it
// must fail under TLB-COHERENT and shrink to a short sequence.
struct CorruptTlbForTest : pt_command {
  std::uint64_t va;
  explicit CorruptTlbForTest(const pt_model& s) : va(*gen_va(*s.env)) {}
  void apply(pt_model&) const override {}
  void run(const pt_model& s, machine& m) const override {
    m.tlb_for_test(0).plant_for_test({va, PAGE_SIZE, 0x7, PAGE_KERNEL});
    check_after(s, m, show_of(*this));
  }
  void show(std::ostream& os) const override { os << "CorruptTlbForTest(va=" << hex(va) << ")"; }
};

// One case: build the machine, run a command sequence, tag the case once with the events the
// machine counted.
template <class... Extra>
void run_case(const std::string& property, const machine_config& cfg) {
  auto env = std::make_shared<const pt_env>(make_env(cfg));
  machine m(env->cfg);
  pt_model s0;
  s0.env = env;
  s0.tlb.resize(env->cfg.nr_cpus);
  const auto cmds = *rc::state::gen::commands(
      s0, rc::state::gen::execOneOfWithArgs<MapPage, MapPage, MapHuge, Unmap, Unmap, Access, Access, Access, Flush, FlushCpu,
                                            FlushAll, BadInput, Extra...>());
  // A failing command's report gets pictures of the two windows' mappings and each CPU's TLB
  // before and after it.
  const std::vector<picture::va_window> windows{{"vmalloc window", env->vmalloc_win, env->vmalloc_win + 4 * PMD_SIZE},
                                                {"modules window", env->modules_win, env->modules_win + 2 * PMD_SIZE}};
  run_with_pictures(
      cmds, s0, m, property, [&env] { return std::make_unique<machine>(env->cfg); },
      [&windows](const machine& x, const std::string& title) { return picture::svg_of(picture::mappings(x, windows), title); });
  const machine_stats& st = m.stats();
  if (st.stale_tlb_hits) RC_TAG("stale TLB hit");
  if (st.pte_tables_freed) RC_TAG("2 MiB map freed a PTE table");
  if (st.owed_discharged) RC_TAG("owed flush discharged");
  if (st.local_flushes) RC_TAG("local flush");
  if (st.refusals) RC_TAG("refused input");
}

}  // namespace

void register_pt_stateful(std::vector<property>& out, std::vector<property>& negative) {
  const std::vector<std::string> ids{"PT-WF", "TLB-COHERENT"};
  out.push_back({"pt_stateful", ids, "stateful", 200, 100,
                 {{"stale TLB hit", 0.05}, {"2 MiB map freed a PTE table", 0.02}, {"owed flush discharged", 0.10},
                  {"local flush", 0.10}, {"refused input", 0.10}},
                 make_property([] { run_case("pt_stateful", *gen_small_machine()); })});
  out.push_back({"pt_stateful_default_machine", ids, "stateful", 20, 300,
                 {{"stale TLB hit", 0.2}, {"owed flush discharged", 0.2}},
                 make_property([] { run_case("pt_stateful_default_machine", machine_config::default_machine()); })});
  negative.push_back({"negative__pt_stateful_planted_tlb_entry", {"TLB-COHERENT"}, "negative", 100, 30, {},
                      make_property([] { run_case<CorruptTlbForTest>("negative__pt_stateful_planted_tlb_entry", *gen_small_machine()); })});
}

}  // namespace mmref::props
