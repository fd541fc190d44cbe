/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Ticket operations on registered integrations: the glue between the
 * adapters (itsm_tickets.c), the vault, and the two ways in, the MCP tools
 * and /integration/:id/tickets for scripts. */

#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include <httpd.h>
#include <http_log.h>
#include <http_protocol.h>

#include "mod_itsm_api.h"
#include "mod_itsm_audit.h"
#include "mod_itsm_integrations.h"
#include "mod_itsm_tickets.h"
#include "itsm_json.h"
#include "itsm_tickets.h"
#include "itsm_util.h"

static int arg_int(json_t *args, const char *key, int fallback)
{
    json_t *v = json_object_get(args, key);

    return json_is_integer(v) ? (int)json_integer_value(v) : fallback;
}

apr_status_t itsm_ticket_run(itsm_req_t *req, const itsm_integration_t *it,
                             itsm_ticket_op_e op, json_t *args,
                             json_t **presult, const char **perr)
{
    apr_pool_t *p = req->r->pool;
    const char *id = itsm_json_string(args, "ticket_id"), *next = NULL;
    itsm_probe_target_t target;
    itsm_tickets_ctx_t ctx;
    json_t *value = NULL;
    apr_status_t rv;

    if (!itsm_tickets_supported(it->type)) {
        *perr = apr_psprintf(p, "tickets are not supported for %s "
                             "integrations; only jira, servicenow and "
                             "zendesk have them", it->type);
        return APR_ENOTIMPL;
    }
    rv = itsm_integration_target(p, req->sc, it, &target, perr);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, req->r, ITSM_LOGNO(00071)
                      "cannot decrypt the credentials of integration %s: %s",
                      it->id, *perr);
        *perr = "the stored credentials cannot be decrypted; an "
                "administrator must set them again";
        return APR_EGENERAL;
    }
    memset(&ctx, 0, sizeof(ctx));
    ctx.pool = p;
    ctx.target = &target;
    ctx.http = &req->sc->ticket_http;
    ctx.integration_id = it->id;
    ctx.integration_name = it->name;

    switch (op) {
    case ITSM_TICKET_CREATE:
        rv = itsm_tickets_create(&value, perr, &ctx,
                                 itsm_json_string(args, "title"),
                                 itsm_json_string(args, "description"),
                                 itsm_json_string(args, "priority"));
        break;
    case ITSM_TICKET_GET:
        rv = itsm_tickets_get(&value, perr, &ctx, id);
        break;
    case ITSM_TICKET_UPDATE:
        rv = itsm_tickets_update(&value, perr, &ctx, id,
                                 itsm_json_string(args, "status"),
                                 itsm_json_string(args, "priority"),
                                 itsm_json_string(args, "comment"));
        break;
    case ITSM_TICKET_LIST:
        rv = itsm_tickets_list(&value, &next, perr, &ctx,
                               itsm_json_string(args, "status"),
                               itsm_json_string(args, "assigned_to"),
                               arg_int(args, "limit", 0),
                               itsm_json_string(args, "cursor"));
        break;
    case ITSM_TICKET_ASSIGN:
        rv = itsm_tickets_assign(&value, perr, &ctx, id,
                                 itsm_json_string(args, "user_id"));
        break;
    case ITSM_TICKET_COMMENT:
        rv = itsm_tickets_comment(&value, perr, &ctx, id,
                                  itsm_json_string(args, "comment"),
                                  json_is_true(json_object_get(args,
                                                               "internal")));
        break;
    case ITSM_TICKET_KB_SEARCH:
        rv = itsm_tickets_kb_search(&value, perr, &ctx,
                                    itsm_json_string(args, "query"),
                                    arg_int(args, "limit", 0));
        break;
    default:
        *perr = "unknown ticket operation";
        return APR_EINVAL;
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    switch (op) {
    case ITSM_TICKET_LIST:
        *presult = json_pack("{s:O, s:o}", "tickets", value, "nextCursor",
                             next ? json_string(next) : json_null());
        break;
    case ITSM_TICKET_COMMENT:
        *presult = json_pack("{s:O}", "comment", value);
        break;
    case ITSM_TICKET_KB_SEARCH:
        *presult = json_pack("{s:O}", "articles", value);
        break;
    default:
        *presult = json_pack("{s:O}", "ticket", value);
        break;
    }
    return APR_SUCCESS;
}

/* ---------------------------------------------------------------------
 * REST endpoints
 */

/* Sends the error of a failed ticket operation. The caller's input is at
 * fault only for APR_EINVAL and APR_ENOTIMPL; the service's refusals are
 * 502, since the stored credentials are not the caller's. */
