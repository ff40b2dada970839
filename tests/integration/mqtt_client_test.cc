// The MQTT 5 client against a real Mosquitto broker: properties, explicit acknowledgement and
// redelivery, batches, authentication, a broker that goes away, TLS.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <set>
#include <thread>

#include "mosquitto_broker.h"
#include "mqtt/client.h"
#include "process.h"
#include "tcp_proxy.h"

namespace mi::integration {
namespace {

namespace fs = std::filesystem;
using mqtt::Client;
using mqtt::ClientOptions;
using mqtt::MqttError;
using mqtt::Publication;
using mqtt::PublishProperties;
using namespace std::chrono_literals;

std::string test_name() { return ::testing::UnitTest::GetInstance()->current_test_info()->name(); }

// The next publication `subscriber` receives is `payload`; acknowledges it.
void expect_next(Client& subscriber, const std::string& payload) {
  const auto got = subscriber.receive(5s);
  ASSERT_TRUE(got) << "expected '" << payload << "'";
  EXPECT_EQ(got->payload, payload);
  subscriber.acknowledge(*got);
}

class MqttClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("mqtt-" + test_name());
    broker_ = std::make_unique<MosquittoBroker>(dir_->path() / "broker");
  }
  void TearDown() override {
    if (HasFailure() && broker_) std::cerr << "mosquitto log:\n" << broker_->log() << "\n";
    broker_.reset();
  }

  ClientOptions options(const std::string& client_id, bool clean_start = true) const {
    ClientOptions o;
    o.host = "127.0.0.1";
    o.port = broker_->port();
    o.client_id = client_id;
    o.clean_start = clean_start;
    o.io_timeout = 5000ms;
    return o;
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<MosquittoBroker> broker_;
};

// A CA and a server certificate for "localhost", made with the openssl command.
void make_certificates(const fs::path& dir, const std::string& ca_name) {
  fs::create_directories(dir);
  const std::string d = dir.string();
  const std::string cmd =
      "cd '" + d + "' && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=" +
      ca_name + " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost" +
      " && printf 'subjectAltName=DNS:localhost' > san.ext" +
      " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2" +
      " -extfile san.ext >/dev/null 2>&1";
  ASSERT_EQ(std::system((cmd + " 2>/dev/null").c_str()), 0) << cmd;
}

TEST_F(MqttClientTest, PublishQos1AndReceiveWithPropertiesAndUserProperties) {
  broker_->start();
  Client subscriber(options("props-sub"));
  EXPECT_FALSE(subscriber.session_present());
  subscriber.subscribe("it/props/#", 1);

  Client publisher(options("props-pub"));
  PublishProperties props;
  props.content_type = "application/json";
  props.correlation_data = std::string("\0\1corr\xff", 7);
  props.user_properties = {{"trace", "a"}, {"trace", "b"}, {"tenant", "zürich"}};
  const std::string payload("{\"x\":1}\0binary", 14);
  const std::uint16_t id = publisher.publish("it/props/one", payload, 1, props);
  EXPECT_NE(id, 0);
  const std::uint16_t ids[] = {id};
  publisher.wait_for_acks(ids, 5s);
  EXPECT_EQ(publisher.publish("it/props/zero", "qos0", 0, {}), 0);

  const auto got = subscriber.receive(5s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->topic, "it/props/one");
  EXPECT_EQ(got->payload, payload);
  EXPECT_EQ(got->qos, 1);
  EXPECT_FALSE(got->dup);
  EXPECT_NE(got->packet_id, 0);
  EXPECT_EQ(got->content_type, "application/json");
  EXPECT_EQ(got->correlation_data, props.correlation_data);
  EXPECT_EQ(got->user_properties, props.user_properties);
  subscriber.acknowledge(*got);
  EXPECT_THROW(subscriber.acknowledge(*got), std::logic_error);

  const auto zero = subscriber.receive(5s);
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->topic, "it/props/zero");
  EXPECT_EQ(zero->qos, 0);
  EXPECT_EQ(zero->payload, "qos0");
  EXPECT_TRUE(zero->content_type.empty());
  EXPECT_TRUE(zero->user_properties.empty());
  subscriber.acknowledge(*zero);  // no-op for QoS 0

  EXPECT_FALSE(subscriber.receive(200ms));
  publisher.disconnect();
  subscriber.disconnect();
}

