/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Ticket operations on a registered integration, shared by the MCP tools
 * and the /integration/:id/tickets endpoints. */

#ifndef MOD_ITSM_TICKETS_H
#define MOD_ITSM_TICKETS_H

#include "mod_itsm_api.h"
#include "mod_itsm_integrations.h"

typedef enum {
    ITSM_TICKET_NONE = 0,
    ITSM_TICKET_CREATE,
    ITSM_TICKET_GET,
    ITSM_TICKET_UPDATE,
    ITSM_TICKET_LIST,
    ITSM_TICKET_ASSIGN,
    ITSM_TICKET_COMMENT,
    ITSM_TICKET_KB_SEARCH
} itsm_ticket_op_e;

extern const itsm_route_t itsm_ticket_routes[];

/* Runs op on the integration with args named as the MCP tools name them
 * (title, description, priority, ticket_id, status, comment, assigned_to,
 * user_id, internal, query, limit, cursor). The result is
 * {"ticket": ...}, {"tickets": [...], "nextCursor": ...},
 * {"comment": ...} or {"articles": [...]}. On failure returns the
 * adapter's status (APR_ENOTIMPL, APR_ENOENT, APR_EACCES, APR_EAGAIN,
 * APR_EINVAL, APR_EGENERAL) and a message that never contains credentials. */
apr_status_t itsm_ticket_run(itsm_req_t *req, const itsm_integration_t *it,
                             itsm_ticket_op_e op, json_t *args,
                             json_t **presult, const char **perr);

#endif
