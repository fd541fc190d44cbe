/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Background health checks (a mod_watchdog singleton) and the health
 * history and summary endpoints. */

#ifndef MOD_ITSM_HEALTH_H
#define MOD_ITSM_HEALTH_H

#include "mod_itsm_api.h"

extern const itsm_route_t itsm_health_routes[];

/* Registers the runner with mod_watchdog for server s; called from
 * post_config before mod_watchdog's own. Returns an error text or NULL. */
const char *itsm_health_runner_register(apr_pool_t *pconf, server_rec *s);

/* Registers a cleanup of pchild that stops the runner and waits until it
 * has stored its results and handed back its claims. Called from
 * child_init. */
void itsm_health_child_init(apr_pool_t *pchild, server_rec *s);

#endif
