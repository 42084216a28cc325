/*
 * Gatehouse's acceptor: the first moments of every connection.
 *
 * It accepts on a listening socket that the supervisor created, peeks at
 * the ClientHello with recv(MSG_PEEK) without consuming a byte, learns the
 * server name and the offered ALPN protocols (clienthello.c), and hands the
 * fd to JavaScript, which gives it to uWS (adoptSocket) or to a Node TLS
 * socket. Clients that send no TLS, a broken or oversized ClientHello, or
 * nothing at all are answered and closed here, before any TLS work is done.
 *
 * It holds no keys and no certificates. After the hand-off it never touches
 * the fd again: uWS or Node owns it, and fd numbers are reused at once.
 *
 * Everything runs on the thread of the Node environment that created the
 * acceptor, inside that environment's libuv loop. Memory per waiting
 * connection is one small struct; the peek buffer is shared per environment.
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

/* Connections accepted per wakeup of the listening socket, so that a flood
 * of new connections does not starve the requests already being served. */
#define ACCEPT_BATCH		32

/* Wakeups allowed per connection before the ClientHello is complete. With
 * SO_RCVLOWAT each one means real progress; real clients need a handful. */
#define MAX_WAKEUPS		64

/* Back-off after accept() fails for lack of resources (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM): the listening socket stays readable, so polling it
 * would spin. Doubles from the first value up to the second. */
#define BACKOFF_FIRST_MS	20
#define BACKOFF_MAX_MS		1000

#define HELLO_TIMEOUT_MAX_MS	3600000
#define MAX_PENDING_LIMIT	1000000

/* TLS alerts (RFC 8446 section 6). */
#define TLS_ALERT_RECORD_OVERFLOW	22
#define TLS_ALERT_DECODE_ERROR		50

struct env_state;

/* A peer address, kept compact: the text is only made at the hand-off. */
struct peer {
	sa_family_t	family;
	uint8_t		addr[16];
};

/* A connection whose ClientHello is not complete yet. */
struct conn {
	uv_poll_t		poll;
	struct acceptor		*acc;
	struct conn		*older;
	struct conn		*newer;
	uint64_t		deadline;
	struct peer		peer;
	int			fd;
	int			lowat;
	uint16_t		wakeups;
};

struct stats {
	double		accepted;
	double		handed_off;
	double		rejected;
	double		timed_out;
	double		evicted;
	double		fd_exhausted;
	double		aborted;
	double		pending;
};

struct acceptor {
	napi_env		env;
	struct env_state	*state;
	struct acceptor		*next_open;
	uv_loop_t		*loop;

	uv_poll_t		listen_poll;
	uv_timer_t		hello_timer;
	uv_timer_t		retry_timer;
	int			handles_open;

	int			listen_fd;
	int			tls;
	uint64_t		hello_timeout_ms;
	double			max_pending;
	unsigned int		backoff_ms;

	/* Waiting connections, oldest first. All share one timeout, so the
	 * list is also in deadline order and one timer serves them all. */
	struct conn		*oldest;
	struct conn		*newest;

	struct stats		stats;

	napi_ref		callback;
	napi_ref		self;
	napi_async_context	async;
	int			closed;
	int			calling;
	int			js_released;
	int			wrapped;
};

/* Per Node environment (main thread or worker): the open acceptors, for the
 * duplicate check, and the one peek buffer they share. */
struct env_state {
	struct acceptor		*open;
	napi_ref		acceptor_class;
	uint8_t			peek[CH_MAX_WIRE];
};

/* What one peek at a connection found. */
enum peek_result {
	PEEK_HELLO,		/* a whole ClientHello: hand it off */
	PEEK_WAIT,		/* valid so far: wait for info.hint bytes */
	PEEK_NOT_TLS,
	PEEK_MALFORMED,
	PEEK_TOO_LARGE,
	PEEK_GONE		/* EOF or a socket error before a hello */
};

static const char http_400[] =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 47\r\n"
    "Connection: close\r\n"
    "\r\n"
    "This port speaks HTTPS; use an https:// URL.\r\n\r\n";

