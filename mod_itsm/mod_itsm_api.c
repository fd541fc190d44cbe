/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* The itsm-api handler: routes a request, authenticates and authorises the
 * caller before reading any body, reads and parses the JSON body under a
 * size cap, and sends every response, errors included, as JSON. */

#include <string.h>

#include <apr_strings.h>
#include <apr_buckets.h>

#include <httpd.h>
#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>
#include <http_log.h>
#include <util_filter.h>
#include <util_script.h>
#include <ap_expr.h>

#include "mod_itsm_api.h"
#include "mod_itsm_audit.h"
#include "mod_itsm_health.h"
#include "mod_itsm_keys.h"
#include "mod_itsm_tickets.h"
#include "mod_itsm_integrations.h"
#include "itsm_json.h"
#include "itsm_util.h"

#define MAX_SEGMENTS 8

static const itsm_route_t *const route_tables[] = {
    itsm_auth_routes,
    itsm_key_routes,
    itsm_user_routes,
    itsm_audit_routes,
    itsm_integration_routes,
    itsm_health_routes,
    itsm_ticket_routes,
    NULL
};

int itsm_send(itsm_req_t *req, int status, json_t *body)
{
    request_rec *r = req->r;
    conn_rec *c = r->connection;
    apr_bucket_brigade *bb;
    const char *text;
    apr_status_t rv;

    itsm_json_bind(r->pool, body);
    text = itsm_json_dump(r->pool, body);

    /* Set here rather than returned as an HTTP_* code: httpd's own error
     * path would replace the body with an HTML page. */
    r->status = status;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    ap_set_content_length(r, strlen(text));
    if (r->header_only) {
        return OK;
    }
    bb = apr_brigade_create(r->pool, c->bucket_alloc);
    apr_brigade_write(bb, NULL, NULL, text, strlen(text));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(c->bucket_alloc));
    rv = ap_pass_brigade(r->output_filters, bb);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, ITSM_LOGNO(00002)
                      "sending the response failed");
        c->aborted = 1;
    }
    return OK;
}

int itsm_send_error(itsm_req_t *req, int status, const char *message)
{
    json_t *body;

    if (req->mcp) {
        /* -32001 is in JSON-RPC's range for implementation errors. */
        body = json_pack("{s:s, s:n, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
                         "error", "code", status == HTTP_UNAUTHORIZED
                         ? -32001 : -32600, "message", message);
    }
    else {
        body = json_pack("{s:b, s:s}", "success", 0, "message", message);
    }
    if (status == HTTP_UNAUTHORIZED
        && !apr_table_get(req->r->err_headers_out, "WWW-Authenticate")) {
        apr_table_setn(req->r->err_headers_out, "WWW-Authenticate",
                       apr_psprintf(req->r->pool, "Bearer realm=\"%s\"",
                                    req->realm ? req->realm : "itsm"));
    }
    return itsm_send(req, status, body);
}

int itsm_send_unauthorized(itsm_req_t *req, int invalid_token,
                           const char *message)
{
    if (invalid_token) {
        apr_table_setn(req->r->err_headers_out, "WWW-Authenticate",
                       apr_psprintf(req->r->pool, "Bearer realm=\"%s\", "
                                    "error=\"invalid_token\"",
                                    req->realm ? req->realm : "itsm"));
    }
    return itsm_send_error(req, HTTP_UNAUTHORIZED, message);
}

int itsm_send_db_error(itsm_req_t *req, apr_status_t rv, itsm_db_t *db,
                       const char *message)
{
    request_rec *r = req->r;
    const char *detail = db && db->error ? db->error : "no connection";
    json_t *body;

    if (APR_STATUS_IS_EAGAIN(rv)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, ITSM_LOGNO(00003)
                      "database busy, answering 503: %s", detail);
        apr_table_setn(r->err_headers_out, "Retry-After", "1");
        return itsm_send_error(req, HTTP_SERVICE_UNAVAILABLE,
                               "Database is busy, retry shortly");
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, ITSM_LOGNO(00004)
                  "%s: %s", message, detail);
    if (req->mcp) {
        return itsm_send_error(req, HTTP_INTERNAL_SERVER_ERROR, message);
    }
    body = json_pack("{s:b, s:s}", "success", 0, "message", message);
    if (req->sc->dev_errors) {
        json_object_set_new(body, "error", json_string(detail));
    }
    return itsm_send(req, HTTP_INTERNAL_SERVER_ERROR, body);
}

