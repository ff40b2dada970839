#include "workflow/binder.h"

namespace mi::workflow {

void BinderRegistry::add(std::unique_ptr<Binder> binder) {
  const std::string type = binder->type();
  binders_[type] = std::move(binder);
}

Binder* BinderRegistry::find(const std::string& type) const {
  auto it = binders_.find(type);
  return it == binders_.end() ? nullptr : it->second.get();
}

std::set<std::string> BinderRegistry::types() const {
  std::set<std::string> out;
  for (const auto& [type, binder] : binders_) out.insert(type);
  return out;
}

}  // namespace mi::workflow
