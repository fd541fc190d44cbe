/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Authentication: Bearer tokens on every protected request, and login with
 * e-mail address and password. */

#include <string.h>

#include <apr_strings.h>

#include <httpd.h>
#include <http_log.h>
#include <http_protocol.h>

#include "mod_itsm_api.h"
#include "itsm_json.h"
#include "itsm_util.h"

/* Extracts the credentials of "Authorization: Bearer <credentials>". */
static const char *bearer_credentials(request_rec *r)
{
    const char *header = apr_table_get(r->headers_in, "Authorization");
    const char *c;

    if (!header || strncasecmp(header, "Bearer ", 7) != 0) {
        return NULL;
    }
    for (c = header + 7; *c == ' '; c++) {
    }
    return *c ? c : NULL;
}

static int send_invalid_token(itsm_req_t *req, const char *message)
{
    apr_table_setn(req->r->err_headers_out, "WWW-Authenticate",
                   "Bearer realm=\"itsm\", error=\"invalid_token\"");
    return itsm_send(req, HTTP_UNAUTHORIZED,
                     json_pack("{s:b, s:s}", "success", 0,
                               "message", message));
}

int itsm_authenticate(itsm_req_t *req)
{
    request_rec *r = req->r;
    const char *token = bearer_credentials(r), *err;
    itsm_jwt_claims_t claims;
    itsm_principal_t *caller;
    itsm_user_t *user;
    itsm_db_t *db;
    apr_status_t rv;
    int rc;

    if (!token) {
        return itsm_send_error(req, HTTP_UNAUTHORIZED,
                               "Authentication required");
    }
    memset(&claims, 0, sizeof(claims));
    rv = itsm_jwt_verify(r->pool, &req->sc->jwt, token, &claims, &err);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, ITSM_LOGNO(00010)
                      "rejected bearer token: %s", err);
        return send_invalid_token(req, err);
    }

    rc = itsm_req_db(req, &db);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    rv = itsm_user_load(db, claims.sub, &user);
    if (APR_STATUS_IS_ENOENT(rv)) {
        return send_invalid_token(req, "Invalid token");
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error authenticating");
    }
    /* A password change, deactivation or deletion raises or removes the
     * version, which ends every token issued before it. */
    if (claims.ver != user->token_version) {
        return send_invalid_token(req, "Token has been revoked; log in "
                                  "again");
    }
    if (!user->is_active) {
        return send_invalid_token(req, "Account is deactivated");
    }

    caller = apr_pcalloc(r->pool, sizeof(*caller));
    caller->user = user;
    req->caller = caller;
    r->user = apr_pstrdup(r->pool, user->id);
    return ITSM_CONTINUE;
}

static int h_login(itsm_req_t *req)
{
    request_rec *r = req->r;
    const char *email = itsm_json_string(req->body, "email");
    const char *password = itsm_json_string(req->body, "password");
    itsm_jwt_claims_t claims;
    itsm_user_t *user = NULL;
    const char *token, *hash;
    itsm_db_t *db;
    apr_status_t rv;
    int ok, rc;

    if (!email) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "email is required and must be a string");
    }
    if (!password) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "password is required and must be a string");
    }
    rc = itsm_req_db(req, &db);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    rv = itsm_user_load_by_email(db, email, &user);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_ENOENT(rv)) {
        return itsm_send_db_error(req, rv, db, "Error logging in");
    }

    /* An unknown address is checked against a dummy hash, so that it costs
     * the same time as a wrong password and reveals nothing. */
    hash = user ? user->password_hash : req->sc->dummy_hash;
    ok = itsm_password_verify(itsm_pwgate, hash, password) && user;
    if (!ok) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, ITSM_LOGNO(00011)
                      "login failed for %s", user ? user->id
                                                  : "an unknown address");
        return itsm_send_error(req, HTTP_UNAUTHORIZED, "Invalid credentials");
    }
    if (!user->is_active) {
        return itsm_send_error(req, HTTP_FORBIDDEN, "Account is deactivated");
    }

    if (itsm_password_needs_rehash(user->password_hash, &req->sc->pwhash)
        && itsm_password_hash(r->pool, itsm_pwgate, &req->sc->pwhash,
                              password, &hash) == APR_SUCCESS) {
        /* Best effort: a failure here must not fail the login. */
        itsm_db_exec(db, ITSM_Q_user_rehash,
                     ITSM_ARGS(hash, user->id, user->password_hash), NULL);
    }

    memset(&claims, 0, sizeof(claims));
    claims.sub = user->id;
    claims.role = user->role;
    claims.ver = user->token_version;
    if (itsm_jwt_issue(r->pool, &req->sc->jwt, &claims, &token)
        != APR_SUCCESS) {
        return itsm_send_db_error(req, APR_EGENERAL, NULL,
                                  "Error issuing token");
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, ITSM_LOGNO(00012)
                  "login succeeded for user %s", user->id);
    return itsm_send(req, HTTP_OK,
                     json_pack("{s:b, s:s, s:{s:s, s:s, s:s, s:s, s:s}}",
                               "success", 1, "token", token, "user",
                               "_id", user->id, "firstName", user->first_name,
                               "lastName", user->last_name,
                               "email", user->email, "role", user->role));
}

static int h_health(itsm_req_t *req)
{
    itsm_db_t *db;
    itsm_rows_t *rows;
    apr_status_t rv;

    rv = itsm_db_acquire(req->r, &db);
    if (rv == APR_SUCCESS) {
        rv = itsm_db_select(db, ITSM_Q_ping, ITSM_NO_ARGS, &rows);
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, req->r, ITSM_LOGNO(00013)
                      "health check: database does not answer");
        apr_table_setn(req->r->err_headers_out, "Retry-After", "5");
        return itsm_send_error(req, HTTP_SERVICE_UNAVAILABLE,
                               "Database unavailable");
    }
    return itsm_send(req, HTTP_OK, json_pack("{s:b, s:s}", "success", 1,
                                             "status", "ok"));
}

const itsm_route_t itsm_auth_routes[] = {
    { M_GET, "/health", h_health, ITSM_ACCESS_PUBLIC, 0 },
    { M_POST, "/auth/login", h_login, ITSM_ACCESS_PUBLIC, ITSM_ROUTE_BODY },
    { 0, NULL, NULL, 0, 0 }
};
