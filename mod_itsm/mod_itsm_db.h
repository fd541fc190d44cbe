/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Database access through mod_dbd: prepared statements by id, results read
 * whole into a pool, transactions that end on every path, and the error
 * classes the API maps to HTTP statuses. */

#ifndef MOD_ITSM_DB_H
#define MOD_ITSM_DB_H

#include "mod_itsm_private.h"

typedef enum {
#define ITSM_STMT(name, sql) ITSM_Q_##name,
#include "mod_itsm_statements.h"
#undef ITSM_STMT
    ITSM_Q_COUNT
} itsm_stmt_id_e;

typedef struct itsm_db_t {
    ap_dbd_t *dbd;
    apr_pool_t *p;
    server_rec *s;
    apr_dbd_transaction_t *trans;
    const char *error;          /* driver text of the last failure */
    int owned;                  /* 1: itsm_db_open, 2: itsm_db_open_direct */
} itsm_db_t;

/* Rows of a select, each an array of ncols strings (NULL for SQL NULL). */
typedef struct itsm_rows_t {
    int ncols;
    int nrows;
    const char ***rows;
} itsm_rows_t;

/* Registers every statement with mod_dbd for server s; called in
 * post_config before mod_dbd's own post_config. */
void itsm_db_prepare_all(server_rec *s);

/* Looks up mod_dbd's optional functions; returns an error text when
 * mod_dbd is not loaded. */
const char *itsm_db_bind_mod_dbd(void);

/* The database a request uses, acquired from mod_dbd on first call and
 * released with the request. APR_EAGAIN when no connection is free. */
apr_status_t itsm_db_acquire(request_rec *r, itsm_db_t **pdb);

/* A connection for background work, closed by itsm_db_close. */
apr_status_t itsm_db_open(apr_pool_t *p, server_rec *s, itsm_db_t **pdb);
void itsm_db_close(itsm_db_t *db);

/* A connection opened with apr_dbd directly, outside mod_dbd, with every
 * statement prepared on it: for start-up work in the parent, which must
 * not take connections from mod_dbd's pool before the children fork. */
apr_status_t itsm_db_open_direct(apr_pool_t *p, const char *driver_name,
                                 const char *params, itsm_db_t **pdb,
                                 const char **perr);

/* Runs a statement that changes rows. Returns APR_EAGAIN when the database
 * is busy or locked, APR_EEXIST for a uniqueness violation and APR_EGENERAL
 * for any other failure (the driver's text is in db->error). */
apr_status_t itsm_db_exec(itsm_db_t *db, itsm_stmt_id_e id, int nargs,
                          const char **args, int *pnrows);

/* Runs a select and reads every row into db->p. */
apr_status_t itsm_db_select(itsm_db_t *db, itsm_stmt_id_e id, int nargs,
                            const char **args, itsm_rows_t **prows);

/* Returns the integer in row 0, column col of rows, or fallback. */
apr_int64_t itsm_rows_int(const itsm_rows_t *rows, int col,
                          apr_int64_t fallback);

/* Starts a transaction; it is rolled back if the pool is cleared first. */
apr_status_t itsm_db_begin(itsm_db_t *db);

/* Commits (commit = 1) or rolls back the open transaction. */
apr_status_t itsm_db_end(itsm_db_t *db, int commit);

/* Ends the open transaction as the work in it went: commits when rv is
 * APR_SUCCESS and returns the commit's status, else rolls back and
 * returns rv. */
apr_status_t itsm_db_finish(itsm_db_t *db, apr_status_t rv);

/* Passes a compound-literal argument list with its length. */
#define ITSM_ARGS(...) \
    (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)), \
    (const char *[]){__VA_ARGS__}
#define ITSM_NO_ARGS 0, NULL

#endif