static int send_ticket_error(itsm_req_t *req, apr_status_t rv,
                             const char *err)
{
    int status = HTTP_BAD_GATEWAY;
    const char *after;
    int seconds;

    if (APR_STATUS_IS_ENOENT(rv)) {
        status = HTTP_NOT_FOUND;
    }
    else if (APR_STATUS_IS_EINVAL(rv) || APR_STATUS_IS_ENOTIMPL(rv)) {
        status = HTTP_BAD_REQUEST;
    }
    else if (APR_STATUS_IS_EAGAIN(rv)) {
        status = HTTP_TOO_MANY_REQUESTS;
        after = err ? strstr(err, "retry after ") : NULL;
        if (after && sscanf(after, "retry after %d", &seconds) == 1
            && seconds > 0) {
            apr_table_setn(req->r->err_headers_out, "Retry-After",
                           apr_itoa(req->r->pool, seconds));
        }
    }
    return itsm_send_error(req, status, err ? err : "Ticket operation failed");
}

/* Loads the route's integration for a ticket operation: the caller must
 * be allowed to use it, and it must be active. */
static int load_usable(itsm_req_t *req, itsm_integration_t **pit)
{
    itsm_db_t *db;
    apr_status_t rv;
    int rc;

    rc = itsm_req_db(req, &db);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    rv = itsm_integration_load(db, req->params[0], pit);
    if (APR_STATUS_IS_ENOENT(rv)) {
        return itsm_send_error(req, HTTP_NOT_FOUND, "Integration not found");
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error fetching integration");
    }
    if (!itsm_integration_can_read(req, *pit)) {
        return itsm_send_error(req, HTTP_FORBIDDEN, "Access denied");
    }
    if (!(*pit)->is_active) {
        return itsm_send_error(req, HTTP_CONFLICT,
                               "Integration is inactive; activate it to use "
                               "tickets");
    }
    return ITSM_CONTINUE;
}

/* Copies request members into operation arguments, checking that each is
 * a string (or, for internal, a boolean). */
static int body_args(itsm_req_t *req, const char *const *names,
                     json_t *args)
{
    const char *key;
    json_t *v;
    int i, known;

    json_object_foreach(req->body, key, v) {
        known = 0;
        for (i = 0; names[i]; i += 2) {
            if (strcmp(key, names[i]) != 0) {
                continue;
            }
            known = 1;
            if (strcmp(names[i + 1], "internal") == 0 ? !json_is_boolean(v)
                : (!json_is_string(v) || json_string_length(v) == 0)) {
                return itsm_send_error(req, HTTP_BAD_REQUEST,
                    apr_psprintf(req->r->pool, "%s must be a%s", key,
                                 strcmp(names[i + 1], "internal") == 0
                                 ? " boolean" : " non-empty string"));
            }
            json_object_set(args, names[i + 1], v);
        }
        if (!known) {
            return itsm_send_error(req, HTTP_BAD_REQUEST,
                                   apr_pstrcat(req->r->pool,
                                               "Unknown field: ", key, NULL));
        }
    }
    return ITSM_CONTINUE;
}

static const char *const priorities[] = {
    "low", "medium", "high", "critical", NULL
};
static const char *const statuses[] = {
    "open", "in_progress", "resolved", "closed", NULL
};

static int check_enum(itsm_req_t *req, json_t *args, const char *key,
                      const char *const *values)
{
    const char *v = itsm_json_string(args, key);
    int i;

    if (!v) {
        return ITSM_CONTINUE;
    }
    for (i = 0; values[i]; i++) {
        if (strcmp(v, values[i]) == 0) {
            return ITSM_CONTINUE;
        }
    }
    return itsm_send_error(req, HTTP_BAD_REQUEST, apr_psprintf(req->r->pool,
                           "%s must be one of %s, %s, %s, %s", key,
                           values[0], values[1], values[2], values[3]));
}

/* Writes the audit row of a ticket change, with the error text of a
 * failed one. */
static void audit_change(itsm_req_t *req, const itsm_integration_t *it,
                         const char *action, json_t *args, apr_status_t rv,
                         const char *err)
{
    json_t *details;
    itsm_db_t *db;

    if (itsm_db_acquire(req->r, &db) != APR_SUCCESS) {
        return;
    }
    details = json_pack("{s:O}", "arguments", args);
    if (rv != APR_SUCCESS) {
        json_object_set_new(details, "error", json_string(err ? err : ""));
    }
    itsm_audit(req, db, action, "integration", it->id,
               rv == APR_SUCCESS ? ITSM_AUDIT_SUCCESS : ITSM_AUDIT_FAILURE,
               details);
}

