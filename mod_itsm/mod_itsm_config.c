/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Directives, configuration records and the checks that run once the
 * configuration is read. */

#include <string.h>

#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_file_info.h>

#include <httpd.h>
#include <http_config.h>

#include "mod_itsm_private.h"
#include "itsm_util.h"

#define DEFAULT_TOKEN_LIFETIME 900
#define DEFAULT_ISSUER "mod_itsm"
#define DEFAULT_AUDIENCE "itsm-api"
#define DEFAULT_PWHASH_MEMLIMIT_KIB 19456
#define DEFAULT_PWHASH_OPSLIMIT 2
#define DEFAULT_PWHASH_CONCURRENCY 4
#define TOKEN_LEEWAY_S 30
#define MAX_SECRET_FILE_LEN 4096
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_MAX_RESPONSE (64 * 1024)
#define DEFAULT_HEALTH_INTERVAL 300
#define DEFAULT_HEALTH_CONCURRENCY 32
#define DEFAULT_HEALTH_THRESHOLD 2
#define DEFAULT_HEALTH_RETENTION_DAYS 30
#define DEFAULT_HEALTH_MAX_BACKOFF 21600
#define DEFAULT_PAGE_SIZE 100
#define DEFAULT_PAGE_SIZE_MAX 1000
#define DEFAULT_LOGIN_MAX_FAILURES 5
#define DEFAULT_LOGIN_MAX_FAILURES_IP 20
#define DEFAULT_LOGIN_WINDOW 900
#define DEFAULT_MCP_TOOLS_PAGE 50
#define DEFAULT_TICKET_MAX_RESPONSE (2 * 1024 * 1024)

itsm_srv_cfg_t *itsm_srv_cfg(server_rec *s)
{
    return ap_get_module_config(s->module_config, &itsm_module);
}

void *itsm_create_srv_cfg(apr_pool_t *p, server_rec *s)
{
    itsm_srv_cfg_t *sc = apr_pcalloc(p, sizeof(*sc));

    sc->token_lifetime = ITSM_UNSET;
    sc->pwhash_memlimit_kib = ITSM_UNSET;
    sc->pwhash_opslimit = ITSM_UNSET;
    sc->pwhash_concurrency = ITSM_UNSET;
    sc->dev_errors = ITSM_UNSET;
    sc->allow_private = ITSM_UNSET;
    sc->connect_timeout_ms = ITSM_UNSET;
    sc->timeout_ms = ITSM_UNSET;
    sc->max_response = ITSM_UNSET;
    sc->degraded_ms = ITSM_UNSET;
    sc->health_interval = ITSM_UNSET;
    sc->health_concurrency = ITSM_UNSET;
    sc->health_timeout_ms = ITSM_UNSET;
    sc->health_fail_threshold = ITSM_UNSET;
    sc->health_pass_threshold = ITSM_UNSET;
    sc->health_retention_days = ITSM_UNSET;
    sc->health_max_backoff = ITSM_UNSET;
    sc->page_size = ITSM_UNSET;
    sc->page_size_max = ITSM_UNSET;
    sc->login_max_failures = ITSM_UNSET;
    sc->login_max_failures_ip = ITSM_UNSET;
    sc->login_window = ITSM_UNSET;
    sc->mcp_tools_page = ITSM_UNSET;
    sc->ticket_max_response = ITSM_UNSET;
    return sc;
}

#define MERGE_PTR(f) sc->f = add->f ? add->f : base->f
#define MERGE_INT(f) sc->f = add->f != ITSM_UNSET ? add->f : base->f

