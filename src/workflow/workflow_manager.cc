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

void WorkflowManager::request_stop_workflow(int id) {
  if (Workflow* w = find(id)) w->request_stop();
}

leader::CommandResult WorkflowManager::change_workflow(int id, leader::WorkflowCommand command) {
  using leader::CommandResult;
  using leader::WorkflowCommand;
  Workflow* w = find(id);
  if (!w) return {CommandResult::Code::kNotFound, "no workflow " + std::to_string(id)};
  const bool starts = command == WorkflowCommand::kStart || command == WorkflowCommand::kResume;
  if (starts && !w->settings().enabled) {
    return {CommandResult::Code::kDisabled, "workflow " + std::to_string(id) + " is disabled (solace.connector.workflows." +
                                                std::to_string(id) + ".enabled=false)"};
  }
  bool ok = false;
  switch (command) {
    case WorkflowCommand::kStart: ok = w->start(); break;
    case WorkflowCommand::kStop: ok = w->stop(stop_timeout_); break;
    case WorkflowCommand::kPause: ok = w->pause(); break;
    case WorkflowCommand::kResume: ok = w->resume(); break;
  }
  if (ok) return {CommandResult::Code::kDone, ""};
  const std::string error = w->last_error();
  return {CommandResult::Code::kRefused, "cannot change workflow " + std::to_string(id) + " to " +
                                             std::string(leader::to_string(command)) + ": " +
                                             (error.empty() ? "workflow is " + std::string(to_string(w->state())) : error)};
}

Workflow* WorkflowManager::find(int id) const {
  for (const auto& w : workflows_) {
    if (w->id() == id) return w.get();
  }
  return nullptr;
}

}  // namespace mi::workflow
