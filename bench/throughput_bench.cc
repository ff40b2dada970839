// Throughput and CPU of a rabbit -> rabbit workflow against RabbitMQ's own Shovel plugin
// (dynamic shovel, ack-mode on-confirm) on the same private broker, moving the same
// persistent 1 KiB messages; then rabbit -> amqp and amqp -> rabbit (the amqp binder, AMQP 1.0
// through the broker's plugin, on the same broker and messages), and rabbit -> amqp into a
// private ActiveMQ Artemis; then rabbit -> mqtt throughput and end-to-end latency.
//
//   throughput_bench [messages=50000] [latency-rate-per-second=2000] [latency-seconds=10]
//
// CPU is read from /proc (user + system) for the broker's process group and for the
// micro-integration process; "per message" divides by the messages moved.
#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/integration/artemis_broker.h"
#include "tests/integration/instance.h"
#include "tests/integration/mosquitto_broker.h"
#include "tests/integration/rabbit_broker.h"
#include "mqtt/client.h"
#include "bench_support.h"

using namespace mi::integration;
namespace fs = std::filesystem;
using namespace mi::bench;
using Clock = std::chrono::steady_clock;

namespace {

// Waits until `queue` holds `count` messages; returns the seconds it took from `start`.
double wait_for_depth(int port, const std::string& queue, unsigned count, Clock::time_point start) {
  while (queue_depth(port, queue) < count) {
    if (Clock::now() - start > std::chrono::minutes(10)) throw std::runtime_error("timed out filling " + queue);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Run {
  double seconds = 0;
  double broker_cpu = 0;
  double mover_cpu = 0;  // micro-integration's own (0 for the shovel: it runs inside the broker)
};

void print(const char* what, const Run& r, int messages) {
  std::printf("%-34s %8.0f msg/s  %6.2f s  broker CPU %6.2f s  mover CPU %6.2f s (%5.1f us/msg)  total %6.1f us/msg\n",
              what, messages / r.seconds, r.seconds, r.broker_cpu, r.mover_cpu, r.mover_cpu / messages * 1e6,
              (r.broker_cpu + r.mover_cpu) / messages * 1e6);
}

// The messages workflow `id` has delivered so far (its output stored them), from the API.
long long delivered(Instance& instance, int id) {
  auto res = instance.client().Get("/actuator/workflows/" + std::to_string(id));
  if (!res || res->status != 200) return -1;
  const auto body = nlohmann::json::parse(res->body, nullptr, false);
  if (!body.is_object() || !body.contains("messages")) return -1;
  return body["messages"].value("delivered", -1LL);
}

}  // namespace

int main(int argc, char** argv) {
  const int messages = argc > 1 ? std::atoi(argv[1]) : 50000;
  const int rate = argc > 2 ? std::atoi(argv[2]) : 2000;
  const int latency_seconds = argc > 3 ? std::atoi(argv[3]) : 10;
  TempDir root("throughput-bench");
  RabbitBroker rabbit(root.path() / "rabbit");
  rabbit.set_plugins("[rabbitmq_shovel,rabbitmq_amqp1_0]");
  MosquittoBroker mosquitto(root.path() / "mosquitto");
  // Mosquitto leaves Nagle's algorithm on by default, which holds small packets (PUBACKs,
  // deliveries) for up to 40 ms; a latency-minded operator turns it off.
  mosquitto.set_extra_config("set_tcp_nodelay true\n");
  // The amqp output into ActiveMQ Artemis: a plain anycast queue.
  ArtemisBroker artemis(root.path() / "artemis", "guest", "guest");
  artemis.add_shared_queue("r2aa-dst");
  rabbit.start();
  mosquitto.start();
  artemis.start();
  for (const char* q : {"shovel-src", "shovel-dst", "mi-src", "mi-dst", "r2m-src", "lat-src", "r2a-src", "r2a-dst",
                        "a2r-src", "a2r-dst", "r2aa-src"})
    declare_queue(rabbit.port(), q, false);
  const pid_t broker = rabbit.process_group();
  std::printf("%d persistent messages of %zu bytes per run, one private RabbitMQ 3.10 broker\n", messages,
              kPayloadBytes);

  // 1. RabbitMQ Shovel, dynamic, on-confirm, over loopback TCP like our binder.
  preload(rabbit.port(), "shovel-src", messages);
  const std::string uri = "amqp://guest:guest@127.0.0.1:" + std::to_string(rabbit.port());
  Run shovel;
  {
    const double cpu0 = cpu_seconds(broker).total();
    const auto t0 = Clock::now();
    const std::string out = rabbit.ctl(
        "set_parameter shovel bench '{\"src-protocol\": \"amqp091\", \"src-uri\": \"" + uri +
        "\", \"src-queue\": \"shovel-src\", \"dest-protocol\": \"amqp091\", \"dest-uri\": \"" + uri +
        "\", \"dest-queue\": \"shovel-dst\", \"ack-mode\": \"on-confirm\"}'");
    if (out.find("Setting runtime parameter") == std::string::npos) std::fprintf(stderr, "%s\n", out.c_str());
    shovel.seconds = wait_for_depth(rabbit.port(), "shovel-dst", static_cast<unsigned>(messages), t0);
    shovel.broker_cpu = cpu_seconds(broker).total() - cpu0;
    rabbit.ctl("clear_parameter shovel bench");
  }

  // 2. micro-integration, rabbit -> rabbit, publish-async with 255 in flight.
  const int http_port = free_port();
  fs::create_directories(root.path() / "mi");
  Instance instance(root.path() / "mi", "server: {address: 127.0.0.1, port: " + std::to_string(http_port) + "}\n" +
                                            R"(
logging.level.root: WARN
solace.connector:
  security.users:
    - {name: reader, password: reader-secret-pw}
    - {name: admin, password: admin-secret-pw, roles: [admin]}
  default.workflow.acknowledgment: {publish-async: true, back-pressure-threshold: 255}
  workflows: {0: {enabled: true}, 1: {enabled: true}, 2: {enabled: true}, 3: {enabled: true}, 4: {enabled: true},
              5: {enabled: true}}
spring.cloud.stream:
  binders:
    rmq: {type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: )" +
                                            std::to_string(rabbit.port()) + R"(}}}
    mq: {type: mqtt, environment: {mqtt: {host: 127.0.0.1, port: )" + std::to_string(mosquitto.port()) +
                                            R"(, client-id: bench}}}
    a10: {type: amqp, environment: {amqp: {host: 127.0.0.1, port: )" + std::to_string(rabbit.port()) +
                                            R"(, username: guest, password: guest}}}
    art: {type: amqp, environment: {amqp: {host: 127.0.0.1, port: )" + std::to_string(artemis.amqp_port()) +
                                            R"(, username: guest, password: guest}}}
  bindings:
    input-0: {destination: mi-src, binder: rmq}
    output-0: {destination: "", binder: rmq}
    input-1: {destination: r2m-src, binder: rmq}
    output-1: {destination: r2m/out, binder: mq}
    input-2: {destination: lat-src, binder: rmq}
    output-2: {destination: lat/out, binder: mq}
    input-3: {destination: r2a-src, binder: rmq}
    output-3: {destination: r2a-dst, binder: a10}
    input-4: {destination: a2r-src, binder: a10}
    output-4: {destination: "", binder: rmq}
    input-5: {destination: r2aa-src, binder: rmq}
    output-5: {destination: r2aa-dst, binder: art}
  rabbit.bindings.output-0.producer.routing-key: mi-dst
  rabbit.bindings.output-4.producer.routing-key: a2r-dst
)",
                    http_port);
  const pid_t mi = instance.process().pid();
  if (!post_state(instance, 0, "PAUSED") || !post_state(instance, 1, "PAUSED") || !post_state(instance, 3, "PAUSED") ||
      !post_state(instance, 4, "PAUSED") || !post_state(instance, 5, "PAUSED")) {
    std::fprintf(stderr, "cannot pause the workflows\n%s\n", instance.process().log().c_str());
    return 1;
  }
  const long idle_rss = resident_kib(mi);
  preload(rabbit.port(), "mi-src", messages);
  Run ours;
  long peak_rss = 0;
  {
    const double broker0 = cpu_seconds(broker).total();
    const double mi0 = cpu_seconds(0, mi).total();
    const auto t0 = Clock::now();
    post_state(instance, 0, "RESUMED");
    std::thread sampler([&] {
      while (queue_depth(rabbit.port(), "mi-dst") < static_cast<unsigned>(messages)) {
        peak_rss = std::max(peak_rss, resident_kib(mi));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
    ours.seconds = wait_for_depth(rabbit.port(), "mi-dst", static_cast<unsigned>(messages), t0);
    ours.broker_cpu = cpu_seconds(broker).total() - broker0;
    ours.mover_cpu = cpu_seconds(0, mi).total() - mi0;
    sampler.join();
  }
  std::printf("\nrabbit -> rabbit (same broker, same messages):\n");
  print("RabbitMQ Shovel (on-confirm)", shovel, messages);
  print("micro-integration (publish-async)", ours, messages);
  std::printf("micro-integration resident memory: idle %ld KiB, peak while moving %ld KiB\n", idle_rss, peak_rss);

  // The amqp binder on either side, the other side rabbit, same broker and messages.
  const auto measure = [&](int workflow, const char* source, const char* target) {
    preload(rabbit.port(), source, messages);
    Run run;
    const double broker0 = cpu_seconds(broker).total();
    const double mi0 = cpu_seconds(0, mi).total();
    const auto t0 = Clock::now();
    post_state(instance, workflow, "RESUMED");
    run.seconds = wait_for_depth(rabbit.port(), target, static_cast<unsigned>(messages), t0);
    run.broker_cpu = cpu_seconds(broker).total() - broker0;
    run.mover_cpu = cpu_seconds(0, mi).total() - mi0;
    post_state(instance, workflow, "PAUSED");
    return run;
  };
  const Run to_amqp = measure(3, "r2a-src", "r2a-dst");
  const Run from_amqp = measure(4, "a2r-src", "a2r-dst");
  // rabbit -> amqp into Artemis: done when the workflow counts them all delivered (Artemis
  // settled each); the broker CPU is both brokers'.
  Run to_artemis;
  {
    preload(rabbit.port(), "r2aa-src", messages);
    const double broker0 = cpu_seconds(broker).total() + cpu_seconds(artemis.process_group()).total();
    const double mi0 = cpu_seconds(0, mi).total();
    const long long before = delivered(instance, 5);
    const auto t0 = Clock::now();
    post_state(instance, 5, "RESUMED");
    while (delivered(instance, 5) - before < messages) {
      if (Clock::now() - t0 > std::chrono::minutes(10)) throw std::runtime_error("timed out moving into Artemis");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    to_artemis.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    to_artemis.broker_cpu = cpu_seconds(broker).total() + cpu_seconds(artemis.process_group()).total() - broker0;
    to_artemis.mover_cpu = cpu_seconds(0, mi).total() - mi0;
    post_state(instance, 5, "PAUSED");
  }
  std::printf("\nthe amqp binder (AMQP 1.0 through the broker's plugin), same broker, same messages:\n");
  print("rabbit -> rabbit (from above)", ours, messages);
  print("rabbit -> amqp", to_amqp, messages);
  print("amqp -> rabbit", from_amqp, messages);
  print("rabbit -> amqp (ActiveMQ Artemis)", to_artemis, messages);

  // 3. rabbit -> mqtt throughput.
  mi::mqtt::ClientOptions sub_options;
  sub_options.host = "127.0.0.1";
  sub_options.port = mosquitto.port();
  sub_options.client_id = "bench-subscriber";
  mi::mqtt::Client subscriber(sub_options);
  subscriber.subscribe("r2m/out", 1);
  subscriber.subscribe("lat/out", 1);
  preload(rabbit.port(), "r2m-src", messages);
  {
    const double mi0 = cpu_seconds(0, mi).total();
    const auto t0 = Clock::now();
    post_state(instance, 1, "RESUMED");
    int got = 0;
    while (got < messages && Clock::now() - t0 < std::chrono::minutes(10)) {
      if (auto p = subscriber.receive(std::chrono::milliseconds(500))) {
        subscriber.acknowledge(*p);
        ++got;
      }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("\nrabbit -> mqtt: %d of %d messages in %.2f s = %.0f msg/s, micro-integration CPU %.1f us/msg\n", got,
                messages, seconds, got / seconds, (cpu_seconds(0, mi).total() - mi0) / got * 1e6);
  }

  // 4. rabbit -> mqtt end-to-end latency at a steady rate: publish time (in the payload) to
  // arrival at an MQTT subscriber.
  {
    const int total = rate * latency_seconds;
    std::vector<double> latencies_ms;
    latencies_ms.reserve(static_cast<size_t>(total));
    std::thread producer([&] {
      auto c = connect_to_rabbit(rabbit.port());
      c->enable_confirms();
      const auto t0 = Clock::now();
      unsigned long long first = 0;
      int pending = 0;
      for (int i = 0; i < total; ++i) {
        std::this_thread::sleep_until(t0 + std::chrono::microseconds(1000000LL * i / rate));
        std::string payload = std::to_string(Clock::now().time_since_epoch().count());
        payload.resize(kPayloadBytes, ' ');
        const auto tag = c->publish("", "lat-src", payload, {});
        if (pending++ == 0) first = tag;
        if (pending == 100) {
          c->await_confirms(first, 100, mi::Millis{30000});
          pending = 0;
        }
      }
      if (pending) c->await_confirms(first, static_cast<size_t>(pending), mi::Millis{30000});
      c->close_gracefully();
    });
    const auto deadline = Clock::now() + std::chrono::seconds(latency_seconds + 30);
    while (static_cast<int>(latencies_ms.size()) < total && Clock::now() < deadline) {
      auto p = subscriber.receive(std::chrono::milliseconds(500));
      if (!p) continue;
      const auto now = Clock::now().time_since_epoch().count();
      latencies_ms.push_back(static_cast<double>(now - std::atoll(p->payload.c_str())) / 1e6);
      subscriber.acknowledge(*p);
    }
    producer.join();
    std::sort(latencies_ms.begin(), latencies_ms.end());
    auto pct = [&](double q) {
      return latencies_ms[std::min(latencies_ms.size() - 1, static_cast<size_t>(q * static_cast<double>(latencies_ms.size())))];
    };
    if (!latencies_ms.empty()) {
      std::printf("rabbit -> mqtt end-to-end latency at %d msg/s for %d s: n=%zu p50=%.2f ms p99=%.2f ms max=%.2f ms\n",
                  rate, latency_seconds, latencies_ms.size(), pct(0.5), pct(0.99), latencies_ms.back());
    }
  }
  subscriber.disconnect();
  return 0;
}