static napi_value	js_listen(napi_env, napi_callback_info);
static napi_value	js_create_acceptor(napi_env, napi_callback_info);
static napi_value	js_parse_client_hello(napi_env, napi_callback_info);
static napi_value	js_send_alert_and_close(napi_env, napi_callback_info);
static napi_value	js_close_fd(napi_env, napi_callback_info);
static napi_value	js_acceptor_construct(napi_env, napi_callback_info);
static napi_value	js_acceptor_close(napi_env, napi_callback_info);
static napi_value	js_acceptor_stats(napi_env, napi_callback_info);

static void	acceptor_on_listen(uv_poll_t *, int, int);
static void	acceptor_on_retry(uv_timer_t *);
static void	acceptor_on_hello_timer(uv_timer_t *);
static void	acceptor_back_off(struct acceptor *);
static void	acceptor_arm_timer(struct acceptor *);
static void	acceptor_deliver(struct acceptor *, int, const ch_info *,
		    const struct peer *);
static void	acceptor_close(struct acceptor *);
static void	acceptor_release_js(struct acceptor *);
static void	acceptor_on_handle_closed(uv_handle_t *);
static void	acceptor_maybe_free(struct acceptor *);
static void	acceptor_env_cleanup(void *);
static void	acceptor_finalize(napi_env, void *, void *);

static void	conn_first_look(struct acceptor *, int, const struct peer *);
static void	conn_add(struct acceptor *, int, const struct peer *, size_t);
static void	conn_on_event(uv_poll_t *, int, int);
static void	conn_detach(struct conn *);
static void	conn_drop(struct conn *);
static void	conn_on_closed(uv_handle_t *);
static void	conn_set_lowat(struct conn *, size_t);

static enum peek_result	peek_hello(struct env_state *, int, ch_info *,
		    size_t *);
static void	refuse(struct acceptor *, int, enum peek_result, size_t);
static void	answer_and_close(struct env_state *, int, const void *,
		    size_t);
static int	looks_like_http(const uint8_t *, size_t);
static void	peer_from(struct peer *, const struct sockaddr_storage *);

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

/*
 * The listening socket is readable: accept a bounded batch. Each new
 * connection is peeked at once; most clients have sent their ClientHello
 * by the time accept() returns, and those never cost a poll handle.
 */
static void
acceptor_on_listen(uv_poll_t *handle, int status, int events)
{
	struct acceptor			*acc;
	struct sockaddr_storage		 ss;
	struct peer			 peer;
	socklen_t			 len;
	int				 i, fd;

	(void)events;
	acc = handle->data;

	if (status < 0) {
		acceptor_back_off(acc);
		return;
	}

	for (i = 0; i < ACCEPT_BATCH && !acc->closed; i++) {
		len = sizeof(ss);
		fd = accept4(acc->listen_fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;

			/* The connection died in the queue, or a signal
			 * came: that one is lost, the next may be fine. */
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EPROTO || errno == EPERM ||
			    errno == ENETDOWN || errno == ENETUNREACH ||
			    errno == EHOSTDOWN || errno == EHOSTUNREACH ||
			    errno == ENOPROTOOPT || errno == EOPNOTSUPP ||
			    errno == ENONET || errno == ETIMEDOUT)
				continue;

			if (errno == EMFILE || errno == ENFILE)
				acc->stats.fd_exhausted++;
			acceptor_back_off(acc);
			break;
		}

		acc->stats.accepted++;
		acc->backoff_ms = 0;
		peer_from(&peer, &ss);

		if (!acc->tls)
			acceptor_deliver(acc, fd, NULL, &peer);
		else
			conn_first_look(acc, fd, &peer);
	}
}

/*
 * accept() keeps failing while resources are short, and the listening
 * socket stays readable: stop watching it and look again after a while.
 */
static void
acceptor_back_off(struct acceptor *acc)
{
	if (acc->closed)
		return;

	if (acc->backoff_ms == 0)
		acc->backoff_ms = BACKOFF_FIRST_MS;
	else if (acc->backoff_ms < BACKOFF_MAX_MS)
		acc->backoff_ms *= 2;
	if (acc->backoff_ms > BACKOFF_MAX_MS)
		acc->backoff_ms = BACKOFF_MAX_MS;

	uv_poll_stop(&acc->listen_poll);
	uv_timer_start(&acc->retry_timer, acceptor_on_retry,
	    acc->backoff_ms, 0);
}

static void
acceptor_on_retry(uv_timer_t *timer)
{
	struct acceptor		*acc;

	acc = timer->data;
	if (acc->closed)
		return;

	uv_poll_start(&acc->listen_poll, UV_READABLE, acceptor_on_listen);
}

