/*
 * glibc 2.38 shim for the uWebSockets.js binary on older glibc.
 *
 * The shipped uWS.js binaries were linked against glibc 2.38, which renamed
 * strtol, strtoul and sscanf to their C23 variants (__isoc23_*). Debian 12
 * has glibc 2.36 and lacks them. This addon defines the three symbols under
 * version GLIBC_2.38 (see glibc_compat.map); the loader (src/uws/load.ts)
 * loads it with RTLD_GLOBAL before a copy of the uWS binary whose GLIBC_2.38
 * requirement was marked weak, so the dynamic linker binds uWS to these.
 *
 * It holds no state and exports nothing to JavaScript.
 */

/*
 * With glibc 2.38 and _GNU_SOURCE the headers redirect strtol and friends to
 * the __isoc23_* names, which would make these wrappers call themselves.
 */
#undef _GNU_SOURCE

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <node_api.h>

#if defined(__GLIBC_USE)
#if __GLIBC_USE(C2X_STRTOL)
#error "strtol is redirected to __isoc23_strtol; build without C23 or _GNU_SOURCE"
#endif
#endif

/* The build hides symbols by default; these three must be seen by uWS. */
#define COMPAT_EXPORT	__attribute__((visibility("default")))

COMPAT_EXPORT long	__isoc23_strtol(const char *, char **, int);
COMPAT_EXPORT unsigned long	__isoc23_strtoul(const char *, char **, int);
COMPAT_EXPORT int	__isoc23_sscanf(const char *, const char *, ...);

/*
 * Known shortcoming: glibc's C23 versions also accept a "0b"/"0B" prefix
 * for base 0 and 2 (and %i in sscanf); these do not, which uWS, parsing
 * only decimal and hexadecimal text, never relies on.
 */
long
__isoc23_strtol(const char *nptr, char **endptr, int base)
{
	return (strtol(nptr, endptr, base));
}

unsigned long
__isoc23_strtoul(const char *nptr, char **endptr, int base)
{
	return (strtoul(nptr, endptr, base));
}

int
__isoc23_sscanf(const char *str, const char *fmt, ...)
{
	va_list		ap;
	int		ret;

	va_start(ap, fmt);
	ret = vsscanf(str, fmt, ap);
	va_end(ap);

	return (ret);
}

/* Node requires a registered module; an empty exports object is enough. */
NAPI_MODULE_INIT()
{
	(void)env;
	return (exports);
}
