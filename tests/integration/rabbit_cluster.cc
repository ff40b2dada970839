#include "rabbit_cluster.h"

#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <exception>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "rabbit_broker.h"

namespace mi::integration {
namespace fs = std::filesystem;

namespace {

constexpr const char* kIp = "/usr/sbin/ip";
constexpr const char* kSubnet = "10.213.0.";  // only inside this cluster's own namespaces

// Runs a shell command; returns its output and exit status.
std::pair<int, std::string> shell(const std::string& command) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

void must(const std::string& command) {
  const auto [rc, out] = shell(command);
  if (rc != 0) throw std::runtime_error("`" + command + "` failed: " + out);
}

void chown_to_rabbitmq(const fs::path& path) {
  const passwd* pw = getpwnam("rabbitmq");
  if (!pw) throw std::runtime_error("no rabbitmq user: run scripts/install-deps.sh");
  if (chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("cannot chown " + path.string());
}

}  // namespace

RabbitCluster::RabbitCluster(const fs::path& dir, Options options)
    : dir_(dir), options_(std::move(options)), prefix_("mi" + std::to_string(getpid())) {
  hub_ = prefix_ + "-hub";
  for (int k = 0; k < kNodes; ++k) netns_.push_back(prefix_ + "-n" + std::to_string(k + 1));
  nodes_.resize(kNodes);
}

RabbitCluster::~RabbitCluster() {
  for (auto& node : nodes_) {
    if (!node) continue;
    node->signal_group(SIGKILL);
    node->wait_exit(std::chrono::seconds(10));
  }
  remove_network();
}

std::string RabbitCluster::address(int node) const { return kSubnet + std::to_string(node + 1); }
std::string RabbitCluster::node_name(int node) const { return "rabbit@" + address(node); }

std::string RabbitCluster::session_hosts(int node) const {
  std::string hosts = "amqp://127.0.0.1:" + std::to_string(kAmqpPort);
  for (int other = 0; other < kNodes; ++other) {
    if (other != node) hosts += ",amqp://" + address(other) + ":" + std::to_string(kAmqpPort);
  }
  return hosts;
}

void RabbitCluster::create_network() {
  remove_network();  // what a killed run with the same pid may have left
  // And what runs killed before their destructors (a ctest timeout) left: namespaces named
  // mi<pid>-... whose process is gone.
  const std::string listed = shell(std::string(kIp) + " netns list").second;
  static const std::regex kOurs(R"(^mi(\d+)-(hub|n\d+)\b)");
  std::istringstream lines(listed);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, kOurs)) continue;
    const pid_t owner = static_cast<pid_t>(std::stol(m[1]));
    if (owner == getpid() || ::kill(owner, 0) == 0 || errno != ESRCH) continue;
    const std::string ns = line.substr(0, line.find(' '));
    shell("(" + std::string(kIp) + " netns pids " + ns + " 2>/dev/null) | xargs -r kill -9");
    shell(std::string(kIp) + " netns del " + ns);
  }
  must(std::string(kIp) + " netns add " + hub_);
  must(std::string(kIp) + " -n " + hub_ + " link add br0 type bridge");
  must(std::string(kIp) + " -n " + hub_ + " link set br0 up");
  must(std::string(kIp) + " -n " + hub_ + " addr add " + kSubnet + "100/24 dev br0");
  for (int k = 0; k < kNodes; ++k) {
    const std::string& ns = netns(k);
    const std::string veth = "v" + std::to_string(k + 1);
    must(std::string(kIp) + " netns add " + ns);
    must(std::string(kIp) + " -n " + ns + " link set lo up");
    must(std::string(kIp) + " -n " + hub_ + " link add " + veth + " type veth peer name eth0 netns " + ns);
    must(std::string(kIp) + " -n " + hub_ + " link set " + veth + " master br0");
    must(std::string(kIp) + " -n " + hub_ + " link set " + veth + " up");
    must(std::string(kIp) + " -n " + ns + " addr add " + address(k) + "/24 dev eth0");
    must(std::string(kIp) + " -n " + ns + " link set eth0 up");
  }
}