apr_table_t *itsm_query_args(itsm_req_t *req)
{
    apr_table_t *args = NULL;

    ap_args_to_table(req->r, &args);
    return args ? args : apr_table_make(req->r->pool, 1);
}

int itsm_page_params(itsm_req_t *req, apr_table_t *args,
                     apr_int64_t *plimit, const char **pcursor)
{
    const char *limit = apr_table_get(args, "limit");
    apr_int64_t max = req->sc->page_size_max;

    *plimit = req->sc->page_size;
    *pcursor = apr_table_get(args, "cursor");
    if (limit && (itsm_parse_int64(limit, plimit) != APR_SUCCESS
                  || *plimit < 1 || *plimit > max)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
            apr_psprintf(req->r->pool, "limit must be a whole number from 1 "
                         "to %" APR_INT64_T_FMT, max));
    }
    return ITSM_CONTINUE;
}

const char *itsm_cursor_make(apr_pool_t *p, apr_int64_t created_at,
                             const char *id)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT ".%s", created_at, id);
}

int itsm_cursor_parse(itsm_req_t *req, const char *cursor,
                      apr_int64_t *pcreated_at, const char **pid)
{
    const char *dot = strchr(cursor, '.');

    if (!dot || !itsm_id_is_valid(dot + 1)
        || itsm_parse_int64(apr_pstrmemdup(req->r->pool, cursor,
                                           dot - cursor), pcreated_at)
           != APR_SUCCESS) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, "cursor must be a "
                               "nextCursor value from an earlier page");
    }
    *pid = dot + 1;
    return ITSM_CONTINUE;
}

int itsm_req_db(itsm_req_t *req, itsm_db_t **pdb)
{
    apr_status_t rv = itsm_db_acquire(req->r, pdb);

    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, APR_EAGAIN, NULL,
                                  "Database unavailable");
    }
    return ITSM_CONTINUE;
}

int itsm_caller_is_admin(const itsm_req_t *req)
{
    return req->caller && strcmp(req->caller->user->role, "admin") == 0;
}

/* Splits the path after the handler's location into segments, skipping
 * empty ones, so "/users/" and "/users" are the same route. */
static int split_path(apr_pool_t *p, const char *path, char **segs)
{
    char *copy = apr_pstrdup(p, path), *state = NULL, *tok;
    int n = 0;

    for (tok = apr_strtok(copy, "/", &state); tok;
         tok = apr_strtok(NULL, "/", &state)) {
        if (n == MAX_SEGMENTS) {
            return -1;
        }
        segs[n++] = tok;
    }
    return n;
}

static int pattern_matches(apr_pool_t *p, const char *pattern, char **segs,
                           int nsegs, itsm_req_t *req)
{
    char *psegs[MAX_SEGMENTS];
    int n = split_path(p, pattern, psegs), i, nparams = 0;

    if (n != nsegs) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (psegs[i][0] == ':') {
            if (req && nparams < ITSM_MAX_PATH_PARAMS) {
                req->params[nparams] = segs[i];
            }
            nparams++;
        }
        else if (strcmp(psegs[i], segs[i]) != 0) {
            return 0;
        }
    }
    if (req) {
        req->nparams = nparams;
    }
    return 1;
}

static const char *method_name(int m)
{
    switch (m) {
    case M_GET:
        return "GET";
    case M_POST:
        return "POST";
    case M_PUT:
        return "PUT";
    case M_PATCH:
        return "PATCH";
    case M_DELETE:
        return "DELETE";
    default:
        return "OPTIONS";
    }
}

/* Finds the route for the request. Returns NULL and sets *pallow to the
 * methods the path does support (empty when the path is unknown). */