void *itsm_merge_srv_cfg(apr_pool_t *p, void *basev, void *addv)
{
    itsm_srv_cfg_t *base = basev, *add = addv;
    itsm_srv_cfg_t *sc = apr_pcalloc(p, sizeof(*sc));

    MERGE_PTR(token_secret_file);
    MERGE_INT(token_lifetime);
    MERGE_PTR(token_issuer);
    MERGE_PTR(token_audience);
    MERGE_INT(pwhash_memlimit_kib);
    MERGE_INT(pwhash_opslimit);
    MERGE_INT(pwhash_concurrency);
    MERGE_INT(dev_errors);
    MERGE_PTR(bootstrap_email);
    MERGE_PTR(bootstrap_password_file);
    MERGE_PTR(credential_key_file);
    MERGE_PTR(old_key_files);
    MERGE_INT(allow_private);
    MERGE_INT(connect_timeout_ms);
    MERGE_INT(timeout_ms);
    MERGE_INT(max_response);
    MERGE_PTR(proxy);
    MERGE_INT(degraded_ms);
    MERGE_INT(health_interval);
    MERGE_INT(health_concurrency);
    MERGE_INT(health_timeout_ms);
    MERGE_INT(health_fail_threshold);
    MERGE_INT(health_pass_threshold);
    MERGE_INT(health_retention_days);
    MERGE_INT(health_max_backoff);
    MERGE_INT(page_size);
    MERGE_INT(page_size_max);
    MERGE_INT(login_max_failures);
    MERGE_INT(login_max_failures_ip);
    MERGE_INT(login_window);
    MERGE_PTR(mcp_origins);
    MERGE_INT(mcp_tools_page);
    MERGE_INT(ticket_max_response);
    return sc;
}

void *itsm_create_dir_cfg(apr_pool_t *p, char *dir)
{
    itsm_dir_cfg_t *dc = apr_pcalloc(p, sizeof(*dc));

    dc->max_body = ITSM_UNSET;
    return dc;
}

void *itsm_merge_dir_cfg(apr_pool_t *p, void *basev, void *addv)
{
    itsm_dir_cfg_t *base = basev, *add = addv;
    itsm_dir_cfg_t *dc = apr_pcalloc(p, sizeof(*dc));

    dc->max_body = add->max_body != ITSM_UNSET ? add->max_body
                                               : base->max_body;
    return dc;
}

/* Parses a whole-number directive argument within [min, max]. */
static const char *parse_number(cmd_parms *cmd, const char *arg,
                                apr_int64_t min, apr_int64_t max,
                                apr_int64_t *pvalue)
{
    apr_int64_t v = 0;

    if (itsm_parse_int64(arg, &v) != APR_SUCCESS || v < min || v > max) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a whole number from "
                            "%" APR_INT64_T_FMT " to %" APR_INT64_T_FMT,
                            cmd->cmd->name, arg, min, max);
    }
    *pvalue = v;
    return NULL;
}

static const char *set_token_secret_file(cmd_parms *cmd, void *dc,
                                         const char *arg)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(cmd->server);

    sc->token_secret_file = ap_server_root_relative(cmd->pool, arg);
    return sc->token_secret_file ? NULL : "ITSMTokenSecretFile: invalid path";
}

static const char *set_token_lifetime(cmd_parms *cmd, void *dc,
                                      const char *arg)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(cmd->server);

    return parse_number(cmd, arg, 60, 86400, &sc->token_lifetime);
}

static const char *set_token_issuer(cmd_parms *cmd, void *dc, const char *arg)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(cmd->server);

    if (!*arg) {
        return "ITSMTokenIssuer must not be empty";
    }
    sc->token_issuer = arg;
    return NULL;
}

static const char *set_token_audience(cmd_parms *cmd, void *dc,
                                      const char *arg)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(cmd->server);

    if (!*arg) {
        return "ITSMTokenAudience must not be empty";
    }
    sc->token_audience = arg;
    return NULL;
}

static const char *set_pwhash_int(cmd_parms *cmd, void *dc, const char *arg)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(cmd->server);
    apr_int64_t v = 0;
    const char *err;

    /* cmd->info selects the field: 0 memory, 1 passes, 2 concurrency. */
    switch ((int)(apr_uintptr_t)cmd->info) {
    case 0:
        err = parse_number(cmd, arg, 8192, 4 * 1024 * 1024, &v);
        sc->pwhash_memlimit_kib = (int)v;
        break;
    case 1:
        err = parse_number(cmd, arg, 1, 16, &v);
        sc->pwhash_opslimit = (int)v;
        break;
    default:
        err = parse_number(cmd, arg, 1, 256, &v);
        sc->pwhash_concurrency = (int)v;
        break;
    }
    return err;
}

static const char *set_dev_errors(cmd_parms *cmd, void *dc, int flag)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(cmd->server);

    sc->dev_errors = flag;
    return NULL;
}

