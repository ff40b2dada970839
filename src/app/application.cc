#include "app/application.h"
#include "app/systemd_notify.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <future>
#include <iostream>
#include <set>

#include "app/command_line.h"
#include "app/load_configuration.h"
#include "app/redundancy.h"
#include "binders/file/file_binder.h"
#include "binders/amqp/amqp_binder.h"
#include "binders/mqtt/mqtt_binder.h"
#include "binders/rabbit/rabbit_binder.h"
#include "common/logging.h"
#include "config/settings.h"
#include "leader/leader_election.h"
#include "management/http_server.h"
#include "management/management_api.h"
#include "session/session_factory.h"
#include "workflow/workflow_manager.h"

#ifndef MI_VERSION
#define MI_VERSION "0.0.0"
#endif

namespace mi::app {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadConfig = 2;

workflow::BinderRegistry make_binder_registry() {
  workflow::BinderRegistry registry;
  registry.add(std::make_unique<binders::FileBinder>());
  registry.add(std::make_unique<binders::RabbitBinder>());
  registry.add(std::make_unique<binders::MqttBinder>());
  registry.add(std::make_unique<binders::AmqpBinder>());
  return registry;
}

void apply_log_levels(const config::Settings& settings, config::Problems& problems) {
  spdlog::level::level_enum root = spdlog::level::info;
  parse_log_level(settings.root_log_level, root);
  std::map<std::string, spdlog::level::level_enum> levels;
  for (const auto& [name, text] : settings.component_log_levels) {
    spdlog::level::level_enum level;
    if (!parse_log_level(text, level)) continue;  // already reported by validation
    const auto& components = log_components();
    if (std::find(components.begin(), components.end(), name) == components.end()) {
      std::string names;
      for (const auto& c : components) names += (names.empty() ? "" : ", ") + c;
      problems.push_back({config::ConfigProblem::Severity::kWarning, "logging.level." + name, "",
                          "no such component; components are " + names});
      continue;
    }
    levels[name] = level;
  }
  configure_logging(root, levels);
  if (settings.log_format == "ecs") set_log_format(LogFormat::kEcs, settings.log_service_name);
}

void report(const config::Problems& problems) {
  auto log = logger("config");
  for (const auto& p : problems) {
    if (p.severity == config::ConfigProblem::Severity::kError) {
      log->error("{}", p.to_string());
    } else {
      log->warn("{}", p.to_string());
    }
  }
}

// Blocks the stop signals in this thread and every thread started after it, so that only
// the sigwait() in run() receives them.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);  // a closed terminal or a supervisor's hangup: the same graceful stop
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

std::optional<management::HttpsSettings> https_settings(const config::Settings& settings) {
  const auto& ssl = settings.server_ssl;
  if (!ssl.enabled) return std::nullopt;
  management::HttpsSettings https{ssl.certificate, ssl.certificate_private_key, ssl.trust_certificate, {}};
  using ClientAuth = management::HttpsSettings::ClientAuth;
  https.client_auth = ssl.client_auth == "need" ? ClientAuth::kNeed
                      : ssl.client_auth == "want" ? ClientAuth::kWant
                                                  : ClientAuth::kNone;
  return https;
}

management::HttpServerLimits http_limits(const config::Settings& settings) {
  management::HttpServerLimits limits;
  limits.max_header_bytes = static_cast<size_t>(settings.server_max_header_bytes);
  limits.header_timeout = settings.server_connection_timeout;
  limits.body_timeout = settings.server_connection_timeout;
  limits.max_connections = static_cast<size_t>(settings.server_max_connections);
  limits.max_connections_per_address = static_cast<size_t>(settings.server_max_connections_per_address);
  return limits;
}

bool is_loopback(const std::string& address) {
  return address == "localhost" || address == "::1" || address.rfind("127.", 0) == 0;
}

int serve(const config::Settings& settings, const sigset_t& stop_signals) {
  auto log = logger("app");
  auto registry = make_binder_registry();
  Clock& clock = SystemClock::instance();
  const bool active_standby = settings.mode == config::LeaderMode::kActiveStandby;
  // Workflows work only while the gate is open: always, unless a session vouches for the flow.
  FencingGate gate = active_standby ? FencingGate{} : FencingGate::always_open();
  workflow::WorkflowManager workflows(settings.workflows, registry, clock, settings.shutdown_timeout, &gate);
  leader::LeaderElection leader(settings.mode, settings.fail_over, workflows, clock, &gate);
  Redundancy redundancy(leader, active_standby ? session::make_session(settings, gate, clock) : nullptr);
  management::ManagementContext context{&settings,       &leader,
                                        &workflows,      clock.wall_now(),
                                        MI_VERSION,      redundancy.session(),
                                        [&redundancy] { return redundancy.request_yield(); }};
  std::atomic<bool> stopping{false};
  context.shutting_down = [&stopping] { return stopping.load(); };
  management::ManagementApi api(context, management::Authenticator(settings.security_enabled, settings.users),
                                clock);
  std::unique_ptr<management::HttpServer> http;
  try {
    http = std::make_unique<management::HttpServer>(api, http_limits(settings), https_settings(settings));
  } catch (const std::exception& e) {
    log->error("{}", e.what());  // an unusable certificate or key: the configuration is wrong
    return kExitBadConfig;
  }
  try {
    http->start(settings.server_address, settings.server_port);
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return kExitFailure;
  }
  if (!settings.security_enabled && !is_loopback(settings.server_address)) {
    log->warn("security is disabled (solace.connector.security.enabled=false) and the management API listens on {}: "
              "anyone who reaches port {} can stop workflows and hand over leadership",
              settings.server_address, settings.server_port);
  }
  if (settings.security_enabled && settings.users.empty()) {
    log->warn("security is enabled but no users are configured: only /actuator/health answers "
              "(add solace.connector.security.users)");
  }
  log->info("leader election mode {}; {} enabled workflow(s)", config::to_string(settings.mode),
            workflows.enabled_workflows().size());
  if (!settings.session.ignored_keys.empty()) {
    std::string keys;
    for (const auto& k : settings.session.ignored_keys) keys += (keys.empty() ? "" : ", ") + k;
    log->warn("ignored (session properties of the vendor's interface that mean nothing with this broker): {}", keys);
  }
  redundancy.start();
  SystemdNotifier systemd;
  systemd.ready("management API on " + settings.server_address + ":" + std::to_string(settings.server_port) + ", " +
                std::string(config::to_string(settings.mode)));
  // Healthy = the leader's state can be read: status() takes the lock that every change of
  // leadership and every workflow command holds, so a deadlock there stops the pings.
  systemd.start_watchdog([&leader] {
    (void)leader.status();
    return true;
  });

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  stopping = true;  // readiness: OUT_OF_SERVICE from now on
  systemd.stopping();
  log->info("received {}: stopping workflows (at most {} ms each)", strsignal(signal_number),
            settings.shutdown_timeout.count());

  // Stop workflows and release leadership; if that hangs past the budget, leave anyway so
  // a supervisor is never stuck waiting for us.
  auto stopped = std::async(std::launch::async, [&] { redundancy.shutdown(); });
  const Millis budget = settings.shutdown_timeout * std::max<size_t>(1, workflows.all().size()) + Millis{2000};
  if (stopped.wait_for(budget) != std::future_status::ready) {
    log->error("workflows did not stop within {} ms; exiting anyway", budget.count());
    spdlog::shutdown();
    std::_Exit(kExitFailure);
  }
  http->stop();
  log->info("stopped");
  return kExitOk;
}

}  // namespace

