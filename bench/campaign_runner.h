#pragma once
// What every fault campaign does, wherever its brokers run: three active_standby instances
// with a rabbit -> rabbit workflow (queue "in" to queue "out"), a steady confirmed load, the
// checker's own consumer on "out", the broker's view of the management queue sampled every
// 2 s, a seeded sequence of faults, and the verdict of campaign/campaign_checker.h over the
// recorded history. A subclass says where the brokers and instances are and how faults
// that are not about one instance process are injected.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "amqp/connection.h"
#include "campaign/campaign_checker.h"
#include "campaign/fault_plan.h"
#include "tests/integration/process.h"

namespace mi::campaign {

// The instances' configuration: active_standby on queue "mgmt" through `session` (the
// session's host list and any further keys, in YAML flow style), the workflow moving "in" to
// "out" on the broker at 127.0.0.1:`data_port`, the management API on `http_port`.
std::string campaign_instance_config(int http_port, const std::string& session, int data_port);

class CampaignRunner {
 public:
  virtual ~CampaignRunner() = default;
  // 0 PASS, 1 FAIL, 2 could not run.
  int run();

 protected:
  static constexpr int kInstances = 3;

  // `label` goes into the result line ("" or e.g. "cluster, "); the producer waits
  // `producer_pause_ms` after each confirmed message.
  CampaignRunner(unsigned seed, std::vector<PlannedFault> plan, std::string label, int producer_pause_ms);

  // Starts the brokers, declares the queues and starts every instance (start_instance()).
  // Returns a line describing the set-up for the report.
  virtual std::string start_environment() = 0;
  // Starts instance `i` (again); the runner then records a new life for it.
  virtual void launch_instance(int i) = 0;
  virtual integration::Process& process(int i) = 0;
  // The instance that says it is active, or -1.
  virtual int active_instance() = 0;
  // A guest connection for the load or the checker's consumer; throws if no broker answers.
  // `cursor` is the caller's, for implementations that rotate over several brokers.
  virtual std::unique_ptr<amqp::RabbitConnection> connect_for_load(int& cursor) = 0;
  // Runs the body of a load thread where its connections reach the brokers.
  virtual void in_load_network(const std::function<void()>& body) { body(); }
  // The management queue's consumers, a line "mgmt\t<consumer tag>\ttrue|false" each (the
  // form of `rabbitmqctl -q list_consumers queue_name consumer_tag active --no-table-headers`),
  // or nothing when the broker's view is no evidence right now (e.g. a broker is down).
  virtual std::optional<std::string> list_consumers() = 0;
  // Faults that are not about one instance process (the runner injects those itself).
  // Sets f.at_ms, and f.target when it targets the node of an instance.
  virtual void inject_environment_fault(FaultRecord& f) = 0;
  // Last words before the checker runs (e.g. a longer unbound limit).
  virtual void adjust_history(CampaignHistory&) {}

  void start_instance(int i);
  // The instance the fault is meant for: the active one, or a standby chosen by `pick`.
  int target_of(const PlannedFault& planned);

 private:
  void end_life(int i, long long at_ms);
  void inject(FaultRecord& f);
  void produce();
  void collect();
  void sample_broker();

  const unsigned seed_;
  const std::vector<PlannedFault> plan_;
  const std::string label_;
  const int producer_pause_ms_;
  std::vector<size_t> life_of_ = std::vector<size_t>(kInstances);  // index into history_.lives
  std::mutex mutex_;
  CampaignHistory history_;  // guarded by mutex_ while the threads run
  std::atomic<long long> confirmed_{0};
  std::atomic<bool> stop_load_{false};
  std::atomic<bool> stop_collect_{false};
};

}  // namespace mi::campaign
