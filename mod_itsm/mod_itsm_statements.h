/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Every SQL statement the module runs after start-up, prepared once per
 * connection by mod_dbd under the label "itsm_<name>". Parameters are %s
 * (apr_dbd passes them as text); SQL here must contain no other '%'.
 * Booleans are 0/1 integers and times UTC milliseconds, so the same text
 * serves SQLite and PostgreSQL. Included several times with different
 * definitions of ITSM_STMT. */

#define ITSM_USER_COLUMNS \
    "id, email, first_name, last_name, role, is_active, token_version, " \
    "created_at, updated_at, password_hash, row_version"

ITSM_STMT(ping, "SELECT 1")

ITSM_STMT(user_count, "SELECT COUNT(*) FROM users")

ITSM_STMT(user_insert,
    "INSERT INTO users (id, email, email_key, first_name, last_name, "
    "password_hash, role, is_active, token_version, created_at, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, CAST(%s AS INTEGER), 0, "
    "CAST(%s AS BIGINT), CAST(%s AS BIGINT)) ON CONFLICT DO NOTHING")

ITSM_STMT(user_by_id,
    "SELECT " ITSM_USER_COLUMNS " FROM users WHERE id = %s")

ITSM_STMT(user_by_email,
    "SELECT " ITSM_USER_COLUMNS " FROM users WHERE email_key = %s")

/* Filters are skipped when their parameter is NULL. */
#define ITSM_USER_FILTER \
    "(CAST(%s AS TEXT) IS NULL OR role = %s) AND " \
    "(CAST(%s AS INTEGER) IS NULL OR is_active = CAST(%s AS INTEGER))"

/* A page of users after a (created_at, id) cursor. */
ITSM_STMT(user_page,
    "SELECT " ITSM_USER_COLUMNS " FROM users WHERE " ITSM_USER_FILTER
    " AND (created_at > CAST(%s AS BIGINT) OR (created_at = "
    "CAST(%s AS BIGINT) AND id > %s)) ORDER BY created_at, id "
    "LIMIT CAST(%s AS INTEGER)")

ITSM_STMT(user_page_count,
    "SELECT COUNT(*) FROM users WHERE " ITSM_USER_FILTER)

/* Applies an update computed from the row as read at row_version. The
 * token version is raised by the given amount (1 on deactivation) and
 * never set, so a concurrent password change is not undone. The flag
 * before the last id is 1 when the row stays an active admin. Otherwise
 * another active admin must exist, so that the last one is never demoted
 * or deactivated, even by concurrent requests. */
ITSM_STMT(user_update,
    "UPDATE users SET email = %s, email_key = %s, first_name = %s, "
    "last_name = %s, role = %s, is_active = CAST(%s AS INTEGER), "
    "token_version = token_version + CAST(%s AS INTEGER), "
    "updated_at = CAST(%s AS BIGINT), row_version = row_version + 1 "
    "WHERE id = %s AND row_version = CAST(%s AS INTEGER) AND "
    "(CAST(%s AS INTEGER) = 1 OR EXISTS (SELECT 1 FROM "
    "users o WHERE o.role = 'admin' AND o.is_active = 1 AND o.id <> %s))")

ITSM_STMT(user_set_password,
    "UPDATE users SET password_hash = %s, "
    "token_version = token_version + 1, updated_at = CAST(%s AS BIGINT), "
    "row_version = row_version + 1 WHERE id = %s")

/* Stores a hash with current parameters after a successful login, unless
 * the password changed meanwhile. */
ITSM_STMT(user_rehash,
    "UPDATE users SET password_hash = %s WHERE id = %s AND "
    "password_hash = %s")

ITSM_STMT(user_delete,
    "DELETE FROM users WHERE id = %s AND (NOT (role = 'admin' AND "
    "is_active = 1) OR EXISTS (SELECT 1 FROM users o WHERE "
    "o.role = 'admin' AND o.is_active = 1 AND o.id <> %s))")

#define ITSM_INTEGRATION_COLUMNS \
    "id, name, description, type, base_url, auth_type, credentials, " \
    "options, ca_certificate, endpoints, is_active, health_status, " \
    "health_message, health_checked_at, health_latency_ms, " \
    "health_http_status, consecutive_failures, created_by, created_at, " \
    "updated_at, row_version"

ITSM_STMT(integration_insert,
    "INSERT INTO integrations (id, name, name_key, description, type, "
    "base_url, auth_type, credentials, options, ca_certificate, endpoints, "
    "is_active, health_status, health_message, health_checked_at, "
    "created_by, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, "
    "%s, %s, %s, %s, %s, CAST(%s AS INTEGER), %s, %s, CAST(%s AS BIGINT), "
    "%s, CAST(%s AS BIGINT), CAST(%s AS BIGINT)) ON CONFLICT DO NOTHING")

