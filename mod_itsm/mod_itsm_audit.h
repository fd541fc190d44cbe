/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* The audit log: who changed what, written in the transaction of the
 * change, and GET /audit to read it. */

#ifndef MOD_ITSM_AUDIT_H
#define MOD_ITSM_AUDIT_H

#include "mod_itsm_api.h"

#define ITSM_AUDIT_SUCCESS 1
#define ITSM_AUDIT_FAILURE 0

extern const itsm_route_t itsm_audit_routes[];

/* Writes one audit row for the request: the caller (user or API key),
 * client address and request id come from req. details, whose reference
 * this takes, is a JSON object without secrets, or NULL. */
apr_status_t itsm_audit(itsm_req_t *req, itsm_db_t *db, const char *action,
                        const char *target_type, const char *target_id,
                        int outcome, json_t *details);

#endif
