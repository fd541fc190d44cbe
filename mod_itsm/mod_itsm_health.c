/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Background health checks and the health endpoints.
 *
 * The runner is a mod_watchdog singleton callback: it runs in one child of
 * this server at a time, once a second. Each run claims the integrations
 * that are due with one atomic UPDATE ... RETURNING, so children and other
 * servers sharing the database never probe one twice in an interval,
 * probes them concurrently through libcurl's multi interface with no
 * database connection held, and writes every verdict with its history row
 * in one transaction. All state lives in the database, so the child that
 * hosts the runner may change at any restart. */

#include <string.h>

#include <apr_strings.h>
#include <apr_optional.h>
#include <apr_atomic.h>

#include <httpd.h>
#include <http_log.h>
#include <http_protocol.h>
#include <ap_mpm.h>
#include <mod_watchdog.h>

#include "mod_itsm_api.h"
#include "mod_itsm_health.h"
#include "mod_itsm_integrations.h"
#include "itsm_check.h"
#include "itsm_json.h"
#include "itsm_util.h"

#define RUNNER_NAME "itsm-health"
/* Integrations claimed per round: at most BATCH_SIZE, because their
 * response bodies stay in memory until the round ends
 * (itsm_probe_run_many), and at most BATCH_WAVES times the concurrency,
 * which bounds how long a round, and so its claim, lasts. */
#define BATCH_SIZE 512
#define BATCH_WAVES 8
/* Requests one check may send: an OAuth token, the probe, and the probe
 * again with a new token when the cached one was rejected. */
#define REQUESTS_PER_CHECK 3
/* Added to every claim, for the database writes after the probes. */
#define CLAIM_MARGIN_MS 30000
/* How long a stopping child waits for the runner to hand back its work
 * beyond the probe timeout. */
#define STOP_WAIT_MARGIN_MS 5000
#define PURGE_EVERY_MS (3600 * 1000LL)
#define HOUR_MS (3600 * 1000LL)
#define JITTER_PERCENT 10
#define HISTORY_DEFAULT_LIMIT 50
#define HISTORY_MAX_LIMIT 500
#define SUMMARY_MAX_ROWS "1000"

/* Column order of integration_claim_due's RETURNING list. */
enum {
    CLAIM_ID, CLAIM_NAME, CLAIM_TYPE, CLAIM_BASE_URL, CLAIM_AUTH_TYPE,
    CLAIM_CREDENTIALS, CLAIM_OPTIONS, CLAIM_CA, CLAIM_STATUS, CLAIM_MESSAGE,
    CLAIM_FAILURES, CLAIM_SUCCESSES, CLAIM_AUTH_FAILURES, CLAIM_UPDATED_AT
};

typedef struct runner_t {
    server_rec *s;
    apr_int64_t next_purge_ms;
    int unavailable_logged;     /* database errors are logged once */
    /* Set when the child's pool is destroyed: mod_dbd's connections and
     * the OAuth token cache live there, so no check may run after it. */
    volatile apr_uint32_t stopping;
    volatile apr_uint32_t busy; /* 1 while runner_tick runs */
} runner_t;

/* The runner of the current configuration, NULL when checks are off. */
static runner_t *current_runner;

static APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *wd_get_instance;
static APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *wd_register;

/* Stops probes in flight when httpd stops or restarts gracefully, or the
 * child exits; run_batch hands the abandoned integrations back. */
static int runner_should_stop(void *baton)
{
    runner_t *run = baton;
    int state = AP_MPMQ_RUNNING;

    if (apr_atomic_read32(&run->stopping)) {
        return 1;
    }
    return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS
           && state == AP_MPMQ_STOPPING;
}

/* Runs first when the child's pool is destroyed, before mod_dbd's pool
 * goes. mod_watchdog joins its thread only later, at exit(), so this
 * stops the runner and waits until it has stored its results and handed
 * back its claims. */