// The reason this client exists: PUBACK only on acknowledge(), so a crash between receiving and
// acknowledging means redelivery, and an acknowledged message is never delivered again.
TEST_F(MqttClientTest, UnacknowledgedPublicationIsRedeliveredAfterReconnect) {
  broker_->start();
  {
    Client first(options("at-least-once", /*clean_start=*/true));
    first.subscribe("it/redeliver", 1);
  }
  Client publisher(options("redeliver-pub"));
  const std::uint16_t ids[] = {publisher.publish("it/redeliver", "acked", 1, {}),
                               publisher.publish("it/redeliver", "not-acked", 1, {})};
  publisher.wait_for_acks(ids, 5s);

  Publication stale;
  {
    Client consumer(options("at-least-once", /*clean_start=*/false));
    EXPECT_TRUE(consumer.session_present());
    const auto a = consumer.receive(5s);
    const auto b = consumer.receive(5s);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->payload, "acked");
    EXPECT_EQ(b->payload, "not-acked");
    consumer.acknowledge(*a);
    // PUBACK for our own publish comes after the broker has processed the PUBACK above.
    const std::uint16_t sync[] = {consumer.publish("it/sync", "x", 1, {})};
    consumer.wait_for_acks(sync, 5s);
    stale = *b;
    // Destroyed without DISCONNECT and without acknowledging "not-acked": like a crash.
  }

  Client again(options("at-least-once", /*clean_start=*/false));
  EXPECT_TRUE(again.session_present());
  const auto redelivered = again.receive(5s);
  ASSERT_TRUE(redelivered);
  EXPECT_EQ(redelivered->payload, "not-acked");
  EXPECT_TRUE(redelivered->dup);
  EXPECT_FALSE(again.receive(1s)) << "the acknowledged message must not come again";
  EXPECT_THROW(again.acknowledge(stale), std::logic_error);  // of the old connection
  again.acknowledge(*redelivered);
  again.disconnect();

  Client last(options("at-least-once", /*clean_start=*/false));
  EXPECT_TRUE(last.session_present());
  EXPECT_FALSE(last.receive(1s)) << "acknowledged after redelivery: gone";
  last.disconnect();
}

// Mosquitto 2.0.11 keeps a persistent session and the messages queued for it over a graceful
// restart - but only if the session was created with clean_start = false: a session created by
// a clean_start = true CONNECT is not restored after a restart (although MQTT 5 says it lasts
// for its expiry interval).
TEST_F(MqttClientTest, QueuedPublicationSurvivesABrokerRestart) {
  broker_->start();
  auto o = options("restart-sub", /*clean_start=*/false);
  {
    Client consumer(o);
    consumer.subscribe("it/restart", 1);
    consumer.disconnect();
  }
  {
    Client publisher(options("restart-pub"));
    const std::uint16_t ids[] = {publisher.publish("it/restart", "queued", 1, {})};
    publisher.wait_for_acks(ids, 5s);
    publisher.disconnect();
  }
  broker_->stop();
  broker_->start();

  o.clean_start = false;
  Client consumer(o);
  EXPECT_TRUE(consumer.session_present());
  const auto got = consumer.receive(5s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->payload, "queued");
  consumer.acknowledge(*got);
  consumer.disconnect();
}

// Received but not acknowledged when the broker restarts: delivered again afterwards.
TEST_F(MqttClientTest, UnacknowledgedPublicationSurvivesABrokerRestart) {
  broker_->start();
  const auto o = options("inflight-sub", /*clean_start=*/false);
  {
    Client consumer(o);
    consumer.subscribe("it/inflight", 1);
    Client publisher(options("inflight-pub"));
    const std::uint16_t ids[] = {publisher.publish("it/inflight", "in flight", 1, {})};
    publisher.wait_for_acks(ids, 5s);
    const auto got = consumer.receive(5s);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->payload, "in flight");
    broker_->stop();
    EXPECT_THROW(consumer.receive(5s), MqttError);
  }
  broker_->start();
  Client consumer(o);
  EXPECT_TRUE(consumer.session_present());
  const auto again = consumer.receive(5s);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->payload, "in flight");
  consumer.acknowledge(*again);
  consumer.disconnect();
}