/* Runs op, writes the audit row of a change (audit_action not NULL), and
 * sends the result in the API's envelope with status. */
static int run_and_send(itsm_req_t *req, itsm_integration_t *it,
                        itsm_ticket_op_e op, json_t *args, int status,
                        const char *message, const char *audit_action)
{
    const char *err = NULL;
    json_t *result = NULL, *body;
    apr_status_t rv;

    rv = itsm_ticket_run(req, it, op, args, &result, &err);
    if (audit_action) {
        audit_change(req, it, audit_action, args, rv, err);
    }
    if (rv != APR_SUCCESS) {
        return send_ticket_error(req, rv, err);
    }
    itsm_json_bind(req->r->pool, result);
    body = json_pack("{s:b}", "success", 1);
    if (message) {
        json_object_set_new(body, "message", json_string(message));
    }
    if (op == ITSM_TICKET_LIST) {
        json_object_set_new(body, "count", json_integer((json_int_t)
            json_array_size(json_object_get(result, "tickets"))));
        json_object_set(body, "data", json_object_get(result, "tickets"));
        json_object_set(body, "nextCursor",
                        json_object_get(result, "nextCursor"));
    }
    else if (op == ITSM_TICKET_KB_SEARCH) {
        json_object_set_new(body, "count", json_integer((json_int_t)
            json_array_size(json_object_get(result, "articles"))));
        json_object_set(body, "data", json_object_get(result, "articles"));
    }
    else {
        json_object_set(body, "data", json_object_get(result,
                        op == ITSM_TICKET_COMMENT ? "comment" : "ticket"));
    }
    return itsm_send(req, status, body);
}

static int h_list(itsm_req_t *req)
{
    static const char *const params[] = {
        "status", "status", "assignedTo", "assigned_to", "cursor", "cursor",
        NULL
    };
    apr_table_t *q = itsm_query_args(req);
    json_t *args = itsm_json_bind(req->r->pool, json_object());
    const char *limit = apr_table_get(q, "limit");
    itsm_integration_t *it;
    apr_int64_t n = 0;
    int rc, i;

    if (limit && (itsm_parse_int64(limit, &n) != APR_SUCCESS || n < 1
                  || n > ITSM_TICKETS_MAX_LIMIT)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, apr_psprintf(
            req->r->pool, "limit must be a whole number from 1 to %d",
            ITSM_TICKETS_MAX_LIMIT));
    }
    for (i = 0; params[i]; i += 2) {
        const char *v = apr_table_get(q, params[i]);

        /* jansson refuses text that is not UTF-8; such a filter must not
         * vanish and leave the list unfiltered. */
        if (v && json_object_set_new(args, params[i + 1], json_string(v))) {
            return itsm_send_error(req, HTTP_BAD_REQUEST, apr_pstrcat(
                req->r->pool, params[i], " must be UTF-8 text", NULL));
        }
    }
    if (n) {
        json_object_set_new(args, "limit", json_integer(n));
    }
    rc = check_enum(req, args, "status", statuses);
    if (rc == ITSM_CONTINUE) {
        rc = load_usable(req, &it);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    return run_and_send(req, it, ITSM_TICKET_LIST, args, HTTP_OK, NULL,
                        NULL);
}