static const char *set_bootstrap_admin(cmd_parms *cmd, void *dc,
                                       const char *email, const char *file)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(cmd->server);

    if (!itsm_email_is_valid(email)) {
        return apr_psprintf(cmd->pool, "ITSMBootstrapAdmin: '%s' is not a "
                            "valid e-mail address", email);
    }
    sc->bootstrap_email = email;
    sc->bootstrap_password_file = ap_server_root_relative(cmd->pool, file);
    return NULL;
}

static const char *set_credential_key(cmd_parms *cmd, void *dc,
                                      const char *arg)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(cmd->server);
    const char *path = ap_server_root_relative(cmd->pool, arg);

    if (!path) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": invalid path ", arg,
                           NULL);
    }
    if (cmd->info) {
        if (!sc->old_key_files) {
            sc->old_key_files = apr_array_make(cmd->pool, 2,
                                               sizeof(const char *));
        }
        APR_ARRAY_PUSH(sc->old_key_files, const char *) = path;
    }
    else {
        sc->credential_key_file = path;
    }
    return NULL;
}

static const char *set_allow_private(cmd_parms *cmd, void *dc, int flag)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(cmd->server);

    sc->allow_private = flag;
    return NULL;
}

static const char *set_outbound_int(cmd_parms *cmd, void *dc,
                                    const char *arg)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(cmd->server);

    /* cmd->info selects the field: 0 connect timeout, 1 total timeout,
     * 2 response size, 3 degraded latency, 4 ticket response size. */
    switch ((int)(apr_uintptr_t)cmd->info) {
    case 4:
        return parse_number(cmd, arg, 64 * 1024, 64 * 1024 * 1024,
                            &sc->ticket_max_response);
    case 0:
        return parse_number(cmd, arg, 100, 60000, &sc->connect_timeout_ms);
    case 1:
        return parse_number(cmd, arg, 100, 120000, &sc->timeout_ms);
    case 2:
        return parse_number(cmd, arg, 1024, 64 * 1024 * 1024,
                            &sc->max_response);
    default:
        return parse_number(cmd, arg, 0, 120000, &sc->degraded_ms);
    }
}

static const char *set_health_int(cmd_parms *cmd, void *dc, const char *arg)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(cmd->server);

    /* cmd->info selects the field, in the order of the directive table. */
    switch ((int)(apr_uintptr_t)cmd->info) {
    case 0:
        return parse_number(cmd, arg, 0, 7 * 24 * 3600, &sc->health_interval);
    case 1:
        return parse_number(cmd, arg, 1, 1024, &sc->health_concurrency);
    case 2:
        return parse_number(cmd, arg, 100, 120000, &sc->health_timeout_ms);
    case 3:
        return parse_number(cmd, arg, 1, 100, &sc->health_fail_threshold);
    case 4:
        return parse_number(cmd, arg, 1, 100, &sc->health_pass_threshold);
    case 5:
        return parse_number(cmd, arg, 1, 3650, &sc->health_retention_days);
    default:
        return parse_number(cmd, arg, 1, 7 * 24 * 3600,
                            &sc->health_max_backoff);
    }
}

static const char *set_limits_int(cmd_parms *cmd, void *dc, const char *arg)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(cmd->server);

    /* cmd->info selects the field, in the order of the directive table. */
    switch ((int)(apr_uintptr_t)cmd->info) {
    case 0:
        return parse_number(cmd, arg, 1, 100000, &sc->page_size);
    case 1:
        return parse_number(cmd, arg, 1, 100000, &sc->page_size_max);
    case 2:
        return parse_number(cmd, arg, 1, 1000000, &sc->login_max_failures);
    case 3:
        return parse_number(cmd, arg, 1, 1000000,
                            &sc->login_max_failures_ip);
    default:
        return parse_number(cmd, arg, 1, 7 * 24 * 3600, &sc->login_window);
    }
}

static const char *set_mcp_origin(cmd_parms *cmd, void *dc, const char *arg)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(cmd->server);

    if (strcmp(arg, "*") != 0 && strncasecmp(arg, "http://", 7) != 0
        && strncasecmp(arg, "https://", 8) != 0) {
        return "ITSMMCPAllowedOrigin takes origins such as "
               "https://app.example.com, or *";
    }
    if (!sc->mcp_origins) {
        sc->mcp_origins = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(sc->mcp_origins, const char *) = arg;
    return NULL;
}