ITSM_STMT(integration_by_name,
    "SELECT id FROM integrations WHERE name_key = %s")

ITSM_STMT(integration_by_id,
    "SELECT " ITSM_INTEGRATION_COLUMNS " FROM integrations WHERE id = %s")

/* Filters on type, activation, health status and a lower-case name
 * prefix, each skipped when its parameter is NULL. */
#define ITSM_INTEGRATION_FILTER \
    "(CAST(%s AS TEXT) IS NULL OR type = %s) AND " \
    "(CAST(%s AS INTEGER) IS NULL OR is_active = CAST(%s AS INTEGER)) AND " \
    "(CAST(%s AS TEXT) IS NULL OR health_status = %s) AND " \
    "(CAST(%s AS TEXT) IS NULL OR substr(name_key, 1, " \
    "length(CAST(%s AS TEXT))) = %s)"

/* A page of integrations after a (created_at, id) cursor. */
ITSM_STMT(integration_page,
    "SELECT " ITSM_INTEGRATION_COLUMNS " FROM integrations WHERE "
    ITSM_INTEGRATION_FILTER " AND (created_at > CAST(%s AS BIGINT) OR "
    "(created_at = CAST(%s AS BIGINT) AND id > %s)) ORDER BY created_at, id "
    "LIMIT CAST(%s AS INTEGER)")

ITSM_STMT(integration_page_count,
    "SELECT COUNT(*) FROM integrations WHERE " ITSM_INTEGRATION_FILTER)

ITSM_STMT(integration_update,
    "UPDATE integrations SET name = %s, name_key = %s, description = %s, "
    "type = %s, base_url = %s, auth_type = %s, credentials = %s, "
    "options = %s, ca_certificate = %s, endpoints = %s, "
    "is_active = CAST(%s AS INTEGER), health_status = %s, "
    "health_message = %s, health_checked_at = CAST(%s AS BIGINT), "
    "health_latency_ms = CASE WHEN CAST(%s AS INTEGER) = 1 THEN NULL "
    "ELSE health_latency_ms END, "
    "health_http_status = CASE WHEN CAST(%s AS INTEGER) = 1 THEN NULL "
    "ELSE health_http_status END, "
    "updated_at = CAST(%s AS BIGINT), row_version = row_version + 1 "
    "WHERE id = %s AND row_version = CAST(%s AS INTEGER)")

ITSM_STMT(integration_delete, "DELETE FROM integrations WHERE id = %s")

/* Writes a manual probe result unless the integration was deactivated
 * while the probe ran. The sixth parameter is 1 for a failed check. */
ITSM_STMT(integration_health_update,
    "UPDATE integrations SET health_status = %s, health_message = %s, "
    "health_checked_at = CAST(%s AS BIGINT), "
    "health_latency_ms = CAST(%s AS INTEGER), "
    "health_http_status = CAST(%s AS INTEGER), consecutive_failures = "
    "CASE WHEN CAST(%s AS INTEGER) = 1 THEN consecutive_failures + 1 "
    "ELSE 0 END, consecutive_successes = CASE WHEN CAST(%s AS INTEGER) = 1 "
    "THEN 0 ELSE consecutive_successes + 1 END "
    "WHERE id = %s AND is_active = 1")

/* Writes a background check's verdict and next due time, unless the
 * integration was changed (updated_at) or deactivated while it ran. */
ITSM_STMT(integration_check_update,
    "UPDATE integrations SET health_status = %s, health_message = %s, "
    "health_checked_at = CAST(%s AS BIGINT), "
    "health_latency_ms = CAST(%s AS INTEGER), "
    "health_http_status = CAST(%s AS INTEGER), "
    "consecutive_failures = CAST(%s AS INTEGER), "
    "consecutive_successes = CAST(%s AS INTEGER), "
    "auth_failures = CAST(%s AS INTEGER), "
    "next_check_at = CAST(%s AS BIGINT) "
    "WHERE id = %s AND is_active = 1 AND updated_at = CAST(%s AS BIGINT)")

/* Claims up to a batch of due integrations for one runner: their due time
 * moves past the probe's timeout at once, so no other child or server
 * takes them, and a runner that dies leaves them due again later. The
 * outer due-time test makes PostgreSQL re-check rows another server
 * claimed concurrently. */
ITSM_STMT(integration_claim_due,
    "UPDATE integrations SET next_check_at = CAST(%s AS BIGINT) "
    "WHERE is_active = 1 AND next_check_at <= CAST(%s AS BIGINT) AND id IN "
    "(SELECT id FROM integrations WHERE is_active = 1 AND "
    "next_check_at <= CAST(%s AS BIGINT) ORDER BY next_check_at "
    "LIMIT CAST(%s AS INTEGER)) RETURNING id, name, type, base_url, "
    "auth_type, credentials, options, ca_certificate, health_status, "
    "health_message, consecutive_failures, consecutive_successes, "
    "auth_failures, updated_at")

