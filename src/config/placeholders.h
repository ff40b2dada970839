#pragma once
// Spring's property placeholders in configuration values: `${NAME}` and `${NAME:default}`,
// nested (`${A:${B:x}}`), inside longer text (`amqp://${HOST}:${PORT:5672}`), and escaped
// with a backslash as Spring Framework 6.2 does (`\${NAME}` is the literal text `${NAME}`).
//
// NAME is looked up in Spring's order of property sources: a `--NAME=value` argument, then an
// environment variable (NAME as written, with `.` and `-` as `_`, and that in upper case, as
// Spring's SystemEnvironmentPropertySource does), then a property of that name from the
// configuration files (relaxed binding, so `${server.port}` finds `server.port`). A value found
// that way is itself resolved. Then the default; with none, the value is a configuration error
// that names the key and the placeholder, never the value.
#include <string>
#include <vector>

#include "config/property_set.h"

namespace mi::config {

// Resolves every value of `properties` in place. Each resolved value's origin gains where its
// placeholders came from ("... (${ADMIN_PW} from environment variable ADMIN_PW)"), and it is
// marked secret if any of them came from a secret (a key or variable named like a password),
// so that it is masked wherever the key itself would not be. `environment`: "NAME=value".
void resolve_placeholders(PropertySet& properties, const std::vector<std::string>& environment, Problems& problems);

}  // namespace mi::config
