#pragma once
// The fault campaign's checker. It does not take the instances' word for anything it can
// check elsewhere; it rebuilds who was active from three sources and compares them:
//   1. the instances' own timestamped state changes (their logs, read by
//      integration::active_terms), with the term of a process frozen for longer than its
//      lease cut at freeze + lease (its log only speaks after SIGCONT);
//   2. the broker's view: the management queue's active consumer, sampled during the run
//      (the session's consumer tag is "micro-integration@<host>:<pid>");
//   3. the messages that reached the target: their x-leader-epoch in arrival order, and
//      which of the producer's confirmed messages arrived.
// Pure functions over a recorded history, so the checker itself is unit tested.
#include <sys/types.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "fault_plan.h"

namespace mi::campaign {

// One run of an instance process and what it logged.
struct Life {
  int node;
  pid_t pid;
  long long started_ms;
  long long ended_ms = -1;  // killed or exited; -1: still running at the end
  std::string log;
};

struct FaultRecord {
  PlannedFault planned;
  int target = -1;  // node; -1 for broker-wide faults
  long long at_ms = 0;
};

struct BrokerSample {
  long long from_ms, to_ms;  // the sample was taken somewhere in between
  std::set<pid_t> active;    // pids of the management queue's active consumers
  std::set<pid_t> bound;     // pids of all its consumers: the active one and the standbys
};

struct Arrival {
  std::string body;
  long long epoch;  // -1: no x-leader-epoch header
  // The broker's redelivered flag: the target queue had already delivered this very message
  // to the checker's consumer, whose ack did not reach the broker (the checker reconnected,
  // or the broker restarted). A re-read by the checker, not a publication by an instance.
  bool redelivered = false;
  long long at_ms = 0;  // when the checker received it (0 in unit tests that do not care)
};

// An instance running for this long is bound to the management queue, or it has a problem:
// a frozen or cut-off standby is dropped by the broker after 2-3 heartbeats and binds again
// within a second of resuming, so 4 s faults stay well below it.
constexpr long long kUnboundLimitMs = 15'000;

struct CampaignHistory {
  std::vector<Life> lives;  // in start order
  std::vector<FaultRecord> faults;
  std::vector<BrokerSample> samples;
  std::vector<Arrival> arrivals;  // in arrival order
  long long confirmed = 0;        // the producer sent "s0" .. "s<confirmed-1>", each confirmed
  long long end_ms = 0;
  long long lease_ms = 1500;
  // How long a running instance may stay unbound (see kUnboundLimitMs); the cluster campaign
  // allows for a partitioned node that pauses and restarts.
  long long unbound_limit_ms = kUnboundLimitMs;
};

// A term from integration::active_terms: from the gate opening to its closing.
struct ActiveInterval {
  size_t life;  // index into CampaignHistory::lives
  long long from_ms, to_ms, epoch;
  long long running_ms;  // its workflows started ("state is now active"); -1: never in this term
};


struct CheckReport {
  std::vector<ActiveInterval> intervals;
  std::vector<std::string> findings;  // one line per problem, for the operator to read
  int overlaps = 0;
  long long overlap_ms = 0;
  int disagreements = 0;
  size_t samples_with_active = 0;
  long long lost = 0, duplicates = 0;
  long long redelivered_to_checker = 0;  // second copies the target queue re-delivered; see Arrival
  int older_epoch_after_newer = 0, unstamped = 0;
  // Stretches longer than kUnboundLimitMs in which a running instance was not bound to the
  // management queue: a standby that cannot take over.
  int unbound_stretches = 0;
  long long max_epoch = 0;
  // Per fault: ms from the fault to the next instance logging "state is now active", or -1
  // when no instance became active before the next fault.
  std::vector<long long> failover_ms;

  bool ok() const {
    return overlaps == 0 && disagreements == 0 && older_epoch_after_newer == 0 && lost == 0 && unstamped == 0 &&
           unbound_stretches == 0;
  }
};

// Active intervals from the logs (source 1).
std::vector<ActiveInterval> active_intervals(const CampaignHistory& history);
CheckReport check(const CampaignHistory& history);
// Intervals, epochs in arrival order, failover times by fault type, the counts and PASS/FAIL.
// With `trace`, also every log line between each fault and the takeover that followed it.
void print_report(const CampaignHistory& history, const CheckReport& report, bool trace, std::FILE* out);

}  // namespace mi::campaign
