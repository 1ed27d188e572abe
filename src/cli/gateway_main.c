/* The gateway process, composed: the server, and in dynamic mode the agent that registers with
 * the control plane and hands the server each snapshot. */
#include "cli/gateway.h"
#include "agent/agent.h"

static int apply(void *data, cg_snapshot_t *snap, const char *why)
{
    return cg_proxy_server_apply(data, snap, why);
}

int cg_cli__gateway_main(const cg_gateway_opts_t *o, const cg_cli_dynamic_t *dyn)
{
    cg_proxy_server_t *srv = NULL;
    cg_agent_t *agent = NULL;
    if (cg_proxy_server_start(&srv, o)) return 1;
    cg_agent_cfg_t cfg = {
        .url = dyn->control,
        .token = dyn->token,
        .cluster = o->cluster,
        .namespace_ = o->namespace_,
        .address = o->address,
        .admin = o->admin,
        .labels = o->labels,
        .nlabels = o->nlabels,
        .cache_dir = dyn->cache_dir,
        .mtls_port = o->identity ? o->mtls_port : 0,
    };
    /* after the workers start: a cached snapshot is applied at once */
    if (dyn->control && cg_agent_start(&agent, cg_proxy_server_loop(srv), &cfg, apply, srv)) {
        cg_proxy_server_stop(srv);
        return 1;
    }
    cg_proxy_server_run(srv);
    /* the agent first: deregistering needs nothing of the server, and must not see its loop go */
    cg_agent_stop(agent);
    cg_proxy_server_stop(srv);
    return 0;
}
