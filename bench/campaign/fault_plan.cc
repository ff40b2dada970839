#include "fault_plan.h"

#include <random>

namespace mi::campaign {

std::string_view name(FaultType type) {
  switch (type) {
    case FaultType::kKill9: return "kill -9";
    case FaultType::kStopShort: return "SIGSTOP 0.5 s";
    case FaultType::kStopLong: return "SIGSTOP 4 s";
    case FaultType::kNetCut: return "network cut 4 s";
    case FaultType::kBrokerRestart: return "broker restart";
    case FaultType::kQueueRecreate: return "queue delete+recreate";
    case FaultType::kSigtermRestart: return "SIGTERM+restart";
    case FaultType::kNodePartition: return "node partition 15 s";
    case FaultType::kNodeKill: return "node kill -9";
    case FaultType::kNodeRestart: return "node restart";
  }
  return "?";
}

bool targets_an_instance(FaultType type) {
  return type != FaultType::kBrokerRestart && type != FaultType::kQueueRecreate;
}

long long freeze_ms(FaultType type) {
  return type == FaultType::kStopShort ? 500 : type == FaultType::kStopLong ? 4000 : 0;
}

std::vector<PlannedFault> plan(unsigned seed, int count) {
  std::mt19937 rng(seed);
  // Weights in FaultType order: process faults on the active instance are what failover is about.
  std::discrete_distribution<int> type({5, 2, 3, 3, 1, 1, 2});
  std::bernoulli_distribution on_active(0.8);
  std::uniform_int_distribution<unsigned> pick(0, 1000);
  std::uniform_int_distribution<int> gap(1000, 3000);
  std::vector<PlannedFault> out;
  for (int i = 0; i < count; ++i) {
    // Always four draws per fault, in this order, whatever the values.
    const auto t = static_cast<FaultType>(type(rng));
    const bool active = on_active(rng);
    const unsigned p = pick(rng);
    const int g = gap(rng);
    out.push_back({t, active, p, g});
  }
  return out;
}

std::vector<PlannedFault> cluster_plan(unsigned seed, int count) {
  static constexpr FaultType kTypes[] = {FaultType::kKill9,         FaultType::kStopShort,     FaultType::kStopLong,
                                         FaultType::kSigtermRestart, FaultType::kQueueRecreate, FaultType::kNodePartition,
                                         FaultType::kNodeKill,       FaultType::kNodeRestart};
  std::mt19937 rng(seed);
  std::discrete_distribution<int> type({3, 1, 2, 1, 1, 3, 2, 1});
  std::bernoulli_distribution on_active(0.7);
  std::uniform_int_distribution<unsigned> pick(0, 1000);
  std::uniform_int_distribution<int> gap(1000, 3000);
  std::vector<PlannedFault> out;
  for (int i = 0; i < count; ++i) {
    const auto t = kTypes[type(rng)];
    const bool active = on_active(rng);
    const unsigned p = pick(rng);
    const int g = gap(rng);
    out.push_back({t, active, p, g});
  }
  return out;
}

}  // namespace mi::campaign