static apr_status_t runner_child_exit(void *data)
{
    runner_t *run = data;
    itsm_srv_cfg_t *sc = itsm_srv_cfg(run->s);
    apr_int64_t deadline = itsm_now_ms() + sc->runner_probe.http.timeout_ms
                           + STOP_WAIT_MARGIN_MS;

    apr_atomic_xchg32(&run->stopping, 1);
    while (apr_atomic_read32(&run->busy)) {
        if (itsm_now_ms() > deadline) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, run->s,
                         ITSM_LOGNO(00059) "health runner did not stop in "
                         "time; the child exits anyway");
            break;
        }
        apr_sleep(apr_time_from_msec(10));
    }
    return APR_SUCCESS;
}

void itsm_health_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (current_runner) {
        apr_pool_pre_cleanup_register(pchild, current_runner,
                                      runner_child_exit);
    }
}

static void runner_policy(const itsm_srv_cfg_t *sc, itsm_check_policy_t *pol)
{
    pol->interval_ms = sc->health_interval_ms;
    pol->fail_threshold = (int)sc->health_fail_threshold;
    pol->pass_threshold = (int)sc->health_pass_threshold;
    pol->max_backoff_ms = sc->health_max_backoff * 1000;
    pol->jitter_percent = JITTER_PERCENT;
}

/* Builds the probe target of a claimed row; a target whose credentials do
 * not decrypt gets a ready verdict instead of a probe. */
static void claimed_target(apr_pool_t *p, runner_t *run, const char **row,
                           itsm_probe_target_t *target,
                           itsm_probe_result_t **pverdict)
{
    itsm_integration_t it;
    const char *err = NULL;

    memset(&it, 0, sizeof(it));
    it.id = row[CLAIM_ID];
    it.type = row[CLAIM_TYPE];
    it.base_url = row[CLAIM_BASE_URL];
    it.auth_type = row[CLAIM_AUTH_TYPE];
    it.sealed_credentials = row[CLAIM_CREDENTIALS];
    it.options = row[CLAIM_OPTIONS]
                 ? itsm_json_bind(p, json_loads(row[CLAIM_OPTIONS], 0, NULL))
                 : NULL;
    it.ca_certificate = row[CLAIM_CA];
    *pverdict = NULL;
    if (itsm_integration_target(p, itsm_srv_cfg(run->s), &it, target, &err)
        != APR_SUCCESS) {
        itsm_probe_result_t *res = apr_pcalloc(p, sizeof(*res));

        ap_log_error(APLOG_MARK, APLOG_ERR, 0, run->s, ITSM_LOGNO(00050)
                     "cannot decrypt the credentials of integration %s: %s",
                     it.id, err ? err : "unknown error");
        res->status = ITSM_HEALTH_UNHEALTHY;
        res->message = "Stored credentials cannot be decrypted (a "
                       "missing key, or an altered or moved ciphertext); set "
                       "them again";
        *pverdict = res;
    }
}

/* Makes a claimed integration due at once, unless its due time changed
 * after the claim set it to lease_text. */
static apr_status_t release_claim(itsm_db_t *db, const char *id,
                                  const char *lease_text)
{
    return itsm_db_exec(db, ITSM_Q_integration_release_claim,
                        ITSM_ARGS(itsm_i64toa(db->p, itsm_now_ms()), id,
                                  lease_text), NULL);
}

/* Applies one probe result to a claimed row and stores it. Sets *pnext
 * to the new status when it changed, else to NULL. */