void RabbitCluster::remove_network() noexcept {
  std::vector<std::string> all = netns_;
  all.push_back(hub_);
  for (const auto& ns : all) {
    // Whatever still runs in it (epmd, a node that outlived its process group).
    shell("(" + std::string(kIp) + " netns pids " + ns + " 2>/dev/null) | xargs -r kill -9");
    shell(std::string(kIp) + " netns del " + ns);
  }
}

void RabbitCluster::write_node_config(int node) const {
  const fs::path home = dir_ / ("node" + std::to_string(node + 1));
  fs::create_directories(home);
  // loopback_users = none: the instances may reach the other nodes over the bridge as guest.
  std::string conf = "listeners.tcp.default = " + std::to_string(kAmqpPort) + "\n" + "loopback_users = none\n" +
                     "cluster_partition_handling = " + options_.partition_handling + "\n" +
                     "cluster_formation.peer_discovery_backend = classic_config\n";
  for (int k = 0; k < kNodes; ++k) {
    conf += "cluster_formation.classic_config.nodes." + std::to_string(k + 1) + " = " + node_name(k) + "\n";
  }
  write_file(home / "rabbitmq.conf", conf);
  write_file(home / "advanced.config",
             "[{kernel, [{net_ticktime, " + std::to_string(options_.net_ticktime_seconds) + "}]}].\n");
  write_file(home / "enabled_plugins", "[].\n");
  write_file(home / ".erlang.cookie", "MICROINTEGRATIONCLUSTERTEST");
  fs::permissions(home / ".erlang.cookie", fs::perms::owner_read);
  for (const char* f : {"", "rabbitmq.conf", "advanced.config", "enabled_plugins", ".erlang.cookie"}) {
    chown_to_rabbitmq(*f ? home / f : home);
  }
}

void RabbitCluster::start() {
  create_network();
  for (int k = 0; k < kNodes; ++k) write_node_config(k);
  // The first node forms the cluster; the others join it when they boot.
  start_node(0);
  for (int k = 1; k < kNodes; ++k) start_node(k);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (running_nodes() == kNodes) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  throw std::runtime_error("the three nodes did not form a cluster; status:\n" + ctl(0, "cluster_status") +
                           "\nnode 1 log:\n" + nodes_[0]->log());
}

void RabbitCluster::start_node(int node) {
  const fs::path home = dir_ / ("node" + std::to_string(node + 1));
  const std::map<std::string, std::string> env = {
      {"HOME", home.string()},
      {"RABBITMQ_MNESIA_BASE", (home / "mnesia").string()},
      {"RABBITMQ_LOG_BASE", (home / "log").string()},
      {"RABBITMQ_NODENAME", node_name(node)},
      {"RABBITMQ_USE_LONGNAME", "true"},
      {"RABBITMQ_NODE_PORT", std::to_string(kAmqpPort)},
      {"RABBITMQ_ENABLED_PLUGINS_FILE", (home / "enabled_plugins").string()},
      {"RABBITMQ_CONFIG_FILE", (home / "rabbitmq").string()},
      {"RABBITMQ_ADVANCED_CONFIG_FILE", (home / "advanced.config").string()},
  };
  auto& process = nodes_[static_cast<size_t>(node)];
  process = std::make_unique<Process>(
      kIp,
      std::vector<std::string>{"netns", "exec", netns(node), "/usr/bin/setpriv", "--reuid=rabbitmq",
                               "--regid=rabbitmq", "--init-groups", "/usr/lib/rabbitmq/bin/rabbitmq-server"},
      home, home / "broker.log", env);
  for (int i = 0; i < 1200; ++i) {  // up to 60 s on a loaded machine
    if (node_running(node)) return;
    if (process->wait_exit(std::chrono::milliseconds(50))) break;
  }
  throw std::runtime_error("RabbitMQ node " + node_name(node) + " did not start; log:\n" + process->log());
}

