#include "artemis_broker.h"

#include "rabbit_broker.h"  // port_open()

#include <regex>
#include <stdexcept>
#include <thread>

namespace mi::integration {

std::filesystem::path artemis_home() {
  static const std::filesystem::path home = [] {
    const auto r = run_to_completion("/bin/bash", {MI_SOURCE_DIR "/scripts/fetch-test-brokers.sh", "--artemis-home"},
                                     std::filesystem::temp_directory_path());
    if (r.exit_code != 0) throw std::runtime_error("scripts/fetch-test-brokers.sh failed:\n" + r.output);
    std::string path = r.stdout_text;
    while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
    return std::filesystem::path(path);
  }();
  return home;
}

namespace {
std::string role_of(const std::string& user) { return "role-" + user; }
}  // namespace

ArtemisBroker::ArtemisBroker(const std::filesystem::path& dir, std::string user, std::string password)
    : dir_(dir), user_(std::move(user)), password_(std::move(password)), instance_(dir / "instance"),
      amqp_port_(free_port()), mqtt_port_(free_port()),
      core_port_(free_port()) {
  std::filesystem::create_directories(dir_);
}

ArtemisBroker::~ArtemisBroker() {
  if (process_) {
    process_->signal_group(SIGKILL);
    process_->wait_exit(std::chrono::seconds(10));
  }
}

void ArtemisBroker::create_instance() {
  const auto home = artemis_home();
  const auto r = run_to_completion(
      (home / "bin" / "artemis").string(),
      {"create", instance_.string(), "--user", user_, "--password", password_, "--require-login", "--host",
       "127.0.0.1", "--no-web", "--no-autotune", "--java-memory", "256M", "--no-hornetq-acceptor",
       "--no-stomp-acceptor", "--silent"},
      dir_);
  if (r.exit_code != 0) throw std::runtime_error("artemis create failed:\n" + r.output);
  // Users in clear text beside the hashed first one (Artemis reads both), each with a role of
  // its own, whose permissions write_broker_xml() grants.
  for (const auto& user : extra_users_) {
    for (const auto& [file, line] : {std::pair{"artemis-users.properties", user.name + " = " + user.password},
                                     std::pair{"artemis-roles.properties", role_of(user.name) + " = " + user.name}}) {
      const auto path = instance_ / "etc" / file;
      write_file(path, read_file(path) + "\n" + line + "\n");
    }
  }
  const auto broker_xml = instance_ / "etc" / "broker.xml";
  std::filesystem::copy_file(broker_xml, instance_ / "etc" / "broker.xml.created");
  // The profile starts the heap at 512 MiB whatever --java-memory says (the JVM then refuses a
  // smaller maximum); both to 256 MiB, and a small start.
  const auto profile = instance_ / "etc" / "artemis.profile";
  write_file(profile, std::regex_replace(read_file(profile), std::regex("-Xms[0-9]+[MmGg]"), "-Xms64M"));
  created_ = true;
}

void ArtemisBroker::write_broker_xml() {
  // Our acceptors, on loopback ports of this broker's own, in place of the defaults (61616,
  // 5672, 1883 on every address). CORE is there for Artemis's own command line tool.
  std::string xml = read_file(instance_ / "etc" / "broker.xml.created");
  const std::string amqp_options =
      "?protocols=AMQP;saslMechanisms=PLAIN" +
      (amqp_idle_timeout_ ? ";amqpIdleTimeout=" + std::to_string(amqp_idle_timeout_->count()) : std::string());
  // In place of <acceptors> (<core> takes its elements in any order): how often the broker
  // looks at this file again (redeclare_queues()), a version that changes it on each write,
  // and our acceptors.
  std::string acceptors =
      "<configuration-file-refresh-period>500</configuration-file-refresh-period>\n"
      "<!-- version " + std::to_string(++broker_xml_version_) + " -->\n"
      "<acceptors>\n"
      "  <acceptor name=\"core\">tcp://127.0.0.1:" + std::to_string(core_port_) + "?protocols=CORE</acceptor>\n"
      "  <acceptor name=\"amqp\">tcp://127.0.0.1:" + std::to_string(amqp_port_) + amqp_options + "</acceptor>\n"
      "  <acceptor name=\"mqtt\">tcp://127.0.0.1:" + std::to_string(mqtt_port_) + "?protocols=MQTT</acceptor>\n";
  if (tls_) {
    acceptors += "  <acceptor name=\"amqps\">tcp://127.0.0.1:" + std::to_string(tls_->port) + amqp_options +
                 ";sslEnabled=true;keyStoreType=PKCS12;keyStorePath=" +
                 tls_->pkcs12.string() + ";keyStorePassword=" + tls_->password + "</acceptor>\n";
  }
  acceptors += "</acceptors>\n";
  if (role_ != Role::kAlone) {
    // A replicated pair: each broker reaches the other over the CORE acceptor.
    acceptors +=
        "<connectors>\n"
        "  <connector name=\"self\">tcp://127.0.0.1:" + std::to_string(core_port_) + "</connector>\n"
        "  <connector name=\"peer\">tcp://127.0.0.1:" + std::to_string(peer_core_port_) + "</connector>\n"
        "</connectors>\n"
        "<cluster-user>mi-cluster</cluster-user><cluster-password>mi-cluster-secret-pw</cluster-password>\n"
        "<cluster-connections><cluster-connection name=\"pair\"><connector-ref>self</connector-ref>"
        "<message-load-balancing>OFF</message-load-balancing><max-hops>0</max-hops>"
        "<static-connectors><connector-ref>peer</connector-ref></static-connectors></cluster-connection>"
        "</cluster-connections>\n" +
        std::string(role_ == Role::kPrimary
                        ? "<ha-policy><replication><primary><check-for-active-server>true</check-for-active-server>"
                          "</primary></replication></ha-policy>\n"
                        : "<ha-policy><replication><backup><allow-failback>false</allow-failback></backup>"
                          "</replication></ha-policy>\n");
  }
  xml = std::regex_replace(xml, std::regex("<acceptors>[\\s\\S]*?</acceptors>"), acceptors);
  std::string addresses;
  for (const auto& q : queues_) {
    addresses += "<address name=\"" + q.name + "\"><anycast><queue name=\"" + q.name + "\" exclusive=\"" +
                 (q.exclusive ? "true" : "false") + "\"><durable>true</durable></queue></anycast></address>\n";
  }
  for (const auto& user : extra_users_) {
    // Every permission the created instance gives its role "amq", but 'manage' unless allowed.
    xml = std::regex_replace(xml, std::regex("(<permission type=\"(?!manage\")[a-zA-Z]+\" roles=\"[^\"]*)\""),
                             "$1," + role_of(user.name) + "\"");
    if (user.may_manage) {
      xml = std::regex_replace(xml, std::regex("(<permission type=\"manage\" roles=\"[^\"]*)\""),
                               "$1," + role_of(user.name) + "\"");
    }
  }
  xml = std::regex_replace(xml, std::regex("<addresses>"), "<addresses>\n" + addresses);
  write_file(instance_ / "etc" / "broker.xml", xml);
}

void ArtemisBroker::pair_for_replication(ArtemisBroker& primary, ArtemisBroker& backup) {
  primary.role_ = Role::kPrimary;
  backup.role_ = Role::kBackup;
  primary.peer_core_port_ = backup.core_port_;
  backup.peer_core_port_ = primary.core_port_;
}

void ArtemisBroker::start() {
  if (!created_) create_instance();
  write_broker_xml();
  const auto started = std::chrono::steady_clock::now();
  process_ = std::make_unique<Process>((instance_ / "bin" / "artemis").string(), std::vector<std::string>{"run"},
                                       dir_, dir_ / "broker.log");
  for (int i = 0; i < 1200; ++i) {  // up to 60 s on a loaded machine
    // AMQ221024: the backup is synchronized with the primary (its acceptors stay closed).
    // Otherwise every acceptor: Artemis opens them one after the other, and a client of the
    // MQTT one connecting the moment the AMQP one answers was refused now and then.
    const bool ready = role_ == Role::kBackup
                           ? process_->log().find("AMQ221024") != std::string::npos
                           : port_open(amqp_port_) && port_open(mqtt_port_) && (!tls_ || port_open(tls_->port));
    if (ready) {
      start_time_ = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      return;
    }
    if (process_->wait_exit(std::chrono::milliseconds(50))) break;
  }
  throw std::runtime_error("Artemis did not start; log:\n" + process_->log());
}

void ArtemisBroker::delete_queue(const std::string& name) {
  const auto r = run_to_completion(
      (instance_ / "bin" / "artemis").string(),
      {"queue", "delete", "--name", name, "--removeConsumers", "--url", "tcp://127.0.0.1:" + std::to_string(core_port_),
       "--user", user_, "--password", password_, "--silent"},
      dir_);
  if (r.exit_code != 0) throw std::runtime_error("artemis queue delete " + name + " failed:\n" + r.output);
}

void ArtemisBroker::redeclare_queues() { write_broker_xml(); }

void ArtemisBroker::stop() {
  if (!process_) return;
  process_->signal_group(SIGTERM);
  process_->wait_exit(std::chrono::seconds(30));
  process_->signal_group(SIGKILL);
  process_.reset();
}

void ArtemisBroker::kill() {
  if (!process_) return;
  process_->signal_group(SIGKILL);
  process_->wait_exit(std::chrono::seconds(10));
  process_.reset();
}

pid_t ArtemisBroker::process_group() const { return process_ ? process_->pid() : -1; }

std::string ArtemisBroker::log() const { return process_ ? process_->log() : read_file(dir_ / "broker.log"); }

}  // namespace mi::integration