static apr_status_t record_result(itsm_db_t *db,
                                  const itsm_check_policy_t *policy,
                                  const char **row, const char *lease_text,
                                  const itsm_probe_result_t *res,
                                  itsm_check_state_t **pnext)
{
    apr_pool_t *p = db->p;
    itsm_check_state_t old, next;
    apr_int64_t now = itsm_now_ms(), due;
    const char *latency, *http;
    apr_status_t rv;
    int changed = 0, nrows = 0;

    *pnext = NULL;
    old.status = row[CLAIM_STATUS];
    old.message = row[CLAIM_MESSAGE];
    old.consecutive_failures = (int)itsm_int64_or(row[CLAIM_FAILURES], 0);
    old.consecutive_successes = (int)itsm_int64_or(row[CLAIM_SUCCESSES], 0);
    old.auth_failures = (int)itsm_int64_or(row[CLAIM_AUTH_FAILURES], 0);
    itsm_check_apply(policy, &old, res,
                     itsm_check_retry_after_ms(res->retry_after, now), now,
                     &next, &due, &changed);

    latency = res->checked_at
              ? apr_ltoa(p, res->latency_ms) : NULL;
    http = res->http_status ? apr_itoa(p, res->http_status) : NULL;
    rv = itsm_db_exec(db, ITSM_Q_integration_check_update,
                      ITSM_ARGS(next.status, next.message,
                                itsm_i64toa(p, now), latency, http,
                                apr_itoa(p, next.consecutive_failures),
                                apr_itoa(p, next.consecutive_successes),
                                apr_itoa(p, next.auth_failures),
                                itsm_i64toa(p, due), row[CLAIM_ID],
                                row[CLAIM_UPDATED_AT]), &nrows);
    /* nrows is 0 when the integration was changed, deactivated or deleted
     * while the probe ran. The stale result is dropped, and a changed
     * integration is probed again at once instead of when the claim
     * ends. */
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (nrows == 0) {
        return release_claim(db, row[CLAIM_ID], lease_text);
    }
    rv = itsm_integration_add_history(db, row[CLAIM_ID], res, now);
    if (rv == APR_SUCCESS && changed) {
        *pnext = apr_pmemdup(p, &next, sizeof(next));
    }
    return rv;
}

/* Logs the status changes of a batch once they are committed. */
static void log_transitions(runner_t *run, itsm_rows_t *rows,
                            itsm_check_state_t **changes)
{
    int i;

    for (i = 0; i < rows->nrows; i++) {
        const char **row = rows->rows[i];

        if (changes[i]) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, run->s, ITSM_LOGNO(00051)
                         "integration %s (%s) is now %s, was %s: %s",
                         row[CLAIM_ID], row[CLAIM_NAME], changes[i]->status,
                         row[CLAIM_STATUS], changes[i]->message);
        }
    }
}

/* Returns 1 for a probe that did not finish: it was aborted, or never
 * started because the run was aborted. Probes return no other unknown. */
static int result_abandoned(const itsm_probe_result_t *res)
{
    return !res || res->status == ITSM_HEALTH_UNKNOWN;
}

static int batch_size(itsm_srv_cfg_t *sc)
{
    int waves_size = BATCH_WAVES * sc->runner_probe.max_concurrency;

    return waves_size < BATCH_SIZE ? waves_size : BATCH_SIZE;
}

/* Probes one batch of due integrations. Returns how many were claimed,
 * or -1 when the database could not be used. */