int RabbitCluster::running_nodes() const {
  // {"running_nodes": ["rabbit@10.213.0.1", ...], ...} as the first node sees it.
  const std::string status = ctl(0, "cluster_status --formatter json");
  const auto key = status.find("\"running_nodes\"");
  const auto open = status.find('[', key);
  if (key == std::string::npos || open == std::string::npos) return 0;
  const std::string listed = status.substr(open, status.find(']', open) - open);
  int running = 0;
  for (int k = 0; k < kNodes; ++k) running += listed.find("\"" + node_name(k) + "\"") != std::string::npos ? 1 : 0;
  return running;
}

bool RabbitCluster::node_running(int node) const {
  bool open = false;
  in_netns(node, [&] { open = port_open(kAmqpPort); });
  return open;
}

void RabbitCluster::kill_node(int node) {
  auto& process = nodes_[static_cast<size_t>(node)];
  if (!process) return;
  process->signal_group(SIGKILL);
  process->wait_exit(std::chrono::seconds(10));
  process.reset();
}

void RabbitCluster::stop_node(int node) {
  auto& process = nodes_[static_cast<size_t>(node)];
  if (!process) return;
  process->signal_group(SIGTERM);
  for (int i = 0; i < 600 && node_running(node); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  process->wait_exit(std::chrono::seconds(30));
  process->signal_group(SIGKILL);
  process.reset();
}

void RabbitCluster::cut(int node) {
  must(std::string(kIp) + " -n " + hub_ + " link set v" + std::to_string(node + 1) + " down");
}

void RabbitCluster::heal(int node) {
  must(std::string(kIp) + " -n " + hub_ + " link set v" + std::to_string(node + 1) + " up");
}

std::string RabbitCluster::ctl(int node, const std::string& args) const {
  const fs::path home = dir_ / ("node" + std::to_string(node + 1));
  // Bounded: some commands wait for every node of the cluster, also one that is cut off.
  return shell("timeout 30 " + std::string(kIp) + " netns exec " + netns(node) + " env HOME=" + home.string() +
               " RABBITMQ_USE_LONGNAME=true setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups"
               " /usr/lib/rabbitmq/bin/rabbitmqctl --longnames -n " + node_name(node) + " " + args)
      .second;
}

std::string RabbitCluster::queue_consumers(int node, const std::string& queue) const {
  // A quorum queue's Ra cluster is named <url-encoded vhost>_<queue>; for vhost / "%2F_".
  // rabbit_fifo:query_consumers/1 maps {Tag, ChannelPid} to a tuple whose 5th element says
  // whether that consumer is the active one.
  return ctl(node, "-q eval 'case ra:leader_query({list_to_atom(\"%2F_" + queue +
                       "\"), node()}, fun rabbit_fifo:query_consumers/1) of "
                       "{ok, {_, Cs}, _} -> lists:foreach(fun({{Tag, _}, V}) -> io:format(\"" + queue +
                       "\\t~s\\t~s~n\", [Tag, element(5, V)]) end, maps:to_list(Cs)); "
                       "Other -> io:format(\"no answer: ~p~n\", [Other]) end.'");
}

std::unique_ptr<Process> RabbitCluster::spawn(int node, const std::string& binary, const std::vector<std::string>& args,
                                              const fs::path& cwd, const fs::path& log) const {
  std::vector<std::string> full = {"netns", "exec", netns(node), binary};
  full.insert(full.end(), args.begin(), args.end());
  return std::make_unique<Process>(kIp, full, cwd, log);
}

void RabbitCluster::in_netns(int node, const std::function<void()>& fn) const { in_namespace(netns(node), fn); }

void RabbitCluster::in_hub(const std::function<void()>& fn) const { in_namespace(hub_, fn); }

void RabbitCluster::in_namespace(const std::string& ns, const std::function<void()>& fn) const {
  std::exception_ptr failure;
  std::thread worker([&] {
    try {
      // setns() moves only this thread; it ends with the thread.
      const int fd = open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        if (fd >= 0) close(fd);
        throw std::runtime_error("cannot join network namespace " + ns);
      }
      close(fd);
      fn();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  worker.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace mi::integration
