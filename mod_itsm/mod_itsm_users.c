/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Accounts: the users endpoints and the user store. */

#include <string.h>

#include <apr_strings.h>

#include <httpd.h>
#include <http_log.h>
#include <http_protocol.h>

#include "mod_itsm_api.h"
#include "mod_itsm_audit.h"
#include "itsm_json.h"
#include "itsm_util.h"

#define NAME_MAX_LEN 100

/* Column order of ITSM_USER_COLUMNS in mod_itsm_statements.h. */
enum {
    COL_ID, COL_EMAIL, COL_FIRST, COL_LAST, COL_ROLE, COL_ACTIVE,
    COL_TOKEN_VERSION, COL_CREATED, COL_UPDATED, COL_HASH, COL_ROW_VERSION
};

static itsm_user_t *user_from_row(apr_pool_t *p, const char **row)
{
    itsm_user_t *u = apr_pcalloc(p, sizeof(*u));

    u->id = row[COL_ID];
    u->email = row[COL_EMAIL];
    u->first_name = row[COL_FIRST] ? row[COL_FIRST] : "";
    u->last_name = row[COL_LAST] ? row[COL_LAST] : "";
    u->role = row[COL_ROLE];
    u->is_active = itsm_int64_or(row[COL_ACTIVE], 0) != 0;
    u->token_version = itsm_int64_or(row[COL_TOKEN_VERSION], 0);
    u->created_at = itsm_int64_or(row[COL_CREATED], 0);
    u->updated_at = itsm_int64_or(row[COL_UPDATED], 0);
    u->password_hash = row[COL_HASH];
    u->row_version = itsm_int64_or(row[COL_ROW_VERSION], 0);
    return u;
}

static apr_status_t load_one(itsm_db_t *db, itsm_stmt_id_e id,
                             const char *arg, itsm_user_t **puser)
{
    itsm_rows_t *rows;
    apr_status_t rv = itsm_db_select(db, id, ITSM_ARGS(arg), &rows);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (rows->nrows == 0) {
        return APR_ENOENT;
    }
    *puser = user_from_row(db->p, rows->rows[0]);
    return APR_SUCCESS;
}

apr_status_t itsm_user_load(itsm_db_t *db, const char *id,
                            itsm_user_t **puser)
{
    if (!itsm_id_is_valid(id)) {
        return APR_ENOENT;
    }
    return load_one(db, ITSM_Q_user_by_id, id, puser);
}

apr_status_t itsm_user_load_by_email(itsm_db_t *db, const char *email,
                                     itsm_user_t **puser)
{
    return load_one(db, ITSM_Q_user_by_email, itsm_email_key(db->p, email),
                    puser);
}

json_t *itsm_user_to_json(apr_pool_t *p, const itsm_user_t *u)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s}",
                     "_id", u->id, "firstName", u->first_name,
                     "lastName", u->last_name, "email", u->email,
                     "role", u->role, "isActive", u->is_active,
                     "createdAt", itsm_time_format(p, u->created_at),
                     "updatedAt", itsm_time_format(p, u->updated_at));
}

apr_status_t itsm_user_create(itsm_db_t *db, itsm_pwgate_t *gate,
                              const itsm_pwhash_params_t *params,
                              itsm_user_t *u, const char *password,
                              itsm_req_t *req)
{
    const char *hash, *now;
    apr_status_t rv;
    int nrows = 0;

    /* Hashed before the transaction starts: argon2id takes tens of
     * milliseconds, and SQLite has one writer at a time. */
    rv = itsm_password_hash(db->p, gate, params, password, &hash);
    if (rv != APR_SUCCESS) {
        db->error = "password hashing failed (out of memory?)";
        return rv;
    }
    itsm_id_new(db->p, &u->id);
    u->created_at = u->updated_at = itsm_now_ms();
    u->token_version = 0;
    now = itsm_i64toa(db->p, u->created_at);
    rv = itsm_db_begin(db);
    if (rv == APR_SUCCESS) {
        rv = itsm_db_exec(db, ITSM_Q_user_insert,
                          ITSM_ARGS(u->id, u->email,
                                    itsm_email_key(db->p, u->email),
                                    u->first_name, u->last_name, hash,
                                    u->role, u->is_active ? "1" : "0", now,
                                    now), &nrows);
    }
    if (rv == APR_SUCCESS && nrows == 0) {
        rv = APR_EEXIST;
    }
    if (rv == APR_SUCCESS && req) {
        rv = itsm_audit(req, db, "user.create", "user", u->id,
                        ITSM_AUDIT_SUCCESS,
                        json_pack("{s:s, s:s}", "email", u->email,
                                  "role", u->role));
    }
    return itsm_db_finish(db, rv);
}