static int run_batch(runner_t *run, apr_pool_t *p)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(run->s);
    itsm_probe_target_t *targets;
    itsm_probe_result_t **results, **verdicts;
    itsm_check_state_t **changes;
    itsm_check_policy_t policy;
    itsm_rows_t *rows;
    itsm_db_t *db;
    apr_int64_t now = itsm_now_ms();
    int concurrency = sc->runner_probe.max_concurrency;
    int size = batch_size(sc);
    int waves = (size + concurrency - 1) / concurrency;
    /* The claim must outlast the whole batch, or another server could
     * claim and probe the same integrations while they are in flight. */
    apr_int64_t lease = now + (apr_int64_t)waves * REQUESTS_PER_CHECK
                              * sc->runner_probe.http.timeout_ms
                        + CLAIM_MARGIN_MS;
    const char *lease_text = itsm_i64toa(p, lease);
    apr_status_t rv;
    int i, n, abandoned = 0;

    rv = itsm_db_open(p, run->s, &db);
    if (rv != APR_SUCCESS) {
        if (!run->unavailable_logged) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, run->s, ITSM_LOGNO(00052)
                         "health runner: no database connection; checks "
                         "wait until it is back");
            run->unavailable_logged = 1;
        }
        return -1;
    }
    rv = itsm_db_select(db, ITSM_Q_integration_claim_due,
                        ITSM_ARGS(lease_text, itsm_i64toa(p, now),
                                  itsm_i64toa(p, now),
                                  apr_itoa(p, size)), &rows);
    /* No connection is held while the probes run. */
    itsm_db_close(db);
    if (rv != APR_SUCCESS) {
        if (!APR_STATUS_IS_EAGAIN(rv) && !run->unavailable_logged) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, run->s, ITSM_LOGNO(00053)
                         "health runner: cannot claim due integrations: %s",
                         db->error);
            run->unavailable_logged = 1;
        }
        return -1;
    }
    run->unavailable_logged = 0;
    n = rows->nrows;
    if (n == 0) {
        return 0;
    }

    targets = apr_pcalloc(p, n * sizeof(*targets));
    verdicts = apr_pcalloc(p, n * sizeof(*verdicts));
    results = apr_pcalloc(p, n * sizeof(*results));
    changes = apr_pcalloc(p, n * sizeof(*changes));
    for (i = 0; i < n; i++) {
        claimed_target(p, run, rows->rows[i], &targets[i], &verdicts[i]);
    }
    itsm_probe_run_many(results, p, &sc->runner_probe, targets, n,
                        runner_should_stop, run);

    runner_policy(sc, &policy);
    rv = itsm_db_open(p, run->s, &db);
    if (rv == APR_SUCCESS) {
        rv = itsm_db_begin(db);
        for (i = 0; rv == APR_SUCCESS && i < n; i++) {
            const itsm_probe_result_t *res = verdicts[i] ? verdicts[i]
                                                         : results[i];

            /* An abandoned check is due again at once, so that the next
             * runner, perhaps of the next generation, takes it over. The
             * lease in the condition leaves a newer schedule alone. */
            if (result_abandoned(res)) {
                rv = release_claim(db, rows->rows[i][CLAIM_ID], lease_text);
                abandoned++;
                continue;
            }
            rv = record_result(db, &policy, rows->rows[i], lease_text, res,
                               &changes[i]);
        }
        if (rv == APR_SUCCESS) {
            rv = itsm_db_end(db, 1);
        }
        else {
            itsm_db_end(db, 0);
        }
        if (rv == APR_SUCCESS) {
            log_transitions(run, rows, changes);
        }
        if (rv == APR_SUCCESS && abandoned > 0) {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, run->s,
                         ITSM_LOGNO(00085) "health runner: %d of %d checks "
                         "abandoned and handed back", abandoned, n);
        }
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, run->s,
                         ITSM_LOGNO(00054) "health runner: cannot store the "
                         "results of %d checks: %s; they run again when "
                         "their claim expires", n, db->error);
        }
        itsm_db_close(db);
    }
    return n;
}

static void purge_history(runner_t *run, apr_pool_t *p)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(run->s);
    apr_int64_t now = itsm_now_ms();
    apr_int64_t keep = sc->health_retention_days * 24 * HOUR_MS;
    itsm_db_t *db;

    if (now < run->next_purge_ms
        || itsm_db_open(p, run->s, &db) != APR_SUCCESS) {
        return;
    }
    run->next_purge_ms = now + PURGE_EVERY_MS;
    /* Hourly counts are kept for the 30-day uptime at least. */
    if (itsm_db_exec(db, ITSM_Q_health_history_purge,
                     ITSM_ARGS(itsm_i64toa(p, now - keep)), NULL)
        != APR_SUCCESS
        || itsm_db_exec(db, ITSM_Q_health_hourly_purge,
                        ITSM_ARGS(itsm_i64toa(p, now - (keep > 31 * 24 * HOUR_MS
                                                  ? keep
                                                  : 31 * 24 * HOUR_MS))),
                        NULL) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, run->s, ITSM_LOGNO(00055)
                     "health runner: cannot purge old history: %s",
                     db->error);
    }
    /* Failure counts of login throttling whose window ended long ago
     * limit nothing any more. */
    if (itsm_db_exec(db, ITSM_Q_auth_failure_purge,
                     ITSM_ARGS(itsm_i64toa(p, now - 24 * HOUR_MS
                                           - sc->login_window * 1000)),
                     NULL) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, run->s, ITSM_LOGNO(00086)
                     "health runner: cannot purge old login failure "
                     "counts: %s", db->error);
    }
    itsm_db_close(db);
}