/* Close every waiting connection whose deadline passed. */
static void
acceptor_on_hello_timer(uv_timer_t *timer)
{
	struct acceptor		*acc;
	uint64_t		 now;

	acc = timer->data;
	now = uv_now(acc->loop);

	while (acc->oldest != NULL && acc->oldest->deadline <= now) {
		acc->stats.timed_out++;
		conn_drop(acc->oldest);
	}

	acceptor_arm_timer(acc);
}

/*
 * Keep the one hello timer set for the oldest waiting connection. A timer
 * already running is due no later than that (it was set for an older one,
 * perhaps gone since), so it stays.
 */
static void
acceptor_arm_timer(struct acceptor *acc)
{
	uint64_t	now;

	if (acc->oldest == NULL) {
		uv_timer_stop(&acc->hello_timer);
		return;
	}

	if (uv_is_active((uv_handle_t *)&acc->hello_timer))
		return;

	now = uv_now(acc->loop);
	uv_timer_start(&acc->hello_timer, acceptor_on_hello_timer,
	    acc->oldest->deadline > now ? acc->oldest->deadline - now : 0, 0);
}

/*
 * Hand fd to onConnection(fd, sni, alpn, remoteAddress). The caller has
 * stopped and closed any poll on fd, so nothing in this addon refers to it
 * any more. napi_make_callback runs the microtasks and next-tick queue
 * afterwards, as Node's own I/O callbacks do; Node's TLS code needs that.
 */
static void
acceptor_deliver(struct acceptor *acc, int fd, const ch_info *info,
    const struct peer *peer)
{
	napi_env		 env;
	napi_handle_scope	 scope;
	napi_value		 argv[4], cb, recv, item, result, error;
	napi_status		 status;
	char			 addr[INET6_ADDRSTRLEN];
	uint32_t		 n;
	size_t			 i;
	int			 acme_listed;

	env = acc->env;
	if (napi_open_handle_scope(env, &scope) != napi_ok) {
		acc->stats.rejected++;
		close(fd);
		return;
	}

	if (inet_ntop(peer->family, peer->addr, addr, sizeof(addr)) == NULL)
		addr[0] = '\0';

	/* Names are passed as latin1, byte for byte: the parser allows only
	 * host-name bytes in SNI, and ALPN names are opaque bytes. */
	if (napi_create_int32(env, fd, &argv[0]) != napi_ok ||
	    napi_create_array(env, &argv[2]) != napi_ok ||
	    napi_create_string_latin1(env, addr, NAPI_AUTO_LENGTH,
	    &argv[3]) != napi_ok ||
	    napi_get_reference_value(env, acc->callback, &cb) != napi_ok ||
	    napi_get_global(env, &recv) != napi_ok)
		goto fail;

	if (info != NULL && info->sni_len > 0) {
		if (napi_create_string_latin1(env, info->sni, info->sni_len,
		    &argv[1]) != napi_ok)
			goto fail;
	} else if (napi_get_undefined(env, &argv[1]) != napi_ok)
		goto fail;

	n = 0;
	acme_listed = 0;
	for (i = 0; info != NULL && i < info->alpn_count && i < CH_MAX_ALPN;
	    i++) {
		if (strcmp(info->alpn[i], "acme-tls/1") == 0)
			acme_listed = 1;
		if (napi_create_string_latin1(env, info->alpn[i],
		    NAPI_AUTO_LENGTH, &item) != napi_ok ||
		    napi_set_element(env, argv[2], n++, item) != napi_ok)
			goto fail;
	}

	/* The parser keeps CH_MAX_ALPN names but flags acme-tls/1 wherever it
	 * was; a challenge must not be missed behind a long list. */
	if (info != NULL && info->offers_acme_tls && !acme_listed) {
		if (napi_create_string_latin1(env, "acme-tls/1",
		    NAPI_AUTO_LENGTH, &item) != napi_ok ||
		    napi_set_element(env, argv[2], n, item) != napi_ok)
			goto fail;
	}

	acc->stats.handed_off++;
	acc->calling++;
	status = napi_make_callback(env, acc->async, recv, cb, 4, argv,
	    &result);
	acc->calling--;

	/* The fd is the callback's even when it threw: whether it adopted
	 * the fd first is unknown, so it is left alone. The exception goes
	 * to process 'uncaughtException', like one thrown from any I/O
	 * callback. */
	if (status == napi_pending_exception &&
	    napi_get_and_clear_last_exception(env, &error) == napi_ok)
		napi_fatal_exception(env, error);

	napi_close_handle_scope(env, scope);

	if (acc->closed && acc->calling == 0)
		acceptor_release_js(acc);
	return;

fail:
	napi_close_handle_scope(env, scope);
	acc->stats.rejected++;
	close(fd);
}