/* Hands back the claim of an abandoned check: the integration is due at
 * the given time unless it was rescheduled since (the third parameter is
 * the claim's due time). */
ITSM_STMT(integration_release_claim,
    "UPDATE integrations SET next_check_at = CAST(%s AS BIGINT) "
    "WHERE id = %s AND next_check_at = CAST(%s AS BIGINT)")

/* Sets when an integration is probed next and resets its count of
 * rejected credentials: after create, activation or a change of URL or
 * credentials. */
ITSM_STMT(integration_reschedule,
    "UPDATE integrations SET next_check_at = CAST(%s AS BIGINT), "
    "auth_failures = 0 WHERE id = %s")

ITSM_STMT(health_hourly_add,
    "INSERT INTO health_hourly (integration_id, hour, checks, healthy) "
    "VALUES (%s, CAST(%s AS BIGINT), 1, CAST(%s AS INTEGER)) "
    "ON CONFLICT (integration_id, hour) DO UPDATE SET "
    "checks = health_hourly.checks + 1, "
    "healthy = health_hourly.healthy + excluded.healthy")

/* Uptime per integration: checks and healthy checks since each of three
 * times (24 hours, 7 days, 30 days ago). */
ITSM_STMT(health_uptime_all,
    "SELECT integration_id, "
    "SUM(CASE WHEN hour >= CAST(%s AS BIGINT) THEN checks ELSE 0 END), "
    "SUM(CASE WHEN hour >= CAST(%s AS BIGINT) THEN healthy ELSE 0 END), "
    "SUM(CASE WHEN hour >= CAST(%s AS BIGINT) THEN checks ELSE 0 END), "
    "SUM(CASE WHEN hour >= CAST(%s AS BIGINT) THEN healthy ELSE 0 END), "
    "SUM(checks), SUM(healthy) FROM health_hourly "
    "WHERE hour >= CAST(%s AS BIGINT) GROUP BY integration_id")

ITSM_STMT(health_uptime_one,
    "SELECT integration_id, "
    "SUM(CASE WHEN hour >= CAST(%s AS BIGINT) THEN checks ELSE 0 END), "
    "SUM(CASE WHEN hour >= CAST(%s AS BIGINT) THEN healthy ELSE 0 END), "
    "SUM(CASE WHEN hour >= CAST(%s AS BIGINT) THEN checks ELSE 0 END), "
    "SUM(CASE WHEN hour >= CAST(%s AS BIGINT) THEN healthy ELSE 0 END), "
    "SUM(checks), SUM(healthy) FROM health_hourly "
    "WHERE hour >= CAST(%s AS BIGINT) AND integration_id = %s "
    "GROUP BY integration_id")

/* History, newest first, below an id cursor. */
ITSM_STMT(health_history,
    "SELECT id, checked_at, status, latency_ms, http_status, message "
    "FROM health_checks WHERE integration_id = %s AND "
    "id < CAST(%s AS BIGINT) ORDER BY id DESC LIMIT CAST(%s AS INTEGER)")

ITSM_STMT(health_history_purge,
    "DELETE FROM health_checks WHERE checked_at < CAST(%s AS BIGINT)")

ITSM_STMT(health_hourly_purge,
    "DELETE FROM health_hourly WHERE hour < CAST(%s AS BIGINT)")

ITSM_STMT(health_hourly_delete,
    "DELETE FROM health_hourly WHERE integration_id = %s")

ITSM_STMT(health_status_counts,
    "SELECT health_status, COUNT(*) FROM integrations "
    "GROUP BY health_status")

ITSM_STMT(health_not_healthy,
    "SELECT id, name, type, health_status, health_message, "
    "health_checked_at, consecutive_failures FROM integrations "
    "WHERE health_status NOT IN ('healthy', 'inactive') "
    "ORDER BY name_key LIMIT CAST(%s AS INTEGER)")

ITSM_STMT(integration_sealed_credentials,
    "SELECT id, credentials FROM integrations WHERE credentials IS NOT NULL")

/* Replaces a ciphertext only if no other request changed it meanwhile. */
ITSM_STMT(integration_reseal,
    "UPDATE integrations SET credentials = %s WHERE id = %s AND "
    "credentials = %s")

ITSM_STMT(health_check_insert,
    "INSERT INTO health_checks (integration_id, checked_at, status, "
    "latency_ms, http_status, message) VALUES (%s, CAST(%s AS BIGINT), %s, "
    "CAST(%s AS INTEGER), CAST(%s AS INTEGER), %s)")

ITSM_STMT(health_checks_delete,
    "DELETE FROM health_checks WHERE integration_id = %s")

ITSM_STMT(managers_of,
    "SELECT user_id FROM integration_managers WHERE integration_id = %s "
    "ORDER BY position")