static const char *set_mcp_page(cmd_parms *cmd, void *dc, const char *arg)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(cmd->server);

    return parse_number(cmd, arg, 1, 1000, &sc->mcp_tools_page);
}

static const char *set_proxy(cmd_parms *cmd, void *dc, const char *arg)
{
    itsm_srv_cfg_t *sc = itsm_srv_cfg(cmd->server);

    if (strcasecmp(arg, "none") != 0 && strncasecmp(arg, "http://", 7) != 0
        && strncasecmp(arg, "https://", 8) != 0) {
        return "ITSMOutboundProxy must be none or an http:// or https:// URL";
    }
    sc->proxy = arg;
    return NULL;
}

static const char *set_max_body(cmd_parms *cmd, void *dcv, const char *arg)
{
    itsm_dir_cfg_t *dc = dcv;
    apr_int64_t v = 0;
    const char *err = parse_number(cmd, arg, 1024, 16 * 1024 * 1024, &v);

    dc->max_body = (apr_off_t)v;
    return err;
}

const command_rec itsm_cmds[] = {
    AP_INIT_TAKE1("ITSMTokenSecretFile", set_token_secret_file, NULL,
                  RSRC_CONF, "File with the HS256 token-signing secret "
                  "(at least 32 bytes, mode 0600 or 0400)"),
    AP_INIT_TAKE1("ITSMTokenLifetime", set_token_lifetime, NULL, RSRC_CONF,
                  "Lifetime of issued access tokens in seconds "
                  "(default 900)"),
    AP_INIT_TAKE1("ITSMTokenIssuer", set_token_issuer, NULL, RSRC_CONF,
                  "Issuer (iss) of issued tokens, required on verification "
                  "(default mod_itsm)"),
    AP_INIT_TAKE1("ITSMTokenAudience", set_token_audience, NULL, RSRC_CONF,
                  "Audience (aud) of issued tokens, required on "
                  "verification (default itsm-api)"),
    AP_INIT_TAKE1("ITSMPasswordHashMemory", set_pwhash_int, (void *)0,
                  RSRC_CONF, "argon2id memory per password hash in KiB "
                  "(default 19456)"),
    AP_INIT_TAKE1("ITSMPasswordHashPasses", set_pwhash_int, (void *)1,
                  RSRC_CONF, "argon2id passes (t) per password hash "
                  "(default 2)"),
    AP_INIT_TAKE1("ITSMPasswordHashConcurrency", set_pwhash_int, (void *)2,
                  RSRC_CONF, "Password hashes one httpd process computes at "
                  "once (default 4)"),
    AP_INIT_FLAG("ITSMDevelopmentErrors", set_dev_errors, NULL, RSRC_CONF,
                 "On to add error detail to 500 responses (default Off)"),
    AP_INIT_TAKE2("ITSMBootstrapAdmin", set_bootstrap_admin, NULL, RSRC_CONF,
                  "E-mail address and password file of the admin created "
                  "when the database has no users"),
    AP_INIT_TAKE1("ITSMCredentialKeyFile", set_credential_key, NULL,
                  RSRC_CONF, "File with the 32-byte key that encrypts "
                  "integration credentials (mode 0600 or 0400)"),
    AP_INIT_ITERATE("ITSMCredentialOldKeyFile", set_credential_key,
                    (void *)1, RSRC_CONF, "Files with earlier credential "
                    "keys, still used to decrypt during a key rotation"),
    AP_INIT_FLAG("ITSMAllowPrivateTargets", set_allow_private, NULL,
                 RSRC_CONF, "On to let outbound requests reach loopback, "
                 "private and link-local addresses (default Off)"),
    AP_INIT_TAKE1("ITSMOutboundConnectTimeout", set_outbound_int, (void *)0,
                  RSRC_CONF, "Connect timeout of outbound requests in "
                  "milliseconds (default 5000)"),
    AP_INIT_TAKE1("ITSMOutboundTimeout", set_outbound_int, (void *)1,
                  RSRC_CONF, "Total timeout of outbound requests in "
                  "milliseconds (default 10000)"),
    AP_INIT_TAKE1("ITSMOutboundMaxResponseSize", set_outbound_int, (void *)2,
                  RSRC_CONF, "Largest outbound response body read, in "
                  "bytes (default 65536)"),
    AP_INIT_TAKE1("ITSMTicketMaxResponseSize", set_outbound_int, (void *)4,
                  RSRC_CONF, "Largest response body of a ticket call, in "
                  "bytes (default 2097152)"),
    AP_INIT_TAKE1("ITSMOutboundProxy", set_proxy, NULL, RSRC_CONF,
                  "Proxy URL for outbound requests, or none (default "
                  "none; proxy environment variables are ignored)"),
    AP_INIT_TAKE1("ITSMHealthDegradedLatency", set_outbound_int, (void *)3,
                  RSRC_CONF, "Probe latency in milliseconds above which a "
                  "2xx answer counts as degraded (default 2000)"),
    AP_INIT_TAKE1("ITSMHealthCheckInterval", set_health_int, (void *)0,
                  RSRC_CONF, "Seconds between background health checks of "
                  "each active integration; 0 turns them off (default 300)"),
    AP_INIT_TAKE1("ITSMHealthCheckConcurrency", set_health_int, (void *)1,
                  RSRC_CONF, "Background health checks in flight at once "
                  "(default 32)"),
    AP_INIT_TAKE1("ITSMHealthCheckTimeout", set_health_int, (void *)2,
                  RSRC_CONF, "Total timeout of one background health check "
                  "in milliseconds (default 10000)"),
    AP_INIT_TAKE1("ITSMHealthFailThreshold", set_health_int, (void *)3,
                  RSRC_CONF, "Failed checks in a row before a healthy "
                  "integration turns unhealthy (default 2)"),
    AP_INIT_TAKE1("ITSMHealthPassThreshold", set_health_int, (void *)4,
                  RSRC_CONF, "Successful checks in a row before an "
                  "unhealthy integration turns healthy (default 2)"),
    AP_INIT_TAKE1("ITSMHealthHistoryRetention", set_health_int, (void *)5,
                  RSRC_CONF, "Days of health-check history kept "
                  "(default 30)"),
    AP_INIT_TAKE1("ITSMHealthAuthBackoffMax", set_health_int, (void *)6,
                  RSRC_CONF, "Longest wait in seconds between checks of an "
                  "integration whose credentials are rejected (default "
                  "21600)"),
    AP_INIT_TAKE1("ITSMPageSize", set_limits_int, (void *)0, RSRC_CONF,
                  "Items per page of a list without ?limit= (default 100)"),
    AP_INIT_TAKE1("ITSMPageSizeMax", set_limits_int, (void *)1, RSRC_CONF,
                  "Largest ?limit= a list accepts (default 1000)"),
    AP_INIT_TAKE1("ITSMLoginMaxFailures", set_limits_int, (void *)2,
                  RSRC_CONF, "Failed logins per e-mail address, or failed "
                  "exchanges per API key, before further attempts get 429 "
                  "(default 5)"),
    AP_INIT_TAKE1("ITSMLoginMaxFailuresPerAddress", set_limits_int,
                  (void *)3, RSRC_CONF, "Failed logins and key exchanges "
                  "per client address before it gets 429 (default 20)"),
    AP_INIT_TAKE1("ITSMLoginFailureWindow", set_limits_int, (void *)4,
                  RSRC_CONF, "Seconds over which failures are counted "
                  "(default 900)"),
    AP_INIT_ITERATE("ITSMMCPAllowedOrigin", set_mcp_origin, NULL, RSRC_CONF,
                    "Origins (scheme://host[:port]) besides the server's "
                    "own whose browser requests /mcp accepts, or *"),
    AP_INIT_TAKE1("ITSMMCPToolsPageSize", set_mcp_page, NULL, RSRC_CONF,
                  "Tools per page of an MCP tools/list answer (default 50)"),
    AP_INIT_TAKE1("ITSMMaxBodySize", set_max_body, NULL, RSRC_CONF | ACCESS_CONF,
                  "Largest accepted request body in bytes (default 65536)"),
    { NULL }
};