/* Runs one change statement and its audit row in a transaction. Returns
 * the rows the statement changed in *pnrows; no audit row is written when
 * it changed none. */
static apr_status_t exec_audited(itsm_req_t *req, itsm_db_t *db,
                                 itsm_stmt_id_e id, int nargs,
                                 const char **args, int *pnrows,
                                 const char *action, const char *target_id,
                                 json_t *details)
{
    apr_status_t rv;

    *pnrows = 0;
    itsm_json_bind(req->r->pool, details);
    rv = itsm_db_begin(db);
    if (rv == APR_SUCCESS) {
        rv = itsm_db_exec(db, id, nargs, args, pnrows);
    }
    if (rv == APR_SUCCESS && *pnrows > 0) {
        rv = itsm_audit(req, db, action, "user", target_id,
                        ITSM_AUDIT_SUCCESS, json_incref(details));
    }
    return itsm_db_finish(db, rv);
}

/* ---------------------------------------------------------------------
 * Request validation
 */

static int is_role(const char *s)
{
    return s && (strcmp(s, "admin") == 0 || strcmp(s, "integrator") == 0
                 || strcmp(s, "user") == 0);
}

/* Rejects members of the body that are not in allowed. */
static int reject_unknown_fields(itsm_req_t *req, const char *const *allowed)
{
    const char *key;
    json_t *value;
    int i, known;

    json_object_foreach(req->body, key, value) {
        known = 0;
        for (i = 0; allowed[i]; i++) {
            if (strcmp(key, allowed[i]) == 0) {
                known = 1;
                break;
            }
        }
        if (!known) {
            return itsm_send_error(req, HTTP_BAD_REQUEST,
                apr_psprintf(req->r->pool, "Unknown field: %s", key));
        }
    }
    return ITSM_CONTINUE;
}

/* Checks an optional string member and sets *pvalue when present. max_len
 * counts characters, not bytes. */
static const char *string_field(itsm_req_t *req, const char *key,
                                int required, apr_size_t max_len,
                                const char **pvalue)
{
    json_t *v = json_object_get(req->body, key);
    apr_pool_t *p = req->r->pool;

    if (!v) {
        return required ? apr_psprintf(p, "%s is required", key) : NULL;
    }
    if (!json_is_string(v)) {
        return apr_psprintf(p, "%s must be a string, not %s", key,
                            itsm_json_type_name(v));
    }
    if (json_string_length(v) == 0) {
        return apr_psprintf(p, "%s must not be empty", key);
    }
    if (itsm_utf8_length(json_string_value(v)) > max_len) {
        return apr_psprintf(p, "%s must be at most %" APR_SIZE_T_FMT
                            " characters", key, max_len);
    }
    *pvalue = json_string_value(v);
    return NULL;
}

static const char *email_field(itsm_req_t *req, int required,
                               const char **pvalue)
{
    const char *err = string_field(req, "email", required, 254, pvalue);

    if (!err && *pvalue && !itsm_email_is_valid(*pvalue)) {
        return "email must be a valid e-mail address";
    }
    return err;
}

static const char *password_field(itsm_req_t *req, const char *key,
                                  const char **pvalue)
{
    const char *err = string_field(req, key, 1, ITSM_PASSWORD_MAX_LEN,
                                   pvalue);

    if (!err && itsm_utf8_length(*pvalue) < ITSM_PASSWORD_MIN_LEN) {
        return apr_psprintf(req->r->pool, "%s must be at least %d "
                            "characters", key, ITSM_PASSWORD_MIN_LEN);
    }
    return err;
}

static const char *role_field(itsm_req_t *req, const char **pvalue)
{
    json_t *v = json_object_get(req->body, "role");

    if (v && (!json_is_string(v) || !is_role(json_string_value(v)))) {
        return "role must be one of admin, integrator, user";
    }
    if (v) {
        *pvalue = json_string_value(v);
    }
    return NULL;
}

static const char *active_field(itsm_req_t *req, int *pvalue)
{
    json_t *v = json_object_get(req->body, "isActive");

    if (v && !json_is_boolean(v)) {
        return "isActive must be a boolean";
    }
    if (v) {
        *pvalue = json_is_true(v);
    }
    return NULL;
}

/* Names the members of the request body, for the audit log. */
static json_t *body_fields(itsm_req_t *req)
{
    json_t *fields = json_array(), *value;
    const char *key;

    json_object_foreach(req->body, key, value) {
        json_array_append_new(fields, json_string(key));
    }
    return fields;
}