TEST_F(MqttClientTest, WaitForAcksCoversABatchOf500) {
  broker_->start();
  Client subscriber(options("batch-sub"));
  subscriber.subscribe("it/batch", 1);
  Client publisher(options("batch-pub"));
  std::vector<std::uint16_t> ids;
  for (int i = 0; i < 500; ++i) ids.push_back(publisher.publish("it/batch", "message " + std::to_string(i), 1, {}));
  EXPECT_EQ(std::set<std::uint16_t>(ids.begin(), ids.end()).size(), 500u);
  publisher.wait_for_acks(ids, 30s);
  EXPECT_THROW(publisher.wait_for_acks(ids, 1s), std::logic_error);  // collected already

  for (int i = 0; i < 500; ++i) {
    const auto got = subscriber.receive(10s);
    ASSERT_TRUE(got) << i;
    EXPECT_EQ(got->payload, "message " + std::to_string(i));
    subscriber.acknowledge(*got);
  }
  EXPECT_FALSE(subscriber.receive(200ms));
}

// A link cut while publications are in it: without a reset they arrive when it heals (TCP
// retransmits them); after the fence ends the wait and abort() resets the connection, they
// never do. That is what keeps an old term's messages from arriving after the next term's.
TEST_F(MqttClientTest, FenceEndsTheWaitAndAbortKeepsAStuckPublicationFromArrivingLater) {
  broker_->start();
  Client subscriber(options("fence-sub"));
  subscriber.subscribe("it/fence", 1);
  TcpProxy link(broker_->port());
  auto through_link = [&](const std::string& id) {
    auto o = options(id);
    o.port = link.port();
    return std::make_unique<Client>(o);
  };

  // Control: dropped with a plain close, the publication still arrives after the heal.
  auto plain = through_link("fence-plain");
  link.cut();
  plain->publish("it/fence", "closed plainly", 1, {});
  plain.reset();
  link.heal();
  expect_next(subscriber, "closed plainly");

  auto publisher = through_link("fence-pub");
  link.cut();
  FencingGate fence;
  fence.open_until(std::chrono::steady_clock::now() + 300ms, 1);
  const std::uint16_t stuck[] = {publisher->publish("it/fence", "given up on", 1, {})};
  const auto started = std::chrono::steady_clock::now();
  EXPECT_THROW(publisher->wait_for_acks(stuck, 10s, &fence), mqtt::Fenced);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "waited for the timeout, not the fence";
  publisher->abort();
  link.heal();
  const auto late = subscriber.receive(2s);
  EXPECT_FALSE(late) << "a publication given up on arrived after all: " << late->payload;
}

// A publisher frozen between its gate check and the write writes on resuming: publish() with
// the fence asks it again once the publication is written, before it leaves. Here the lease
// has already run out when publish() is called, which is what that second question sees.
TEST_F(MqttClientTest, PublicationWrittenAfterTheLeaseRanOutNeverLeaves) {
  broker_->start();
  Client subscriber(options("late-sub"));
  subscriber.subscribe("it/late", 1);
  FencingGate lease;
  lease.open_until(std::chrono::steady_clock::now() + 1h, 1);
  Client publisher(options("late-pub"));
  const std::uint16_t in_time[] = {publisher.publish("it/late", "in time", 1, {}, &lease)};
  publisher.wait_for_acks(in_time, 5s);
  expect_next(subscriber, "in time");

  lease.close();
  for (const int qos : {0, 1}) {
    Client late(options("late-pub-" + std::to_string(qos)));
    EXPECT_THROW(late.publish("it/late", "too late", qos, {}, &lease), mqtt::Fenced);
    EXPECT_THROW(late.publish("it/late", "after the reset", qos, {}), MqttError) << "the connection is reset";
  }
  const auto late = subscriber.receive(1s);
  EXPECT_FALSE(late) << "a publication written after the lease ran out arrived: " << late->payload;
}

TEST_F(MqttClientTest, RefusedPublicationFailsWaitForAcks) {
  write_file(dir_->path() / "acl", "user limited\ntopic readwrite allowed/#\n");
  broker_->add_user("limited", "limited-secret");
  broker_->set_extra_config("acl_file " + (dir_->path() / "acl").string());
  broker_->start();
  auto o = options("acl-pub");
  o.username = "limited";
  o.password = "limited-secret";
  Client publisher(o);
  const std::uint16_t ok[] = {publisher.publish("allowed/x", "fine", 1, {})};
  publisher.wait_for_acks(ok, 5s);
  const std::uint16_t denied[] = {publisher.publish("forbidden/x", "no", 1, {})};
  try {
    publisher.wait_for_acks(denied, 5s);
    ADD_FAILURE() << "a publication the ACL forbids was acknowledged as a success";
  } catch (const MqttError& e) {
    EXPECT_GE(e.reason_code(), 0x80);
    EXPECT_NE(std::string(e.what()).find("forbidden/x"), std::string::npos) << e.what();
  }
  try {
    publisher.subscribe("forbidden/#", 1);
    // Mosquitto 2.0.11 grants it and filters deliveries by the ACL instead.
  } catch (const MqttError& e) {
    EXPECT_GE(e.reason_code(), 0x80);
  }
}

