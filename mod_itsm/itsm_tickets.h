/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/*
 * Ticket operations on ITSM integrations: one ticket model mapped onto
 * Jira Cloud (REST API v3, Confluence for the knowledge base), the
 * ServiceNow Table API and Zendesk Support (Help Center for the knowledge
 * base).  Types ivanti, cherwell and custom have no adapter.
 *
 * Ticket (a JSON object; absent values are null):
 *   id           the system's own id: Jira issue id, ServiceNow sys_id,
 *                Zendesk ticket id (always a string)
 *   key          what people quote: Jira issue key, ServiceNow number,
 *                Zendesk ticket id
 *   title, description
 *                plain text; Jira's Atlassian Document Format and HTML
 *                are turned into text
 *   status       open, in_progress, resolved or closed, or null when the
 *                system's value maps to none of them
 *   rawStatus    the system's own status (Jira status name, ServiceNow
 *                state label, Zendesk status)
 *   priority     low, medium, high or critical, or null when unmapped
 *   rawPriority  the system's own priority (name, label or value)
 *   assignee     the system's user id (Jira accountId, ServiceNow
 *                sys_id, Zendesk user id), or null
 *   url          link for a browser: Jira {base}/browse/{key}, ServiceNow
 *                {base}/nav_to.do?uri={table}.do?sys_id={sys_id}, Zendesk
 *                {base}/agent/tickets/{id}
 *   created, updated
 *                RFC 3339 text.  Jira's "+0000" offsets get a colon
 *                ("+00:00"), and ServiceNow's UTC "2024-01-02 03:04:05"
 *                becomes "2024-01-02T03:04:05Z"; Zendesk's is kept.
 *   system       the integration type (jira, servicenow, zendesk)
 *   integration  the integration id of the context
 *
 * Comment: {id, body, internal, author, created}, author being a user id
 * (Jira accountId, ServiceNow user name, Zendesk user id).
 * Knowledge base article: {id, title, snippet, url}, snippet plain text.
 *
 * Status and priority mappings.  The tables below are the defaults.  The
 * integration options statusMap and priorityMap replace the entry of one
 * of our values: {"in_progress": "In Review"} or {"in_progress": ["In
 * Review", "Waiting"]}.  The first value is the one written, and every
 * value maps back when read.  Values are compared without regard to case.
 *
 *   Jira status names (read, and the target of transitions):
 *     open         To Do, Open, Reopened, Backlog, New
 *     in_progress  In Progress, In Review, Waiting for support,
 *                  Waiting for customer, Pending
 *     resolved     Resolved, Done
 *     closed       Closed, Canceled, Cancelled
 *   A status name in none of these maps by its status category: new to
 *   open, indeterminate to in_progress, done to resolved.  A status change
 *   takes the transition whose target status has a mapped name,
 *   else the first one whose target has the category of the requested
 *   status (closed: done).
 *   Jira priority names: critical Highest, Critical, Blocker; high High,
 *   Major; medium Medium; low Low, Lowest, Minor, Trivial.
 *
 *   ServiceNow state values: open 1 (New); in_progress 2 (In Progress),
 *   3 (On Hold); resolved 6; closed 7, 8 (Canceled).  Resolving or closing
 *   also sets close_code (options.closeCode, default "Solution provided")
 *   and close_notes (the comment, or a fixed note), which data policies
 *   of many instances require.  The close_code choices differ between
 *   instances, so set options.closeCode to one of the instance's values.
 *   ServiceNow priority values: critical 1, high 2, medium 3, low 4, 5.
 *   Priority is written as impact and urgency, the pair that the default
 *   priority lookup turns into that priority: 1 = 1/1, 2 = 1/2, 3 = 2/2,
 *   4 = 2/3, 5 = 3/3 (impact/urgency).
 *
 *   Zendesk statuses: open new, open; in_progress pending, hold;
 *   resolved solved; closed closed.  Writing open sends "open", because
 *   Zendesk does not let a ticket return to new.
 *   Zendesk priorities: low low; medium normal; high high; critical
 *   urgent.
 *
 * Options per type (config.options of the integration):
 *   jira        projectKey (required to create and list), issueType
 *               (default "Task"), confluence (true enables kb_search
 *               through Confluence Cloud at {base}/wiki)
 *   servicenow  table (default "incident"), closeCode, kbSearch ("like",
 *               the default, matches short_description and text with
 *               LIKE; "text" uses the full text operator 123TEXTQUERY321,
 *               which needs the table's text index)
 *   all         statusMap, priorityMap; createFields, an object of extra
 *               fields for create (Jira: merged into "fields", such as a
 *               custom field; ServiceNow: record fields such as caller_id
 *               or assignment_group; Zendesk: ticket fields such as
 *               group_id or tags)
 *
 * Status codes of every operation, with *perr a message for the caller
 * (an AI agent) that says what failed and what to do.  It repeats the
 * service's own error text when there is one, and never a credential:
 *   APR_SUCCESS
 *   APR_ENOTIMPL  the type has no adapter, or the integration lacks the
 *                 option the operation needs (Jira projectKey, confluence)
 *   APR_ENOENT    the ticket does not exist (HTTP 404, or no match)
 *   APR_EACCES    the service rejected the credentials or denied the
 *                 operation (HTTP 401, 403), or the OAuth token endpoint
 *                 rejected the client
 *   APR_EAGAIN    rate limited (HTTP 429); *perr contains "retry after N
 *                 seconds" from Retry-After.  Nothing is retried here.
 *   APR_EINVAL    invalid arguments, or the service rejected the input
 *                 (HTTP 400, 422), or a user to assign was not found
 *   APR_EGENERAL  anything else: HTTP 5xx and other statuses, transport
 *                 failures (with the error text of itsm_http), responses
 *                 that are not JSON or lack expected members, invalid
 *                 integration configuration
 *
 * Every request goes through itsm_http_perform with the caller's policy
 * and the target's CA, and sends "Accept: application/json" (and
 * "Content-Type: application/json" with a body).  The only repeated
 * request is one retry after a 401 to an OAuth token from the cache,
 * with a fresh token.  Operations that send several requests (Jira status
 * changes, updates with several changes) are not atomic: when a later
 * step fails, the earlier changes stay and *perr names the failed step.
 *
 * Results are jansson values bound to ctx->pool (itsm_json_bind): the
 * caller must not json_decref them, and takes its own reference
 * (json_incref, json_object_set) to keep one beyond the pool.
 */

