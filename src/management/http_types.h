#pragma once
// HTTP as the management API sees it, independent of the server library, so handlers can
// be unit-tested and fuzzed without sockets.
#include <map>
#include <string>

namespace mi::management {

struct HttpRequest {
  std::string method;                          // GET, POST, ...
  std::string path;                            // without query string
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;  // extra headers, e.g. WWW-Authenticate, Allow
};

}  // namespace mi::management