const char *itsm_read_secret_file(apr_pool_t *p, const char *path,
                                  const unsigned char **pdata,
                                  apr_size_t *plen)
{
    apr_finfo_t finfo;
    apr_file_t *f;
    apr_status_t rv;
    unsigned char *buf;
    apr_size_t len;

    rv = apr_stat(&finfo, path, APR_FINFO_TYPE | APR_FINFO_PROT
                  | APR_FINFO_SIZE, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read %s: file is missing or not "
                            "accessible", path);
    }
    if (finfo.filetype != APR_REG) {
        return apr_psprintf(p, "%s is not a regular file", path);
    }
    if (finfo.protection & (APR_GREAD | APR_GWRITE | APR_WREAD | APR_WWRITE)) {
        return apr_psprintf(p, "%s is accessible to other users; "
                            "run chmod 600 on it", path);
    }
    if (finfo.size <= 0 || finfo.size > MAX_SECRET_FILE_LEN) {
        return apr_psprintf(p, "%s is empty or larger than %d bytes", path,
                            MAX_SECRET_FILE_LEN);
    }
    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY,
                       APR_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot open %s", path);
    }
    len = (apr_size_t)finfo.size;
    buf = apr_palloc(p, len + 1);
    rv = apr_file_read_full(f, buf, len, &len);
    apr_file_close(f);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read %s", path);
    }
    buf[len] = '\0';
    *pdata = buf;
    *plen = len;
    return NULL;
}