ITSM_STMT(managers_all,
    "SELECT integration_id, user_id FROM integration_managers "
    "ORDER BY integration_id, position")

ITSM_STMT(manager_insert,
    "INSERT INTO integration_managers (integration_id, user_id, position) "
    "VALUES (%s, %s, CAST(%s AS INTEGER))")

ITSM_STMT(managers_delete,
    "DELETE FROM integration_managers WHERE integration_id = %s")

ITSM_STMT(manager_remove_user,
    "DELETE FROM integration_managers WHERE user_id = %s")

#define ITSM_API_KEY_COLUMNS \
    "id, name, user_id, scope, secret_hash, created_by, created_at, " \
    "expires_at, last_used_at, revoked_at"

ITSM_STMT(api_key_insert,
    "INSERT INTO api_keys (id, name, user_id, scope, secret_hash, "
    "created_by, created_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, "
    "CAST(%s AS BIGINT), CAST(%s AS BIGINT))")

ITSM_STMT(api_key_by_id,
    "SELECT " ITSM_API_KEY_COLUMNS " FROM api_keys WHERE id = %s")

/* Keys after a (created_at, id) cursor, oldest first. */
ITSM_STMT(api_key_list,
    "SELECT " ITSM_API_KEY_COLUMNS " FROM api_keys WHERE "
    "(created_at > CAST(%s AS BIGINT) OR (created_at = CAST(%s AS BIGINT) "
    "AND id > %s)) ORDER BY created_at, id LIMIT CAST(%s AS INTEGER)")

ITSM_STMT(api_key_count, "SELECT COUNT(*) FROM api_keys")

ITSM_STMT(api_key_revoke,
    "UPDATE api_keys SET revoked_at = CAST(%s AS BIGINT) WHERE id = %s "
    "AND revoked_at IS NULL")

/* Records use at most once a minute, so that busy keys cost no write per
 * request. */
ITSM_STMT(api_key_touch,
    "UPDATE api_keys SET last_used_at = CAST(%s AS BIGINT) WHERE id = %s "
    "AND (last_used_at IS NULL OR last_used_at < CAST(%s AS BIGINT))")

ITSM_STMT(auth_failure_get,
    "SELECT failures, window_start FROM auth_failures WHERE subject = %s")

/* Counts a failure; a window that has ended starts again at 1. */
ITSM_STMT(auth_failure_add,
    "INSERT INTO auth_failures (subject, failures, window_start) VALUES "
    "(%s, 1, CAST(%s AS BIGINT)) ON CONFLICT (subject) DO UPDATE SET "
    "failures = CASE WHEN auth_failures.window_start <= CAST(%s AS BIGINT) "
    "THEN 1 ELSE auth_failures.failures + 1 END, "
    "window_start = CASE WHEN auth_failures.window_start <= "
    "CAST(%s AS BIGINT) THEN excluded.window_start "
    "ELSE auth_failures.window_start END")

ITSM_STMT(auth_failure_clear, "DELETE FROM auth_failures WHERE subject = %s")

/* Gives back one counted attempt, after it succeeded. */
ITSM_STMT(auth_failure_forgive,
    "UPDATE auth_failures SET failures = failures - 1 WHERE subject = %s "
    "AND failures > 0")

ITSM_STMT(auth_failure_purge,
    "DELETE FROM auth_failures WHERE window_start < CAST(%s AS BIGINT)")

ITSM_STMT(audit_insert,
    "INSERT INTO audit_log (at, actor_type, actor_id, action, target_type, "
    "target_id, client_ip, request_id, outcome, details) VALUES "
    "(CAST(%s AS BIGINT), %s, %s, %s, %s, %s, %s, %s, %s, %s)")

/* Newest first below an id cursor; each filter is skipped when its
 * parameter is NULL. */
#define ITSM_AUDIT_FILTER \
    "(CAST(%s AS TEXT) IS NULL OR actor_id = %s) AND " \
    "(CAST(%s AS TEXT) IS NULL OR action = %s) AND " \
    "(CAST(%s AS TEXT) IS NULL OR target_type = %s) AND " \
    "(CAST(%s AS TEXT) IS NULL OR target_id = %s) AND " \
    "at >= CAST(%s AS BIGINT) AND at <= CAST(%s AS BIGINT)"

ITSM_STMT(audit_list,
    "SELECT id, at, actor_type, actor_id, action, target_type, target_id, "
    "client_ip, request_id, outcome, details FROM audit_log WHERE "
    ITSM_AUDIT_FILTER " AND id < CAST(%s AS BIGINT) "
    "ORDER BY id DESC LIMIT CAST(%s AS INTEGER)")

ITSM_STMT(audit_count,
    "SELECT COUNT(*) FROM audit_log WHERE " ITSM_AUDIT_FILTER)
