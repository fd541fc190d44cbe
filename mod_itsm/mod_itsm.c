/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* mod_itsm: module record and hooks. Start-up runs in post_config, in the
 * parent and before mod_dbd's own post_config: statements are registered,
 * secrets loaded, the schema created or upgraded and the first admin made,
 * so that children find a complete database when mod_dbd prepares the
 * statements on their connections. */

#define ITSM_MODULE_RECORD_FILE /* AP_DECLARE_MODULE sets the log index */

#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/stat.h>

#include <apr_strings.h>
#include <apr_dbd.h>
#include <apr_file_info.h>

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_request.h>
#include <http_core.h>
#include <http_protocol.h>
#include <ap_mpm.h>
#include <unixd.h>

#include <jansson.h>
#include <sodium.h>

#include "mod_itsm_private.h"
#include "mod_itsm_api.h"
#include "mod_itsm_db.h"
#include "mod_itsm_health.h"
#include "mod_itsm_mcp.h"
#include "itsm_http.h"
#include "itsm_schema.h"
#include "itsm_util.h"

itsm_pwgate_t *itsm_pwgate;

static apr_status_t curl_cleanup(void *data)
{
    itsm_http_global_cleanup();
    return APR_SUCCESS;
}

/* NOTE: mod_dbd keeps its server configuration in a private struct whose
 * first member points to the public dbd_cfg_t; that layout has held through
 * httpd 2.4. The schema is set up with the same driver and parameters the
 * children will use. */
typedef struct dbd_svr_cfg_t {
    dbd_cfg_t *cfg;
} dbd_svr_cfg_t;

static const dbd_cfg_t *dbd_config_of(server_rec *s)
{
    module *m = ap_find_linked_module("mod_dbd.c");
    dbd_svr_cfg_t *svr;

    if (!m) {
        return NULL;
    }
    svr = ap_get_module_config(s->module_config, m);
    return svr ? svr->cfg : NULL;
}

/* Checks that the run user (User directive) can create files in dir. */
static int dir_writable_by_run_user(const char *dir, apr_pool_t *p)
{
    struct stat st;
    uid_t uid = geteuid() == 0 ? ap_unixd_config.user_id : geteuid();
    gid_t gid = geteuid() == 0 ? ap_unixd_config.group_id : getegid();

    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return 0;
    }
    if (uid == 0) {
        return 1;
    }
    if (st.st_uid == uid) {
        return (st.st_mode & S_IWUSR) && (st.st_mode & S_IXUSR);
    }
    if (st.st_gid == gid) {
        return (st.st_mode & S_IWGRP) && (st.st_mode & S_IXGRP);
    }
    return (st.st_mode & S_IWOTH) && (st.st_mode & S_IXOTH);
}

/* SQLite needs an absolute path (httpd changes to / when it detaches) and a
 * directory where the run user can create the -wal and -shm files. */
static const char *check_sqlite_path(apr_pool_t *p, const char *path)
{
    char *dir;

    if (!path || path[0] != '/') {
        return apr_psprintf(p, "DBDParams '%s' must be an absolute path to "
                            "the SQLite database file", path ? path : "");
    }
    dir = apr_pstrdup(p, path);
    *strrchr(dir, '/') = '\0';
    if (!*dir) {
        dir = "/";
    }
    if (!dir_writable_by_run_user(dir, p)) {
        return apr_psprintf(p, "the database directory %s does not exist or "
                            "is not writable by the user httpd runs as "
                            "(uid %ld); create it and make that user its "
                            "owner", dir, (long)(geteuid() == 0
                            ? ap_unixd_config.user_id : geteuid()));
    }
    return NULL;
}

/* When started as root, hands the files the parent just created to the
 * run user, who writes them from the children. */
static void give_db_files_to_run_user(apr_pool_t *p, const char *path)
{
    static const char *const suffixes[] = { "", "-wal", "-shm", NULL };
    int i;

    if (geteuid() != 0) {
        return;
    }
    for (i = 0; suffixes[i]; i++) {
        const char *f = apr_pstrcat(p, path, suffixes[i], NULL);

        if (access(f, F_OK) == 0
            && chown(f, ap_unixd_config.user_id, ap_unixd_config.group_id)
               != 0) {
            ap_log_perror(APLOG_MARK, APLOG_WARNING, errno, p,
                          ITSM_LOGNO(00030) "cannot give %s to the run user",
                          f);
        }
    }
}