static const itsm_route_t *find_route(itsm_req_t *req, const char *path,
                                      const char **pallow)
{
    request_rec *r = req->r;
    char *segs[MAX_SEGMENTS];
    int nsegs = split_path(r->pool, path, segs), t;
    const itsm_route_t *route;
    const char *allow = "";

    if (nsegs < 0) {
        *pallow = "";
        return NULL;
    }
    for (t = 0; route_tables[t]; t++) {
        for (route = route_tables[t]; route->pattern; route++) {
            if (!pattern_matches(r->pool, route->pattern, segs, nsegs,
                                 NULL)) {
                continue;
            }
            if (route->method == r->method_number) {
                pattern_matches(r->pool, route->pattern, segs, nsegs, req);
                return route;
            }
            allow = *allow ? apr_pstrcat(r->pool, allow, ", ",
                                         method_name(route->method), NULL)
                           : method_name(route->method);
        }
    }
    *pallow = allow;
    return NULL;
}

static int authorize(itsm_req_t *req, const itsm_route_t *route)
{
    const char *role;

    if (route->access == ITSM_ACCESS_PUBLIC) {
        return ITSM_CONTINUE;
    }
    if (itsm_authenticate(req) != ITSM_CONTINUE) {
        return OK;
    }
    /* A read-scoped API key may only read. */
    if (req->caller->read_only && route->method != M_GET) {
        return itsm_send_error(req, HTTP_FORBIDDEN, "Access denied");
    }
    role = req->caller->user->role;
    if ((route->access == ITSM_ACCESS_ADMIN && strcmp(role, "admin") != 0)
        || (route->access == ITSM_ACCESS_INTEGRATOR
            && strcmp(role, "admin") != 0
            && strcmp(role, "integrator") != 0)) {
        return itsm_send_error(req, HTTP_FORBIDDEN, "Access denied");
    }
    return ITSM_CONTINUE;
}

/* Statuses that httpd's HTTP_IN filter sends by itself, through ap_die(),
 * when a body's framing is invalid (a bad chunk size, a body over
 * LimitRequestBody). */
static const int framing_statuses[] = {
    HTTP_BAD_REQUEST, HTTP_REQUEST_ENTITY_TOO_LARGE, 0
};

/* Makes ap_die() respond to the framing statuses with an internal
 * redirect to this request's own URI, where send_redirected_error sends
 * JSON in place of httpd's HTML error page. */
static void redirect_framing_errors(request_rec *r)
{
    const char *self = ap_escape_uri(r->pool, r->uri);
    int i;

    for (i = 0; framing_statuses[i]; i++) {
        ap_custom_response(r, framing_statuses[i], self);
    }
}

/* Sends the JSON error for the internal redirect that ap_die() makes for
 * a custom response set by redirect_framing_errors. There r->status is the
 * original error's status. */
static int send_redirected_error(itsm_req_t *req)
{
    request_rec *r = req->r;
    const char *message;

    switch (r->status) {
    case HTTP_BAD_REQUEST:
        message = "Invalid chunked encoding of the request body";
        break;
    case HTTP_REQUEST_ENTITY_TOO_LARGE:
        message = "Request body is too large";
        break;
    default:
        message = ap_get_status_line(r->status) + 4;
        break;
    }
    r->connection->keepalive = AP_CONN_CLOSE;
    return itsm_send_error(req, r->status, message);
}

/* Reads the whole body through the input filters, so chunked bodies work,
 * and stops at the cap. */
