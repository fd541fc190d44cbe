/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/*
 * Health probes of ITSM integrations: one authenticated request per
 * integration that proves the service responds and accepts the
 * credentials.
 *
 * Probe request per type (always with "Accept: application/json"):
 *   jira        GET {base}/rest/api/3/myself
 *   servicenow  GET {base}/api/now/table/sys_user?sysparm_limit=1
 *   zendesk     GET {base}/api/v2/users/me.json
 *   ivanti, cherwell, custom
 *               GET {base}{options.healthPath}, or {base} without it
 *
 * Authentication per auth type, from the decrypted credentials object:
 *   basic   Basic username:password, or Basic email:apiToken when there is
 *           no username (Atlassian Cloud API tokens).  For zendesk the
 *           user is "{email}/token", as with token.
 *   token   zendesk: Basic "{email}/token:{apiToken}" (Zendesk API token).
 *           jira with email: Basic email:apiToken (Atlassian Cloud).
 *           jira without email and every other type: Bearer apiToken
 *           (Jira Data Center personal access tokens, bearer tokens).
 *   bearer  Bearer token.
 *   apikey  "{options.apiKeyHeader}: {apiKey}", header X-API-Key by default.
 *           For ServiceNow API keys set apiKeyHeader to x-sn-apikey.
 *   oauth   Client credentials grant (RFC 6749 section 4.4): POST
 *           grant_type=client_credentials (and scope=options.scope) to
 *           options.tokenUrl, then Bearer access_token.  ServiceNow defaults
 *           tokenUrl to {base}/oauth_token.do and sends client_id and
 *           client_secret in the form body, as ServiceNow documents; other
 *           types send them with HTTP Basic (RFC 6749 section 2.3.1).
 *           options.clientAuth "basic" or "post" overrides that choice.
 *   none    no Authorization header.
 *
 * OAuth access tokens are cached per integration id and credentials
 * fingerprint (BLAKE2b of token URL, client id, secret, scope and client
 * auth method) until expires_in minus a margin; a 401 drops the token.
 * itsm_probe_auth_headers gives the ticket adapters the same headers and
 * the same token cache.
 */

#ifndef ITSM_PROBE_H
#define ITSM_PROBE_H

#include <apr_pools.h>
#include <jansson.h>

#include "itsm_http.h"

#define ITSM_PROBE_DEFAULT_DEGRADED_MS   2000
#define ITSM_PROBE_DEFAULT_CONCURRENCY   64
#define ITSM_PROBE_HEALTHY_MESSAGE       "Integration is active and responding"

typedef enum {
    ITSM_HEALTH_UNKNOWN = 0,        /* not checked yet, or check aborted */
    ITSM_HEALTH_HEALTHY,
    ITSM_HEALTH_DEGRADED,
    ITSM_HEALTH_UNHEALTHY,
    ITSM_HEALTH_INACTIVE            /* set by callers; probes never return it */
} itsm_health_e;

/* One integration to probe.  All members are borrowed from the caller. */
typedef struct itsm_probe_target_t {
    const char *id;                 /* integration id, the token cache key */
    const char *type;               /* jira, servicenow, zendesk, ivanti,
                                     * cherwell or custom */
    const char *base_url;
    const char *auth_type;          /* basic, token, apikey, bearer, oauth,
                                     * none */
    json_t *credentials;            /* decrypted object, may be NULL */
    json_t *options;                /* may be NULL */
    const char *ca_file;            /* PEM CA bundle, or NULL */
    const char *ca_pem;             /* PEM CA text, or NULL */
} itsm_probe_target_t;

/* Settings shared by all probes of a run. */
typedef struct itsm_probe_config_t {
    itsm_http_policy_t http;
    long degraded_ms;               /* slower 2xx is degraded; 0 disables */
    int max_concurrency;            /* requests in flight, >= 1 */
} itsm_probe_config_t;

typedef struct itsm_probe_result_t {
    itsm_health_e status;
    const char *message;            /* for the API's health.message */
    long latency_ms;                /* of the probe request, 0 if none */
    int http_status;                /* 0 when no response arrived */
    itsm_http_error_e error;        /* transport outcome of the probe */
    apr_time_t checked_at;
    const char *retry_after;        /* Retry-After of a 429 or 503 */
} itsm_probe_result_t;

/* Return "unknown", "healthy", "degraded", "unhealthy" or "inactive". */
const char *itsm_health_name(itsm_health_e status);

/* Fill conf with the http defaults, ITSM_PROBE_DEFAULT_DEGRADED_MS and
 * ITSM_PROBE_DEFAULT_CONCURRENCY. */
void itsm_probe_config_init(itsm_probe_config_t *conf);

