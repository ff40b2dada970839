// Scale-out in active_active: messages per second with 1, 2 and 3 instances sharing one input,
// for a rabbit -> rabbit and a file -> rabbit workflow, on one private RabbitMQ broker.
//
//   scaleout_bench [messages=100000] [files=20000] [max-instances=3]
//
// Each run starts the instances with their workflows paused, fills the input (a queue, or a
// spool directory of 1 KiB files), resumes the workflow on every instance and times until the
// output queue holds everything. It prints the CPU the broker and the instances used per
// second of the run: on a machine with few cores, the one that is busy the whole time (the
// broker, as a rule) is the ceiling, not the number of instances.
#include <cstdio>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench_support.h"
#include "tests/integration/rabbit_broker.h"

using namespace mi::integration;
using namespace mi::bench;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Result {
  int messages = 0;
  double seconds = 0;
  double broker_cores = 0;     // broker CPU seconds per second of the run
  double instance_cores = 0;   // all instances together
  std::vector<int> shares;     // messages each instance delivered
};

int delivered(Instance& instance, int workflow) {
  auto res = instance.client().Get("/actuator/workflows/" + std::to_string(workflow));
  if (!res || res->status != 200) return -1;
  const auto json = nlohmann::json::parse(res->body);
  return json["messages"]["delivered"].get<int>();
}

std::string instance_config(int http_port, const std::string& name, int rabbit_port, const fs::path& spool,
                            const std::string& suffix) {
  return "server: {address: 127.0.0.1, port: " + std::to_string(http_port) + "}\n" + R"(
logging.level.root: WARN
solace.connector:
  management.leader-election: {mode: active_active, instance-name: )" + name + R"(}
  security.users:
    - {name: reader, password: reader-secret-pw}
    - {name: admin, password: admin-secret-pw, roles: [admin]}
  default.workflow.acknowledgment: {publish-async: true, back-pressure-threshold: 255}
  workflows: {0: {enabled: true}, 1: {enabled: true}}
spring.cloud.stream:
  binders:
    rmq: {type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: )" +
         std::to_string(rabbit_port) + R"(}}}
  bindings:
    input-0: {destination: src)" + suffix + R"(, binder: rmq}
    output-0: {destination: "", binder: rmq}
    input-1: {destination: )" + spool.string() + R"(, binder: file}
    output-1: {destination: "", binder: rmq}
  rabbit.bindings:
    output-0.producer.routing-key: dst)" + suffix + R"(
    output-1.producer.routing-key: files)" + suffix + "\n";
}

// Resumes `workflow` on every instance and times until `queue` holds `count` messages.
Result run(std::vector<std::unique_ptr<Instance>>& instances, int workflow, int rabbit_port, pid_t broker,
           const std::string& queue, int count) {
  Result r;
  r.messages = count;
  double instances_cpu0 = 0;
  for (auto& i : instances) instances_cpu0 += cpu_seconds(0, i->process().pid()).total();
  const double broker_cpu0 = cpu_seconds(broker).total();
  const auto t0 = Clock::now();
  for (auto& i : instances) post_state(*i, workflow, "RESUMED");
  while (queue_depth(rabbit_port, queue) < static_cast<unsigned>(count)) {
    if (Clock::now() - t0 > std::chrono::minutes(10)) throw std::runtime_error("timed out filling " + queue);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.broker_cores = (cpu_seconds(broker).total() - broker_cpu0) / r.seconds;
  double instances_cpu = 0;
  for (auto& i : instances) instances_cpu += cpu_seconds(0, i->process().pid()).total();
  r.instance_cores = (instances_cpu - instances_cpu0) / r.seconds;
  // An instance counts a message once the input has acknowledged it, a moment after the
  // output confirmed it: wait for the counts to settle before reading the shares.
  const auto settle = Clock::now() + std::chrono::seconds(10);
  int counted = 0;
  do {
    if (counted > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    r.shares.clear();
    counted = 0;
    for (auto& i : instances) {
      r.shares.push_back(delivered(*i, workflow));
      counted += r.shares.back();
    }
  } while (counted < count && Clock::now() < settle);
  return r;
}

void print(const char* what, int n, const Result& r, double baseline) {
  std::string shares;
  for (int s : r.shares) shares += (shares.empty() ? "" : "/") + std::to_string(s);
  std::printf("%-16s %d instance%s %8.0f msg/s  x%.2f  %6.2f s  broker %.2f cores  instances %.2f cores  shares %s\n",
              what, n, n == 1 ? " " : "s", r.messages / r.seconds, baseline > 0 ? (r.messages / r.seconds) / baseline : 1.0,
              r.seconds, r.broker_cores, r.instance_cores, shares.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const int messages = argc > 1 ? std::atoi(argv[1]) : 100000;
  const int files = argc > 2 ? std::atoi(argv[2]) : 20000;
  const int max_instances = argc > 3 ? std::atoi(argv[3]) : 3;
  TempDir root("scaleout-bench");
  RabbitBroker rabbit(root.path() / "rabbit");
  rabbit.start();
  const pid_t broker = rabbit.process_group();
  std::printf("active_active scale-out: %d persistent 1 KiB messages (rabbit -> rabbit) and %d files of 1 KiB "
              "(file -> rabbit) per run, publish-async with 255 in flight per instance, one private RabbitMQ 3.10 "
              "broker on the same machine\n\n",
              messages, files);
  double rabbit_baseline = 0;
  double file_baseline = 0;
  for (int n = 1; n <= max_instances; ++n) {
    const std::string suffix = "-" + std::to_string(n);
    for (const std::string q : {"src", "dst", "files"}) declare_queue(rabbit.port(), q + suffix, false);
    const fs::path spool = root.path() / ("spool" + suffix);
    fs::create_directories(spool);
    std::vector<std::unique_ptr<Instance>> instances;
    for (int i = 0; i < n; ++i) {
      const std::string name = "node" + std::to_string(i);
      const fs::path dir = root.path() / ("run" + suffix) / name;
      fs::create_directories(dir);
      const int port = free_port();
      instances.push_back(
          std::make_unique<Instance>(dir, instance_config(port, name, rabbit.port(), spool, suffix), port));
      for (int w : {0, 1}) {
        if (!post_state(*instances.back(), w, "PAUSED")) {
          std::fprintf(stderr, "cannot pause workflow %d\n%s\n", w, instances.back()->process().log().c_str());
          return 1;
        }
      }
    }
    preload(rabbit.port(), "src" + suffix, messages);
    const Result by_queue = run(instances, 0, rabbit.port(), broker, "dst" + suffix, messages);
    if (n == 1) rabbit_baseline = by_queue.messages / by_queue.seconds;
    print("rabbit -> rabbit", n, by_queue, rabbit_baseline);

    const std::string payload(kPayloadBytes, 'f');
    for (int i = 0; i < files; ++i) {
      const std::string name = "f" + std::to_string(i);
      std::ofstream(spool / ("." + name)) << payload;
      fs::rename(spool / ("." + name), spool / name);
    }
    const Result by_file = run(instances, 1, rabbit.port(), broker, "files" + suffix, files);
    if (n == 1) file_baseline = by_file.messages / by_file.seconds;
    print("file -> rabbit", n, by_file, file_baseline);
  }
  std::printf("\nmachine: %ld cores; 'cores' = CPU seconds per second of the run\n", sysconf(_SC_NPROCESSORS_ONLN));
  return 0;
}
