/* Licensed under the Apache License, Version 2.0; see LICENSE. */

#include <string.h>

#include <apr_date.h>
#include <sodium.h>

#include "itsm_check.h"
#include "itsm_util.h"

/* Maximum wait a Retry-After header may impose: one day. */
#define MAX_RETRY_AFTER_MS (24 * 3600 * 1000LL)

int itsm_check_is_auth_failure(const itsm_probe_result_t *res)
{
    return res->status == ITSM_HEALTH_UNHEALTHY
           && (res->http_status == 401 || res->http_status == 403
               || (res->message
                   && strstr(res->message, "authentication failed")));
}

apr_int64_t itsm_check_jitter(apr_int64_t interval_ms, int jitter_percent)
{
    apr_int64_t span = interval_ms * jitter_percent / 100;

    if (span <= 0) {
        return interval_ms;
    }
    return interval_ms - span
           + (apr_int64_t)randombytes_uniform((uint32_t)(2 * span + 1));
}

apr_int64_t itsm_check_retry_after_ms(const char *value, apr_int64_t now_ms)
{
    apr_int64_t secs, ms;
    apr_time_t when;

    if (!value || !*value) {
        return 0;
    }
    if (itsm_parse_int64(value, &secs) == APR_SUCCESS) {
        /* Capped before the multiplication, which could overflow. */
        ms = secs <= 0 ? 0 : secs > MAX_RETRY_AFTER_MS / 1000
                             ? MAX_RETRY_AFTER_MS : secs * 1000;
    }
    else {
        when = apr_date_parse_http(value);
        ms = when ? (apr_int64_t)(when / 1000) - now_ms : 0;
    }
    if (ms < 0) {
        return 0;
    }
    return ms > MAX_RETRY_AFTER_MS ? MAX_RETRY_AFTER_MS : ms;
}

void itsm_check_apply(const itsm_check_policy_t *policy,
                      const itsm_check_state_t *old,
                      const itsm_probe_result_t *res,
                      apr_int64_t retry_after_ms, apr_int64_t now_ms,
                      itsm_check_state_t *next, apr_int64_t *pdue_ms,
                      int *pchanged)
{
    const char *raw = itsm_health_name(res->status);
    int failed = res->status == ITSM_HEALTH_UNHEALTHY;
    int confirmed = strcmp(old->status, "unknown") == 0
                    || strcmp(old->status, "inactive") == 0;
    apr_int64_t wait = itsm_check_jitter(policy->interval_ms,
                                         policy->jitter_percent);
    int i;

    *next = *old;
    if (failed) {
        next->consecutive_failures = old->consecutive_failures + 1;
        next->consecutive_successes = 0;
        /* Up to down only after fail_threshold failures in a row; a first
         * verdict is taken as it comes. */
        confirmed = confirmed || strcmp(old->status, "unhealthy") == 0
                    || next->consecutive_failures >= policy->fail_threshold;
    }
    else {
        next->consecutive_successes = old->consecutive_successes + 1;
        next->consecutive_failures = 0;
        /* Down to up only after pass_threshold successes; healthy and
         * degraded are both up and swap at once. */
        confirmed = confirmed || strcmp(old->status, "unhealthy") != 0
                    || next->consecutive_successes >= policy->pass_threshold;
    }
    if (confirmed) {
        next->status = raw;
        next->message = res->message;
    }
    *pchanged = strcmp(next->status, old->status) != 0;

    /* Repeated failed logins can lock the service account, so rejected
     * credentials double the wait each time. */
    if (itsm_check_is_auth_failure(res)) {
        /* The cap limits only the doubling, so a cap below the interval
         * never shortens the wait after rejected credentials. */
        apr_int64_t cap = policy->max_backoff_ms > wait
                          ? policy->max_backoff_ms : wait;

        next->auth_failures = old->auth_failures + 1;
        for (i = 1; i < next->auth_failures && wait < cap; i++) {
            wait *= 2;
        }
        if (wait > cap) {
            wait = cap;
        }
    }
    else {
        next->auth_failures = 0;
    }
    if (retry_after_ms > wait) {
        wait = retry_after_ms;
    }
    *pdue_ms = now_ms + wait;
}
