/* Licensed under the Apache License, Version 2.0; see LICENSE. */

#include <string.h>

#include <apr_strings.h>
#include <apr_optional.h>

#include <httpd.h>
#include <http_log.h>

#include "mod_itsm_db.h"
#include "itsm_util.h"

typedef struct stmt_def_t {
    const char *label;
    const char *sql;
    int nargs;
} stmt_def_t;

static stmt_def_t statements[] = {
#define ITSM_STMT(name, sql) { "itsm_" #name, sql, -1 },
#include "mod_itsm_statements.h"
#undef ITSM_STMT
};

static APR_OPTIONAL_FN_TYPE(ap_dbd_prepare) *dbd_prepare;
static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *dbd_acquire;
static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;

const char *itsm_db_bind_mod_dbd(void)
{
    dbd_prepare = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare);
    dbd_acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if (!dbd_prepare || !dbd_acquire || !dbd_open || !dbd_close) {
        return "mod_dbd is not loaded; add LoadModule dbd_module before "
               "mod_itsm";
    }
    return NULL;
}

/* Counts the parameters apr_dbd will expect: '%' followed by a letter. */
static int count_params(const char *sql)
{
    int n = 0;

    for (; *sql; sql++) {
        if (sql[0] == '%' && ((sql[1] >= 'a' && sql[1] <= 'z')
                              || (sql[1] >= 'A' && sql[1] <= 'Z'))) {
            n++;
        }
    }
    return n;
}

void itsm_db_prepare_all(server_rec *s)
{
    int i;

    for (i = 0; i < ITSM_Q_COUNT; i++) {
        if (statements[i].nargs < 0) {
            statements[i].nargs = count_params(statements[i].sql);
        }
        dbd_prepare(s, statements[i].sql, statements[i].label);
    }
}

static apr_status_t trans_cleanup(void *data)
{
    itsm_db_t *db = data;

    if (db->trans) {
        apr_dbd_transaction_mode_set(db->dbd->driver, db->trans,
                                     APR_DBD_TRANSACTION_ROLLBACK);
        apr_dbd_transaction_end(db->dbd->driver, db->p, db->trans);
        db->trans = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t itsm_db_acquire(request_rec *r, itsm_db_t **pdb)
{
    itsm_db_t *db;
    ap_dbd_t *dbd;

    db = ap_get_module_config(r->request_config, &itsm_module);
    if (db) {
        *pdb = db;
        return APR_SUCCESS;
    }
    dbd = dbd_acquire(r);
    if (!dbd) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ITSM_LOGNO(00001)
                      "no database connection available from mod_dbd "
                      "(check DBDriver, DBDParams and the error log above)");
        return APR_EAGAIN;
    }
    db = apr_pcalloc(r->pool, sizeof(*db));
    db->dbd = dbd;
    db->p = r->pool;
    db->s = r->server;
    /* Registered after mod_dbd's release cleanup, so it runs first and no
     * transaction is left on a pooled connection. */
    apr_pool_cleanup_register(r->pool, db, trans_cleanup,
                              apr_pool_cleanup_null);
    ap_set_module_config(r->request_config, &itsm_module, db);
    *pdb = db;
    return APR_SUCCESS;
}

apr_status_t itsm_db_open(apr_pool_t *p, server_rec *s, itsm_db_t **pdb)
{
    itsm_db_t *db;
    ap_dbd_t *dbd = dbd_open(p, s);

    if (!dbd) {
        return APR_EAGAIN;
    }
    db = apr_pcalloc(p, sizeof(*db));
    db->dbd = dbd;
    db->p = p;
    db->s = s;
    db->owned = 1;
    *pdb = db;
    return APR_SUCCESS;
}

