#pragma once
// Three RabbitMQ nodes clustered, each in a network namespace of its own; the namespaces hang
// on one bridge in a fourth ("hub") namespace. A node and the micro-integration instance that
// uses it share a namespace and talk over its loopback, so cutting a node's link to the hub
// partitions it from the other nodes while its instance still reaches it, as in a data
// centre where a broker node loses its peers but not its clients.
//
// Needs root (CI and sessions run as root). Everything is removed by the destructor, also
// when a test fails: the nodes' process trees, every process left in the namespaces (epmd),
// and the namespaces with their links. Namespace names carry this process's id, and a start
// removes what a killed earlier run of the same id may have left.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "process.h"

namespace mi::integration {

class RabbitCluster {
 public:
  struct Options {
    std::string partition_handling = "ignore";  // cluster_partition_handling
    int net_ticktime_seconds = 10;               // RabbitMQ's default is 60
  };
  static constexpr int kNodes = 3;
  static constexpr int kAmqpPort = 5672;  // in every namespace

  RabbitCluster(const std::filesystem::path& dir, Options options);
  ~RabbitCluster();
  RabbitCluster(const RabbitCluster&) = delete;
  RabbitCluster& operator=(const RabbitCluster&) = delete;

  // Starts all nodes and returns when the three form one cluster; throws with the logs if not.
  void start();

  const std::string& netns(int node) const { return netns_[static_cast<size_t>(node)]; }
  std::string address(int node) const;    // on the bridge, e.g. 10.213.0.1
  std::string node_name(int node) const;  // rabbit@<address>
  // A `session.host` list for the instance in `node`'s namespace: its own node first (over
  // loopback), then the others over the bridge.
  std::string session_hosts(int node) const;

  // Link to the other nodes down (a partition) or up again.
  void cut(int node);
  void heal(int node);
  // kill -9 of the node's Erlang VM; start_node() brings it back with its data.
  void kill_node(int node);
  void stop_node(int node);  // graceful
  void start_node(int node);
  bool node_running(int node) const;

  // rabbitmqctl against `node`, from inside its namespace; returns its output. Gives up
  // after 30 s (some commands wait for every node, also one that is cut off).
  std::string ctl(int node, const std::string& args) const;

  // The consumers of quorum queue `queue` (vhost /) as its Raft leader's state holds them,
  // asked through `node`: one line "<queue>\t<consumer tag>\ttrue|false" each, true for the
  // single active consumer, or a line "no answer: ..." when no leader answered. Unlike
  // `rabbitmqctl list_consumers` (per-node metrics that RabbitMQ 3.10 left empty for a
  // minute and more after a restart or a partition), this is the queue's own replicated view.
  std::string queue_consumers(int node, const std::string& queue) const;

  // Starts `binary` inside the node's namespace (as root, like the instances under test).
  std::unique_ptr<Process> spawn(int node, const std::string& binary, const std::vector<std::string>& args,
                                 const std::filesystem::path& cwd, const std::filesystem::path& log) const;

  // Runs `fn` on a thread that has joined the node's namespace (an AMQP or HTTP client
  // there reaches 127.0.0.1:5672 of that node).
  void in_netns(int node, const std::function<void()>& fn) const;
  // The same in the hub's namespace, which reaches every node that is not cut off at
  // address(node) (for clients that must follow the majority, like a load generator).
  void in_hub(const std::function<void()>& fn) const;

 private:
  void create_network();
  void remove_network() noexcept;
  void write_node_config(int node) const;
  int running_nodes() const;  // how many of the three the first node lists as running
  void in_namespace(const std::string& ns, const std::function<void()>& fn) const;

  std::filesystem::path dir_;
  Options options_;
  std::string prefix_;
  std::vector<std::string> netns_;
  std::string hub_;
  std::vector<std::unique_ptr<Process>> nodes_;
};

}  // namespace mi::integration
