/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Declarations shared by the httpd glue files (mod_itsm*.c). The core files
 * (itsm_*.c) never include this header or httpd.h. */

#ifndef MOD_ITSM_PRIVATE_H
#define MOD_ITSM_PRIVATE_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_dbd.h>
#include <mod_dbd.h>

#include "itsm_jwt.h"
#include "itsm_password.h"
#include "itsm_probe.h"
#include "itsm_vault.h"

#define ITSM_VERSION "0.1.0"

/* Stable tags for log messages at debug level and above, ITSM00001 on;
 * each number is used once (t/api/logtags.t checks it). */
#define ITSM_LOGNO(n) "ITSM" #n ": "

extern module AP_MODULE_DECLARE_DATA itsm_module;
#ifndef ITSM_MODULE_RECORD_FILE
APLOG_USE_MODULE(itsm);
#endif

#define ITSM_UNSET (-1)

/* Server configuration; vhosts inherit every unset value. */
typedef struct itsm_srv_cfg_t {
    const char *token_secret_file;
    apr_int64_t token_lifetime;         /* seconds */
    const char *token_issuer;
    const char *token_audience;
    int pwhash_memlimit_kib;
    int pwhash_opslimit;
    int pwhash_concurrency;
    int dev_errors;                     /* add "error" detail to 500s */
    const char *bootstrap_email;
    const char *bootstrap_password_file;
    const char *credential_key_file;
    apr_array_header_t *old_key_files;  /* const char * paths */
    int allow_private;
    apr_int64_t connect_timeout_ms;
    apr_int64_t timeout_ms;
    apr_int64_t max_response;
    const char *proxy;                  /* "none" for no proxy */
    apr_int64_t degraded_ms;
    apr_int64_t health_interval;        /* seconds; 0 disables the runner */
    apr_int64_t health_concurrency;
    apr_int64_t health_timeout_ms;
    apr_int64_t health_fail_threshold;
    apr_int64_t health_pass_threshold;
    apr_int64_t health_retention_days;
    apr_int64_t health_max_backoff;     /* seconds */
    apr_int64_t page_size;
    apr_int64_t page_size_max;
    apr_int64_t login_max_failures;     /* per e-mail address or key */
    apr_int64_t login_max_failures_ip;  /* per client address */
    apr_int64_t login_window;           /* seconds */
    apr_array_header_t *mcp_origins;    /* allowed Origin values */
    apr_int64_t mcp_tools_page;         /* tools per tools/list page */
    apr_int64_t ticket_max_response;    /* bytes */

    /* Filled in post_config. */
    apr_int64_t health_interval_ms;
    itsm_probe_config_t runner_probe;   /* probe with the runner's limits */
    itsm_http_policy_t ticket_http;     /* ticket calls: larger bodies */
    itsm_vault_t *vault;
    itsm_probe_config_t probe;
    itsm_jwt_config_t jwt;
    itsm_pwhash_params_t pwhash;
    const char *dummy_hash;             /* verified for unknown e-mails */
} itsm_srv_cfg_t;

/* Per-directory configuration. */
typedef struct itsm_dir_cfg_t {
    apr_off_t max_body;                 /* bytes */
} itsm_dir_cfg_t;

#define ITSM_DEFAULT_MAX_BODY (64 * 1024)

extern const command_rec itsm_cmds[];
void *itsm_create_srv_cfg(apr_pool_t *p, server_rec *s);
void *itsm_merge_srv_cfg(apr_pool_t *p, void *basev, void *addv);
void *itsm_create_dir_cfg(apr_pool_t *p, char *dir);
void *itsm_merge_dir_cfg(apr_pool_t *p, void *basev, void *addv);

/* Loads the signing secret and fills the derived settings of one server.
 * Returns an error text, or NULL when the configuration is usable. */
const char *itsm_config_finish(apr_pool_t *p, apr_pool_t *ptemp,
                               server_rec *s, itsm_srv_cfg_t *sc);

/* Reads a secret file that only its owner may read; returns its bytes. */
const char *itsm_read_secret_file(apr_pool_t *p, const char *path,
                                  const unsigned char **pdata,
                                  apr_size_t *plen);

itsm_srv_cfg_t *itsm_srv_cfg(server_rec *s);

/* Per-process state created in child_init. */
extern itsm_pwgate_t *itsm_pwgate;

#endif
