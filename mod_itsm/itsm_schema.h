/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Creates and upgrades the database schema from the migrations compiled in
 * from sql/<driver>/NNN_name.sql (see embed-sql.sh). */

#ifndef ITSM_SCHEMA_H
#define ITSM_SCHEMA_H

#include <apr_pools.h>

typedef struct itsm_migration_t {
    const char *dialect;        /* apr_dbd driver name: sqlite3 or pgsql */
    int version;
    const char *name;
    const char *sql;            /* statements, each ending with ';' */
} itsm_migration_t;

/* All migrations of all dialects, ending with a NULL dialect. */
extern const itsm_migration_t itsm_migrations[];

/* Opens the database through apr_dbd, applies every migration newer than
 * the stored version, each in its own transaction, and closes it again.
 * For SQLite it also switches the file to WAL mode. Returns the versions
 * before and after, or an error text in *perr. */
apr_status_t itsm_schema_migrate(apr_pool_t *p, const char *driver_name,
                                 const char *params, int *pfrom, int *pto,
                                 const char **perr);

/* Returns 1 when the driver has migrations in this build. */
int itsm_schema_supports(const char *driver_name);

#endif