/* Resolves the :id of the route to a user the caller may see: admins see
 * everyone, others only themselves. Unknown and malformed ids are 404. */
static int load_target(itsm_req_t *req, itsm_db_t *db, itsm_user_t **puser)
{
    const char *id = req->params[0];
    apr_status_t rv;

    if (!itsm_id_is_valid(id)) {
        return itsm_send_error(req, HTTP_NOT_FOUND, "User not found");
    }
    if (!itsm_caller_is_admin(req) && strcmp(id, req->caller->user->id)) {
        return itsm_send_error(req, HTTP_FORBIDDEN, "Access denied");
    }
    rv = itsm_user_load(db, id, puser);
    if (APR_STATUS_IS_ENOENT(rv)) {
        return itsm_send_error(req, HTTP_NOT_FOUND, "User not found");
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error fetching user");
    }
    return ITSM_CONTINUE;
}

/* ---------------------------------------------------------------------
 * Handlers
 */

/* Sends a page of users, filtered by ?role= and ?isActive=. */
static int h_list(itsm_req_t *req)
{
    apr_pool_t *p = req->r->pool;
    apr_table_t *args = itsm_query_args(req);
    const char *role = apr_table_get(args, "role");
    const char *active = apr_table_get(args, "isActive");
    const char *cursor = NULL, *after_id = "", *after;
    apr_int64_t limit, after_at = -1;
    itsm_rows_t *rows, *count;
    itsm_db_t *db;
    json_t *data;
    apr_status_t rv;
    int rc, i;

    rc = itsm_page_params(req, args, &limit, &cursor);
    if (rc == ITSM_CONTINUE && cursor) {
        rc = itsm_cursor_parse(req, cursor, &after_at, &after_id);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    if (role && !is_role(role)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "role must be one of admin, integrator, user");
    }
    if (active && strcmp(active, "true") && strcmp(active, "false")) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "isActive must be true or false");
    }
    active = active ? (strcmp(active, "true") == 0 ? "1" : "0") : NULL;
    rc = itsm_req_db(req, &db);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    after = itsm_i64toa(p, after_at);
    rv = itsm_db_select(db, ITSM_Q_user_page,
                        ITSM_ARGS(role, role, active, active, after, after,
                                  after_id, itsm_i64toa(p, limit)), &rows);
    if (rv == APR_SUCCESS) {
        rv = itsm_db_select(db, ITSM_Q_user_page_count,
                            ITSM_ARGS(role, role, active, active), &count);
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error fetching users");
    }
    data = json_array();
    for (i = 0; i < rows->nrows; i++) {
        json_array_append_new(data, itsm_user_to_json(p,
                              user_from_row(p, rows->rows[i])));
    }
    return itsm_send(req, HTTP_OK, json_pack("{s:b, s:i, s:I, s:o, s:o}",
                     "success", 1, "count", rows->nrows, "total",
                     (json_int_t)itsm_rows_int(count, 0, 0), "data", data,
                     "nextCursor", rows->nrows == limit
                     ? json_string(itsm_cursor_make(p,
                           itsm_int64_or(rows->rows[rows->nrows - 1][COL_CREATED], 0),
                           rows->rows[rows->nrows - 1][COL_ID]))
                     : json_null()));
}

static int h_create(itsm_req_t *req)
{
    static const char *const allowed[] = {
        "firstName", "lastName", "email", "password", "role", "isActive",
        NULL
    };
    itsm_user_t *u = apr_pcalloc(req->r->pool, sizeof(*u));
    const char *password = NULL, *err;
    itsm_db_t *db;
    apr_status_t rv;
    int rc;

    rc = reject_unknown_fields(req, allowed);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    u->role = "user";
    u->is_active = 1;
    if ((err = string_field(req, "firstName", 1, NAME_MAX_LEN,
                            &u->first_name))
        || (err = string_field(req, "lastName", 1, NAME_MAX_LEN,
                               &u->last_name))
        || (err = email_field(req, 1, &u->email))
        || (err = password_field(req, "password", &password))
        || (err = role_field(req, &u->role))
        || (err = active_field(req, &u->is_active))) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, err);
    }
    rc = itsm_req_db(req, &db);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    rv = itsm_user_create(db, itsm_pwgate, &req->sc->pwhash, u, password,
                          req);
    if (APR_STATUS_IS_EEXIST(rv)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, "Email already in use");
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error creating user");
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, req->r, ITSM_LOGNO(00020)
                  "user %s created with role %s by %s", u->id, u->role,
                  req->caller->user->id);
    return itsm_send(req, HTTP_CREATED,
                     json_pack("{s:b, s:s, s:o}", "success", 1,
                               "message", "User created successfully",
                               "data", itsm_user_to_json(req->r->pool, u)));
}

