/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* The integration registry as the rest of the module uses it: the stored
 * record, access rules, JSON forms and the way to probe one. */

#ifndef MOD_ITSM_INTEGRATIONS_H
#define MOD_ITSM_INTEGRATIONS_H

#include "mod_itsm_api.h"
#include "itsm_probe.h"

typedef struct itsm_integration_t {
    const char *id;
    const char *name;
    const char *description;
    const char *type;
    const char *base_url;
    const char *auth_type;
    const char *sealed_credentials;     /* vault ciphertext, or NULL */
    json_t *options;                    /* object, or NULL */
    const char *ca_certificate;         /* PEM, or NULL */
    json_t *endpoints;                  /* array */
    int is_active;
    const char *health_status;
    const char *health_message;
    apr_int64_t health_checked_at;
    apr_int64_t health_latency_ms;      /* -1 when unknown */
    apr_int64_t health_http_status;     /* -1 when unknown */
    apr_int64_t consecutive_failures;
    const char *created_by;
    apr_int64_t created_at;
    apr_int64_t updated_at;
    apr_array_header_t *managers;       /* user ids, const char * */
    json_t *uptime;                     /* {"24h","7d","30d"}, or NULL */
    apr_int64_t row_version;            /* raised by every change */
} itsm_integration_t;

extern const itsm_route_t itsm_integration_routes[];

/* Loads an integration with its managers; APR_ENOENT when there is none. */
apr_status_t itsm_integration_load(itsm_db_t *db, const char *id,
                                   itsm_integration_t **pit);

/* Admins, the creator and managers may change an integration; integrators
 * may also read every integration. */
int itsm_integration_can_manage(const itsm_req_t *req,
                                const itsm_integration_t *it);
int itsm_integration_can_read(const itsm_req_t *req,
                              const itsm_integration_t *it);

/* The public JSON form: credentials are only reported as present. */
json_t *itsm_integration_to_json(apr_pool_t *p, const itsm_integration_t *it);
json_t *itsm_integration_health_json(apr_pool_t *p,
                                     const itsm_integration_t *it);

/* Fills a probe target with the integration's settings and its decrypted
 * credentials, which live in p until it is cleared. */
apr_status_t itsm_integration_target(apr_pool_t *p, itsm_srv_cfg_t *sc,
                                     const itsm_integration_t *it,
                                     itsm_probe_target_t *target,
                                     const char **perr);

/* Stores a probe result and its history row in one transaction, unless
 * the integration was deactivated or deleted meanwhile. */
apr_status_t itsm_integration_record_health(itsm_db_t *db, const char *id,
                                            const itsm_probe_result_t *res,
                                            apr_int64_t checked_at);

/* Adds the history row and hourly uptime count of one check, inside the
 * transaction the caller has open. */
apr_status_t itsm_integration_add_history(itsm_db_t *db, const char *id,
                                         const itsm_probe_result_t *res,
                                         apr_int64_t checked_at);

/* Most integrations a single internal list returns. */
#define ITSM_LIST_LIMIT "10000"

/* Probes the integration now and stores the result as check-health does;
 * an inactive one is reported inactive without a request. Updates it. */
apr_status_t itsm_integration_check_now(itsm_req_t *req, itsm_db_t *db,
                                       itsm_integration_t *it);

/* Finds an integration by id or by name (any case); APR_ENOENT when none
 * matches. */
apr_status_t itsm_integration_find(itsm_db_t *db, const char *id_or_name,
                                   itsm_integration_t **pit);

/* Lists the integrations of a type (NULL for all), oldest first, up to
 * ITSM_LIST_LIMIT. */
apr_status_t itsm_integration_list(itsm_db_t *db, const char *type,
                                   apr_array_header_t **plist);

#endif
