/*
 * Gatehouse's acceptor addon as JavaScript sees it (gateway/src/native/
 * addon.ts): the module, listen(), createAcceptor() and the NativeAcceptor
 * class, parseClientHello(), sendAlertAndClose() and closeFd(), with the
 * argument checks and Node-shaped errors they share.
 *
 * It checks and converts arguments and makes the listening socket; the
 * accepting, peeking and hand-off are acceptor.c's (through acceptor.h).
 * Bad arguments throw a TypeError or RangeError that names them, failed
 * system calls an Error shaped like Node's own.
 */
#define _GNU_SOURCE

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "clienthello.h"
#include "acceptor.h"

/* The largest helloTimeoutMs and maxPending that createAcceptor() takes. */
#define HELLO_TIMEOUT_MAX_MS	3600000
#define MAX_PENDING_LIMIT	1000000

static napi_value	js_listen(napi_env, napi_callback_info);
static napi_value	js_create_acceptor(napi_env, napi_callback_info);
static napi_value	js_parse_client_hello(napi_env, napi_callback_info);
static napi_value	js_send_alert_and_close(napi_env, napi_callback_info);
static napi_value	js_close_fd(napi_env, napi_callback_info);
static napi_value	js_acceptor_construct(napi_env, napi_callback_info);
static napi_value	js_acceptor_close(napi_env, napi_callback_info);
static napi_value	js_acceptor_stats(napi_env, napi_callback_info);

static void	env_state_finalize(napi_env, void *, void *);
static int	arg_int(napi_env, napi_value, const char *, int64_t,
		    int64_t, int64_t *);
static int	arg_fd(napi_env, napi_value, int *);
static int	arg_fd_not_listening(napi_env, struct env_state *, napi_value,
		    int *);
static int	prop_get(napi_env, napi_value, const char *, napi_value *);
static void	throw_errno(napi_env, const char *, int, const char *);
static void	throw_code(napi_env, const char *, const char *);
static void	set_number(napi_env, napi_value, const char *, double);

/*
 * Module entry: one env_state per Node environment, the NativeAcceptor class
 * and the five functions of AcceptorAddon (gateway/src/native/addon.ts).
 */
NAPI_MODULE_INIT()
{
	struct env_state		*state;
	napi_value			 cls, fn;
	size_t				 i;
	static const struct {
		const char	*name;
		napi_callback	 cb;
	} fns[] = {
		{ "listen", js_listen },
		{ "createAcceptor", js_create_acceptor },
		{ "parseClientHello", js_parse_client_hello },
		{ "sendAlertAndClose", js_send_alert_and_close },
		{ "closeFd", js_close_fd },
	};
	napi_property_descriptor	 methods[] = {
		{ "close", NULL, js_acceptor_close, NULL, NULL, NULL,
		    napi_default, NULL },
		{ "stats", NULL, js_acceptor_stats, NULL, NULL, NULL,
		    napi_default, NULL },
	};

	if ((state = calloc(1, sizeof(*state))) == NULL) {
		napi_throw_error(env, "ENOMEM", "acceptor: out of memory");
		return (NULL);
	}

	if (napi_set_instance_data(env, state, env_state_finalize,
	    NULL) != napi_ok) {
		free(state);
		return (NULL);
	}

	if (napi_define_class(env, "NativeAcceptor", NAPI_AUTO_LENGTH,
	    js_acceptor_construct, NULL, 2, methods, &cls) != napi_ok)
		return (NULL);

	if (napi_create_reference(env, cls, 1,
	    &state->acceptor_class) != napi_ok)
		return (NULL);

	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH,
		    fns[i].cb, NULL, &fn) != napi_ok)
			return (NULL);
		if (napi_set_named_property(env, exports, fns[i].name,
		    fn) != napi_ok)
			return (NULL);
	}

	return (exports);
}

/*
 * listen(host, port, backlog): a listening TCP socket for the supervisor to
 * pass to its workers. SO_REUSEADDR so a restart does not wait for
 * TIME_WAIT; no SO_REUSEPORT, so a stray second listener (uWS's own
 * listen() joins a SO_REUSEPORT group silently) fails loudly instead of
 * stealing connections; IPV6_V6ONLY so "::" and "0.0.0.0" can coexist.
 */