static int read_body(itsm_req_t *req, char **pbuf, apr_size_t *plen)
{
    request_rec *r = req->r;
    apr_off_t cap = req->dc->max_body != ITSM_UNSET ? req->dc->max_body
                                                    : ITSM_DEFAULT_MAX_BODY;
    apr_bucket_brigade *bb;
    apr_size_t total = 0;
    char *buf = apr_palloc(r->pool, (apr_size_t)cap + 1);
    int seen_eos = 0;

    redirect_framing_errors(r);
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!seen_eos) {
        apr_bucket *b;
        apr_status_t rv = ap_get_brigade(r->input_filters, bb,
                                         AP_MODE_READBYTES, APR_BLOCK_READ,
                                         HUGE_STRING_LEN);

        if (rv != APR_SUCCESS) {
            r->connection->keepalive = AP_CONN_CLOSE;
            if (APR_STATUS_IS_TIMEUP(rv)) {
                return itsm_send_error(req, HTTP_REQUEST_TIME_OUT,
                                       "Timed out reading the request body");
            }
            if (rv == AP_FILTER_ERROR) {
                /* A filter has already sent the response, through
                 * send_redirected_error, and a second response would
                 * follow the first on the wire. */
                return AP_FILTER_ERROR;
            }
            return itsm_send_error(req, HTTP_BAD_REQUEST,
                                   "Error reading the request body");
        }
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t len;

            if (APR_BUCKET_IS_EOS(b)) {
                seen_eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b)) {
                continue;
            }
            rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
            if (rv != APR_SUCCESS) {
                r->connection->keepalive = AP_CONN_CLOSE;
                return itsm_send_error(req, HTTP_BAD_REQUEST,
                                       "Error reading the request body");
            }
            if ((apr_off_t)(total + len) > cap) {
                r->connection->keepalive = AP_CONN_CLOSE;
                return itsm_send_error(req, HTTP_REQUEST_ENTITY_TOO_LARGE,
                    apr_psprintf(r->pool, "Request body is larger than %"
                                 APR_OFF_T_FMT " bytes", cap));
            }
            memcpy(buf + total, data, len);
            total += len;
        }
        apr_brigade_cleanup(bb);
    }
    buf[total] = '\0';
    *pbuf = buf;
    *plen = total;
    return ITSM_CONTINUE;
}

int itsm_read_body(itsm_req_t *req, char **pbuf, apr_size_t *plen)
{
    request_rec *r = req->r;
    apr_off_t cap = req->dc->max_body != ITSM_UNSET ? req->dc->max_body
                                                    : ITSM_DEFAULT_MAX_BODY;
    const char *ctype = apr_table_get(r->headers_in, "Content-Type");
    const char *clen = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t declared;

    if (!ctype || strcasecmp(ap_field_noparam(r->pool, ctype),
                             "application/json") != 0) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return itsm_send_error(req, HTTP_UNSUPPORTED_MEDIA_TYPE,
                               "Content-Type must be application/json");
    }
    if (clen && (apr_strtoff(&declared, clen, NULL, 10) != APR_SUCCESS
                 || declared > cap)) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return itsm_send_error(req, HTTP_REQUEST_ENTITY_TOO_LARGE,
            apr_psprintf(r->pool, "Request body is larger than %"
                         APR_OFF_T_FMT " bytes", cap));
    }
    return read_body(req, pbuf, plen);
}

static int read_json_body(itsm_req_t *req)
{
    const char *err;
    char *buf = NULL;
    apr_size_t len = 0;
    int rc;

    rc = itsm_read_body(req, &buf, &len);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    if (len == 0) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "Request body is empty; send a JSON object");
    }
    if (itsm_json_parse_object(req->r->pool, buf, len, &req->body, &err)
        != APR_SUCCESS) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, err);
    }
    return ITSM_CONTINUE;
}

/* Finds the route of the request. The API may be mounted at any
 * <Location>, possibly with nested sections below it, so the mount point is
 * taken from the innermost section that matched (core's d) and, while no
 * route matches, shortened by one segment at a time. Sets *pallow as
 * find_route does for the first mount point that has the path. */
static const itsm_route_t *route_request(itsm_req_t *req, const char **pallow)
{
    request_rec *r = req->r;
    core_dir_config *cd = ap_get_core_module_config(r->per_dir_config);
    char *base = "";
    const itsm_route_t *route;
    apr_size_t n;

    if (cd && cd->d && !cd->r && cd->d[0] == '/'
        && strncmp(r->uri, cd->d, strlen(cd->d)) == 0) {
        base = apr_pstrdup(r->pool, cd->d);
    }
    for (;;) {
        n = strlen(base);
        while (n > 0 && base[n - 1] == '/') {
            base[--n] = '\0';
        }
        if (r->uri[n] == '/' || r->uri[n] == '\0') {
            *pallow = "";
            route = find_route(req, r->uri + n, pallow);
            if (route || **pallow) {
                return route;
            }
        }
        if (n == 0) {
            return NULL;
        }
        *strrchr(base, '/') = '\0';
    }
}

/* ---------------------------------------------------------------------
 * Errors that httpd itself raises for a request to the API or /mcp, such
 * as 403 from Require or 413 from LimitRequestBody, would come as an HTML
 * page; this filter sends them as JSON in the same envelope.
 */

