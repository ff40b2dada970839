#pragma once
// A private ActiveMQ Artemis broker for one test: the distribution scripts/fetch-test-brokers.sh
// keeps in its cache (pinned, checksum checked), an instance created in the test's directory
// with one user and no anonymous access, persistence on, AMQP 1.0 and MQTT acceptors on
// loopback ports of its own, a 256 MiB heap. The destructor kills it; the directory goes with
// the test's TempDir.
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "process.h"

namespace mi::integration {

class ArtemisBroker {
 public:
  static constexpr const char* kUser = "mi-test";
  static constexpr const char* kPassword = "mi-test-secret-pw";

  explicit ArtemisBroker(const std::filesystem::path& dir, std::string user = kUser, std::string password = kPassword);
  ~ArtemisBroker();
  ArtemisBroker(const ArtemisBroker&) = delete;
  ArtemisBroker& operator=(const ArtemisBroker&) = delete;

  // Before start(): a durable anycast queue (on an address of the same name) that gives all
  // its messages to its first consumer until that one goes (Artemis's exclusive queue).
  void add_exclusive_queue(const std::string& name) { queues_.push_back({name, true}); }
  // Before start(): the same without exclusive: it hands its messages to its consumers in turn.
  void add_shared_queue(const std::string& name) { queues_.push_back({name, false}); }
  // Before the first start(): one more user, with every permission the first one has but
  // 'manage' (management requests) unless `may_manage`.
  void add_user(const std::string& name, const std::string& password, bool may_manage) {
    extra_users_.push_back({name, password, may_manage});
  }
  // From the next start(): the idle-timeout the AMQP acceptors announce in their Open frame,
  // after which the broker drops a connection it heard nothing on (the acceptor's
  // amqpIdleTimeout; Artemis's default is 60 s). The management session's lease and the
  // takeover after a silent cut follow from it.
  void set_amqp_idle_timeout(std::chrono::milliseconds timeout) { amqp_idle_timeout_ = timeout; }
  // From the next start(): an AMQP 1.0 acceptor over TLS on `port` with the server certificate
  // and key in a PKCS#12 file.
  void add_tls_acceptor(int port, const std::filesystem::path& pkcs12, const std::string& password) {
    tls_ = Tls{port, pkcs12, password};
  }

  // Before the first start() of both: `primary` and `backup` become a replicated pair. The
  // primary copies its journal to the backup as it writes it (a durable message is answered
  // once the backup has it), and the backup takes over with everything stored when it loses
  // the primary (kill -9); only then does it accept clients. Start the primary first.
  static void pair_for_replication(ArtemisBroker& primary, ArtemisBroker& backup);

  // Returns once the AMQP port accepts connections (a backup: once it has the primary's
  // journal in sync); throws on timeout.
  void start();
  // Deletes a queue now, even with consumers (whose links the broker closes), through
  // Artemis's own command line tool.
  void delete_queue(const std::string& name);
  // Has the broker create the queues of add_*_queue() again that are missing: broker.xml is
  // written anew and the broker, which looks at it every 500 ms, deploys what it declares.
  void redeclare_queues();
  void stop();   // SIGTERM, waits for the JVM to exit
  void kill();   // SIGKILL

  int amqp_port() const { return amqp_port_; }
  std::string url() const { return "amqp://127.0.0.1:" + std::to_string(amqp_port_); }
  int mqtt_port() const { return mqtt_port_; }
  std::string log() const;
  // The broker's process group (its JVM and what it started), for reading its CPU; -1 if not running.
  pid_t process_group() const;
  // How long the last start() took, from the JVM's start to the AMQP port accepting.
  std::chrono::milliseconds start_time() const { return start_time_; }

 private:
  void create_instance();
  void write_broker_xml();  // from the created one, with our acceptors and queues
  int broker_xml_version_ = 0;  // written into it, so that each write changes the file

  enum class Role { kAlone, kPrimary, kBackup };
  Role role_ = Role::kAlone;
  int peer_core_port_ = 0;  // the other one of a replicated pair
  struct Tls {
    int port;
    std::filesystem::path pkcs12;
    std::string password;
  };
  std::filesystem::path dir_;
  std::string user_;
  std::string password_;
  std::optional<Tls> tls_;
  std::optional<std::chrono::milliseconds> amqp_idle_timeout_;
  std::filesystem::path instance_;
  int amqp_port_;
  int mqtt_port_;
  int core_port_;
  struct Queue {
    std::string name;
    bool exclusive;
  };
  std::vector<Queue> queues_;
  struct User {
    std::string name;
    std::string password;
    bool may_manage;
  };
  std::vector<User> extra_users_;
  bool created_ = false;
  std::chrono::milliseconds start_time_{0};
  std::unique_ptr<Process> process_;
};

// The Artemis distribution's home, fetched if it is not in the cache yet.
std::filesystem::path artemis_home();

}  // namespace mi::integration