static napi_value
js_listen(napi_env env, napi_callback_info info)
{
	struct addrinfo		 hints, *res;
	napi_value		 argv[3], out;
	size_t			 argc, len;
	char			 host[256], what[512];
	int64_t			 port, backlog;
	int			 fd, one, rc, err;

	argc = 3;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
		return (NULL);

	if (napi_get_value_string_utf8(env, argv[0], host, sizeof(host),
	    &len) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
		    "listen: host must be a string (an IP address)");
		return (NULL);
	}

	/* A longer string was cut to fit, and one with a NUL would be read
	 * only up to it: either way not the address the caller named. */
	if (len >= sizeof(host) - 1 || strlen(host) != len) {
		throw_code(env, "EINVAL",
		    "listen: host must be an IP address such as 127.0.0.1 or ::1");
		return (NULL);
	}

	if (!arg_int(env, argv[1], "listen: port", 0, 65535, &port))
		return (NULL);

	if (!arg_int(env, argv[2], "listen: backlog", 1, 65535, &backlog))
		return (NULL);

	/* Numeric only: name resolution belongs to the configuration layer,
	 * and a listener must not depend on DNS at start. */
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		snprintf(what, sizeof(what),
		    "listen: host \"%s\" is not an IP address (%s); "
		    "give a literal such as 127.0.0.1 or ::1",
		    host, gai_strerror(rc));
		throw_code(env, "EINVAL", what);
		return (NULL);
	}

	if (res->ai_family == AF_INET)
		((struct sockaddr_in *)res->ai_addr)->sin_port =
		    htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)res->ai_addr)->sin6_port =
		    htons((uint16_t)port);

	snprintf(what, sizeof(what), "listen %s port %d", host, (int)port);

	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		err = errno;
		freeaddrinfo(res);
		throw_errno(env, "socket", err, what);
		return (NULL);
	}

	one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1)
		goto fail_setsockopt;

	if (res->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail_setsockopt;

	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1) {
		err = errno;
		freeaddrinfo(res);
		close(fd);
		throw_errno(env, "bind", err, what);
		return (NULL);
	}
	freeaddrinfo(res);

	if (listen(fd, (int)backlog) == -1) {
		err = errno;
		close(fd);
		throw_errno(env, "listen", err, what);
		return (NULL);
	}

	if (napi_create_int32(env, fd, &out) != napi_ok) {
		close(fd);
		return (NULL);
	}

	return (out);

fail_setsockopt:
	err = errno;
	freeaddrinfo(res);
	close(fd);
	throw_errno(env, "setsockopt", err, what);
	return (NULL);
}

/*
 * createAcceptor(listenFd, { tls, helloTimeoutMs, maxPending }, onConnection)
 */
