#pragma once
// HTTP Basic authentication as the Java product does it: users from
// solace.connector.security.users; no role = read, role `admin` = read and change.
#include <array>
#include <string>
#include <vector>

#include "config/settings.h"

namespace mi::management {

enum class Access { kNone, kRead, kAdmin };

class Authenticator {
 public:
  Authenticator(bool enabled, const std::vector<config::UserSettings>& users);

  // From an Authorization header value. kNone for a missing, malformed or wrong credential.
  // With security disabled everyone is admin.
  Access authenticate(const std::string& authorization) const;

 private:
  struct User {
    std::array<unsigned char, 32> name_hash;
    std::array<unsigned char, 32> password_hash;
    Access access;
  };
  bool enabled_;
  std::vector<User> users_;
};

// Decodes standard base64; false on invalid input.
bool decode_base64(const std::string& in, std::string& out);

}  // namespace mi::management
