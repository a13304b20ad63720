// Internal to alerting: notification text beyond the public payload functions.
#pragma once

#include <string>
#include <vector>

#include "alerting/alerting.h"

namespace pharos::alerting {

bool AnyFiring(const Notification& n);
/// Alertmanager's default subject: "[FIRING:2] GroupValues (CommonValues)".
std::string EmailSubject(const Notification& n);
/// The whole message (headers, blank line, plain-text body) with CRLF line ends.
std::string EmailMessage(const Notification& n, const EmailConfig& config,
                         const std::string& external_url);
/// "a@x, B <b@y>" -> {"a@x", "b@y"}.
std::vector<std::string> SplitAddresses(const std::string& to);

}  // namespace pharos::alerting