static napi_value
js_create_acceptor(napi_env env, napi_callback_info info)
{
	struct env_state	*state;
	struct acceptor		*acc, *other;
	napi_value		 argv[3], v, cls, ext, obj, resource, name;
	napi_valuetype		 type;
	size_t			 argc;
	socklen_t		 optlen;
	int64_t			 timeout, max_pending;
	int			 fd, listening, flags;
	bool			 tls;
	char			 what[160];

	argc = 3;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
		return (NULL);

	if (napi_get_instance_data(env, (void **)&state) != napi_ok ||
	    state == NULL)
		return (NULL);

	if (!arg_fd(env, argv[0], &fd))
		return (NULL);

	if (napi_typeof(env, argv[1], &type) != napi_ok ||
	    type != napi_object) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
		    "createAcceptor: options must be an object "
		    "{ tls, helloTimeoutMs, maxPending }");
		return (NULL);
	}

	if (!prop_get(env, argv[1], "tls", &v))
		return (NULL);
	if (napi_get_value_bool(env, v, &tls) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
		    "createAcceptor: options.tls must be a boolean");
		return (NULL);
	}

	if (!prop_get(env, argv[1], "helloTimeoutMs", &v) ||
	    !arg_int(env, v, "createAcceptor: options.helloTimeoutMs", 1,
	    HELLO_TIMEOUT_MAX_MS, &timeout))
		return (NULL);

	if (!prop_get(env, argv[1], "maxPending", &v) ||
	    !arg_int(env, v, "createAcceptor: options.maxPending", 1,
	    MAX_PENDING_LIMIT, &max_pending))
		return (NULL);

	if (napi_typeof(env, argv[2], &type) != napi_ok ||
	    type != napi_function) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
		    "createAcceptor: onConnection must be a function");
		return (NULL);
	}

	/* Refuse anything but a listening socket: polling another kind of
	 * fd would turn every wakeup into a failed accept(). */
	listening = 0;
	optlen = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
	    &optlen) == -1) {
		snprintf(what, sizeof(what), "createAcceptor: fd %d", fd);
		throw_errno(env, "getsockopt", errno, what);
		return (NULL);
	}
	if (!listening) {
		snprintf(what, sizeof(what), "createAcceptor: fd %d is not a "
		    "listening socket; pass an fd from listen()", fd);
		throw_code(env, "EINVAL", what);
		return (NULL);
	}

	/* Two polls on one fd in one libuv loop confuse libuv; one acceptor
	 * per listening fd per thread is all the gateway needs. */
	for (other = state->open; other != NULL; other = other->next_open) {
		if (other->listen_fd == fd) {
			snprintf(what, sizeof(what), "createAcceptor: fd %d "
			    "already has an acceptor here; close it first", fd);
			throw_code(env, "EBUSY", what);
			return (NULL);
		}
	}

	/* The fd may come from elsewhere (the supervisor over IPC); accept()
	 * must never block the loop. */
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		throw_errno(env, "fcntl", errno, "createAcceptor");
		return (NULL);
	}

	if ((acc = calloc(1, sizeof(*acc))) == NULL) {
		throw_errno(env, "calloc", ENOMEM, "createAcceptor");
		return (NULL);
	}

	acc->env = env;
	acc->state = state;
	acc->listen_fd = fd;
	acc->tls = tls;
	acc->hello_timeout_ms = (uint64_t)timeout;
	acc->max_pending = (double)max_pending;

	if (napi_get_uv_event_loop(env, &acc->loop) != napi_ok) {
		free(acc);
		return (NULL);
	}

	if (uv_poll_init(acc->loop, &acc->listen_poll, fd) != 0) {
		free(acc);
		throw_code(env, "EINVAL",
		    "createAcceptor: libuv cannot poll this fd");
		return (NULL);
	}
	uv_timer_init(acc->loop, &acc->hello_timer);
	uv_timer_init(acc->loop, &acc->retry_timer);
	acc->listen_poll.data = acc;
	acc->hello_timer.data = acc;
	acc->retry_timer.data = acc;
	acc->handles_open = 3;

	/* From here on a failure closes the handles through acceptor_close(),
	 * which frees acc once libuv is done with them. */
	if (napi_get_reference_value(env, state->acceptor_class,
	    &cls) != napi_ok ||
	    napi_create_external(env, acc, NULL, NULL, &ext) != napi_ok ||
	    napi_new_instance(env, cls, 1, &ext, &obj) != napi_ok ||
	    !acc->wrapped ||
	    napi_create_object(env, &resource) != napi_ok ||
	    napi_create_string_utf8(env, "GatehouseAcceptor",
	    NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_async_init(env, resource, name, &acc->async) != napi_ok ||
	    napi_create_reference(env, argv[2], 1,
	    &acc->callback) != napi_ok ||
	    napi_create_reference(env, obj, 1, &acc->self) != napi_ok ||
	    napi_add_env_cleanup_hook(env, acceptor_env_cleanup,
	    acc) != napi_ok) {
		acc->js_released = 1;
		acceptor_close(acc);
		if (acc->callback != NULL)
			napi_delete_reference(env, acc->callback);
		if (acc->async != NULL)
			napi_async_destroy(env, acc->async);
		if (acc->self != NULL)
			napi_delete_reference(env, acc->self);
		return (NULL);
	}

	acc->next_open = state->open;
	state->open = acc;

	uv_poll_start(&acc->listen_poll, UV_READABLE, acceptor_on_listen);

	return (obj);
}

/*
 * The class constructor is only reached through createAcceptor(), which
 * passes the acceptor as an external; JavaScript cannot make externals.
 */
static napi_value
js_acceptor_construct(napi_env env, napi_callback_info info)
{
	struct acceptor		*acc;
	napi_value		 argv[1], self;
	napi_valuetype		 type;
	size_t			 argc;

	argc = 1;
	if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok)
		return (NULL);

	if (argc != 1 || napi_typeof(env, argv[0], &type) != napi_ok ||
	    type != napi_external ||
	    napi_get_value_external(env, argv[0], (void **)&acc) != napi_ok) {
		napi_throw_type_error(env, "ERR_ILLEGAL_CONSTRUCTOR",
		    "NativeAcceptor is made by createAcceptor()");
		return (NULL);
	}

	if (napi_wrap(env, self, acc, acceptor_finalize, NULL,
	    NULL) != napi_ok)
		return (NULL);
	acc->wrapped = 1;

	return (self);
}

static struct acceptor *
unwrap_this(napi_env env, napi_callback_info info)
{
	struct acceptor		*acc;
	napi_value		 self;
	size_t			 argc;

	argc = 0;
	if (napi_get_cb_info(env, info, &argc, NULL, &self, NULL) != napi_ok)
		return (NULL);

	if (napi_unwrap(env, self, (void **)&acc) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_THIS",
		    "not a NativeAcceptor");
		return (NULL);
	}

	return (acc);
}