static apr_status_t runner_tick(int state, void *data, apr_pool_t *pool)
{
    runner_t *run = data;
    apr_pool_t *p;
    int n, size = batch_size(itsm_srv_cfg(run->s));

    if (state != AP_WATCHDOG_STATE_RUNNING) {
        return APR_SUCCESS;
    }
    /* busy is set before stopping is read, and runner_child_exit sets
     * stopping before it reads busy, so at least one of them reads the
     * other's flag as set. */
    apr_atomic_xchg32(&run->busy, 1);
    if (!apr_atomic_read32(&run->stopping)) {
        /* Full batches mean more work is due: go on until it is done. */
        do {
            if (apr_pool_create(&p, pool) != APR_SUCCESS) {
                break;
            }
            apr_pool_tag(p, "itsm_health_batch");
            n = run_batch(run, p);
            apr_pool_destroy(p);
        } while (n == size && !runner_should_stop(run));
        if (!runner_should_stop(run)) {
            purge_history(run, pool);
        }
    }
    apr_atomic_xchg32(&run->busy, 0);
    /* Any other value would switch the callback off for good. */
    return APR_SUCCESS;
}

const char *itsm_health_runner_register(apr_pool_t *pconf, server_rec *s)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(s);
    ap_watchdog_t *wd;
    runner_t *run;
    apr_status_t rv;

    current_runner = NULL;
    if (sc->health_interval_ms <= 0) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, ITSM_LOGNO(00056)
                     "background health checks are off "
                     "(ITSMHealthCheckInterval 0)");
        return NULL;
    }
    wd_get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    wd_register = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!wd_get_instance || !wd_register) {
        return "mod_watchdog is not available; background health checks "
               "need it";
    }
    rv = wd_get_instance(&wd, RUNNER_NAME, 0, 1, pconf);
    if (rv != APR_SUCCESS) {
        return "cannot create the watchdog instance for health checks";
    }
    run = apr_pcalloc(pconf, sizeof(*run));
    run->s = s;
    rv = wd_register(wd, AP_WD_TM_INTERVAL, run, runner_tick);
    if (rv != APR_SUCCESS) {
        return "cannot register the health check callback with mod_watchdog";
    }
    current_runner = run;
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, ITSM_LOGNO(00057)
                 "background health checks every %" APR_INT64_T_FMT " s, "
                 "%d at once", sc->health_interval_ms / 1000,
                 sc->runner_probe.max_concurrency);
    return NULL;
}

/* ---------------------------------------------------------------------
 * Endpoints
 */

/* Parses an optional whole-number query parameter within [min, max]. */
static int query_int(itsm_req_t *req, apr_table_t *args, const char *name,
                     apr_int64_t min, apr_int64_t max, apr_int64_t *pvalue)
{
    const char *v = apr_table_get(args, name);

    if (v && (itsm_parse_int64(v, pvalue) != APR_SUCCESS || *pvalue < min
              || *pvalue > max)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
            apr_psprintf(req->r->pool, "%s must be a whole number from %"
                         APR_INT64_T_FMT " to %" APR_INT64_T_FMT, name, min,
                         max));
    }
    return ITSM_CONTINUE;
}

