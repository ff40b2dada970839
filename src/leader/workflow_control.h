#pragma once
// What the leader-election state machine needs from the workflows, and nothing more.
#include <string>
#include <string_view>
#include <vector>

namespace mi::leader {

// An operator's request for one workflow (POST /actuator/workflows/{id}).
enum class WorkflowCommand { kStart, kStop, kPause, kResume };
// The spec's words: "STARTED", "STOPPED", "PAUSED", "RESUMED".
constexpr std::string_view to_string(WorkflowCommand command) {
  switch (command) {
    case WorkflowCommand::kStart: return "STARTED";
    case WorkflowCommand::kStop: return "STOPPED";
    case WorkflowCommand::kPause: return "PAUSED";
    case WorkflowCommand::kResume: return "RESUMED";
  }
  return "?";
}

// What became of a WorkflowCommand. The code says what happened; the message is for people.
struct CommandResult {
  enum class Code {
    kDone,          // the workflow is in the state asked for
    kNotFound,      // no workflow with that id
    kDisabled,      // start/resume of a workflow that is not enabled
    kStandby,       // start/resume while this instance is not active
    kRefused,       // the workflow could not make that change (message says why)
    kBusy,          // not carried out: the leader's thread was busy with a change of state
    kShuttingDown,  // not carried out: the instance is stopping
  };
  Code code = Code::kDone;
  std::string message;
  bool done() const { return code == Code::kDone; }
};

class WorkflowControl {
 public:
  virtual ~WorkflowControl() = default;
  virtual std::vector<int> enabled_workflows() const = 0;
  // Each returns true when the workflow is in the wanted state afterwards (for a start: its
  // worker runs and opens the bindings in its own thread; start does not wait for a broker).
  virtual bool start_workflow(int id) = 0;
  virtual bool stop_workflow(int id) = 0;
  // Asks a workflow to wind down without waiting, so that several stop at the same time.
  virtual void request_stop_workflow(int id) = 0;
  // Carries out an operator's command; the leader calls it on its own thread only.
  virtual CommandResult change_workflow(int id, WorkflowCommand command) = 0;
};

}  // namespace mi::leader