static int h_me(itsm_req_t *req)
{
    return itsm_send(req, HTTP_OK,
                     json_pack("{s:b, s:o}", "success", 1, "data",
                               itsm_user_to_json(req->r->pool,
                                                 req->caller->user)));
}

static int h_get(itsm_req_t *req)
{
    itsm_user_t *u;
    itsm_db_t *db;
    int rc;

    rc = itsm_req_db(req, &db);
    if (rc == ITSM_CONTINUE) {
        rc = load_target(req, db, &u);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    return itsm_send(req, HTTP_OK,
                     json_pack("{s:b, s:o}", "success", 1, "data",
                               itsm_user_to_json(req->r->pool, u)));
}

static int h_update(itsm_req_t *req)
{
    static const char *const allowed[] = {
        "firstName", "lastName", "email", "role", "isActive", NULL
    };
    apr_pool_t *p = req->r->pool;
    itsm_user_t *u, *old;
    const char *err;
    itsm_db_t *db;
    apr_status_t rv;
    int rc, nrows = 0, stays_admin, raise_version;

    rc = itsm_req_db(req, &db);
    if (rc == ITSM_CONTINUE) {
        rc = load_target(req, db, &old);
    }
    if (rc == ITSM_CONTINUE) {
        rc = reject_unknown_fields(req, allowed);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    /* Only admins change roles and activation; anyone else who sends
     * either field is refused outright, whatever its value. */
    if (!itsm_caller_is_admin(req)
        && (json_object_get(req->body, "role")
            || json_object_get(req->body, "isActive"))) {
        return itsm_send_error(req, HTTP_FORBIDDEN, "Access denied");
    }
    u = apr_pmemdup(p, old, sizeof(*old));
    if ((err = string_field(req, "firstName", 0, NAME_MAX_LEN,
                            &u->first_name))
        || (err = string_field(req, "lastName", 0, NAME_MAX_LEN,
                               &u->last_name))
        || (err = email_field(req, 0, &u->email))
        || (err = role_field(req, &u->role))
        || (err = active_field(req, &u->is_active))) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, err);
    }
    /* Deactivation ends the user's tokens. */
    raise_version = old->is_active && !u->is_active;
    u->token_version += raise_version;
    u->updated_at = itsm_now_ms();
    stays_admin = strcmp(u->role, "admin") == 0 && u->is_active;
    rv = exec_audited(req, db, ITSM_Q_user_update,
                      ITSM_ARGS(u->email, itsm_email_key(p, u->email),
                                u->first_name, u->last_name, u->role,
                                u->is_active ? "1" : "0",
                                raise_version ? "1" : "0",
                                itsm_i64toa(p, u->updated_at), u->id,
                                itsm_i64toa(p, old->row_version),
                                stays_admin ? "1" : "0", u->id),
                      &nrows, "user.update", u->id,
                      json_pack("{s:o}", "fields", body_fields(req)));
    if (APR_STATUS_IS_EEXIST(rv)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, "Email already in use");
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error updating user");
    }
    if (nrows == 0) {
        /* The row is gone, changed since it was read, or the last active
         * admin. */
        itsm_user_t *now;

        if (APR_STATUS_IS_ENOENT(itsm_user_load(db, u->id, &now))) {
            return itsm_send_error(req, HTTP_NOT_FOUND, "User not found");
        }
        if (now->row_version != old->row_version) {
            return itsm_send_error(req, HTTP_CONFLICT, "The user was changed "
                                   "by another request; read it again and "
                                   "retry");
        }
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "Cannot demote or deactivate the last "
                               "active admin");
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, req->r, ITSM_LOGNO(00021)
                  "user %s updated by %s", u->id, req->caller->user->id);
    return itsm_send(req, HTTP_OK,
                     json_pack("{s:b, s:s, s:o}", "success", 1,
                               "message", "User updated successfully",
                               "data", itsm_user_to_json(p, u)));
}