#ifndef ITSM_TICKETS_H
#define ITSM_TICKETS_H

#include <apr_pools.h>
#include <jansson.h>

#include "itsm_http.h"
#include "itsm_probe.h"

/* list and kb_search: limit 0 or less means the default, and a larger
 * limit than the maximum is reduced to it. */
#define ITSM_TICKETS_DEFAULT_LIMIT  20
#define ITSM_TICKETS_MAX_LIMIT      100

/* Requests a list call sends at most to collect its limit; the cursor
 * then continues where it stopped. */
#define ITSM_TICKETS_MAX_PAGES      10

/* The integration and the limits of one or more ticket operations. */
typedef struct itsm_tickets_ctx_t {
    apr_pool_t *pool;                   /* results and messages */
    const itsm_probe_target_t *target;  /* type, base URL, auth, options */
    const itsm_http_policy_t *http;     /* NULL means the defaults */
    const char *integration_id;         /* copied into ticket.integration */
    const char *integration_name;       /* used in messages, may be NULL */
} itsm_tickets_ctx_t;

/* Return 1 when integrations of type have a ticket adapter. */
int itsm_tickets_supported(const char *type);

/* Create a ticket.  description and priority may be NULL.  Jira needs
 * options.projectKey. */
apr_status_t itsm_tickets_create(json_t **pticket, const char **perr,
                                 const itsm_tickets_ctx_t *ctx,
                                 const char *title, const char *description,
                                 const char *priority);

/* Fetch one ticket by id or key (Jira key or id; ServiceNow number or
 * sys_id; Zendesk id, with or without a leading '#'). */
apr_status_t itsm_tickets_get(json_t **pticket, const char **perr,
                              const itsm_tickets_ctx_t *ctx,
                              const char *ticket_id);

/*
 * Change status and priority and add a public comment; NULL leaves a part
 * out, and at least one must be given.  Sets *pticket to the ticket after
 * the change.  Steps run in the order priority, status, comment (Jira,
 * which needs several requests); ServiceNow and Zendesk take one request.
 */
apr_status_t itsm_tickets_update(json_t **pticket, const char **perr,
                                 const itsm_tickets_ctx_t *ctx,
                                 const char *ticket_id, const char *status,
                                 const char *priority, const char *comment);

/*
 * List tickets, newest first.  status and assigned_to (may be NULL) filter
 * the list.  assigned_to is a user id, or for ServiceNow and Zendesk also
 * an e-mail address, or for ServiceNow a user name.  Sets *ptickets to an
 * array of at most limit tickets.  Sets *pnext_cursor to the cursor of the
 * next page, or to NULL on the last page.  cursor NULL starts at the
 * first page.  Cursors are opaque: pass them back with the same filters.
 * Jira needs options.projectKey.
 */
apr_status_t itsm_tickets_list(json_t **ptickets, const char **pnext_cursor,
                               const char **perr,
                               const itsm_tickets_ctx_t *ctx,
                               const char *status, const char *assigned_to,
                               int limit, const char *cursor);

/* Assign a ticket to user_id: Jira accountId or e-mail address,
 * ServiceNow sys_id, user name or e-mail address, Zendesk user id or
 * e-mail address. */
apr_status_t itsm_tickets_assign(json_t **pticket, const char **perr,
                                 const itsm_tickets_ctx_t *ctx,
                                 const char *ticket_id, const char *user_id);

/*
 * Add a comment, internal (work note, private) or public.  Jira marks an
 * internal comment with the Jira Service Management property
 * sd.public.comment.  Other Jira projects show every comment to everyone
 * who can see the issue, so comment.internal is then false.
 */
apr_status_t itsm_tickets_comment(json_t **pcomment, const char **perr,
                                  const itsm_tickets_ctx_t *ctx,
                                  const char *ticket_id, const char *text,
                                  int internal);

/* Search the knowledge base: Confluence pages for Jira (only with
 * options.confluence), kb_knowledge for ServiceNow (published articles),
 * Help Center articles for Zendesk.  Sets *particles to an array. */
apr_status_t itsm_tickets_kb_search(json_t **particles, const char **perr,
                                    const itsm_tickets_ctx_t *ctx,
                                    const char *query, int limit);

#endif /* ITSM_TICKETS_H */
