/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/*
 * Zendesk adapter (Support API, Help Center API):
 *   create      POST /api/v2/tickets.json
 *   get         GET  /api/v2/tickets/{id}.json
 *   update, assign, comment
 *               PUT  /api/v2/tickets/{id}.json
 *   list        GET  /api/v2/tickets.json with cursor pagination
 *               (page[size], page[after]); with a status or assignee
 *               filter GET /api/v2/search.json, which pages by number
 *   kb_search   GET  /api/v2/help_center/articles/search.json
 */

#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "itsm_json.h"
#include "itsm_tickets_private.h"
#include "itsm_util.h"

/* Prefix of the cursors of filtered lists: "search:<page>:<per_page>". */
#define SEARCH_CURSOR "search:"

static const tickets_map_t zendesk_statuses[] = {
    { "open", "open" },
    { "open", "new" },
    { "in_progress", "pending" },
    { "in_progress", "hold" },
    { "resolved", "solved" },
    { "closed", "closed" },
    { NULL, NULL }
};

static const tickets_map_t zendesk_priorities[] = {
    { "low", "low" },
    { "medium", "normal" },
    { "high", "high" },
    { "critical", "urgent" },
    { NULL, NULL }
};

/* The ticket number of an id such as "123" or "#123", or NULL. */
static const char *ticket_number(const char *id)
{
    if (*id == '#') {
        ++id;
    }
    return *id && strspn(id, "0123456789") == strlen(id) ? id : NULL;
}

static apr_status_t check_ticket_id(const char **pnumber,
                                    tickets_call_t *call, const char *id)
{
    *pnumber = ticket_number(id);
    if (!*pnumber) {
        return itsm_tickets_fail(call, APR_EINVAL, "Invalid Zendesk ticket "
                                 "id \"%s\": use the ticket number, such as "
                                 "123.",
                                 itsm_tickets_cut(call->scratch, id, 80));
    }
    return APR_SUCCESS;
}

static const char *ticket_url(tickets_call_t *call, const char *number)
{
    return itsm_tickets_url(call, apr_pstrcat(call->scratch,
                                              "/api/v2/tickets/", number,
                                              ".json", NULL));
}

static const char *ticket_subject(tickets_call_t *call, const char *number)
{
    return apr_pstrcat(call->scratch, "Zendesk ticket ", number, NULL);
}

static json_t *zendesk_ticket(tickets_call_t *call, const json_t *source)
{
    apr_pool_t *p = call->scratch;
    const char *id = itsm_tickets_text(p, source, "id");
    const char *status = itsm_json_string(source, "status");
    const char *priority = itsm_json_string(source, "priority");
    json_t *ticket;

    if (!id) {
        return NULL;
    }
    ticket = itsm_tickets_ticket_new(call);
    itsm_tickets_set(ticket, "id", id);
    itsm_tickets_set(ticket, "key", id);
    itsm_tickets_set(ticket, "title", itsm_json_string(source, "subject"));
    itsm_tickets_set(ticket, "description",
                     itsm_json_string(source, "description"));
    itsm_tickets_set(ticket, "status",
                     itsm_tickets_map_in(call, "statusMap",
                                         zendesk_statuses, status));
    itsm_tickets_set(ticket, "rawStatus", status);
    itsm_tickets_set(ticket, "priority",
                     itsm_tickets_map_in(call, "priorityMap",
                                         zendesk_priorities, priority));
    itsm_tickets_set(ticket, "rawPriority", priority);
    itsm_tickets_set(ticket, "assignee",
                     itsm_tickets_text(p, source, "assignee_id"));
    itsm_tickets_set(ticket, "url", apr_pstrcat(p, call->base_url,
                                                "/agent/tickets/", id,
                                                NULL));
    itsm_tickets_set(ticket, "created",
                     itsm_tickets_time(p, itsm_json_string(source,
                                                           "created_at")));
    itsm_tickets_set(ticket, "updated",
                     itsm_tickets_time(p, itsm_json_string(source,
                                                           "updated_at")));
    return ticket;
}