static int h_password(itsm_req_t *req)
{
    static const char *const allowed[] = {
        "currentPassword", "newPassword", NULL
    };
    apr_pool_t *p = req->r->pool;
    const char *current = NULL, *fresh = NULL, *hash, *err;
    itsm_throttle_t subject;
    itsm_user_t *u;
    itsm_db_t *db;
    apr_status_t rv;
    int rc, nrows = 0, is_self;

    rc = itsm_req_db(req, &db);
    if (rc == ITSM_CONTINUE) {
        rc = load_target(req, db, &u);
    }
    if (rc == ITSM_CONTINUE) {
        rc = reject_unknown_fields(req, allowed);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    is_self = strcmp(u->id, req->caller->user->id) == 0;
    if ((err = password_field(req, "newPassword", &fresh))) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, err);
    }
    /* Changing one's own password takes the current one, admins included,
     * so that a stolen token alone cannot take over the account. */
    if (is_self) {
        if ((err = string_field(req, "currentPassword", 1,
                                ITSM_PASSWORD_MAX_LEN, &current))) {
            return itsm_send_error(req, HTTP_BAD_REQUEST, err);
        }
        /* Wrong current passwords count as failed logins, so this is no
         * way around the login limit. */
        subject.subject = apr_pstrcat(p, "login:",
                                      itsm_email_key(p, u->email), NULL);
        subject.max_failures = req->sc->login_max_failures;
        rc = itsm_throttle_attempt(req, db, &subject, 1);
        if (rc != ITSM_CONTINUE) {
            return rc;
        }
        if (!itsm_password_verify(itsm_pwgate, u->password_hash, current)) {
            return itsm_send_error(req, HTTP_BAD_REQUEST,
                                   "currentPassword is incorrect");
        }
        itsm_throttle_forgive(req, db, &subject);
    }
    rv = itsm_password_hash(p, itsm_pwgate, &req->sc->pwhash, fresh, &hash);
    if (rv == APR_SUCCESS) {
        rv = exec_audited(req, db, ITSM_Q_user_set_password,
                          ITSM_ARGS(hash, itsm_i64toa(p, itsm_now_ms()),
                                    u->id), &nrows, "user.password_change",
                          u->id, json_pack("{s:b}", "self", is_self));
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error updating password");
    }
    if (nrows == 0) {
        return itsm_send_error(req, HTTP_NOT_FOUND, "User not found");
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, req->r, ITSM_LOGNO(00022)
                  "password of user %s changed by %s", u->id,
                  req->caller->user->id);
    return itsm_send(req, HTTP_OK,
                     json_pack("{s:b, s:s}", "success", 1, "message",
                               "Password updated successfully"));
}

static int h_delete(itsm_req_t *req)
{
    const char *id = req->params[0];
    itsm_user_t *u;
    itsm_db_t *db;
    apr_status_t rv;
    int rc, nrows = 0;

    rc = itsm_req_db(req, &db);
    if (rc == ITSM_CONTINUE) {
        rc = load_target(req, db, &u);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    /* The user leaves every managers list in the same transaction. */
    rv = itsm_db_begin(db);
    if (rv == APR_SUCCESS) {
        rv = itsm_db_exec(db, ITSM_Q_user_delete, ITSM_ARGS(id, id), &nrows);
    }
    if (rv == APR_SUCCESS && nrows > 0) {
        rv = itsm_db_exec(db, ITSM_Q_manager_remove_user, ITSM_ARGS(id),
                          NULL);
    }
    if (rv == APR_SUCCESS && nrows > 0) {
        rv = itsm_audit(req, db, "user.delete", "user", id,
                        ITSM_AUDIT_SUCCESS, json_pack("{s:s, s:s}", "email",
                                                      u->email, "role",
                                                      u->role));
    }
    rv = itsm_db_finish(db, rv);
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error deleting user");
    }
    if (nrows == 0) {
        if (APR_STATUS_IS_ENOENT(itsm_user_load(db, id, &u))) {
            return itsm_send_error(req, HTTP_NOT_FOUND, "User not found");
        }
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "Cannot delete the last active admin");
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, req->r, ITSM_LOGNO(00023)
                  "user %s deleted by %s", id, req->caller->user->id);
    return itsm_send(req, HTTP_OK,
                     json_pack("{s:b, s:s}", "success", 1, "message",
                               "User deleted successfully"));
}

const itsm_route_t itsm_user_routes[] = {
    { M_GET, "/users", h_list, ITSM_ACCESS_ADMIN, 0 },
    { M_POST, "/users", h_create, ITSM_ACCESS_ADMIN, ITSM_ROUTE_BODY },
    { M_GET, "/users/profile/me", h_me, ITSM_ACCESS_USER, 0 },
    { M_GET, "/users/:id", h_get, ITSM_ACCESS_USER, 0 },
    { M_PUT, "/users/:id", h_update, ITSM_ACCESS_USER, ITSM_ROUTE_BODY },
    { M_PUT, "/users/:id/password", h_password, ITSM_ACCESS_USER,
      ITSM_ROUTE_BODY },
    { M_DELETE, "/users/:id", h_delete, ITSM_ACCESS_ADMIN, 0 },
    { 0, NULL, NULL, 0, 0 }
};
