/*
 * Dropping privileges: chroot, user switch, no_new_privs.
 */

#include <sys/prctl.h>
#include <sys/types.h>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "common.h"

int
privsep_is_root(void)
{
	return geteuid() == 0;
}

void
privsep_drop(const char *user, const char *chroot_dir)
{
	struct passwd *pw = NULL;

	if (privsep_is_root()) {
		if ((pw = getpwnam(user)) == NULL)
			fatalx("unknown user %s", user);
		if (chroot_dir != NULL) {
			if (chroot(chroot_dir) == -1)
				fatal("chroot %s", chroot_dir);
			if (chdir("/") == -1)
				fatal("chdir /");
		}
		if (setgroups(1, &pw->pw_gid) == -1 ||
		    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
			fatal("cannot drop privileges to %s", pw->pw_name);
	} else if (chroot_dir != NULL && chdir(chroot_dir) == -1)
		fatal("chdir %s", chroot_dir);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_NO_NEW_PRIVS)");
}