/* Creates the admin named by ITSMBootstrapAdmin when there are no users. */
static const char *bootstrap_admin(apr_pool_t *p, server_rec *s,
                                   itsm_srv_cfg_t *sc, const dbd_cfg_t *dbd)
{
    const unsigned char *data;
    apr_size_t len;
    itsm_db_t *db;
    itsm_rows_t *rows;
    itsm_user_t *u;
    char *password;
    const char *err;
    apr_status_t rv;

    if (!sc->bootstrap_email) {
        return NULL;
    }
    rv = itsm_db_open_direct(p, dbd->name, dbd->params, &db, &err);
    if (rv != APR_SUCCESS) {
        return err;
    }
    rv = itsm_db_select(db, ITSM_Q_user_count, ITSM_NO_ARGS, &rows);
    if (rv != APR_SUCCESS || rows->nrows != 1) {
        err = apr_psprintf(p, "cannot count users: %s", db->error);
        itsm_db_close(db);
        return err;
    }
    if (strcmp(rows->rows[0][0], "0") != 0) {
        itsm_db_close(db);
        return NULL;
    }
    err = itsm_read_secret_file(p, sc->bootstrap_password_file, &data, &len);
    if (err) {
        itsm_db_close(db);
        return apr_pstrcat(p, "ITSMBootstrapAdmin: ", err, NULL);
    }
    password = apr_pstrmemdup(p, (const char *)data, len);
    password[strcspn(password, "\r\n")] = '\0';
    if (itsm_utf8_length(password) < ITSM_PASSWORD_MIN_LEN
        || itsm_utf8_length(password) > ITSM_PASSWORD_MAX_LEN) {
        itsm_db_close(db);
        return apr_psprintf(p, "ITSMBootstrapAdmin: the password in %s must "
                            "have %d to %d characters",
                            sc->bootstrap_password_file,
                            ITSM_PASSWORD_MIN_LEN, ITSM_PASSWORD_MAX_LEN);
    }
    u = apr_pcalloc(p, sizeof(*u));
    u->email = sc->bootstrap_email;
    u->first_name = "Admin";
    u->last_name = "User";
    u->role = "admin";
    u->is_active = 1;
    rv = itsm_user_create(db, NULL, &sc->pwhash, u, password, NULL);
    sodium_memzero(password, strlen(password));
    err = rv == APR_SUCCESS ? NULL
          : apr_psprintf(p, "cannot create the first admin: %s", db->error);
    itsm_db_close(db);
    if (!err) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, ITSM_LOGNO(00031)
                     "created the first admin, %s (user %s)", u->email,
                     u->id);
    }
    return err;
}

/* Migrates each distinct database once. */
static const char *setup_database(apr_pool_t *pconf, apr_pool_t *ptemp,
                                  server_rec *s, itsm_srv_cfg_t *sc,
                                  apr_hash_t *done)
{
    const dbd_cfg_t *dbd = dbd_config_of(s);
    const char *key, *err;
    int from = 0, to = 0;
    apr_status_t rv;

    if (!dbd || !dbd->name || !dbd->params) {
        return "no database configured; set DBDriver and DBDParams";
    }
    key = apr_pstrcat(ptemp, dbd->name, "\n", dbd->params, NULL);
    if (apr_hash_get(done, key, APR_HASH_KEY_STRING)) {
        return NULL;
    }
    apr_hash_set(done, key, APR_HASH_KEY_STRING, key);

    if (strcmp(dbd->name, "sqlite3") == 0
        && (err = check_sqlite_path(ptemp, dbd->params))) {
        return err;
    }
    rv = itsm_schema_migrate(ptemp, dbd->name, dbd->params, &from, &to,
                             &err);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(ptemp, "database schema setup failed: %s", err);
    }
    if (strcmp(dbd->name, "sqlite3") == 0) {
        give_db_files_to_run_user(ptemp, dbd->params);
    }
    if (from != to) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, ITSM_LOGNO(00032)
                     "database schema upgraded from version %d to %d "
                     "(%s)", from, to, dbd->name);
    }
    err = bootstrap_admin(ptemp, s, sc, dbd);
    if (!err && strcmp(dbd->name, "sqlite3") == 0) {
        give_db_files_to_run_user(ptemp, dbd->params);
    }
    return err;
}

