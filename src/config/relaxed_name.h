#pragma once
// Spring Boot's relaxed binding: `msgVpn`, `msg-vpn`, `msg_vpn` and `MSGVPN` name the same
// key. Every key is compared in its canonical form: segments separated by dots, lower case,
// without dashes or underscores, list indexes as their own segment (`users[0]` -> `users.0`).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mi::config {

std::string canonical_segment(std::string_view segment);
std::string canonical_key(std::string_view key);
std::vector<std::string> split_key(std::string_view canonical);

// SOLACE_CONNECTOR_WORKFLOWS_0_ENABLED -> solace.connector.workflows.0.enabled. Returns
// nothing for variables outside the product's namespaces (PATH, HOME, ...).
std::optional<std::string> key_from_environment_variable(std::string_view name);

// Keys whose last segment says they hold a credential (password, secret, token, ...).
bool is_secret_key(std::string_view canonical);

inline constexpr std::string_view kMask = "******";

}  // namespace mi::config