apr_status_t itsm_db_open_direct(apr_pool_t *p, const char *driver_name,
                                 const char *params, itsm_db_t **pdb,
                                 const char **perr)
{
    itsm_db_t *db = apr_pcalloc(p, sizeof(*db));
    ap_dbd_t *dbd = apr_pcalloc(p, sizeof(*dbd));
    const char *open_err = NULL;
    apr_status_t rv;
    int i, rc;

    rv = apr_dbd_get_driver(p, driver_name, &dbd->driver);
    if (rv == APR_SUCCESS) {
        rv = apr_dbd_open_ex(dbd->driver, p, params, &dbd->handle, &open_err);
    }
    if (rv != APR_SUCCESS || !dbd->handle) {
        *perr = apr_psprintf(p, "cannot open the database: %s",
                             open_err ? open_err : "unknown error");
        return rv != APR_SUCCESS ? rv : APR_EGENERAL;
    }
    dbd->pool = p;
    dbd->prepared = apr_hash_make(p);
    db->dbd = dbd;
    db->p = p;
    db->owned = 2;
    for (i = 0; i < ITSM_Q_COUNT; i++) {
        apr_dbd_prepared_t *stmt = NULL;

        if (statements[i].nargs < 0) {
            statements[i].nargs = count_params(statements[i].sql);
        }
        rc = apr_dbd_prepare(dbd->driver, p, dbd->handle, statements[i].sql,
                             statements[i].label, &stmt);
        if (rc != 0) {
            *perr = apr_psprintf(p, "cannot prepare %s: %s",
                                 statements[i].label,
                                 apr_dbd_error(dbd->driver, dbd->handle, rc));
            apr_dbd_close(dbd->driver, dbd->handle);
            return APR_EGENERAL;
        }
        apr_hash_set(dbd->prepared, statements[i].label, APR_HASH_KEY_STRING,
                     stmt);
    }
    *pdb = db;
    return APR_SUCCESS;
}

void itsm_db_close(itsm_db_t *db)
{
    trans_cleanup(db);
    if (db->owned == 1 && db->dbd) {
        dbd_close(db->s, db->dbd);
    }
    else if (db->owned == 2 && db->dbd) {
        apr_dbd_close(db->dbd->driver, db->dbd->handle);
    }
    db->dbd = NULL;
}

/* Sorts a driver error into the classes the API responds to differently. The
 * sqlite3 driver uses sqlite3_prepare(), which reports only SQLITE_ERROR,
 * so the message text is all there is to go on. */
static apr_status_t classify_error(itsm_db_t *db, int rc)
{
    const char *text = apr_dbd_error(db->dbd->driver, db->dbd->handle, rc);

    db->error = apr_pstrdup(db->p, text ? text : "unknown database error");
    if (ap_strcasestr(db->error, "locked") || ap_strcasestr(db->error, "busy")
        || ap_strcasestr(db->error, "could not serialize")
        || ap_strcasestr(db->error, "deadlock")) {
        return APR_EAGAIN;
    }
    if (ap_strcasestr(db->error, "UNIQUE constraint")
        || ap_strcasestr(db->error, "duplicate key")) {
        return APR_EEXIST;
    }
    return APR_EGENERAL;
}

static apr_dbd_prepared_t *lookup(itsm_db_t *db, itsm_stmt_id_e id,
                                  int nargs)
{
    apr_dbd_prepared_t *stmt;

    if (id < 0 || id >= ITSM_Q_COUNT || nargs != statements[id].nargs) {
        db->error = "statement called with a wrong number of arguments";
        return NULL;
    }
    stmt = apr_hash_get(db->dbd->prepared, statements[id].label,
                        APR_HASH_KEY_STRING);
    if (!stmt) {
        db->error = apr_psprintf(db->p, "statement %s is not prepared",
                                 statements[id].label);
    }
    return stmt;
}

apr_status_t itsm_db_exec(itsm_db_t *db, itsm_stmt_id_e id, int nargs,
                          const char **args, int *pnrows)
{
    apr_dbd_prepared_t *stmt = lookup(db, id, nargs);
    int nrows = 0, rc;

    if (!stmt) {
        return APR_EGENERAL;
    }
    rc = apr_dbd_pquery(db->dbd->driver, db->p, db->dbd->handle, &nrows,
                        stmt, nargs, args);
    if (rc != 0) {
        return classify_error(db, rc);
    }
    if (pnrows) {
        *pnrows = nrows;
    }
    return APR_SUCCESS;
}

