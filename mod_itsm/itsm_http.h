/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/*
 * Outbound HTTP client of mod_itsm.  This is the only file pair that uses
 * libcurl, and probes and ticket calls go through it.
 *
 * Every transfer gets the same restrictions:
 * - http and https only, redirects are not followed (a 3xx is returned as
 *   the response), no cookies, no signals (CURLOPT_NOSIGNAL);
 * - connect and total timeouts, and a cap on the response body size;
 * - TLS peer and host verification always on, with no switch to turn
 *   them off.  A per-request CA file replaces the default CA bundle and
 *   CA directory;
 * - no proxy unless the policy names one, so http_proxy and https_proxy in
 *   the server environment cannot reroute requests;
 * - a connect-time guard on the resolved address (see
 *   itsm_http_is_private_address), so a host name that resolves to a
 *   private address is rejected as well as a literal one.
 *
 * Error texts come from this file or from libcurl's error buffer, and
 * neither repeats header values or bodies.  URLs with a user name or
 * password are rejected before any connection.
 */

#ifndef ITSM_HTTP_H
#define ITSM_HTTP_H

#include <sys/socket.h>

#include <apr_pools.h>
#include <apr_tables.h>

/* Defaults for health probes.  Directives may override them. */
#define ITSM_HTTP_DEFAULT_CONNECT_TIMEOUT_MS  5000
#define ITSM_HTTP_DEFAULT_TIMEOUT_MS          10000
#define ITSM_HTTP_DEFAULT_MAX_RESPONSE_BYTES  (64 * 1024)
#define ITSM_HTTP_DEFAULT_USER_AGENT          "mod_itsm"

/* Outcome class of a transfer.  ITSM_HTTP_ERR_NONE means that an HTTP
 * response arrived, whatever its status code. */
typedef enum {
    ITSM_HTTP_ERR_NONE = 0,
    ITSM_HTTP_ERR_DNS,              /* host name could not be resolved */
    ITSM_HTTP_ERR_CONNECT,          /* TCP connection failed */
    ITSM_HTTP_ERR_TLS,              /* TLS handshake or verification */
    ITSM_HTTP_ERR_TIMEOUT,          /* connect or total timeout */
    ITSM_HTTP_ERR_TOO_LARGE,        /* body above max_response_bytes */
    ITSM_HTTP_ERR_BLOCKED_ADDRESS,  /* rejected by the address guard */
    ITSM_HTTP_ERR_BAD_REQUEST,      /* invalid URL, scheme, method or
                                     * header; nothing was sent */
    ITSM_HTTP_ERR_ABORTED,          /* stopped by the abort callback */
    ITSM_HTTP_ERR_OTHER             /* any other transport failure */
} itsm_http_error_e;

/* Limits applied to every transfer of a call. */
typedef struct itsm_http_policy_t {
    long connect_timeout_ms;        /* TCP and TLS connect, > 0 */
    long timeout_ms;                /* whole transfer, > 0 */
    apr_size_t max_response_bytes;  /* body cap; 0 means the default */
    int allow_private;              /* non-zero disables the address guard */
    const char *proxy;              /* proxy URL; NULL means no proxy */
    const char *user_agent;         /* NULL means the default */
} itsm_http_policy_t;

/* One request.  headers contains "Name: value" strings (const char *) and may
 * be NULL.  method NULL means GET, or POST when a body is given.  A body
 * sent without a Content-Type header goes out as
 * application/x-www-form-urlencoded (libcurl's default). */
typedef struct itsm_http_request_t {
    const char *method;
    const char *url;
    apr_array_header_t *headers;
    const char *body;
    apr_size_t body_len;
    const char *ca_file;            /* PEM CA bundle, or NULL */
    const char *ca_pem;             /* PEM CA text; wins over ca_file */
} itsm_http_request_t;