static int itsm_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *done = apr_hash_make(ptemp);
    const char *err, *dummy_hash = NULL;
    server_rec *vs;

    err = itsm_db_bind_mod_dbd();
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, ITSM_LOGNO(00033) "%s",
                     err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* Registered on every pass: each pass builds a new configuration. */
    for (vs = s; vs; vs = vs->next) {
        itsm_db_prepare_all(vs);
    }
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }

    if (sodium_init() < 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, ITSM_LOGNO(00034)
                     "libsodium failed to initialise");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* jansson seeds its hash function on first use; doing it here, before
     * any thread exists, keeps that race away. */
    json_object_seed(0);
    /* libcurl is initialised in the parent before any thread exists, and
     * released with the configuration, since httpd unloads the module on
     * a restart. */
    if (itsm_http_global_init() != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, ITSM_LOGNO(00038)
                     "libcurl failed to initialise");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_cleanup_register(pconf, NULL, curl_cleanup,
                              apr_pool_cleanup_null);
    if (!itsm_http_has_async_dns()) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, ITSM_LOGNO(00039)
                     "libcurl resolves names without its own thread; a "
                     "slow DNS server can delay outbound timeouts");
    }

    for (vs = s; vs; vs = vs->next) {
        itsm_srv_cfg_t *sc = itsm_srv_cfg(vs);

        err = itsm_config_finish(pconf, ptemp, vs, sc);
        if (!err && !dummy_hash
            && itsm_password_hash(pconf, NULL, &sc->pwhash,
                                  itsm_random_hex(ptemp, 16), &dummy_hash)
               != APR_SUCCESS) {
            err = "cannot compute a password hash (out of memory?)";
        }
        sc->dummy_hash = dummy_hash;
        if (!err) {
            err = setup_database(pconf, ptemp, vs, sc, done);
        }
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, vs, ITSM_LOGNO(00035)
                         "mod_itsm cannot start: %s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    err = itsm_health_runner_register(pconf, s);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, ITSM_LOGNO(00058)
                     "mod_itsm cannot start: %s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, ITSM_LOGNO(00036)
                 "mod_itsm %s ready (jansson %s, libsodium %s, %s)",
                 ITSM_VERSION, JANSSON_VERSION, sodium_version_string(),
                 itsm_http_describe(ptemp));
    return OK;
}

static void itsm_child_init(apr_pool_t *pchild, server_rec *s)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(s);
    apr_status_t rv;

    rv = itsm_pwgate_create(pchild, sc->pwhash_concurrency, &itsm_pwgate);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, ITSM_LOGNO(00037)
                     "cannot create the password hashing gate");
    }
    rv = itsm_probe_init(pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, ITSM_LOGNO(00048)
                     "cannot create the OAuth token cache; probes will "
                     "request a new token every time");
    }
    itsm_health_child_init(pchild, s);
}

static void itsm_register_hooks(apr_pool_t *p)
{
    /* Statements must reach mod_dbd, and the runner mod_watchdog, before
     * their own post_config runs. */
    static const char *const before[] = { "mod_dbd.c", "mod_watchdog.c",
                                          NULL };

    ap_hook_post_config(itsm_post_config, NULL, before, APR_HOOK_MIDDLE);
    ap_hook_child_init(itsm_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(itsm_api_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(itsm_mcp_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(itsm_api_insert_error_filter, NULL, NULL,
                                APR_HOOK_MIDDLE);
    itsm_api_register_filters();
}

AP_DECLARE_MODULE(itsm) = {
    STANDARD20_MODULE_STUFF,
    itsm_create_dir_cfg,
    itsm_merge_dir_cfg,
    itsm_create_srv_cfg,
    itsm_merge_srv_cfg,
    itsm_cmds,
    itsm_register_hooks,
    AP_MODULE_FLAG_NONE
};
