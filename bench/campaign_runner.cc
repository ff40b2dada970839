#include "campaign_runner.h"

#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/instance.h"
#include "tests/integration/log_lines.h"

namespace mi::campaign {

using integration::eventually;
using integration::now_ms;

std::string campaign_instance_config(int http_port, const std::string& session, int data_port) {
  return "server: {address: 127.0.0.1, port: " + std::to_string(http_port) + "}\n" + R"(
logging.level.root: WARN
logging.level.leader: INFO
solace.connector:
  management:
    leader-election.mode: active_standby
    queue: mgmt
    session: {)" + session + R"(, client-username: guest, client-password: guest, reconnect-retry-wait-in-millis: 200}
  security.users: [{name: reader, password: reader-secret-pw}]
  workflows.0: {enabled: true, acknowledgment: {publish-async: true, back-pressure-threshold: 50, publish-timeout: 5000}}
spring.cloud.stream:
  binders.data: {type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: )" + std::to_string(data_port) + R"(, requested-heartbeat: 2}}}
  bindings:
    input-0: {destination: in, binder: data, consumer: {back-off-initial-interval: 200, back-off-max-interval: 2000}}
    output-0: {destination: "", binder: data}
  rabbit.bindings.output-0.producer.routing-key: out
)";
}

CampaignRunner::CampaignRunner(unsigned seed, std::vector<PlannedFault> plan, std::string label,
                               int producer_pause_ms)
    : seed_(seed), plan_(std::move(plan)), label_(std::move(label)), producer_pause_ms_(producer_pause_ms) {}

void CampaignRunner::start_instance(int i) {
  launch_instance(i);
  std::lock_guard lock(mutex_);
  history_.lives.push_back({i, process(i).pid(), now_ms(), -1, ""});
  life_of_[static_cast<size_t>(i)] = history_.lives.size() - 1;
}

// Keeps the log of the instance's current process and marks when it ended.
void CampaignRunner::end_life(int i, long long at_ms) {
  std::lock_guard lock(mutex_);
  Life& life = history_.lives[life_of_[static_cast<size_t>(i)]];
  life.ended_ms = at_ms;
  life.log = process(i).log();
}

int CampaignRunner::target_of(const PlannedFault& planned) {
  const int active = active_instance();
  if (planned.on_active && active >= 0) return active;
  std::vector<int> others;
  for (int i = 0; i < kInstances; ++i) {
    if (i != active) others.push_back(i);
  }
  return others[planned.pick % others.size()];
}

void CampaignRunner::inject(FaultRecord& f) {
  const FaultType t = f.planned.type;
  if (t != FaultType::kKill9 && t != FaultType::kSigtermRestart && t != FaultType::kStopShort &&
      t != FaultType::kStopLong) {
    inject_environment_fault(f);
    return;
  }
  f.target = target_of(f.planned);
  integration::Process& p = process(f.target);
  f.at_ms = now_ms();
  if (t == FaultType::kKill9) {
    p.signal(SIGKILL);
    p.wait_exit(std::chrono::seconds(10));
    end_life(f.target, f.at_ms);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    start_instance(f.target);
  } else if (t == FaultType::kSigtermRestart) {
    p.signal(SIGTERM);
    p.wait_exit(std::chrono::seconds(40));
    end_life(f.target, now_ms());
    start_instance(f.target);
  } else {
    p.signal(SIGSTOP);
    std::this_thread::sleep_for(std::chrono::milliseconds(freeze_ms(t)));
    p.signal(SIGCONT);
  }
}

