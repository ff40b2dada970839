#include "workflow/workflow_manager.h"

namespace mi::workflow {

WorkflowManager::WorkflowManager(const std::vector<config::WorkflowSettings>& settings,
                                 const BinderRegistry& registry, Clock& clock, Millis stop_timeout,
                                 const FencingGate* gate)
    : stop_timeout_(stop_timeout) {
  for (const auto& w : settings) {
    if (w.enabled || !w.input.destination.empty() || !w.output.destination.empty()) {
      workflows_.push_back(std::make_unique<Workflow>(w, registry, clock, gate));
    }
  }
}

std::vector<int> WorkflowManager::enabled_workflows() const {
  std::vector<int> ids;
  for (const auto& w : workflows_) {
    if (w->settings().enabled) ids.push_back(w->id());
  }
  return ids;
}

bool WorkflowManager::start_workflow(int id) {
  Workflow* w = find(id);
  return w && w->start();
}

bool WorkflowManager::stop_workflow(int id) {
  Workflow* w = find(id);
  return w && w->stop(stop_timeout_);
}

Workflow* WorkflowManager::find(int id) const {
  for (const auto& w : workflows_) {
    if (w->id() == id) return w.get();
  }
  return nullptr;
}

}  // namespace mi::workflow