/*
 * Stop accepting, close every waiting connection and release the handles;
 * acc itself is freed when libuv has closed them and the JavaScript object
 * is gone. Safe to call from inside onConnection.
 */
static void
acceptor_close(struct acceptor *acc)
{
	struct acceptor		**pp;

	if (acc->closed)
		return;
	acc->closed = 1;

	for (pp = &acc->state->open; *pp != NULL; pp = &(*pp)->next_open) {
		if (*pp == acc) {
			*pp = acc->next_open;
			break;
		}
	}

	while (acc->oldest != NULL)
		conn_drop(acc->oldest);

	uv_close((uv_handle_t *)&acc->listen_poll, acceptor_on_handle_closed);
	uv_close((uv_handle_t *)&acc->hello_timer, acceptor_on_handle_closed);
	uv_close((uv_handle_t *)&acc->retry_timer, acceptor_on_handle_closed);

	if (acc->calling == 0)
		acceptor_release_js(acc);
}

/*
 * Drop the references that keep onConnection and the acceptor object
 * alive. Deferred while onConnection runs, since its async context and
 * function are in use.
 */
static void
acceptor_release_js(struct acceptor *acc)
{
	if (acc->js_released)
		return;
	acc->js_released = 1;

	napi_delete_reference(acc->env, acc->callback);
	napi_async_destroy(acc->env, acc->async);
	napi_delete_reference(acc->env, acc->self);
	acc->callback = NULL;
	acc->async = NULL;
	acc->self = NULL;
}

static void
acceptor_on_handle_closed(uv_handle_t *handle)
{
	struct acceptor		*acc;

	acc = handle->data;
	acc->handles_open--;
	acceptor_maybe_free(acc);
}

static void
acceptor_maybe_free(struct acceptor *acc)
{
	if (acc->handles_open == 0 && !acc->wrapped)
		free(acc);
}

/* The environment is going away (process exit, worker termination). */
static void
acceptor_env_cleanup(void *arg)
{
	acceptor_close(arg);
}

static void
acceptor_finalize(napi_env env, void *data, void *hint)
{
	struct acceptor		*acc;

	(void)env;
	(void)hint;
	acc = data;

	acc->wrapped = 0;
	acceptor_maybe_free(acc);
}

/*
 * A new TLS connection: hand it off at once when its ClientHello is
 * already there, refuse it when it is no TLS, or else wait for more.
 */
static void
conn_first_look(struct acceptor *acc, int fd, const struct peer *peer)
{
	ch_info			info;
	enum peek_result	r;
	size_t			got;

	r = peek_hello(acc->state, fd, &info, &got);
	switch (r) {
	case PEEK_HELLO:
		acceptor_deliver(acc, fd, &info, peer);
		break;
	case PEEK_WAIT:
		conn_add(acc, fd, peer, info.hint);
		break;
	default:
		refuse(acc, fd, r, got);
		break;
	}
}

static void
conn_add(struct acceptor *acc, int fd, const struct peer *peer, size_t need)
{
	struct conn	*c;

	/* At the limit, the oldest waiting connection makes room: a slow
	 * flood then costs its own oldest entries, not new clients. */
	if (acc->stats.pending >= acc->max_pending && acc->oldest != NULL) {
		acc->stats.evicted++;
		conn_drop(acc->oldest);
	}

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		acc->stats.rejected++;
		close(fd);
		return;
	}

	if (uv_poll_init(acc->loop, &c->poll, fd) != 0) {
		free(c);
		acc->stats.rejected++;
		close(fd);
		return;
	}

	c->poll.data = c;
	c->acc = acc;
	c->fd = fd;
	c->lowat = 1;
	c->peer = *peer;
	c->deadline = uv_now(acc->loop) + acc->hello_timeout_ms;

	c->older = acc->newest;
	if (acc->newest != NULL)
		acc->newest->newer = c;
	else
		acc->oldest = c;
	acc->newest = c;
	acc->stats.pending++;

	conn_set_lowat(c, need);
	uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT, conn_on_event);
	acceptor_arm_timer(acc);
}

