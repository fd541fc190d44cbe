/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Every SQL statement the module runs after start-up, prepared once per
 * connection by mod_dbd under the label "itsm_<name>". Parameters are %s
 * (apr_dbd passes them as text); SQL here must contain no other '%'.
 * Booleans are 0/1 integers and times UTC milliseconds, so the same text
 * serves SQLite and PostgreSQL. Included several times with different
 * definitions of ITSM_STMT. */

#define ITSM_USER_COLUMNS \
    "id, email, first_name, last_name, role, is_active, token_version, " \
    "created_at, updated_at, password_hash"

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

ITSM_STMT(user_list,
    "SELECT " ITSM_USER_COLUMNS " FROM users ORDER BY created_at, id "
    "LIMIT CAST(%s AS INTEGER)")

/* The last parameter is 1 when the row stays an active admin; otherwise
 * another active admin must exist, so the last one is never demoted or
 * deactivated, even by concurrent requests. */
ITSM_STMT(user_update,
    "UPDATE users SET email = %s, email_key = %s, first_name = %s, "
    "last_name = %s, role = %s, is_active = CAST(%s AS INTEGER), "
    "token_version = CAST(%s AS INTEGER), updated_at = CAST(%s AS BIGINT) "
    "WHERE id = %s AND (CAST(%s AS INTEGER) = 1 OR EXISTS (SELECT 1 FROM "
    "users o WHERE o.role = 'admin' AND o.is_active = 1 AND o.id <> %s))")

ITSM_STMT(user_set_password,
    "UPDATE users SET password_hash = %s, "
    "token_version = token_version + 1, updated_at = CAST(%s AS BIGINT) "
    "WHERE id = %s")

/* Stores a hash with current parameters after a successful login, unless
 * the password changed meanwhile. */
ITSM_STMT(user_rehash,
    "UPDATE users SET password_hash = %s WHERE id = %s AND "
    "password_hash = %s")

ITSM_STMT(user_delete,
    "DELETE FROM users WHERE id = %s AND (NOT (role = 'admin' AND "
    "is_active = 1) OR EXISTS (SELECT 1 FROM users o WHERE "
    "o.role = 'admin' AND o.is_active = 1 AND o.id <> %s))")