/* The ticket of a {"ticket": {...}} response body. */
static apr_status_t response_ticket(json_t **pticket, tickets_call_t *call,
                                  const json_t *response)
{
    *pticket = zendesk_ticket(call, json_object_get(response, "ticket"));
    if (!*pticket) {
        return itsm_tickets_unexpected(call, "no \"ticket\" object with an "
                                       "id");
    }
    return APR_SUCCESS;
}

/* PUT {"ticket": changes} and set *presponse to the parsed response. */
static apr_status_t put_ticket(json_t **presponse, tickets_call_t *call,
                               const char *id, json_t *changes)
{
    const char *number;
    json_t *body;
    apr_status_t rv;

    *presponse = NULL;
    if ((rv = check_ticket_id(&number, call, id)) != APR_SUCCESS) {
        return rv;
    }
    body = itsm_json_bind(call->scratch, json_pack("{s:O}", "ticket",
                                                   changes));
    return itsm_tickets_send(presponse, call, "PUT", ticket_url(call, number),
                             body, ticket_subject(call, number));
}

static apr_status_t zendesk_create(json_t **pticket, tickets_call_t *call,
                                   const char *title,
                                   const char *description,
                                   const char *priority)
{
    const json_t *extra = json_object_get(call->target->options,
                                          "createFields");
    json_t *fields;
    json_t *body;
    json_t *response = NULL;
    apr_status_t rv;

    /* The title replaces a missing description, because Zendesk
     * requires a first comment. */
    fields = json_pack("{s:s, s:{s:s}}", "subject", title, "comment",
                       "body", description ? description : title);
    body = itsm_json_bind(call->scratch, json_pack("{s:o}", "ticket",
                                                   fields));
    if (priority) {
        itsm_tickets_set(fields, "priority",
                         itsm_tickets_map_out(call, "priorityMap",
                                              zendesk_priorities,
                                              priority));
    }
    if (json_is_object(extra)) {
        json_object_update_missing(fields, (json_t *)extra);
    }
    rv = itsm_tickets_send(&response, call, "POST",
                           itsm_tickets_url(call, "/api/v2/tickets.json"),
                           body, NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    return response_ticket(pticket, call, response);
}

static apr_status_t zendesk_get(json_t **pticket, tickets_call_t *call,
                                const char *ticket_id)
{
    json_t *response = NULL;
    const char *number;
    apr_status_t rv;

    if ((rv = check_ticket_id(&number, call, ticket_id)) != APR_SUCCESS) {
        return rv;
    }
    rv = itsm_tickets_send(&response, call, "GET", ticket_url(call, number),
                           NULL, ticket_subject(call, number));
    if (rv != APR_SUCCESS) {
        return rv;
    }
    return response_ticket(pticket, call, response);
}

static apr_status_t zendesk_update(json_t **pticket, tickets_call_t *call,
                                   const char *ticket_id, const char *status,
                                   const char *priority, const char *comment)
{
    json_t *changes = itsm_json_bind(call->scratch, json_object());
    json_t *response = NULL;
    apr_status_t rv;

    if (status) {
        itsm_tickets_set(changes, "status",
                         itsm_tickets_map_out(call, "statusMap",
                                              zendesk_statuses, status));
    }
    if (priority) {
        itsm_tickets_set(changes, "priority",
                         itsm_tickets_map_out(call, "priorityMap",
                                              zendesk_priorities,
                                              priority));
    }
    if (comment) {
        json_object_set_new(changes, "comment",
                            json_pack("{s:s, s:b}", "body", comment,
                                      "public", 1));
    }
    rv = put_ticket(&response, call, ticket_id, changes);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    return response_ticket(pticket, call, response);
}

/* Append the tickets of a page to tickets; results of the search API
 * carry result_type "ticket". */
static apr_status_t append_tickets(tickets_call_t *call, json_t *tickets,
                                   const json_t *page)
{
    json_t *item;
    size_t i;

    json_array_foreach(page, i, item) {
        json_t *ticket;
        const char *type = itsm_json_string(item, "result_type");

        if (type && strcmp(type, "ticket") != 0) {
            continue;
        }
        ticket = zendesk_ticket(call, item);
        if (!ticket) {
            return itsm_tickets_unexpected(call, "a ticket has no id");
        }
        json_array_append(tickets, ticket);
    }
    return APR_SUCCESS;
}

/* One search term, quoted when it contains a space. */
static const char *search_term(apr_pool_t *p, const char *name,
                               const char *value)
{
    if (strpbrk(value, " \t")) {
        return apr_pstrcat(p, " ", name, ":\"", value, "\"", NULL);
    }
    return apr_pstrcat(p, " ", name, ":", value, NULL);
}

/* Read "search:<page>:<per_page>". */
static apr_status_t parse_search_cursor(apr_pool_t *p, const char *cursor,
                                        apr_int64_t *ppage,
                                        apr_int64_t *pper_page)
{
    apr_size_t prefix = strlen(SEARCH_CURSOR);
    char *page;
    char *size;

    if (strncmp(cursor, SEARCH_CURSOR, prefix) != 0) {
        return APR_EINVAL;
    }
    page = apr_pstrdup(p, cursor + prefix);
    size = strchr(page, ':');
    if (!size) {
        return APR_EINVAL;
    }
    *size++ = '\0';
    if (itsm_parse_int64(page, ppage) != APR_SUCCESS || *ppage < 1
        || itsm_parse_int64(size, pper_page) != APR_SUCCESS
        || *pper_page < 1 || *pper_page > ITSM_TICKETS_MAX_LIMIT) {
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

/* Filtered list through the search API, which pages by page number.  The
 * cursor keeps the page size of the first page, so that pages do not
 * overlap when the limit changes.
 * NOTE: Zendesk's search API returns at most 1000 results per query, so a
 * filtered list ends there; the unfiltered list has no such limit. */
static apr_status_t search_tickets(json_t **ptickets,
                                   const char **pnext_cursor,
                                   tickets_call_t *call, const char *status,
                                   const char *assigned_to, int limit,
                                   const char *cursor)
{
    apr_pool_t *p = call->scratch;
    apr_int64_t page = 1;
    apr_int64_t per_page = limit;
    const char *query = "type:ticket";
    json_t *response = NULL;
    json_t *results;
    json_t *tickets;
    apr_status_t rv;

    if (cursor && parse_search_cursor(p, cursor, &page, &per_page)
                  != APR_SUCCESS) {
        return itsm_tickets_fail(call, APR_EINVAL, "Invalid cursor \"%s\": "
                                 "pass the cursor of the previous page with "
                                 "the same filters, or none for the first "
                                 "page.", itsm_tickets_cut(p, cursor, 80));
    }
    if (status) {
        apr_array_header_t *values = itsm_tickets_map_values(
            call, "statusMap", zendesk_statuses, status);
        int i;

        /* Terms of the same property match any of their values. */
        for (i = 0; i < values->nelts; ++i) {
            query = apr_pstrcat(p, query, search_term(
                                    p, "status",
                                    APR_ARRAY_IDX(values, i, const char *)),
                                NULL);
        }
    }
    if (assigned_to) {
        /* Zendesk's search syntax has no escape for '"', so a value with
         * one could add search terms of its own. */
        if (strpbrk(assigned_to, "\"\\")) {
            return itsm_tickets_fail(call, APR_EINVAL, "The assignee filter "
                                     "must be a user id or an e-mail "
                                     "address, without quotes.");
        }
        query = apr_pstrcat(p, query, search_term(p, "assignee",
                                                  assigned_to), NULL);
    }
    rv = itsm_tickets_send(&response, call, "GET",
                           itsm_tickets_url(call, apr_psprintf(
                               p, "/api/v2/search.json?query=%s"
                               "&sort_by=created_at&sort_order=desc"
                               "&per_page=%" APR_INT64_T_FMT
                               "&page=%" APR_INT64_T_FMT,
                               itsm_tickets_escape(p, query), per_page,
                               page)), NULL, NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    results = json_object_get(response, "results");
    if (!json_is_array(results)) {
        return itsm_tickets_unexpected(call, "no \"results\" array");
    }
    tickets = itsm_tickets_array_new(call);
    if ((rv = append_tickets(call, tickets, results)) != APR_SUCCESS) {
        return rv;
    }
    if (itsm_json_string(response, "next_page")) {
        *pnext_cursor = apr_psprintf(p, SEARCH_CURSOR "%" APR_INT64_T_FMT
                                     ":%" APR_INT64_T_FMT, page + 1,
                                     per_page);
    }
    *ptickets = tickets;
    return APR_SUCCESS;
}

static apr_status_t zendesk_list(json_t **ptickets,
                                 const char **pnext_cursor,
                                 tickets_call_t *call, const char *status,
                                 const char *assigned_to, int limit,
                                 const char *cursor)
{
    apr_pool_t *p = call->scratch;
    const char *after = cursor;
    json_t *tickets;
    int page;
    apr_status_t rv;

    if (status || assigned_to) {
        return search_tickets(ptickets, pnext_cursor, call, status,
                              assigned_to, limit, cursor);
    }
    if (cursor && strncmp(cursor, SEARCH_CURSOR,
                          strlen(SEARCH_CURSOR)) == 0) {
        return itsm_tickets_fail(call, APR_EINVAL, "The cursor belongs to a "
                                 "filtered list: pass the same status and "
                                 "assignee filters again.");
    }

    tickets = itsm_tickets_array_new(call);
    for (page = 0; page < ITSM_TICKETS_MAX_PAGES; ++page) {
        json_t *response = NULL;
        json_t *meta;
        json_t *list;
        const char *url;

        /* Each page requests no more tickets than are missing, so that
         * no ticket of a page is skipped when the list stops. */
        url = apr_psprintf(p, "/api/v2/tickets.json?sort=-id"
                           "&page%%5Bsize%%5D=%d",
                           limit - (int)json_array_size(tickets));
        if (after) {
            url = apr_pstrcat(p, url, "&page%5Bafter%5D=",
                              itsm_tickets_escape(p, after), NULL);
        }
        rv = itsm_tickets_send(&response, call, "GET",
                               itsm_tickets_url(call, url), NULL, NULL);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        list = json_object_get(response, "tickets");
        if (!json_is_array(list)) {
            return itsm_tickets_unexpected(call, "no \"tickets\" array");
        }
        if ((rv = append_tickets(call, tickets, list)) != APR_SUCCESS) {
            return rv;
        }
        meta = json_object_get(response, "meta");
        after = json_is_true(json_object_get(meta, "has_more"))
                ? itsm_json_string(meta, "after_cursor") : NULL;
        if (!after || json_array_size(list) == 0
            || (int)json_array_size(tickets) >= limit) {
            break;
        }
    }
    *ptickets = tickets;
    *pnext_cursor = after;
    return APR_SUCCESS;
}

static apr_status_t zendesk_assign(json_t **pticket, tickets_call_t *call,
                                   const char *ticket_id,
                                   const char *user_id)
{
    json_t *changes = itsm_json_bind(call->scratch, json_object());
    json_t *response = NULL;
    apr_int64_t user;
    apr_status_t rv;

    if (strchr(user_id, '@')) {
        itsm_tickets_set(changes, "assignee_email", user_id);
    }
    else if (itsm_parse_int64(user_id, &user) == APR_SUCCESS && user > 0) {
        json_object_set_new(changes, "assignee_id", json_integer(user));
    }
    else {
        return itsm_tickets_fail(call, APR_EINVAL, "Invalid Zendesk user "
                                 "\"%s\": use the numeric user id or the "
                                 "user's e-mail address.",
                                 itsm_tickets_cut(call->scratch, user_id,
                                                  120));
    }
    rv = put_ticket(&response, call, ticket_id, changes);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    return response_ticket(pticket, call, response);
}

static apr_status_t zendesk_comment(json_t **pcomment, tickets_call_t *call,
                                    const char *ticket_id, const char *text,
                                    int internal)
{
    apr_pool_t *p = call->scratch;
    json_t *changes = itsm_json_bind(p, json_object());
    json_t *response = NULL;
    json_t *audit;
    json_t *event;
    json_t *found = NULL;
    json_t *comment;
    json_t *public;
    size_t i;
    apr_status_t rv;

    json_object_set_new(changes, "comment",
                        json_pack("{s:s, s:b}", "body", text, "public",
                                  !internal));
    rv = put_ticket(&response, call, ticket_id, changes);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!json_is_object(json_object_get(response, "ticket"))) {
        return itsm_tickets_unexpected(call, "no \"ticket\" object");
    }
    /* The audit of the update lists the new comment among its events. */
    audit = json_object_get(response, "audit");
    json_array_foreach(json_object_get(audit, "events"), i, event) {
        const char *type = itsm_json_string(event, "type");

        if (type && strcmp(type, "Comment") == 0) {
            found = event;
            break;
        }
    }
    public = json_object_get(found, "public");

    comment = itsm_tickets_object_new(call);
    itsm_tickets_set(comment, "id", itsm_tickets_text(p, found, "id"));
    itsm_tickets_set(comment, "body", itsm_json_string(found, "body")
                                      ? itsm_json_string(found, "body")
                                      : text);
    json_object_set_new(comment, "internal",
                        json_boolean(json_is_boolean(public)
                                     ? json_is_false(public) : internal));
    itsm_tickets_set(comment, "author", found
                     ? itsm_tickets_text(p, found, "author_id")
                     : itsm_tickets_text(p, audit, "author_id"));
    itsm_tickets_set(comment, "created",
                     itsm_tickets_time(p, itsm_json_string(audit,
                                                           "created_at")));
    *pcomment = comment;
    return APR_SUCCESS;
}

static apr_status_t zendesk_kb_search(json_t **particles,
                                      tickets_call_t *call,
                                      const char *query, int limit)
{
    apr_pool_t *p = call->scratch;
    json_t *response = NULL;
    json_t *results;
    json_t *result;
    json_t *articles;
    size_t i;
    apr_status_t rv;

    rv = itsm_tickets_send(&response, call, "GET",
                           itsm_tickets_url(call, apr_psprintf(
                               p, "/api/v2/help_center/articles/search.json"
                               "?query=%s&per_page=%d",
                               itsm_tickets_escape(p, query), limit)),
                           NULL, NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    results = json_object_get(response, "results");
    if (!json_is_array(results)) {
        return itsm_tickets_unexpected(call, "no \"results\" array");
    }
    articles = itsm_tickets_array_new(call);
    json_array_foreach(results, i, result) {
        const char *snippet = itsm_json_string(result, "snippet");
        json_t *article = json_object();

        if (!snippet) {
            snippet = itsm_json_string(result, "body");
        }
        itsm_tickets_set(article, "id", itsm_tickets_text(p, result, "id"));
        itsm_tickets_set(article, "title", itsm_json_string(result,
                                                            "title"));
        itsm_tickets_set(article, "snippet",
                         itsm_tickets_cut(p, itsm_tickets_html_text(p,
                                                                    snippet),
                                          ITSM_TICKETS_SNIPPET_MAX));
        itsm_tickets_set(article, "url", itsm_json_string(result,
                                                          "html_url"));
        json_array_append_new(articles, article);
    }
    *particles = articles;
    return APR_SUCCESS;
}

const tickets_adapter_t itsm_tickets_zendesk = {
    "zendesk", "Zendesk",
    zendesk_create, zendesk_get, zendesk_update, zendesk_list,
    zendesk_assign, zendesk_comment, zendesk_kb_search
};