/*
 * More bytes, a FIN or an error on a waiting connection. A FIN after a
 * partial ClientHello shows only as UV_DISCONNECT: the peek keeps
 * returning the bytes already queued.
 */
static void
conn_on_event(uv_poll_t *handle, int status, int events)
{
	struct conn		*c;
	struct acceptor		*acc;
	struct peer		 peer;
	ch_info			 info;
	enum peek_result	 r;
	size_t			 got;
	int			 fd;

	c = handle->data;
	acc = c->acc;

	if (status < 0) {
		acc->stats.aborted++;
		conn_drop(c);
		return;
	}

	c->wakeups++;
	r = peek_hello(acc->state, c->fd, &info, &got);

	if (r == PEEK_WAIT && (events & UV_DISCONNECT)) {
		acc->stats.aborted++;
		conn_drop(c);
		return;
	}

	if (r == PEEK_WAIT && c->wakeups >= MAX_WAKEUPS) {
		acc->stats.rejected++;
		conn_drop(c);
		return;
	}

	/* The hint, not the exact next unit: a hello cut into many records
	 * then wakes us a few times, not twice per record. */
	if (r == PEEK_WAIT) {
		conn_set_lowat(c, info.hint);
		return;
	}

	fd = c->fd;
	peer = c->peer;

	/* uWS and Node expect to be woken for every byte. */
	if (r == PEEK_HELLO && c->lowat > 1)
		conn_set_lowat(c, 1);

	conn_detach(c);

	if (r == PEEK_HELLO)
		acceptor_deliver(acc, fd, &info, &peer);
	else
		refuse(acc, fd, r, got);
}

/*
 * Forget a waiting connection without closing its fd: unlink it, stop
 * and close its poll. uv_close() removes the fd from epoll right here
 * (the free waits for the close callback), so whoever gets the fd next
 * can watch it in the same loop.
 */
static void
conn_detach(struct conn *c)
{
	struct acceptor		*acc;

	acc = c->acc;
	if (c->older != NULL)
		c->older->newer = c->newer;
	else
		acc->oldest = c->newer;
	if (c->newer != NULL)
		c->newer->older = c->older;
	else
		acc->newest = c->older;
	acc->stats.pending--;

	uv_poll_stop(&c->poll);
	uv_close((uv_handle_t *)&c->poll, conn_on_closed);
}

/* Forget a waiting connection and close it without a word. */
static void
conn_drop(struct conn *c)
{
	int	fd;

	fd = c->fd;
	conn_detach(c);
	close(fd);
}

static void
conn_on_closed(uv_handle_t *handle)
{
	free(handle->data);
}

/*
 * Sleep until `need` bytes are queued (the parser's hint: a lower bound on
 * the whole ClientHello). The peeked bytes stay in the receive queue and
 * count towards the low-water mark, so it is set to the total from the
 * first byte, not to the bytes still missing (that would wake at once
 * whenever more is queued than is missing). Without it level-triggered
 * epoll reports the socket readable for as long as any byte waits, and a
 * stalled client would spin the loop.
 */
static void
conn_set_lowat(struct conn *c, size_t need)
{
	int	value;

	value = need > CH_MAX_WIRE ? CH_MAX_WIRE : (int)need;
	if (value < 1)
		value = 1;
	if (value == c->lowat)
		return;

	/* On failure the old mark stays; MAX_WAKEUPS still bounds the cost. */
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &value,
	    sizeof(value)) == 0)
		c->lowat = value;
}