// Steady load: "s<n>" in order, each confirmed by the broker before the next; a message
// counts as sent only when confirmed (it is re-sent after a broker restart).
void CampaignRunner::produce() {
  in_load_network([&] {
    std::unique_ptr<amqp::RabbitConnection> c;
    int cursor = 0;
    long long seq = 0;
    while (!stop_load_) {
      try {
        if (!c) {
          c = connect_for_load(cursor);
          c->enable_confirms();
        }
        c->publish_confirmed("", "in", "s" + std::to_string(seq), {}, Millis{5000});
        confirmed_ = ++seq;
        std::this_thread::sleep_for(std::chrono::milliseconds(producer_pause_ms_));
      } catch (const std::exception&) {
        c.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
  });
}

void CampaignRunner::collect() {
  in_load_network([&] {
    std::unique_ptr<amqp::RabbitConnection> c;
    int cursor = 1;
    while (!stop_collect_) {
      try {
        if (!c) {
          c = connect_for_load(cursor);
          c->consume("out", 500);
        }
        auto e = c->next_event(Millis{100});
        if (e.kind != amqp::RabbitConnection::Event::kDelivery) continue;
        c->ack(e.tag, false);
        auto it = e.headers.find("x-leader-epoch");
        std::lock_guard lock(mutex_);
        history_.arrivals.push_back(
            {e.body, it == e.headers.end() ? -1 : std::atoll(it->second.c_str()), e.redelivered, now_ms()});
      } catch (const std::exception&) {
        c.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
  });
}

// The broker's view, every 2 s: which consumer of the management queue is active. Our
// session's consumer tag is "micro-integration@<host>:<pid>". A listing without any line
// for the management queue is not a sample.
void CampaignRunner::sample_broker() {
  while (!stop_load_) {
    const long long from = now_ms();
    if (const auto out = list_consumers()) {
      BrokerSample s{from, now_ms(), {}, {}};
      std::istringstream lines(*out);
      bool parsed = false;
      for (std::string line; std::getline(lines, line);) {
        std::istringstream fields(line);
        std::string queue, tag, active;
        if (!(fields >> queue >> tag >> active) || queue != "mgmt") continue;
        parsed = true;
        const auto colon = tag.rfind(':');
        if (colon == std::string::npos) continue;
        const auto pid = static_cast<pid_t>(std::atoi(tag.c_str() + colon + 1));
        s.bound.insert(pid);
        if (active == "true") s.active.insert(pid);
      }
      if (parsed) {
        std::lock_guard lock(mutex_);
        history_.samples.push_back(std::move(s));
      }
    }
    for (int i = 0; i < 20 && !stop_load_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

int CampaignRunner::run() {
  const std::string setup = start_environment();
  std::printf("%s\nplan:", setup.c_str());
  for (const auto& p : plan_) {
    std::printf(" [%s%s]", std::string(name(p.type)).c_str(),
                targets_an_instance(p.type) && !p.on_active ? " (standby)" : "");
  }
  std::printf("\n");
  std::fflush(stdout);
  if (!eventually([&] { return active_instance() >= 0; }, std::chrono::seconds(60))) {
    std::fprintf(stderr, "no instance became active\n");
    return 2;
  }
  std::thread producer([&] { produce(); });
  std::thread collector([&] { collect(); });
  std::thread sampler([&] { sample_broker(); });
  std::this_thread::sleep_for(std::chrono::seconds(3));
  for (size_t i = 0; i < plan_.size(); ++i) {
    FaultRecord f{plan_[i], -1, 0};
    inject(f);
    {
      std::lock_guard lock(mutex_);
      history_.faults.push_back(f);
    }
    const bool settled = eventually([&] { return active_instance() >= 0; }, std::chrono::seconds(60));
    std::printf("fault %2zu %-22s node %2d at +%6.1f s%s\n", i + 1, std::string(name(f.planned.type)).c_str(), f.target,
                static_cast<double>(f.at_ms - history_.lives.front().started_ms) / 1000.0,
                settled ? "" : "  (no active instance after 60 s)");
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(f.planned.gap_ms));
  }
  stop_load_ = true;
  producer.join();
  sampler.join();
  // Let the workflow drain what is left, then stop collecting.
  const long long sent = confirmed_;
  eventually([&] {
    std::lock_guard lock(mutex_);
    std::set<std::string> distinct;
    for (const auto& a : history_.arrivals) distinct.insert(a.body);
    return static_cast<long long>(distinct.size()) >= sent;
  }, std::chrono::seconds(60));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  stop_collect_ = true;
  collector.join();
  for (int i = 0; i < kInstances; ++i) {
    std::lock_guard lock(mutex_);
    history_.lives[life_of_[static_cast<size_t>(i)]].log = process(i).log();
  }
  history_.confirmed = confirmed_;
  history_.end_ms = now_ms();
  adjust_history(history_);
  const CheckReport report = check(history_);
  print_report(history_, report, std::getenv("MI_CAMPAIGN_TRACE") != nullptr, stdout);
  std::printf("RESULT: %s (%sseed %u)\n", report.ok() ? "PASS" : "FAIL", label_.c_str(), seed_);
  return report.ok() ? 0 : 1;
}

}  // namespace mi::campaign
