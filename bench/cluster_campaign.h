#pragma once
// The fault campaign's --cluster mode: three RabbitMQ nodes in network namespaces (needs
// root), node partitions, kills and restarts on top of the process faults. Returns the exit
// code: 0 PASS, 1 FAIL, 2 could not run.
namespace mi::campaign {

int run_cluster_campaign(unsigned seed, int faults);

}  // namespace mi::campaign
