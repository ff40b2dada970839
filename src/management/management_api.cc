#include "management/management_api.h"

#include <charconv>
#include <optional>

#include "common/bounded_json.h"
#include "common/logging.h"

namespace mi::management {
namespace {

std::string reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

HttpResponse json_response(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

std::string lower_case(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A browser that holds Basic credentials sends them to any page's requests; what it cannot
// forge is Origin, and (without a CORS preflight, which this API never grants) a JSON
// Content-Type. So a change is made only for a request that has application/json and,
// if it has an Origin, the one of the Host it was sent to.
std::optional<std::string> cross_site_problem(const HttpRequest& request) {
  const std::string origin = request.header("origin");
  if (!origin.empty()) {
    const size_t scheme_end = origin.find("://");
    const std::string authority = scheme_end == std::string::npos ? "" : lower_case(origin.substr(scheme_end + 3));
    if (authority.empty() || authority != lower_case(request.header("host"))) {
      return "cross-origin request refused (Origin " + origin + ")";
    }
  }
  return std::nullopt;
}

// "application/json", with parameters (charset) or not.
bool is_json_content_type(const std::string& content_type) {
  std::string media = lower_case(content_type.substr(0, content_type.find(';')));
  std::erase(media, ' ');
  return media == "application/json";
}

std::string trim_trailing_slash(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// "/actuator/workflows/12" -> 12; nothing for anything but a plain decimal.
std::optional<int> parse_workflow_id(std::string_view text) {
  int id = 0;
  if (text.empty() || text.size() > 3) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return id;
}

constexpr std::string_view kWorkflowsPrefix = "/actuator/workflows/";
constexpr std::string_view kLoggersPrefix = "/actuator/loggers/";

}  // namespace

ManagementApi::ManagementApi(ManagementContext context, Authenticator authenticator, Clock& clock)
    : context_(context), authenticator_(std::move(authenticator)), clock_(clock) {}

HttpResponse ManagementApi::error(int status, const std::string& message,
                                  const std::string& path) const {
  HttpResponse r = json_response(status, {{"timestamp", to_iso8601(clock_.wall_now())},
                                          {"status", status},
                                          {"error", reason_phrase(status)},
                                          {"message", message},
                                          {"path", path}});
  if (status == 401) r.headers["WWW-Authenticate"] = "Basic realm=\"micro-integration\"";
  return r;
}

HttpResponse ManagementApi::handle(const HttpRequest& request) const {
  try {
    const Access access = authenticator_.authenticate(request.header("authorization"));
    return route(request, access);
  } catch (const std::exception& e) {
    logger("management")->error("{} {} failed: {}", request.method, request.path, e.what());
    return error(500, "internal error", request.path);
  }
}

HttpResponse ManagementApi::route(const HttpRequest& request, Access access) const {
  const std::string path = trim_trailing_slash(request.path);
  const bool get = request.method == "GET" || request.method == "HEAD";
  auto method_not_allowed = [&](const std::string& allow) {
    HttpResponse r = error(405, request.method + " is not supported here; use " + allow, path);
    r.headers["Allow"] = allow;
    return r;
  };

  // Endpoints left out by management.endpoints.web.exposure.* do not exist.
  const auto exposed = [this](const char* id) {
    return !context_.settings || context_.settings->exposed_endpoints.count(id) > 0;
  };
  const auto endpoint_id = [](const std::string& p) -> std::string {
    const std::string prefix = "/actuator/";
    if (p.rfind(prefix, 0) != 0) return "";
    const std::string rest = p.substr(prefix.size());
    return rest.substr(0, rest.find('/'));
  };
  // Before authentication only for health, which is public: for the others a 404 without
  // credentials would tell which endpoints exist.
  const std::string endpoint = endpoint_id(path);
  if (endpoint == "health" && !exposed("health")) return error(404, "no endpoint at " + path, path);

  // The Kubernetes probes are as public as the health status.
  if (path == "/actuator/health/liveness" || path == "/actuator/health/readiness") {
    if (!get) return method_not_allowed("GET");
    const HealthStatus s = path == "/actuator/health/liveness" ? liveness(context_) : readiness(context_);
    const bool down = s == HealthStatus::kDown || s == HealthStatus::kOutOfService;
    return json_response(down ? 503 : 200, {{"status", std::string(to_string(s))}});
  }

  // Health status is public; its details are for authenticated users.
  if (path == "/actuator/health") {
    if (!get) return method_not_allowed("GET");
    const HealthReport report = health(context_);
    nlohmann::json body = {{"status", std::string(to_string(report.status))}};
    if (access != Access::kNone) body["components"] = report.components;
    const bool down = report.status == HealthStatus::kDown || report.status == HealthStatus::kOutOfService;
    return json_response(down ? 503 : 200, body);
  }

  // 401 before 404: without credentials nothing tells which endpoints exist.
  if (access == Access::kNone) {
    return error(401, "credentials required (HTTP Basic, solace.connector.security.users)", path);
  }
  const bool known = path == "/actuator" || path == "/actuator/leaderelection" ||
                     path == "/actuator/workflows" || path == "/actuator/prometheus" ||
                     path == "/actuator/info" || path == "/actuator/loggers" ||
                     (path.rfind(kLoggersPrefix, 0) == 0 && path.size() > kLoggersPrefix.size()) ||
                     (path.rfind(kWorkflowsPrefix, 0) == 0 && path.size() > kWorkflowsPrefix.size());
  if (!known || (!endpoint.empty() && !exposed(endpoint.c_str()))) return error(404, "no endpoint at " + path, path);
  if (!get) {
    if (auto problem = cross_site_problem(request)) return error(403, *problem, path);
  }

  if (path.rfind(kWorkflowsPrefix, 0) == 0) {
    const auto id = parse_workflow_id(std::string_view(path).substr(kWorkflowsPrefix.size()));
    workflow::Workflow* w = id ? context_.workflows->find(*id) : nullptr;
    if (!w) return error(404, "no workflow " + path.substr(kWorkflowsPrefix.size()), path);
    if (get) return json_response(200, workflow_json(*w));
    if (request.method != "POST") return method_not_allowed("GET, POST");
    if (access != Access::kAdmin) return error(403, "changing a workflow needs the admin role", path);
    if (!is_json_content_type(request.header("content-type"))) {
      return error(415, "Content-Type must be application/json", path);
    }
    return workflow_command(request, *id);
  }

  if (path.rfind(kLoggersPrefix, 0) == 0) {
    const std::string name = path.substr(kLoggersPrefix.size());
    if (request.method == "POST") {
      if (access != Access::kAdmin) return error(403, "changing a log level needs the admin role", path);
      if (!is_json_content_type(request.header("content-type"))) {
        return error(415, "Content-Type must be application/json", path);
      }
      return logger_command(request, name);
    }
    if (!get) return method_not_allowed("GET, POST");
    const auto logger_level = logger_json(name);
    if (!logger_level) return error(404, "no logger " + name + " (GET /actuator/loggers lists them)", path);
    return json_response(200, *logger_level);
  }
  if (path == "/actuator/leaderelection" && request.method == "POST") {
    if (access != Access::kAdmin) return error(403, "yielding leadership needs the admin role", path);
    if (!is_json_content_type(request.header("content-type"))) {
      return error(415, "Content-Type must be application/json", path);
    }
    return leader_command(request);
  }
  if (!get) return method_not_allowed(path == "/actuator/leaderelection" ? "GET, POST" : "GET");
  if (path == "/actuator") {
    nlohmann::json links = nlohmann::json::object();
    for (const char* name : config::kActuatorEndpoints) {
      if (exposed(name)) links[name] = {{"href", std::string("/actuator/") + name}};
    }
    return json_response(200, {{"_links", links}});
  }
  if (path == "/actuator/leaderelection") return json_response(200, leader_election_json(context_));
  if (path == "/actuator/workflows") return json_response(200, workflows_json(context_));
  if (path == "/actuator/loggers") return json_response(200, loggers_json());
  if (path == "/actuator/info") {
    return json_response(200, {{"app", {{"name", "micro-integration"}, {"version", context_.version}}}});
  }
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = prometheus_text(context_);
  return r;
}

// POST /actuator/loggers/{name} {"configuredLevel":"DEBUG"}: 204, as Spring Boot answers;
// {"configuredLevel":null} hands the logger back to ROOT.
HttpResponse ManagementApi::logger_command(const HttpRequest& request, const std::string& name) const {
  const std::string& path = request.path;
  nlohmann::json body;
  try {
    body = parse_bounded_json(request.body);
  } catch (const std::exception&) {  // malformed, or nested deeper than kMaxJsonDepth
    return error(400, "body must be JSON: {\"configuredLevel\":\"DEBUG\"}", path);
  }
  if (!body.is_object() || !body.contains("configuredLevel") ||
      !(body["configuredLevel"].is_string() || body["configuredLevel"].is_null())) {
    return error(400, "body must be {\"configuredLevel\": TRACE, DEBUG, INFO, WARN, ERROR, OFF or null}", path);
  }
  std::optional<spdlog::level::level_enum> level;
  if (body["configuredLevel"].is_string()) {
    spdlog::level::level_enum parsed;
    if (!parse_log_level(body["configuredLevel"].get<std::string>(), parsed)) {
      return error(400, "configuredLevel must be TRACE, DEBUG, INFO, WARN, ERROR, OFF or null", path);
    }
    level = parsed;
  }
  if (!logger_json(name)) return error(404, "no logger " + name + " (GET /actuator/loggers lists them)", path);
  set_logger_level(name, level);
  logger("management")->info("log level of {} set to {} through the API", name,
                             level ? log_level_name(*level) : std::string("that of ROOT"));
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

HttpResponse ManagementApi::leader_command(const HttpRequest& request) const {
  const std::string& path = request.path;
  nlohmann::json body;
  try {
    body = parse_bounded_json(request.body);
  } catch (const std::exception&) {  // malformed, or nested deeper than kMaxJsonDepth
    return error(400, "body must be JSON: {\"action\":\"YIELD\"}", path);
  }
  if (!body.is_object() || !body.contains("action") || !body["action"].is_string() ||
      body["action"].get<std::string>() != "YIELD") {
    return error(400, "body must be {\"action\":\"YIELD\"}", path);
  }
  if (context_.leader->mode() != config::LeaderMode::kActiveStandby || !context_.request_yield) {
    return error(409, "only an active_standby instance can yield", path);
  }
  if (!context_.request_yield()) return error(409, "this instance is not active", path);
  logger("management")->info("leadership yield requested through the management API");
  return json_response(202, {{"status", "yielding: stopping workflows, then handing the flow to a standby"}});
}

HttpResponse ManagementApi::workflow_command(const HttpRequest& request, int id) const {
  const std::string& path = request.path;
  static const char* kAllowed = "STARTED, STOPPED, PAUSED, RESUMED";
  nlohmann::json body;
  try {
    body = parse_bounded_json(request.body);
  } catch (const std::exception&) {  // malformed, or nested deeper than kMaxJsonDepth
    return error(400, std::string("body must be JSON such as {\"state\":\"STOPPED\"}; state is one of ") +
                          kAllowed, path);
  }
  if (!body.is_object() || !body.contains("state") || !body["state"].is_string()) {
    return error(400, std::string("body needs \"state\": one of ") + kAllowed, path);
  }
  const std::string wanted = body["state"].get<std::string>();
  using leader::WorkflowCommand;
  std::optional<WorkflowCommand> command;
  for (auto c : {WorkflowCommand::kStart, WorkflowCommand::kStop, WorkflowCommand::kPause, WorkflowCommand::kResume}) {
    if (wanted == leader::to_string(c)) command = c;
  }
  if (!command) return error(400, "state '" + wanted + "' is not one of " + kAllowed, path);
  // The leader's thread carries it out (it owns every change of a workflow's state); a change
  // of leadership under way is waited for up to the shutdown timeout.
  const auto result = context_.leader->command(id, *command, context_.settings->shutdown_timeout);
  using Code = leader::CommandResult::Code;
  switch (result.code) {
    case Code::kDone: break;
    case Code::kNotFound: return error(404, result.message, path);
    case Code::kBusy:
    case Code::kShuttingDown: return error(503, result.message, path);
    case Code::kDisabled:
    case Code::kStandby:
    case Code::kRefused: return error(409, result.message, path);
  }
  logger("management")->info("workflow {} set to {} through the management API", id, wanted);
  return json_response(200, workflow_json(*context_.workflows->find(id)));
}

}  // namespace mi::management
