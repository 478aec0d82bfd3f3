/*
 * The roles whose work comes in later issues (mta today): they
 * start, drop into their jails, install the filters written for their
 * work (boxd/role.c names them), and wait.
 */

#include <stddef.h>

#include "boxd.h"

static void
idle_dispatch_parent(struct imsgev *iev, struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_CONF_TLS:
		/* a reload's: unused, and wiped with the channel's buffers */
		break;
	case IMSG_CONF_LISTENER:
		/* the parent keeps it bound; nothing serves it yet */
		break;
	default:
		child_bad_imsg(imsg, "idle role");
	}
}

void
idle_main(void)
{
	imsgev_handler handlers[PROC_COUNT] = {0};

	child_init(role_self(), idle_dispatch_parent);
	child_forget_tls();
	child_drop();
	child_sandbox();
	child_run(handlers);
}
