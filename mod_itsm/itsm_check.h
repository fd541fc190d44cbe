/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Verdicts and scheduling of background health checks, without I/O: how a
 * probe result changes an integration's confirmed status (with pass and
 * fail thresholds against flapping) and when it is probed next. */

#ifndef ITSM_CHECK_H
#define ITSM_CHECK_H

#include <apr_pools.h>

#include "itsm_probe.h"

typedef struct itsm_check_policy_t {
    apr_int64_t interval_ms;        /* between two checks */
    int fail_threshold;             /* failures in a row before unhealthy */
    int pass_threshold;             /* successes in a row before healthy */
    apr_int64_t max_backoff_ms;     /* cap of the auth-failure back-off */
    int jitter_percent;             /* spread of the next due time, 0..50 */
} itsm_check_policy_t;

/* What the store keeps between checks of one integration. */
typedef struct itsm_check_state_t {
    const char *status;             /* confirmed: unknown, healthy, ... */
    const char *message;
    int consecutive_failures;
    int consecutive_successes;
    int auth_failures;              /* rejected credentials in a row */
} itsm_check_state_t;

/* Applies one probe result to old and returns the new state, the time the
 * integration is due again, and whether the confirmed status changed.
 * retry_after_ms is the wait the service asked for (0 for none); an
 * authentication failure doubles the interval each time, up to the cap. */
void itsm_check_apply(const itsm_check_policy_t *policy,
                      const itsm_check_state_t *old,
                      const itsm_probe_result_t *res,
                      apr_int64_t retry_after_ms, apr_int64_t now_ms,
                      itsm_check_state_t *next, apr_int64_t *pdue_ms,
                      int *pchanged);

/* Returns 1 when the result means the service rejected the credentials. */
int itsm_check_is_auth_failure(const itsm_probe_result_t *res);

/* Returns interval_ms changed by a random amount of up to jitter_percent
 * either way, so that integrations created together drift apart. */
apr_int64_t itsm_check_jitter(apr_int64_t interval_ms, int jitter_percent);

/* Parses a Retry-After value (seconds, or an HTTP date) into milliseconds
 * from now; 0 when absent or unreadable. */
apr_int64_t itsm_check_retry_after_ms(const char *value, apr_int64_t now_ms);

#endif