/* Result of one request, allocated from the caller's pool. */
typedef struct itsm_http_response_t {
    int status;                     /* HTTP status, 0 when none arrived */
    const char *content_type;       /* NULL when absent */
    const char *body;               /* NUL-terminated, never NULL */
    apr_size_t body_len;
    const char *retry_after;        /* raw Retry-After value, or NULL */
    const char *location;           /* raw Location value, or NULL */
    long latency_ms;                /* total transfer time */
    itsm_http_error_e error;
    const char *error_text;         /* NULL when error is NONE */
} itsm_http_response_t;

/* Return non-zero to stop a running itsm_http_perform_many. */
typedef int itsm_http_abort_cb(void *baton);

/*
 * Initialise libcurl (curl_global_init).  Call it from post_config, which
 * runs before any thread exists.  libcurl counts these calls, so call
 * itsm_http_global_cleanup once for each successful call, after the last
 * transfer has ended.
 */
apr_status_t itsm_http_global_init(void);
void itsm_http_global_cleanup(void);

/* Describe the libcurl build for the log, for example
 * "libcurl/7.88.1 OpenSSL/3.0.19, thread-safe init: yes, async DNS: yes". */
const char *itsm_http_describe(apr_pool_t *p);

/* Return non-zero when libcurl resolves names in a thread of its own, so
 * that a slow DNS server cannot delay the timeouts. */
int itsm_http_has_async_dns(void);

/* Return the lowercase name of an error class ("dns", "timeout", ...). */
const char *itsm_http_error_name(itsm_http_error_e error);

/* Fill policy with the defaults above; proxy NULL and allow_private 0. */
void itsm_http_policy_init(itsm_http_policy_t *policy);

/*
 * Check that url is an absolute http or https URL with a host and without
 * a user name or password.  On failure return APR_EINVAL and set *perr to a
 * message that does not repeat the URL.
 */
apr_status_t itsm_http_validate_url(const char **perr, apr_pool_t *p,
                                    const char *url);

/*
 * Return non-zero when the address guard rejects sa.  Rejected:
 * IPv4 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.168/16 and
 * 224/4 and above; IPv6 ::/96 (including :: and ::1), fc00::/7, fe80::/10,
 * fec0::/10, ff00::/8; the IPv4 ranges again inside IPv4-mapped
 * ::ffff:0:0/96 and NAT64 64:ff9b::/96 addresses; any non-IP family.
 */
int itsm_http_is_private_address(const struct sockaddr *sa);

/*
 * Send one request and wait for the response.  *presp is always set.
 * Returns APR_SUCCESS when an HTTP response arrived (any status),
 * APR_EINVAL when the request was invalid, APR_TIMEUP on a timeout and
 * APR_EGENERAL on other transfer failures.  (*presp)->error and
 * (*presp)->error_text then describe the failure.
 */
apr_status_t itsm_http_perform(itsm_http_response_t **presp, apr_pool_t *p,
                               const itsm_http_policy_t *policy,
                               const itsm_http_request_t *req);

/*
 * Send nreqs requests with at most max_concurrency in flight, through one
 * libcurl multi handle, and set presps[i] to the response of reqs[i].
 * policy NULL means the defaults.  abort_cb, when not NULL, is called at
 * least every 200 ms.  Once it returns non-zero, the unfinished requests
 * end with ITSM_HTTP_ERR_ABORTED and the function returns APR_EINCOMPLETE.
 * Otherwise it returns APR_SUCCESS even when single requests failed, or
 * APR_EINVAL for invalid arguments.  Handles are freed before it returns.
 *
 * NOTE: libcurl's threaded resolver cannot cancel a name lookup, and
 * removing a transfer whose lookup still runs waits for getaddrinfo() to
 * return (listed in libcurl's known bugs).  A host whose DNS server does
 * not answer can therefore delay the whole batch, and an abort, beyond the
 * timeouts.  Not tested here, because the tests use no DNS server.
 */
apr_status_t itsm_http_perform_many(itsm_http_response_t **presps,
                                    apr_pool_t *p,
                                    const itsm_http_policy_t *policy,
                                    const itsm_http_request_t *reqs,
                                    int nreqs, int max_concurrency,
                                    itsm_http_abort_cb *abort_cb,
                                    void *abort_baton);

#endif /* ITSM_HTTP_H */
