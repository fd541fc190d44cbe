/* Licensed under the Apache License, Version 2.0; see LICENSE. */

#include <string.h>
#include <stdlib.h>

#include <apr_strings.h>
#include <apr_dbd.h>

#include "itsm_schema.h"
#include "itsm_util.h"

typedef struct schema_ctx_t {
    apr_pool_t *p;
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    const char **perr;
} schema_ctx_t;

int itsm_schema_supports(const char *driver_name)
{
    const itsm_migration_t *m;

    for (m = itsm_migrations; m->dialect; m++) {
        if (strcmp(m->dialect, driver_name) == 0) {
            return 1;
        }
    }
    return 0;
}

static apr_status_t run_statement(schema_ctx_t *ctx, const char *sql)
{
    int nrows = 0, rc;

    rc = apr_dbd_query(ctx->driver, ctx->handle, &nrows, sql);
    if (rc != 0) {
        *ctx->perr = apr_psprintf(ctx->p, "%s (in: %.80s)",
                                  apr_dbd_error(ctx->driver, ctx->handle, rc),
                                  sql);
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

/* Runs a query that returns at most one value and returns it, or NULL. */
static apr_status_t select_value(schema_ctx_t *ctx, const char *sql,
                                 const char **pvalue)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int rc;

    *pvalue = NULL;
    rc = apr_dbd_select(ctx->driver, ctx->p, ctx->handle, &res, sql, 0);
    if (rc != 0) {
        *ctx->perr = apr_psprintf(ctx->p, "%s (in: %.80s)",
                                  apr_dbd_error(ctx->driver, ctx->handle, rc),
                                  sql);
        return APR_EGENERAL;
    }
    /* Every row is read, so that the driver finishes the statement. */
    while (apr_dbd_get_row(ctx->driver, ctx->p, res, &row, -1) == 0) {
        const char *v = apr_dbd_get_entry(ctx->driver, row, 0);

        if (v && !*pvalue) {
            *pvalue = apr_pstrdup(ctx->p, v);
        }
    }
    return APR_SUCCESS;
}

/* Runs each ';'-terminated statement of a migration in turn. The files keep
 * one statement per ';' at the end of a line, so no SQL parsing is needed. */
static apr_status_t run_script(schema_ctx_t *ctx, const char *script)
{
    char *copy = apr_pstrdup(ctx->p, script);
    char *start = copy, *c;
    apr_status_t rv;

    for (c = copy; *c; c++) {
        if (*c == ';' && (c[1] == '\n' || c[1] == '\0')) {
            *c = '\0';
            if (strspn(start, " \t\r\n") != strlen(start)) {
                rv = run_statement(ctx, start);
                if (rv != APR_SUCCESS) {
                    return rv;
                }
            }
            start = c + 1;
        }
    }
    if (strspn(start, " \t\r\n") != strlen(start)) {
        *ctx->perr = apr_psprintf(ctx->p, "statement without a final ';': "
                                  "%.80s", start);
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

static apr_status_t record_migration(schema_ctx_t *ctx,
                                     const itsm_migration_t *m)
{
    apr_dbd_prepared_t *stmt = NULL;
    int nrows = 0, rc;

    rc = apr_dbd_prepare(ctx->driver, ctx->p, ctx->handle,
                         "INSERT INTO itsm_schema (version, name, applied_at)"
                         " VALUES (%s, %s, %s)", NULL, &stmt);
    if (rc == 0) {
        rc = apr_dbd_pvquery(ctx->driver, ctx->p, ctx->handle, &nrows, stmt,
                             apr_itoa(ctx->p, m->version), m->name,
                             itsm_i64toa(ctx->p, itsm_now_ms()));
    }
    if (rc != 0) {
        *ctx->perr = apr_psprintf(ctx->p, "cannot record migration %s: %s",
                                  m->name,
                                  apr_dbd_error(ctx->driver, ctx->handle, rc));
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

static apr_status_t apply_migration(schema_ctx_t *ctx,
                                    const itsm_migration_t *m)
{
    apr_dbd_transaction_t *trans = NULL;
    apr_status_t rv;
    int rc;

    rc = apr_dbd_transaction_start(ctx->driver, ctx->p, ctx->handle, &trans);
    if (rc != 0) {
        *ctx->perr = apr_psprintf(ctx->p, "cannot start a transaction: %s",
                                  apr_dbd_error(ctx->driver, ctx->handle, rc));
        return APR_EGENERAL;
    }
    rv = run_script(ctx, m->sql);
    if (rv == APR_SUCCESS) {
        rv = record_migration(ctx, m);
    }
    if (rv != APR_SUCCESS) {
        apr_dbd_transaction_mode_set(ctx->driver, trans,
                                     APR_DBD_TRANSACTION_ROLLBACK);
    }
    rc = apr_dbd_transaction_end(ctx->driver, ctx->p, trans);
    if (rv == APR_SUCCESS && rc != 0) {
        *ctx->perr = apr_psprintf(ctx->p, "cannot commit migration %s: %s",
                                  m->name,
                                  apr_dbd_error(ctx->driver, ctx->handle, rc));
        rv = APR_EGENERAL;
    }
    return rv;
}

apr_status_t itsm_schema_migrate(apr_pool_t *p, const char *driver_name,
                                 const char *params, int *pfrom, int *pto,
                                 const char **perr)
{
    schema_ctx_t ctx;
    const itsm_migration_t *m;
    const char *value = NULL, *open_err = NULL;
    apr_status_t rv;
    int current = 0;

    ctx.p = p;
    ctx.perr = perr;
    ctx.handle = NULL;
    *perr = NULL;
    if (!itsm_schema_supports(driver_name)) {
        *perr = apr_psprintf(p, "no schema for database driver '%s' (use "
                             "sqlite3 or pgsql)", driver_name);
        return APR_ENOTIMPL;
    }
    rv = apr_dbd_get_driver(p, driver_name, &ctx.driver);
    if (rv != APR_SUCCESS) {
        *perr = apr_psprintf(p, "cannot load the apr_dbd driver '%s'",
                             driver_name);
        return rv;
    }
    rv = apr_dbd_open_ex(ctx.driver, p, params, &ctx.handle, &open_err);
    if (rv != APR_SUCCESS || !ctx.handle) {
        *perr = apr_psprintf(p, "cannot open the database: %s",
                             open_err ? open_err : "unknown error");
        return rv != APR_SUCCESS ? rv : APR_EGENERAL;
    }

    if (strcmp(driver_name, "sqlite3") == 0) {
        /* WAL lets readers go on while one writer commits; the mode is
         * stored in the file, so setting it once here is enough. */
        rv = select_value(&ctx, "PRAGMA journal_mode=WAL", &value);
        if (rv == APR_SUCCESS && (!value || strcasecmp(value, "wal") != 0)) {
            *perr = apr_psprintf(p, "cannot switch the database to WAL "
                                 "mode (journal_mode is %s)",
                                 value ? value : "unknown");
            rv = APR_EGENERAL;
        }
    }
    if (rv == APR_SUCCESS) {
        rv = run_statement(&ctx, "CREATE TABLE IF NOT EXISTS itsm_schema ("
                           "version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                           " applied_at BIGINT NOT NULL)");
    }
    if (rv == APR_SUCCESS) {
        rv = select_value(&ctx, "SELECT MAX(version) FROM itsm_schema",
                          &value);
        current = value ? atoi(value) : 0;
        *pfrom = current;
    }
    for (m = itsm_migrations; rv == APR_SUCCESS && m->dialect; m++) {
        if (strcmp(m->dialect, driver_name) != 0 || m->version <= current) {
            continue;
        }
        rv = apply_migration(&ctx, m);
        if (rv == APR_SUCCESS) {
            current = m->version;
        }
        else {
            *perr = apr_psprintf(p, "migration %s failed: %s", m->name,
                                 *perr ? *perr : "unknown error");
        }
    }
    *pto = current;
    apr_dbd_close(ctx.driver, ctx.handle);
    return rv;
}
