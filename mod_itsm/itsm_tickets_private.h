/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Shared parts of the ticket adapters (itsm_tickets_*.c): the state of
 * one operation, requests and their errors, mappings, text helpers. */

#ifndef ITSM_TICKETS_PRIVATE_H
#define ITSM_TICKETS_PRIVATE_H

#include <apr_tables.h>

#include "itsm_tickets.h"

typedef struct tickets_adapter_t tickets_adapter_t;

/* One operation on one integration. */
typedef struct tickets_call_t {
    const itsm_tickets_ctx_t *ctx;
    const itsm_probe_target_t *target;
    const tickets_adapter_t *adapter;
    apr_pool_t *pool;               /* ctx->pool: results and the message */
    apr_pool_t *scratch;            /* requests, responses, parsed bodies;
                                     * destroyed when the operation ends */
    const char *base_url;           /* without trailing slashes */
    apr_array_header_t *auth;       /* header lines, set at the first
                                     * request */
    int auth_cached;                /* auth has an OAuth token from the
                                     * cache */
    int http_status;                /* of the last response, 0 if none */
    const char *error;              /* message of the failure, in pool */
} tickets_call_t;

/* One pair of a mapping table: our value and a system value.  Tables end
 * with {NULL, NULL}; the first pair of an our-value is the one written. */
typedef struct tickets_map_t {
    const char *ours;
    const char *theirs;
} tickets_map_t;

/* The operations of one integration type; see itsm_tickets.h.  Arguments
 * are checked before the call: statuses and priorities are valid, title,
 * text, query and ids non-empty, limit within 1..ITSM_TICKETS_MAX_LIMIT. */
struct tickets_adapter_t {
    const char *type;
    const char *system;             /* product name for messages */
    apr_status_t (*create)(json_t **pticket, tickets_call_t *call,
                           const char *title, const char *description,
                           const char *priority);
    apr_status_t (*get)(json_t **pticket, tickets_call_t *call,
                        const char *ticket_id);
    apr_status_t (*update)(json_t **pticket, tickets_call_t *call,
                           const char *ticket_id, const char *status,
                           const char *priority, const char *comment);
    apr_status_t (*list)(json_t **ptickets, const char **pnext_cursor,
                         tickets_call_t *call, const char *status,
                         const char *assigned_to, int limit,
                         const char *cursor);
    apr_status_t (*assign)(json_t **pticket, tickets_call_t *call,
                           const char *ticket_id, const char *user_id);
    apr_status_t (*comment)(json_t **pcomment, tickets_call_t *call,
                            const char *ticket_id, const char *text,
                            int internal);
    apr_status_t (*kb_search)(json_t **particles, tickets_call_t *call,
                              const char *query, int limit);
};

extern const tickets_adapter_t itsm_tickets_jira;
extern const tickets_adapter_t itsm_tickets_servicenow;
extern const tickets_adapter_t itsm_tickets_zendesk;

/* NULL-terminated lists of our values. */
extern const char *const itsm_tickets_statuses[];
extern const char *const itsm_tickets_priorities[];

/* Set call->error from a format in call->pool and return rv. */
apr_status_t itsm_tickets_fail(tickets_call_t *call, apr_status_t rv,
                               const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Send one request to url, with body (may be NULL) as JSON, and return
 * APR_SUCCESS for a 2xx.  *pjson (may be NULL) is then the parsed body,
 * bound to call->scratch, or NULL for an empty body.  Any other outcome
 * sets call->error and returns a status of itsm_tickets.h.  subject names
 * what a 404 means is missing ("Jira issue PROJ-1"); with subject NULL a
 * 404 is an APR_EGENERAL about the endpoint.
 */
apr_status_t itsm_tickets_send(json_t **pjson, tickets_call_t *call,
                               const char *method, const char *url,
                               const json_t *body, const char *subject);

/* Set call->error to "<system> returned an unexpected response:
 * <problem>" and return APR_EGENERAL. */
apr_status_t itsm_tickets_unexpected(tickets_call_t *call,
                                     const char *problem);

/* base_url followed by path, from call->scratch. */
const char *itsm_tickets_url(tickets_call_t *call, const char *path);

/* Percent-encode every byte but the RFC 3986 unreserved characters. */
const char *itsm_tickets_escape(apr_pool_t *p, const char *s);

/* The value to write for ours: the first value of options.<option>.<ours>,
 * else the first pair of defaults for ours, else NULL. */
const char *itsm_tickets_map_out(const tickets_call_t *call,
                                 const char *option,
                                 const tickets_map_t *defaults,
                                 const char *ours);

/* Our value for a system value, options.<option> first, or NULL. */
const char *itsm_tickets_map_in(const tickets_call_t *call,
                                const char *option,
                                const tickets_map_t *defaults,
                                const char *theirs);

/* Every system value that maps to ours (const char * elements). */
apr_array_header_t *itsm_tickets_map_values(const tickets_call_t *call,
                                            const char *option,
                                            const tickets_map_t *defaults,
                                            const char *ours);

/* A string option of the integration, or NULL when absent or empty. */
const char *itsm_tickets_option(const tickets_call_t *call, const char *key);

/* A new ticket object with every member null but system and integration,
 * bound to call->pool. */
json_t *itsm_tickets_ticket_new(const tickets_call_t *call);

/* A new array or object bound to call->pool. */
json_t *itsm_tickets_array_new(const tickets_call_t *call);
json_t *itsm_tickets_object_new(const tickets_call_t *call);

/* Set obj.key to the string value, or to null when value is NULL. */
void itsm_tickets_set(json_t *obj, const char *key, const char *value);

/* The text of a string or integer member, or NULL. */
const char *itsm_tickets_text(apr_pool_t *p, const json_t *obj,
                              const char *key);

/* RFC 3339 form of a Jira, ServiceNow or Zendesk time; NULL stays NULL. */
const char *itsm_tickets_time(apr_pool_t *p, const char *s);

/* HTML as plain text: tags removed, common entities decoded, runs of
 * white space collapsed to one space. */
const char *itsm_tickets_html_text(apr_pool_t *p, const char *html);

/* s cut to at most max bytes at a UTF-8 character boundary, with "..."
 * appended when cut. */
const char *itsm_tickets_cut(apr_pool_t *p, const char *s, apr_size_t max);

/* Return 1 when s is non-empty and every byte is in the set chars or an
 * ASCII letter or digit. */
int itsm_tickets_is_word(const char *s, const char *chars);

/* Length of snippets in knowledge base results, in bytes. */
#define ITSM_TICKETS_SNIPPET_MAX 300

#endif /* ITSM_TICKETS_PRIVATE_H */