int run(int argc, char** argv) {
  const sigset_t stop_signals = block_stop_signals();
  const auto command_line = parse_command_line(argc, argv);
  if (!command_line) {
    std::cerr << "error: " << command_line.error() << "\nRun with --help for the options.\n";
    return kExitBadConfig;
  }
  if (command_line->show_help) {
    std::cout << command_line->help_text;
    return kExitOk;
  }
  if (command_line->show_version) {
    std::cout << "micro-integration " << MI_VERSION << "\n";
    return kExitOk;
  }
  if (command_line->print_reference) {
    std::cout << config::reference_markdown();
    return kExitOk;
  }

  auto loaded = load_configuration(*command_line, process_environment(), std::filesystem::current_path());
  const auto registry = make_binder_registry();
  const config::Settings settings = config::build_settings(loaded.config, registry.types(), loaded.problems);
  apply_log_levels(settings, loaded.problems);
  auto log = logger("app");
  for (const auto& f : loaded.files) log->info("configuration file {}", f.string());
  if (loaded.files.empty()) log->info("no configuration file (looked for application.{{yml,yaml,properties}} in ./ and ./config/)");
  report(loaded.problems);
  if (config::has_errors(loaded.problems)) {
    log->error("configuration is invalid; nothing was started");
    return kExitBadConfig;
  }
  if (command_line->create_management_queue) {
    if (settings.mode != config::LeaderMode::kActiveStandby || settings.session.is_file()) {
      log->error("--create-management-queue needs active_standby mode with amqp:// session hosts");
      return kExitBadConfig;
    }
    if (const Status created = session::create_management_queue(settings); !created.is_ok()) {
      log->error("cannot create management queue '{}': {}", settings.management_queue, created.error());
      return kExitFailure;
    }
    log->info("management queue '{}' is ready (durable quorum queue, x-single-active-consumer=true)",
              settings.management_queue);
    return kExitOk;
  }
  if (command_line->check_config) {
    std::cout << loaded.config.describe_effective();
    log->info("configuration is valid");
    return kExitOk;
  }
  log->info("micro-integration {} starting", MI_VERSION);
  return serve(settings, stop_signals);
}

}  // namespace mi::app
