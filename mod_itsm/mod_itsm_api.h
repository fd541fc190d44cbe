/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* The REST API under <Location /api>: request context, route tables and
 * the one place where results become HTTP responses. */

#ifndef MOD_ITSM_API_H
#define MOD_ITSM_API_H

#include <jansson.h>

#include "mod_itsm_private.h"
#include "mod_itsm_db.h"

/* Returned by a step that has not sent a response. Any other value means
 * the step has sent it, and the handler returns that value. */
#define ITSM_CONTINUE DECLINED

typedef enum {
    ITSM_ACCESS_PUBLIC,         /* no authentication */
    ITSM_ACCESS_USER,           /* any authenticated caller */
    ITSM_ACCESS_INTEGRATOR,     /* admin or integrator */
    ITSM_ACCESS_ADMIN
} itsm_access_e;

#define ITSM_ROUTE_BODY 0x1     /* reads a JSON object body */

#define ITSM_MAX_PATH_PARAMS 4

/* An account as stored, without the password hash unless loaded for login. */
typedef struct itsm_user_t {
    const char *id;
    const char *email;
    const char *first_name;
    const char *last_name;
    const char *role;
    int is_active;
    apr_int64_t token_version;
    apr_int64_t created_at;
    apr_int64_t updated_at;
    const char *password_hash;
    apr_int64_t row_version;    /* raised by every change of the row */
} itsm_user_t;

/* The authenticated caller: the user, and the API key used, if any. */
typedef struct itsm_principal_t {
    itsm_user_t *user;
    const char *api_key_id;
    int read_only;              /* a read-scoped API key */
} itsm_principal_t;

typedef struct itsm_req_t {
    request_rec *r;
    itsm_srv_cfg_t *sc;
    itsm_dir_cfg_t *dc;
    itsm_principal_t *caller;
    const char *params[ITSM_MAX_PATH_PARAMS];
    int nparams;
    json_t *body;
    const char *realm;          /* of WWW-Authenticate; NULL for "itsm" */
    int mcp;                    /* errors as JSON-RPC, for /mcp */
    struct itsm_integration_t *mcp_integration;   /* of a tool call */
} itsm_req_t;

typedef int (*itsm_route_fn)(itsm_req_t *req);

typedef struct itsm_route_t {
    int method;                 /* M_GET, M_POST, ... */
    const char *pattern;        /* "/users/:id"; ":" marks a parameter */
    itsm_route_fn fn;
    itsm_access_e access;
    int flags;
} itsm_route_t;

/* Route tables of the API areas, each ending with a NULL pattern. */
extern const itsm_route_t itsm_auth_routes[];
extern const itsm_route_t itsm_user_routes[];

int itsm_api_handler(request_rec *r);

/* Makes httpd's own error responses for the API and /mcp JSON. */
void itsm_api_insert_error_filter(request_rec *r);
void itsm_api_register_filters(void);

/* Sends body (whose reference this takes) as the JSON response. */
int itsm_send(itsm_req_t *req, int status, json_t *body);

/* Sends {"success":false,"message":message}, or for /mcp a JSON-RPC
 * error without id. */
int itsm_send_error(itsm_req_t *req, int status, const char *message);

/* Sends 401 with a Bearer challenge; invalid_token adds
 * error="invalid_token" for credentials that were sent but refused. */
int itsm_send_unauthorized(itsm_req_t *req, int invalid_token,
                           const char *message);

/* Reads the request body (application/json only, up to ITSMMaxBodySize)
 * or sends 413, 415 or 400. */
int itsm_read_body(itsm_req_t *req, char **pbuf, apr_size_t *plen);

/* Sends the response for a failed storage call: 503 with Retry-After when
 * the database is busy or unavailable, else 500 with message (and the
 * driver's text when ITSMDevelopmentErrors is on). Logs the failure. */
int itsm_send_db_error(itsm_req_t *req, apr_status_t rv, itsm_db_t *db,
                       const char *message);

/* The query string's parameters, decoded. */
apr_table_t *itsm_query_args(itsm_req_t *req);

/* Reads ?limit= (default and maximum from ITSMPageSize and
 * ITSMPageSizeMax) and ?cursor=; sends 400 for an invalid limit. */
int itsm_page_params(itsm_req_t *req, apr_table_t *args,
                     apr_int64_t *plimit, const char **pcursor);

/* Cursors of lists ordered by (created_at, id): "<ms>.<id>". */
const char *itsm_cursor_make(apr_pool_t *p, apr_int64_t created_at,
                             const char *id);
int itsm_cursor_parse(itsm_req_t *req, const char *cursor,
                      apr_int64_t *pcreated_at, const char **pid);

/* Acquires the request's database connection or sends 503. */
int itsm_req_db(itsm_req_t *req, itsm_db_t **pdb);

/* Returns 1 when the caller has the admin role. */
int itsm_caller_is_admin(const itsm_req_t *req);

/* Authenticates the request from its Authorization header and sets
 * req->caller; sends 401 or 403 and returns OK when that fails. */
int itsm_authenticate(itsm_req_t *req);

/* A subject of login throttling: "login:<e-mail>", "address:<ip>" or
 * "key:<id>", with the failures it may have in a window. */
typedef struct itsm_throttle_t {
    const char *subject;
    apr_int64_t max_failures;
} itsm_throttle_t;

#define ITSM_EMAIL_MAX_LEN 254

/* Counts an attempt against each subject, then sends 429 with Retry-After
 * when one has more attempts in the current window (ITSMLoginFailureWindow)
 * than it may fail. */
int itsm_throttle_attempt(itsm_req_t *req, itsm_db_t *db,
                          const itsm_throttle_t *subjects, int n);

/* Counts a failed attempt against each subject. */
void itsm_throttle_fail(itsm_req_t *req, itsm_db_t *db,
                        const itsm_throttle_t *subjects, int n);

/* Gives back the attempt counted against a subject, after a success. */
void itsm_throttle_forgive(itsm_req_t *req, itsm_db_t *db,
                           const itsm_throttle_t *subject);

/* Loads a user by id; APR_ENOENT when there is none. */
apr_status_t itsm_user_load(itsm_db_t *db, const char *id,
                            itsm_user_t **puser);

/* Loads a user by e-mail address, any case; APR_ENOENT when there is none. */
apr_status_t itsm_user_load_by_email(itsm_db_t *db, const char *email,
                                     itsm_user_t **puser);

/* The public JSON form of a user: never the password hash. */
json_t *itsm_user_to_json(apr_pool_t *p, const itsm_user_t *u);

/* Creates a user with a new id and hashed password, with its audit row
 * when req is given. Returns APR_EEXIST when the e-mail address is
 * taken. */
apr_status_t itsm_user_create(itsm_db_t *db, itsm_pwgate_t *gate,
                              const itsm_pwhash_params_t *params,
                              itsm_user_t *u, const char *password,
                              struct itsm_req_t *req);

#endif