/*
 * Create the process-wide OAuth token cache in p, which must live as long
 * as probes run (for example the child pool, from child_init).  Tokens are
 * wiped when p is destroyed.  Without this call probes still work but
 * request a new token every time.  Not thread-safe itself: call it before
 * the threads that probe start.
 */
apr_status_t itsm_probe_init(apr_pool_t *p);

/* Drop the cached OAuth token of an integration, e.g. after it is deleted. */
void itsm_probe_forget_token(const char *id);

/*
 * Check the auth settings of an integration of the given type.  On failure
 * return APR_EINVAL with *pfield set to the path of the offending member,
 * relative to the integration object ("config.auth.type",
 * "config.auth.credentials.password", "config.options.tokenUrl", ...), and
 * *pproblem to the rest of a sentence ("is required", "must be a string",
 * "must not contain control characters", ...).  Required members:
 *   basic   username and password, or email and apiToken
 *   token   apiToken, and email for zendesk
 *   bearer  token
 *   apikey  apiKey; options.apiKeyHeader, if set, must be a header name
 *   oauth   clientId and clientSecret; options.tokenUrl except for
 *           servicenow; options.clientAuth, if set, "basic" or "post"
 *   none    nothing
 */
apr_status_t itsm_probe_validate_auth(const char **pfield,
                                      const char **pproblem,
                                      apr_pool_t *p, const char *type,
                                      const char *auth_type,
                                      const json_t *credentials,
                                      const json_t *options);

/* Check type, base URL, options.healthPath and auth of a target, with the
 * same out-parameters as itsm_probe_validate_auth. */
apr_status_t itsm_probe_validate_target(const char **pfield,
                                        const char **pproblem,
                                        apr_pool_t *p,
                                        const itsm_probe_target_t *target);

/*
 * Build the authentication header lines ("Name: value" strings) that a
 * request to target needs, as the auth table at the top of this file
 * describes: one Authorization or API key line, or none for auth type
 * none.  For oauth the token comes from the cache, or from one token
 * request sent with policy (NULL means the defaults) and then cached.
 * *pcached (may be NULL) is set to 1 when the token came from the cache:
 * if the service then responds with 401, call itsm_probe_forget_token and this
 * function again once, because the cached token may have been revoked.
 * The header values are zeroed when p is cleared.
 *
 * Returns APR_SUCCESS; APR_EINVAL when the target fails
 * itsm_probe_validate_target; APR_EACCES when the token endpoint rejected
 * the client (HTTP 400, 401, 403); APR_EAGAIN when it answered 429;
 * APR_EGENERAL for other token endpoint failures.  *perr then describes
 * the failure without secrets, in the words the health message uses.
 */
apr_status_t itsm_probe_auth_headers(apr_array_header_t **pheaders,
                                     int *pcached, const char **perr,
                                     apr_pool_t *p,
                                     const itsm_http_policy_t *policy,
                                     const itsm_probe_target_t *target);

/*
 * Turn the response to a probe of target into a result: healthy, degraded
 * (slow, rate limited, non-JSON 2xx) or unhealthy (rejected credentials,
 * other 4xx and 5xx, 3xx, transport errors), or unknown when aborted.
 */
void itsm_probe_classify(itsm_probe_result_t *result, apr_pool_t *p,
                         const itsm_probe_config_t *conf,
                         const itsm_probe_target_t *target,
                         const itsm_http_response_t *resp);

/* Probe one target; *presult is always set.  conf NULL means defaults. */
apr_status_t itsm_probe_run(itsm_probe_result_t **presult, apr_pool_t *p,
                            const itsm_probe_config_t *conf,
                            const itsm_probe_target_t *target);

/*
 * Probe ntargets targets concurrently (bounded by conf->max_concurrency)
 * and set presults[i] for targets[i].  OAuth tokens that are not cached are
 * fetched first, in one concurrent round.  Returns APR_SUCCESS,
 * APR_EINVAL for invalid arguments, or APR_EINCOMPLETE when abort_cb
 * stopped the run; unfinished targets then have status unknown.
 * NOTE: the response bodies of the whole batch stay in memory until it
 * returns, up to ntargets * http.max_response_bytes, so a caller with
 * thousands of targets should pass them in batches of a few hundred.
 */
apr_status_t itsm_probe_run_many(itsm_probe_result_t **presults,
                                 apr_pool_t *p,
                                 const itsm_probe_config_t *conf,
                                 const itsm_probe_target_t *targets,
                                 int ntargets,
                                 itsm_http_abort_cb *abort_cb,
                                 void *abort_baton);

#endif /* ITSM_PROBE_H */
