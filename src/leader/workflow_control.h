#pragma once
// What the leader-election state machine needs from the workflows, and nothing more.
#include <vector>

namespace mi::leader {

class WorkflowControl {
 public:
  virtual ~WorkflowControl() = default;
  virtual std::vector<int> enabled_workflows() const = 0;
  // Each returns true when the workflow is in the wanted state afterwards.
  virtual bool start_workflow(int id) = 0;
  virtual bool stop_workflow(int id) = 0;
};

}  // namespace mi::leader
