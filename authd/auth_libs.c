/*
 * Berkeley DB and libxcrypt serve the auth process alone: it loads them
 * with dlopen() (before it chroots), and no other process maps them.
 */

#include <dlfcn.h>

#include "authd.h"

struct auth_libs authlib;

#define AUTH_LOOKUP(lib, name)                                              \
	if ((authlib.name = (__typeof__(authlib.name))dlsym(lib, #name)) == \
	    NULL)                                                           \
		fatalx("%s: %s", #name, dlerror());

void
auth_libs_load(void)
{
	void *crypt;

	db_load();
	if (authlib.crypt_rn != NULL)
		return;
	if ((crypt = dlopen(AUTH_LIBCRYPT, RTLD_NOW)) == NULL)
		fatalx("cannot load libxcrypt: %s", dlerror());
	AUTH_FUNCTIONS(AUTH_LOOKUP)
}
