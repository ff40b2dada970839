#include "management/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

namespace mi::management {
namespace {

std::array<unsigned char, 32> sha256(const std::string& text) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), out.data());
  return out;
}

}  // namespace

bool decode_base64(const std::string& in, std::string& out) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > 8192) return false;
  std::string buf(in.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(buf.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return false;
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock counts the bytes of the padding; drop them.
  if (in.back() == '=') --len;
  if (in.size() >= 2 && in[in.size() - 2] == '=') --len;
  buf.resize(len);
  out = std::move(buf);
  return true;
}

Authenticator::Authenticator(bool enabled, const std::vector<config::UserSettings>& users)
    : enabled_(enabled) {
  for (const auto& u : users) {
    users_.push_back({sha256(u.name), sha256(u.password), u.is_admin() ? Access::kAdmin : Access::kRead});
  }
}

Access Authenticator::authenticate(const std::string& authorization) const {
  if (!enabled_) return Access::kAdmin;
  static const std::string kScheme = "Basic ";
  if (authorization.size() <= kScheme.size() ||
      OPENSSL_strncasecmp(authorization.c_str(), kScheme.c_str(), kScheme.size()) != 0) {
    return Access::kNone;
  }
  std::string decoded;
  if (!decode_base64(authorization.substr(kScheme.size()), decoded)) return Access::kNone;
  const size_t colon = decoded.find(':');
  if (colon == std::string::npos) return Access::kNone;
  // Compare hashes of equal length in constant time and visit every user, so neither the
  // length nor the position of a match shows in the timing.
  const auto name = sha256(decoded.substr(0, colon));
  const auto password = sha256(decoded.substr(colon + 1));
  Access granted = Access::kNone;
  for (const auto& u : users_) {
    const int name_diff = CRYPTO_memcmp(name.data(), u.name_hash.data(), name.size());
    const int password_diff = CRYPTO_memcmp(password.data(), u.password_hash.data(), password.size());
    if ((name_diff | password_diff) == 0) granted = u.access;
  }
  return granted;
}

}  // namespace mi::management