static int h_history(itsm_req_t *req)
{
    apr_pool_t *p = req->r->pool;
    apr_int64_t limit = HISTORY_DEFAULT_LIMIT, before = APR_INT64_MAX;
    apr_table_t *args = itsm_query_args(req);
    itsm_integration_t *it;
    itsm_rows_t *rows;
    itsm_db_t *db;
    json_t *data;
    apr_status_t rv;
    int rc, i, page_rows, more;

    rc = query_int(req, args, "limit", 1, HISTORY_MAX_LIMIT, &limit);
    if (rc == ITSM_CONTINUE) {
        rc = query_int(req, args, "before", 1, APR_INT64_MAX, &before);
    }
    if (rc == ITSM_CONTINUE) {
        rc = itsm_req_db(req, &db);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    rv = itsm_integration_load(db, req->params[0], &it);
    if (APR_STATUS_IS_ENOENT(rv)) {
        return itsm_send_error(req, HTTP_NOT_FOUND, "Integration not found");
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error fetching history");
    }
    if (!itsm_integration_can_read(req, it)) {
        return itsm_send_error(req, HTTP_FORBIDDEN, "Access denied");
    }
    /* The query reads one row more than the page shows, to find out
     * whether another page follows. */
    rv = itsm_db_select(db, ITSM_Q_health_history,
                        ITSM_ARGS(it->id, itsm_i64toa(p, before),
                                  itsm_i64toa(p, limit + 1)), &rows);
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error fetching history");
    }
    more = rows->nrows > limit;
    page_rows = more ? (int)limit : rows->nrows;
    data = json_array();
    for (i = 0; i < page_rows; i++) {
        const char **row = rows->rows[i];
        json_t *check = json_pack("{s:s, s:s, s:s}", "checkedAt",
                                  itsm_time_format(p, itsm_int64_or(row[1], 0)),
                                  "status", row[2], "message",
                                  row[5] ? row[5] : "");

        json_object_set_new(check, "latencyMs", row[3]
                            ? json_integer(itsm_int64_or(row[3], 0)) : json_null());
        json_object_set_new(check, "httpStatus", row[4]
                            ? json_integer(itsm_int64_or(row[4], 0)) : json_null());
        json_array_append_new(data, check);
    }
    /* The cursor is the id of the oldest row shown, for ?before=. */
    return itsm_send(req, HTTP_OK, json_pack("{s:b, s:i, s:o, s:o}",
                     "success", 1, "count", page_rows, "data", data,
                     "nextBefore", more
                     ? json_string(rows->rows[page_rows - 1][0])
                     : json_null()));
}

static int h_summary(itsm_req_t *req)
{
    static const char *const statuses[] = {
        "healthy", "degraded", "unhealthy", "unknown", "inactive", NULL
    };
    apr_pool_t *p = req->r->pool;
    itsm_rows_t *counts, *rows;
    itsm_db_t *db;
    json_t *by_status = json_object(), *list = json_array();
    apr_int64_t total = 0;
    apr_status_t rv;
    int rc, i;

    itsm_json_bind(p, by_status);
    itsm_json_bind(p, list);
    rc = itsm_req_db(req, &db);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    rv = itsm_db_select(db, ITSM_Q_health_status_counts, ITSM_NO_ARGS,
                        &counts);
    if (rv == APR_SUCCESS) {
        rv = itsm_db_select(db, ITSM_Q_health_not_healthy,
                            ITSM_ARGS(SUMMARY_MAX_ROWS), &rows);
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error fetching health summary");
    }
    for (i = 0; statuses[i]; i++) {
        json_object_set_new(by_status, statuses[i], json_integer(0));
    }
    for (i = 0; i < counts->nrows; i++) {
        json_object_set_new(by_status, counts->rows[i][0],
                            json_integer(itsm_int64_or(counts->rows[i][1], 0)));
        total += itsm_int64_or(counts->rows[i][1], 0);
    }
    for (i = 0; i < rows->nrows; i++) {
        const char **row = rows->rows[i];

        json_array_append_new(list, json_pack(
            "{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:I}}", "_id", row[0],
            "name", row[1], "type", row[2], "health", "status", row[3],
            "message", row[4] ? row[4] : "", "lastChecked",
            itsm_time_format(p, itsm_int64_or(row[5], 0)), "consecutiveFailures",
            (json_int_t)itsm_int64_or(row[6], 0)));
    }
    return itsm_send(req, HTTP_OK, json_pack("{s:b, s:{s:I, s:O, s:O}}",
                     "success", 1, "data", "total", (json_int_t)total,
                     "byStatus", by_status, "notHealthy", list));
}

const itsm_route_t itsm_health_routes[] = {
    { M_GET, "/integration/health/summary", h_summary,
      ITSM_ACCESS_INTEGRATOR, 0 },
    { M_GET, "/integration/:id/health/history", h_history, ITSM_ACCESS_USER,
      0 },
    { 0, NULL, NULL, 0, 0 }
};