/* close(): idempotent; the listening fd belongs to the caller and stays. */
static napi_value
js_acceptor_close(napi_env env, napi_callback_info info)
{
	struct acceptor		*acc;

	if ((acc = unwrap_this(env, info)) == NULL)
		return (NULL);

	if (!acc->closed) {
		napi_remove_env_cleanup_hook(env, acceptor_env_cleanup, acc);
		acceptor_close(acc);
	}

	return (NULL);
}

static napi_value
js_acceptor_stats(napi_env env, napi_callback_info info)
{
	struct acceptor		*acc;
	napi_value		 out;

	if ((acc = unwrap_this(env, info)) == NULL)
		return (NULL);

	if (napi_create_object(env, &out) != napi_ok)
		return (NULL);

	set_number(env, out, "accepted", acc->stats.accepted);
	set_number(env, out, "handedOff", acc->stats.handed_off);
	set_number(env, out, "rejected", acc->stats.rejected);
	set_number(env, out, "timedOut", acc->stats.timed_out);
	set_number(env, out, "evicted", acc->stats.evicted);
	set_number(env, out, "fdExhausted", acc->stats.fd_exhausted);
	set_number(env, out, "aborted", acc->stats.aborted);
	set_number(env, out, "pending", acc->stats.pending);

	return (out);
}

/* parseClientHello(bytes): the parser as the acceptor runs it. */
static napi_value
js_parse_client_hello(napi_env env, napi_callback_info info)
{
	napi_value		 argv[1], out, v, list;
	napi_typedarray_type	 type;
	ch_info			 ch;
	ch_status		 status;
	size_t			 argc, len;
	void			*data;
	bool			 is_typed;
	const char		*name;

	argc = 1;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
		return (NULL);

	if (napi_is_typedarray(env, argv[0], &is_typed) != napi_ok ||
	    !is_typed ||
	    napi_get_typedarray_info(env, argv[0], &type, &len, &data, NULL,
	    NULL) != napi_ok || type != napi_uint8_array) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
		    "parseClientHello: bytes must be a Uint8Array or Buffer");
		return (NULL);
	}

	status = ch_parse(len == 0 ? (const uint8_t *)"" : data, len, &ch);
	switch (status) {
	case CH_OK:
		name = "ok";
		break;
	case CH_NEED_MORE:
		name = "need_more";
		break;
	case CH_NOT_TLS:
		name = "not_tls";
		break;
	case CH_TOO_LARGE:
		name = "too_large";
		break;
	case CH_MALFORMED:
	default:
		name = "malformed";
		break;
	}

	if (napi_create_object(env, &out) != napi_ok ||
	    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v) != napi_ok ||
	    napi_set_named_property(env, out, "status", v) != napi_ok)
		return (NULL);

	if (status == CH_OK) {
		if (ch.sni_len > 0 && (napi_create_string_latin1(env, ch.sni,
		    ch.sni_len, &v) != napi_ok ||
		    napi_set_named_property(env, out, "sni", v) != napi_ok))
			return (NULL);
		if (alpn_to_js(env, &ch, &list) != napi_ok)
			return (NULL);
		if (napi_set_named_property(env, out, "alpn", list) != napi_ok)
			return (NULL);
	} else if (status == CH_NEED_MORE) {
		set_number(env, out, "need", (double)ch.need);
	} else if (ch.error != NULL) {
		if (napi_create_string_utf8(env, ch.error, NAPI_AUTO_LENGTH,
		    &v) != napi_ok ||
		    napi_set_named_property(env, out, "error", v) != napi_ok)
			return (NULL);
	}

	return (out);
}

/* sendAlertAndClose(fd, alertDescription): RFC 8446 section 6. */
static napi_value
js_send_alert_and_close(napi_env env, napi_callback_info info)
{
	struct env_state	*state;
	napi_value		 argv[2];
	size_t			 argc;
	int64_t			 description;
	int			 fd;

	argc = 2;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
		return (NULL);

	if (napi_get_instance_data(env, (void **)&state) != napi_ok ||
	    state == NULL)
		return (NULL);

	if (!arg_fd_not_listening(env, state, argv[0], &fd))
		return (NULL);

	if (!arg_int(env, argv[1], "sendAlertAndClose: alertDescription", 0,
	    255, &description))
		return (NULL);

	alert_and_close(state, fd, (uint8_t)description);

	return (NULL);
}