#define JSON_ERROR_FILTER "ITSM_JSON_ERROR"

static const char *error_message(int status)
{
    switch (status) {
    case HTTP_FORBIDDEN:
        return "Access denied";
    case HTTP_NOT_FOUND:
        return "Resource not found";
    case HTTP_UNAUTHORIZED:
        return "Authentication required";
    case HTTP_REQUEST_ENTITY_TOO_LARGE:
        return "Request body is too large";
    case HTTP_BAD_REQUEST:
        return "Bad request";
    default:
        return status >= 500 ? "Internal server error" : "Request failed";
    }
}

/* Returns the handler that SetHandler gives the request, also when httpd
 * stopped before setting r->handler. */
static const char *configured_handler(request_rec *r)
{
    core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
    const char *err = NULL, *h;

    if (r->handler) {
        return r->handler;
    }
    if (!d || !d->expr_handler) {
        return NULL;
    }
    h = ap_expr_str_exec(r, d->expr_handler, &err);
    return err ? NULL : h;
}

static apr_status_t json_error_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    const char *text, *handler;
    apr_bucket *b;
    json_t *body;
    int eos = 0;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        eos |= APR_BUCKET_IS_EOS(b);
    }
    /* httpd's HTML page is dropped; the JSON goes out with the EOS. */
    apr_brigade_cleanup(bb);
    if (!eos) {
        return APR_SUCCESS;
    }
    handler = configured_handler(r);
    if (handler && strcmp(handler, "itsm-mcp") == 0) {
        body = json_pack("{s:s, s:n, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
                         "error", "code", -32600, "message",
                         error_message(r->status));
    }
    else {
        body = json_pack("{s:b, s:s}", "success", 0, "message",
                         error_message(r->status));
    }
    text = itsm_json_dump(r->pool, body);
    json_decref(body);
    ap_set_content_type(r, "application/json");
    ap_set_content_length(r, strlen(text));
    ap_remove_output_filter(f);
    if (!r->header_only) {
        apr_brigade_write(bb, NULL, NULL, text, strlen(text));
    }
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(bb->bucket_alloc));
    return ap_pass_brigade(f->next, bb);
}

void itsm_api_insert_error_filter(request_rec *r)
{
    const char *handler = configured_handler(r);

    if (handler && (strcmp(handler, "itsm-api") == 0
                    || strcmp(handler, "itsm-mcp") == 0)) {
        ap_add_output_filter(JSON_ERROR_FILTER, NULL, r, r->connection);
    }
}

void itsm_api_register_filters(void)
{
    ap_register_output_filter(JSON_ERROR_FILTER, json_error_filter, NULL,
                              AP_FTYPE_RESOURCE);
}

int itsm_api_handler(request_rec *r)
{
    itsm_req_t *req;
    const itsm_route_t *route;
    const char *allow = "";
    int rc;

    if (!r->handler || strcmp(r->handler, "itsm-api") != 0) {
        return DECLINED;
    }
    req = apr_pcalloc(r->pool, sizeof(*req));
    req->r = r;
    req->sc = itsm_srv_cfg(r->server);
    req->dc = ap_get_module_config(r->per_dir_config, &itsm_module);

    /* An error page that ap_die() redirected here. */
    if (r->prev && ap_is_HTTP_ERROR(r->status)) {
        return send_redirected_error(req);
    }
    route = route_request(req, &allow);
    if (!route) {
        if (*allow) {
            if (r->method_number == M_OPTIONS) {
                apr_table_setn(r->headers_out, "Allow", allow);
                r->status = HTTP_NO_CONTENT;
                return OK;
            }
            apr_table_setn(r->err_headers_out, "Allow", allow);
            return itsm_send_error(req, HTTP_METHOD_NOT_ALLOWED,
                apr_psprintf(r->pool, "Method %s is not allowed here; "
                             "allowed: %s", r->method, allow));
        }
        return itsm_send_error(req, HTTP_NOT_FOUND, "Resource not found");
    }

    rc = authorize(req, route);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    if (route->flags & ITSM_ROUTE_BODY) {
        rc = read_json_body(req);
        if (rc != ITSM_CONTINUE) {
            return rc;
        }
    }
    return route->fn(req);
}