TEST_F(MqttClientTest, WrongPasswordIsNotAuthorized) {
  broker_->add_user("alice", "right-password");
  broker_->start();
  auto o = options("auth");
  o.username = "alice";
  o.password = "wrong-password-123";
  try {
    Client c(o);
    FAIL() << "connected with a wrong password";
  } catch (const MqttError& e) {
    const std::string what = e.what();
    EXPECT_TRUE(e.reason_code() == 0x86 || e.reason_code() == 0x87) << e.reason_code();
    EXPECT_TRUE(what.find("not authorized") != std::string::npos ||
                what.find("bad user name or password") != std::string::npos)
        << what;
    EXPECT_NE(what.find("alice"), std::string::npos) << what;
    EXPECT_EQ(what.find("wrong-password-123"), std::string::npos) << what;
  }
  o.password = "right-password";
  Client ok(o);
  ok.disconnect();
}

TEST_F(MqttClientTest, ReceiveThrowsPromptlyWhenTheBrokerStops) {
  broker_->start();
  Client c(options("stop"));
  c.subscribe("it/stop", 1);
  broker_->stop();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(c.receive(60s), MqttError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_FALSE(c.connected());
  EXPECT_THROW(c.publish("it/stop", "x", 1, {}), MqttError);
  try {
    Client refused(options("stop-2"));
    FAIL() << "connected to a stopped broker";
  } catch (const MqttError& e) {
    EXPECT_EQ(e.reason_code(), 0);
    EXPECT_NE(std::string(e.what()).find("cannot connect"), std::string::npos) << e.what();
  }
}

TEST_F(MqttClientTest, ReceiveThrowsWhenTheBrokerHangs) {
  broker_->start();
  auto o = options("hang");
  o.keep_alive_seconds = 1;
  o.io_timeout = 1000ms;
  Client c(o);
  c.subscribe("it/hang", 1);
  EXPECT_FALSE(c.receive(1500ms));  // keep-alive pings answered while idle
  broker_->pause();
  const auto start = std::chrono::steady_clock::now();
  try {
    c.receive(60s);
    FAIL() << "receive returned from a hung broker";
  } catch (const MqttError& e) {
    EXPECT_NE(std::string(e.what()).find("PINGREQ"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  broker_->resume();
}

TEST_F(MqttClientTest, TlsWithTheRightCaWorksAndWithAWrongCaFails) {
  const fs::path certs = dir_->path() / "certs";
  const fs::path other = dir_->path() / "other";
  make_certificates(certs, "mi-mqtt-test-ca");
  make_certificates(other, "some-other-ca");
  broker_->enable_tls(certs / "server.pem", certs / "server.key");
  broker_->start();

  auto o = options("tls");
  o.host = "localhost";
  o.port = broker_->tls_port();
  o.tls = true;
  o.ca_file = (certs / "ca.pem").string();
  {
    Client c(o);
    c.subscribe("it/tls", 1);
    const std::uint16_t ids[] = {c.publish("it/tls", "over tls", 1, {})};
    c.wait_for_acks(ids, 5s);
    expect_next(c, "over tls");
    c.disconnect();
  }

  auto wrong_ca = o;
  wrong_ca.ca_file = (other / "ca.pem").string();
  try {
    Client c(wrong_ca);
    FAIL() << "TLS connection trusted a certificate of another CA";
  } catch (const MqttError& e) {
    EXPECT_EQ(e.reason_code(), 0);
    EXPECT_NE(std::string(e.what()).find("certificate verification failed"), std::string::npos) << e.what();
  }

  auto wrong_name = o;
  wrong_name.host = "127.0.0.1";  // the certificate names only localhost
  EXPECT_THROW(Client c(wrong_name), MqttError);

  auto missing_ca = o;
  missing_ca.ca_file = (dir_->path() / "no-such-ca.pem").string();
  EXPECT_THROW(Client c(missing_ca), MqttError);

  auto plain_to_tls = o;
  plain_to_tls.tls = false;
  plain_to_tls.io_timeout = 1000ms;
  EXPECT_THROW(Client c(plain_to_tls), MqttError);
}

}  // namespace
}  // namespace mi::integration
