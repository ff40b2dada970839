#pragma once
// The fault campaign's plan: a seeded sequence of faults. It depends only on the seed (and
// the standard library's distributions, which are the same for one libstdc++), so the same
// seed replays the same sequence. Targets are roles ("the active instance", "a standby"),
// resolved when the fault is injected.
#include <string_view>
#include <vector>

namespace mi::campaign {

enum class FaultType {
  kKill9, kStopShort, kStopLong, kNetCut, kBrokerRestart, kQueueRecreate, kSigtermRestart,
  // On a three-node cluster (--cluster), against the node of an instance chosen by role:
  kNodePartition,  // its links to the other nodes down for 15 s
  kNodeKill,       // kill -9 of the node, started again 3 s later
  kNodeRestart,    // graceful stop and start
};

std::string_view name(FaultType type);
// Broker-wide faults have no target instance.
bool targets_an_instance(FaultType type);
// How long the fault freezes its process (SIGSTOP to SIGCONT); 0 for the other faults.
long long freeze_ms(FaultType type);

struct PlannedFault {
  FaultType type;
  bool on_active;  // else on a standby, chosen by `pick`
  unsigned pick;
  int gap_ms;      // quiet time after the system settled again

  bool operator==(const PlannedFault&) const = default;
};

std::vector<PlannedFault> plan(unsigned seed, int count);
// The cluster campaign's faults: the process faults above plus node partitions, kills and
// restarts, and a recreated management queue (no proxies, no single broker to restart).
std::vector<PlannedFault> cluster_plan(unsigned seed, int count);

}  // namespace mi::campaign