/* Peek at what the client sent into the shared buffer; *got is its size. */
static enum peek_result
peek_hello(struct env_state *state, int fd, ch_info *info, size_t *got)
{
	ssize_t		n;

	*got = 0;
	do {
		n = recv(fd, state->peek, CH_MAX_WIRE, MSG_PEEK);
	} while (n == -1 && errno == EINTR);

	if (n == 0)
		return (PEEK_GONE);

	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return (PEEK_GONE);
		/* Nothing yet: wake for the first byte. */
		info->need = 1;
		info->hint = 1;
		return (PEEK_WAIT);
	}

	*got = (size_t)n;
	switch (ch_parse(state->peek, (size_t)n, info)) {
	case CH_OK:
		return (PEEK_HELLO);
	case CH_NEED_MORE:
		return (PEEK_WAIT);
	case CH_NOT_TLS:
		return (PEEK_NOT_TLS);
	case CH_TOO_LARGE:
		return (PEEK_TOO_LARGE);
	case CH_MALFORMED:
	default:
		return (PEEK_MALFORMED);
	}
}

/*
 * Refuse a connection that is no longer watched: a plain HTTP request gets
 * a 400 that names the problem, a broken ClientHello a fatal alert, other
 * bytes nothing.
 */
static void
refuse(struct acceptor *acc, int fd, enum peek_result r, size_t got)
{
	uint8_t		alert[7] = { 21, 3, 3, 0, 2, 2, 0 };

	switch (r) {
	case PEEK_GONE:
		acc->stats.aborted++;
		close(fd);
		return;
	case PEEK_NOT_TLS:
		acc->stats.rejected++;
		if (looks_like_http(acc->state->peek, got))
			answer_and_close(acc->state, fd, http_400,
			    sizeof(http_400) - 1);
		else
			answer_and_close(acc->state, fd, NULL, 0);
		return;
	case PEEK_TOO_LARGE:
		acc->stats.rejected++;
		alert[6] = TLS_ALERT_RECORD_OVERFLOW;
		answer_and_close(acc->state, fd, alert, sizeof(alert));
		return;
	default:
		acc->stats.rejected++;
		alert[6] = TLS_ALERT_DECODE_ERROR;
		answer_and_close(acc->state, fd, alert, sizeof(alert));
		return;
	}
}

/*
 * Write a last message and close. What the client sent is read first:
 * closing with unread bytes makes the kernel answer with a RST, which can
 * destroy our message before the client reads it.
 */
static void
answer_and_close(struct env_state *state, int fd, const void *msg,
    size_t len)
{
	ssize_t		n;
	int		i;

	for (i = 0; i < 4; i++) {
		n = recv(fd, state->peek, CH_MAX_WIRE, MSG_DONTWAIT);
		if (n <= 0)
			break;
	}

	if (msg != NULL)
		(void)send(fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	(void)shutdown(fd, SHUT_WR);
	(void)close(fd);
}

/*
 * An HTTP request starts with a method token (RFC 9110 section 9): one or
 * more uppercase letters, then a space. A TLS record never starts with a
 * letter, so a prefix of letters cut short also counts.
 */
static int
looks_like_http(const uint8_t *buf, size_t len)
{
	size_t	i;

	for (i = 0; i < len && i < 16; i++) {
		if (buf[i] == ' ')
			return (i > 0);
		if (buf[i] < 'A' || buf[i] > 'Z')
			return (0);
	}

	return (i > 0);
}

static void
peer_from(struct peer *peer, const struct sockaddr_storage *ss)
{
	memset(peer, 0, sizeof(*peer));
	peer->family = ss->ss_family;

	if (ss->ss_family == AF_INET)
		memcpy(peer->addr,
		    &((const struct sockaddr_in *)ss)->sin_addr, 4);
	else if (ss->ss_family == AF_INET6)
		memcpy(peer->addr,
		    &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
}

/* parseClientHello(bytes): the parser as the acceptor runs it. */
static napi_value
js_parse_client_hello(napi_env env, napi_callback_info info)
{
	napi_value		 argv[1], out, v, list, item;
	napi_typedarray_type	 type;
	ch_info			 ch;
	ch_status		 status;
	size_t			 argc, len, i;
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
		if (napi_create_array(env, &list) != napi_ok)
			return (NULL);
		for (i = 0; i < ch.alpn_count && i < CH_MAX_ALPN; i++) {
			if (napi_create_string_latin1(env, ch.alpn[i],
			    NAPI_AUTO_LENGTH, &item) != napi_ok ||
			    napi_set_element(env, list, (uint32_t)i,
			    item) != napi_ok)
				return (NULL);
		}
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
	uint8_t			 alert[7] = { 21, 3, 3, 0, 2, 2, 0 };

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

	alert[6] = (uint8_t)description;
	answer_and_close(state, fd, alert, sizeof(alert));

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