/* Loads the credential keys and settles the outbound request policy. */
static const char *finish_outbound(apr_pool_t *p, itsm_srv_cfg_t *sc)
{
    itsm_probe_config_t *probe = &sc->probe;
    const char *err;
    int i;

    if (!sc->credential_key_file) {
        return "ITSMCredentialKeyFile is not set";
    }
    if (itsm_vault_create(&sc->vault, p) != APR_SUCCESS) {
        return "cannot create the credential vault";
    }
    if (itsm_vault_load_key(sc->vault, sc->credential_key_file, 1, &err)
        != APR_SUCCESS) {
        return apr_pstrcat(p, "ITSMCredentialKeyFile: ", err, NULL);
    }
    for (i = 0; sc->old_key_files && i < sc->old_key_files->nelts; i++) {
        const char *path = APR_ARRAY_IDX(sc->old_key_files, i, const char *);

        if (itsm_vault_load_key(sc->vault, path, 0, &err) != APR_SUCCESS) {
            return apr_pstrcat(p, "ITSMCredentialOldKeyFile: ", err, NULL);
        }
    }

    itsm_probe_config_init(probe);
    probe->http.allow_private = sc->allow_private == 1;
    probe->http.connect_timeout_ms = sc->connect_timeout_ms != ITSM_UNSET
        ? (long)sc->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    probe->http.timeout_ms = sc->timeout_ms != ITSM_UNSET
        ? (long)sc->timeout_ms : DEFAULT_TIMEOUT_MS;
    probe->http.max_response_bytes = sc->max_response != ITSM_UNSET
        ? (apr_size_t)sc->max_response : DEFAULT_MAX_RESPONSE;
    probe->http.proxy = sc->proxy && strcasecmp(sc->proxy, "none") != 0
        ? sc->proxy : NULL;
    probe->http.user_agent = "mod_itsm/" ITSM_VERSION;
    if (sc->degraded_ms != ITSM_UNSET) {
        probe->degraded_ms = (long)sc->degraded_ms;
    }

    /* A page of tickets is far larger than a health probe's response. */
    sc->ticket_http = probe->http;
    sc->ticket_http.max_response_bytes = sc->ticket_max_response != ITSM_UNSET
        ? (apr_size_t)sc->ticket_max_response : DEFAULT_TICKET_MAX_RESPONSE;

    sc->health_interval_ms = 1000 * (sc->health_interval != ITSM_UNSET
                                     ? sc->health_interval
                                     : DEFAULT_HEALTH_INTERVAL);
    sc->runner_probe = *probe;
    sc->runner_probe.http.timeout_ms = sc->health_timeout_ms != ITSM_UNSET
        ? (long)sc->health_timeout_ms : DEFAULT_TIMEOUT_MS;
    sc->runner_probe.max_concurrency = sc->health_concurrency != ITSM_UNSET
        ? (int)sc->health_concurrency : DEFAULT_HEALTH_CONCURRENCY;
    if (sc->health_fail_threshold == ITSM_UNSET) {
        sc->health_fail_threshold = DEFAULT_HEALTH_THRESHOLD;
    }
    if (sc->health_pass_threshold == ITSM_UNSET) {
        sc->health_pass_threshold = DEFAULT_HEALTH_THRESHOLD;
    }
    if (sc->health_retention_days == ITSM_UNSET) {
        sc->health_retention_days = DEFAULT_HEALTH_RETENTION_DAYS;
    }
    if (sc->health_max_backoff == ITSM_UNSET) {
        sc->health_max_backoff = DEFAULT_HEALTH_MAX_BACKOFF;
    }
    return NULL;
}