apr_status_t itsm_db_select(itsm_db_t *db, itsm_stmt_id_e id, int nargs,
                            const char **args, itsm_rows_t **prows)
{
    apr_dbd_prepared_t *stmt = lookup(db, id, nargs);
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    apr_array_header_t *list;
    itsm_rows_t *rows;
    int rc, i;

    if (!stmt) {
        return APR_EGENERAL;
    }
    rc = apr_dbd_pselect(db->dbd->driver, db->p, db->dbd->handle, &res, stmt,
                         0, nargs, args);
    if (rc != 0) {
        return classify_error(db, rc);
    }
    rows = apr_pcalloc(db->p, sizeof(*rows));
    rows->ncols = apr_dbd_num_cols(db->dbd->driver, res);
    list = apr_array_make(db->p, 8, sizeof(const char **));
    /* Every row is read, even when the caller wants one: stopping early
     * would leave the statement unfinished on the pooled connection. */
    while ((rc = apr_dbd_get_row(db->dbd->driver, db->p, res, &row, -1))
           == 0) {
        const char **values = apr_pcalloc(db->p,
                                          rows->ncols * sizeof(char *));

        for (i = 0; i < rows->ncols; i++) {
            const char *v = apr_dbd_get_entry(db->dbd->driver, row, i);

            values[i] = v ? apr_pstrdup(db->p, v) : NULL;
        }
        APR_ARRAY_PUSH(list, const char **) = values;
    }
    if (rc != -1) {
        return classify_error(db, rc);
    }
    rows->nrows = list->nelts;
    rows->rows = (const char ***)list->elts;
    *prows = rows;
    return APR_SUCCESS;
}

apr_int64_t itsm_rows_int(const itsm_rows_t *rows, int col,
                          apr_int64_t fallback)
{
    if (rows->nrows < 1 || col >= rows->ncols) {
        return fallback;
    }
    return itsm_int64_or(rows->rows[0][col], fallback);
}

apr_status_t itsm_db_begin(itsm_db_t *db)
{
    int rc;

    if (db->trans) {
        db->error = "a transaction is already open";
        return APR_EGENERAL;
    }
    rc = apr_dbd_transaction_start(db->dbd->driver, db->p, db->dbd->handle,
                                   &db->trans);
    if (rc != 0) {
        apr_status_t rv = classify_error(db, rc);

        /* The sqlite3 driver keeps the transaction record even when BEGIN
         * fails; ending it clears the pointer on the pooled handle. */
        if (db->trans) {
            apr_dbd_transaction_mode_set(db->dbd->driver, db->trans,
                                         APR_DBD_TRANSACTION_ROLLBACK);
            apr_dbd_transaction_end(db->dbd->driver, db->p, db->trans);
            db->trans = NULL;
        }
        return rv;
    }
    return APR_SUCCESS;
}

apr_status_t itsm_db_end(itsm_db_t *db, int commit)
{
    apr_dbd_transaction_t *trans = db->trans;
    int rc;

    if (!trans) {
        return APR_SUCCESS;
    }
    db->trans = NULL;
    if (!commit) {
        apr_dbd_transaction_mode_set(db->dbd->driver, trans,
                                     APR_DBD_TRANSACTION_ROLLBACK);
    }
    rc = apr_dbd_transaction_end(db->dbd->driver, db->p, trans);
    if (rc != 0) {
        return classify_error(db, rc);
    }
    return APR_SUCCESS;
}

apr_status_t itsm_db_finish(itsm_db_t *db, apr_status_t rv)
{
    if (rv == APR_SUCCESS) {
        return itsm_db_end(db, 1);
    }
    itsm_db_end(db, 0);
    return rv;
}
