// impl/vmalloc/kva.cpp — the strategy registry.
#include "impl/vmalloc/kva.hpp"

#include <stdexcept>

#include "impl/vmalloc/kva_classic.hpp"
#include "impl/vmalloc/kva_modern.hpp"

namespace mmref::vmalloc {

namespace {

std::map<std::string, kva_factory>& table() {
  static std::map<std::string, kva_factory> t = [] {
    std::map<std::string, kva_factory> m;
    m["modern"] = [](kmalloc_stub& cache, unsigned nr_cpus) -> std::unique_ptr<kva_allocator> {
      return std::make_unique<kva_modern>(cache, nr_cpus);
    };
    m["classic"] = [](kmalloc_stub& cache, unsigned nr_cpus) -> std::unique_ptr<kva_allocator> {
      return std::make_unique<kva_classic>(cache, nr_cpus);
    };
    return m;
  }();
  return t;
}

}  // namespace

void kva_registry::add(const std::string& name, kva_factory f) {
  if (name.empty() || !f) throw std::invalid_argument("kva_registry::add: a strategy needs a name and a factory");
  table()[name] = std::move(f);
}

std::unique_ptr<kva_allocator> kva_registry::create(const std::string& name, kmalloc_stub& cache, unsigned nr_cpus) {
  auto it = table().find(name);
  if (it == table().end()) {
    std::string known;
    for (const auto& [n, f] : table()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown KVA strategy '" + name + "' (known: " + known + ")");
  }
  return it->second(cache, nr_cpus);
}

std::vector<std::string> kva_registry::names() {
  std::vector<std::string> out;
  for (const auto& [n, f] : table()) out.push_back(n);
  return out;
}

}  // namespace mmref::vmalloc
