#pragma once
// All workflows of this instance, by id. The leader-election state machine drives them
// through leader::WorkflowControl, operators' commands included (LeaderElection::command);
// the management API only reads them here.
#include <memory>
#include <vector>

#include "leader/workflow_control.h"
#include "workflow/workflow.h"

namespace mi::workflow {

class WorkflowManager final : public leader::WorkflowControl {
 public:
  // Keeps a Workflow for every enabled id and every id with a binding configured.
  WorkflowManager(const std::vector<config::WorkflowSettings>& settings,
                  const BinderRegistry& registry, Clock& clock, Millis stop_timeout,
                  const FencingGate* gate = nullptr);

  std::vector<int> enabled_workflows() const override;
  bool start_workflow(int id) override;
  bool stop_workflow(int id) override;
  void request_stop_workflow(int id) override;
  leader::CommandResult change_workflow(int id, leader::WorkflowCommand command) override;

  Workflow* find(int id) const;
  const std::vector<std::unique_ptr<Workflow>>& all() const { return workflows_; }

 private:
  std::vector<std::unique_ptr<Workflow>> workflows_;  // ascending id
  Millis stop_timeout_;
};

}  // namespace mi::workflow
