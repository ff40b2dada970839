#pragma once
// The management API (/actuator/...): routing, authentication and error responses. Each
// endpoint's content is built in its own file (see endpoints.h).
#include "common/clock.h"
#include "management/auth.h"
#include "management/endpoints.h"
#include "management/http_types.h"

namespace mi::management {

// Bodies larger than this are refused with 413 before they are read.
inline constexpr size_t kMaxRequestBody = 16 * 1024;

class ManagementApi {
 public:
  ManagementApi(ManagementContext context, Authenticator authenticator, Clock& clock);

  // Never throws: every failure becomes a JSON error response.
  HttpResponse handle(const HttpRequest& request) const;

  // Spring Boot's error body: timestamp, status, error, message, path.
  HttpResponse error(int status, const std::string& message, const std::string& path) const;

 private:
  HttpResponse route(const HttpRequest& request, Access access) const;
  HttpResponse workflow_command(const HttpRequest& request, int id) const;
  HttpResponse leader_command(const HttpRequest& request) const;
  HttpResponse logger_command(const HttpRequest& request, const std::string& name) const;

  ManagementContext context_;
  Authenticator authenticator_;
  Clock& clock_;
};

}  // namespace mi::management