static int h_create(itsm_req_t *req)
{
    static const char *const names[] = {
        "title", "title", "description", "description",
        "priority", "priority", NULL
    };
    json_t *args = itsm_json_bind(req->r->pool, json_object());
    itsm_integration_t *it;
    int rc;

    rc = body_args(req, names, args);
    if (rc == ITSM_CONTINUE && !json_object_get(args, "title")) {
        rc = itsm_send_error(req, HTTP_BAD_REQUEST, "title is required");
    }
    if (rc == ITSM_CONTINUE) {
        rc = check_enum(req, args, "priority", priorities);
    }
    if (rc == ITSM_CONTINUE) {
        rc = load_usable(req, &it);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    return run_and_send(req, it, ITSM_TICKET_CREATE, args, HTTP_CREATED,
                        "Ticket created successfully", "ticket.create");
}

static int h_get(itsm_req_t *req)
{
    json_t *args = itsm_json_bind(req->r->pool, json_pack("{s:s}",
                                  "ticket_id", req->params[1]));
    itsm_integration_t *it;
    int rc = load_usable(req, &it);

    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    return run_and_send(req, it, ITSM_TICKET_GET, args, HTTP_OK, NULL, NULL);
}

static int h_update(itsm_req_t *req)
{
    static const char *const names[] = {
        "status", "status", "priority", "priority", "comment", "comment",
        "assignee", "user_id", NULL
    };
    json_t *args = itsm_json_bind(req->r->pool, json_pack("{s:s}",
                                  "ticket_id", req->params[1]));
    int assign, change;
    itsm_integration_t *it;
    int rc;

    rc = body_args(req, names, args);
    if (rc == ITSM_CONTINUE) {
        rc = check_enum(req, args, "status", statuses);
    }
    if (rc == ITSM_CONTINUE) {
        rc = check_enum(req, args, "priority", priorities);
    }
    assign = json_object_get(args, "user_id") != NULL;
    change = json_object_size(args) > (size_t)(1 + assign);
    if (rc == ITSM_CONTINUE && !assign && !change) {
        rc = itsm_send_error(req, HTTP_BAD_REQUEST, "Send at least one of "
                             "status, priority, comment, assignee");
    }
    if (rc == ITSM_CONTINUE) {
        rc = load_usable(req, &it);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    if (assign && change) {
        const char *err = NULL;
        json_t *result;
        apr_status_t rv = itsm_ticket_run(req, it, ITSM_TICKET_ASSIGN, args,
                                          &result, &err);

        if (rv != APR_SUCCESS) {
            /* The update step is skipped, and the failed request still
             * gets the audit row of a change. */
            audit_change(req, it, "ticket.update", args, rv, err);
            return send_ticket_error(req, rv, err);
        }
        json_decref(result);
    }
    return run_and_send(req, it, change ? ITSM_TICKET_UPDATE
                                        : ITSM_TICKET_ASSIGN, args, HTTP_OK,
                        "Ticket updated successfully", "ticket.update");
}

static int h_comment(itsm_req_t *req)
{
    static const char *const names[] = {
        "comment", "comment", "internal", "internal", NULL
    };
    json_t *args = itsm_json_bind(req->r->pool, json_pack("{s:s}",
                                  "ticket_id", req->params[1]));
    itsm_integration_t *it;
    int rc;

    rc = body_args(req, names, args);
    if (rc == ITSM_CONTINUE && !json_object_get(args, "comment")) {
        rc = itsm_send_error(req, HTTP_BAD_REQUEST, "comment is required");
    }
    if (rc == ITSM_CONTINUE) {
        rc = load_usable(req, &it);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    return run_and_send(req, it, ITSM_TICKET_COMMENT, args, HTTP_CREATED,
                        "Comment added successfully", "ticket.comment");
}

static int h_kb(itsm_req_t *req)
{
    apr_table_t *q = itsm_query_args(req);
    const char *query = apr_table_get(q, "query");
    const char *limit = apr_table_get(q, "limit");
    itsm_integration_t *it;
    apr_int64_t n = 0;
    json_t *args;
    int rc;

    if (!query || !*query) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, "query is required");
    }
    if (limit && (itsm_parse_int64(limit, &n) != APR_SUCCESS || n < 1
                  || n > ITSM_TICKETS_MAX_LIMIT)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, apr_psprintf(
            req->r->pool, "limit must be a whole number from 1 to %d",
            ITSM_TICKETS_MAX_LIMIT));
    }
    args = itsm_json_bind(req->r->pool, json_pack("{s:s}", "query", query));
    if (n) {
        json_object_set_new(args, "limit", json_integer(n));
    }
    rc = load_usable(req, &it);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    return run_and_send(req, it, ITSM_TICKET_KB_SEARCH, args, HTTP_OK, NULL,
                        NULL);
}

const itsm_route_t itsm_ticket_routes[] = {
    { M_GET, "/integration/:id/tickets", h_list, ITSM_ACCESS_USER, 0 },
    { M_POST, "/integration/:id/tickets", h_create, ITSM_ACCESS_USER,
      ITSM_ROUTE_BODY },
    { M_GET, "/integration/:id/tickets/:ticketId", h_get, ITSM_ACCESS_USER,
      0 },
    { M_PUT, "/integration/:id/tickets/:ticketId", h_update,
      ITSM_ACCESS_USER, ITSM_ROUTE_BODY },
    { M_POST, "/integration/:id/tickets/:ticketId/comments", h_comment,
      ITSM_ACCESS_USER, ITSM_ROUTE_BODY },
    { M_GET, "/integration/:id/knowledge-base", h_kb, ITSM_ACCESS_USER, 0 },
    { 0, NULL, NULL, 0, 0 }
};