/* Settles page sizes and login throttling. */
static const char *finish_limits(apr_pool_t *p, itsm_srv_cfg_t *sc)
{
    if (sc->page_size_max == ITSM_UNSET) {
        sc->page_size_max = DEFAULT_PAGE_SIZE_MAX;
    }
    if (sc->page_size == ITSM_UNSET) {
        sc->page_size = DEFAULT_PAGE_SIZE < sc->page_size_max
                        ? DEFAULT_PAGE_SIZE : sc->page_size_max;
    }
    if (sc->page_size > sc->page_size_max) {
        return apr_psprintf(p, "ITSMPageSize %" APR_INT64_T_FMT " is larger "
                            "than ITSMPageSizeMax %" APR_INT64_T_FMT,
                            sc->page_size, sc->page_size_max);
    }
    if (sc->login_max_failures == ITSM_UNSET) {
        sc->login_max_failures = DEFAULT_LOGIN_MAX_FAILURES;
    }
    if (sc->login_max_failures_ip == ITSM_UNSET) {
        sc->login_max_failures_ip = DEFAULT_LOGIN_MAX_FAILURES_IP;
    }
    if (sc->login_window == ITSM_UNSET) {
        sc->login_window = DEFAULT_LOGIN_WINDOW;
    }
    if (sc->mcp_tools_page == ITSM_UNSET) {
        sc->mcp_tools_page = DEFAULT_MCP_TOOLS_PAGE;
    }
    return NULL;
}

const char *itsm_config_finish(apr_pool_t *p, apr_pool_t *ptemp,
                               server_rec *s, itsm_srv_cfg_t *sc)
{
    const char *err;

    if (!sc->token_secret_file) {
        return "ITSMTokenSecretFile is not set";
    }
    err = itsm_read_secret_file(p, sc->token_secret_file, &sc->jwt.key,
                                &sc->jwt.key_len);
    if (err) {
        return apr_pstrcat(ptemp, "ITSMTokenSecretFile: ", err, NULL);
    }
    if (sc->jwt.key_len < ITSM_JWT_MIN_KEY_LEN) {
        return apr_psprintf(ptemp, "ITSMTokenSecretFile: %s holds %"
                            APR_SIZE_T_FMT " bytes; at least %d random bytes "
                            "are required", sc->token_secret_file,
                            sc->jwt.key_len, ITSM_JWT_MIN_KEY_LEN);
    }
    sc->jwt.issuer = sc->token_issuer ? sc->token_issuer : DEFAULT_ISSUER;
    sc->jwt.audience = sc->token_audience ? sc->token_audience
                                          : DEFAULT_AUDIENCE;
    sc->jwt.lifetime_s = sc->token_lifetime != ITSM_UNSET
                         ? sc->token_lifetime : DEFAULT_TOKEN_LIFETIME;
    sc->jwt.leeway_s = TOKEN_LEEWAY_S;
    sc->pwhash.memlimit_kib = sc->pwhash_memlimit_kib != ITSM_UNSET
                              ? (apr_size_t)sc->pwhash_memlimit_kib
                              : DEFAULT_PWHASH_MEMLIMIT_KIB;
    sc->pwhash.opslimit = sc->pwhash_opslimit != ITSM_UNSET
                          ? (unsigned long)sc->pwhash_opslimit
                          : DEFAULT_PWHASH_OPSLIMIT;
    if (sc->pwhash_concurrency == ITSM_UNSET) {
        sc->pwhash_concurrency = DEFAULT_PWHASH_CONCURRENCY;
    }
    if (sc->dev_errors == ITSM_UNSET) {
        sc->dev_errors = 0;
    }
    err = finish_limits(ptemp, sc);
    return err ? err : finish_outbound(p, sc);
}