/* closeFd(fd): for an fd that was handed over and not adopted. */
static napi_value
js_close_fd(napi_env env, napi_callback_info info)
{
	struct env_state	*state;
	napi_value		 argv[1];
	size_t			 argc;
	int			 fd;

	argc = 1;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
		return (NULL);

	if (napi_get_instance_data(env, (void **)&state) != napi_ok ||
	    state == NULL)
		return (NULL);

	if (!arg_fd_not_listening(env, state, argv[0], &fd))
		return (NULL);

	if (close(fd) == -1 && errno != EINTR)
		throw_errno(env, "close", errno, "closeFd");

	return (NULL);
}

static void
env_state_finalize(napi_env env, void *data, void *hint)
{
	struct env_state	*state;

	(void)hint;
	state = data;
	napi_delete_reference(env, state->acceptor_class);
	free(state);
}

/*
 * An fd argument: an integer above 2, and a socket. The check keeps a
 * wrong number from closing stdio or a file that is not ours.
 */
static int
arg_fd(napi_env env, napi_value v, int *fd)
{
	struct stat	st;
	int64_t		n;
	char		what[96];

	if (!arg_int(env, v, "fd", 3, INT32_MAX, &n))
		return (0);

	if (fstat((int)n, &st) == -1) {
		snprintf(what, sizeof(what), "fd %d", (int)n);
		throw_errno(env, "fstat", errno, what);
		return (0);
	}

	if (!S_ISSOCK(st.st_mode)) {
		snprintf(what, sizeof(what), "fd %d is not a socket", (int)n);
		throw_code(env, "ENOTSOCK", what);
		return (0);
	}

	*fd = (int)n;
	return (1);
}

/*
 * An fd that no open acceptor of this environment listens on: closing one
 * under libuv's feet would leave its poll watching a number that the next
 * open() reuses.
 */
static int
arg_fd_not_listening(napi_env env, struct env_state *state, napi_value v,
    int *fd)
{
	struct acceptor		*acc;
	char			 what[128];

	if (!arg_fd(env, v, fd))
		return (0);

	for (acc = state->open; acc != NULL; acc = acc->next_open) {
		if (acc->listen_fd == *fd) {
			snprintf(what, sizeof(what), "fd %d is the listening "
			    "socket of an open acceptor; close() it first", *fd);
			throw_code(env, "EBUSY", what);
			return (0);
		}
	}

	return (1);
}

/* An integral number in [min, max], or a TypeError/RangeError naming it. */
static int
arg_int(napi_env env, napi_value v, const char *what, int64_t min,
    int64_t max, int64_t *out)
{
	double		d;
	char		msg[200];

	if (napi_get_value_double(env, v, &d) != napi_ok) {
		snprintf(msg, sizeof(msg), "%s must be a number", what);
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
		return (0);
	}

	if (!(d >= (double)min && d <= (double)max) || d != (double)(int64_t)d) {
		snprintf(msg, sizeof(msg), "%s must be an integer from %lld "
		    "to %lld", what, (long long)min, (long long)max);
		napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
		return (0);
	}

	*out = (int64_t)d;
	return (1);
}

static int
prop_get(napi_env env, napi_value obj, const char *name, napi_value *out)
{
	return (napi_get_named_property(env, obj, name, out) == napi_ok);
}

/*
 * Throw an Error shaped like Node's system errors: code is the errno name
 * (EADDRINUSE), errno is negative as in Node, syscall names the call.
 */
static void
throw_errno(napi_env env, const char *syscall, int err, const char *what)
{
	napi_value	 error, code, msg, v;
	const char	*name;
	char		 text[400];

	name = uv_err_name(-err);
	snprintf(text, sizeof(text), "%s: %s failed: %s (%s)", what, syscall,
	    name, strerror(err));

	if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH,
	    &code) != napi_ok ||
	    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH,
	    &msg) != napi_ok ||
	    napi_create_error(env, code, msg, &error) != napi_ok)
		return;

	if (napi_create_int32(env, -err, &v) == napi_ok)
		napi_set_named_property(env, error, "errno", v);
	if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH,
	    &v) == napi_ok)
		napi_set_named_property(env, error, "syscall", v);

	napi_throw(env, error);
}

static void
throw_code(napi_env env, const char *code, const char *message)
{
	napi_throw_error(env, code, message);
}

static void
set_number(napi_env env, napi_value obj, const char *name, double value)
{
	napi_value	v;

	if (napi_create_double(env, value, &v) == napi_ok)
		napi_set_named_property(env, obj, name, v);
}
