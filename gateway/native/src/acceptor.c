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
 * Its Node-API surface (the module, listen(), createAcceptor() and the
 * NativeAcceptor class, argument checks) is in addon.c; acceptor.h is the
 * interface between the two.
 *
 * Everything runs on the thread of the Node environment that created the
 * acceptor, inside that environment's libuv loop. Memory per waiting
 * connection is one small struct; the peek buffer is shared per environment.
 */
#define _GNU_SOURCE

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "clienthello.h"
#include "acceptor.h"

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

/* TLS alerts (RFC 8446 section 6). */
#define TLS_ALERT_RECORD_OVERFLOW	22
#define TLS_ALERT_DECODE_ERROR		50

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
    "Content-Length: 46\r\n"
    "Connection: close\r\n"
    "\r\n"
    "This port speaks HTTPS; use an https:// URL.\r\n";

static void	acceptor_on_retry(uv_timer_t *);
static void	acceptor_on_hello_timer(uv_timer_t *);
static void	acceptor_back_off(struct acceptor *);
static void	acceptor_arm_timer(struct acceptor *);
static void	acceptor_deliver(struct acceptor *, int, const ch_info *,
		    const struct peer *);
static void	acceptor_release_js(struct acceptor *);
static void	acceptor_on_handle_closed(uv_handle_t *);
static void	acceptor_maybe_free(struct acceptor *);

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

/*
 * The listening socket is readable: accept a bounded batch. Each new
 * connection is peeked at once; most clients have sent their ClientHello
 * by the time accept() returns, and those never cost a poll handle.
 */
void
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
 * It stays here, not in addon.c: acceptor_close() waits on its `calling`.
 */
static void
acceptor_deliver(struct acceptor *acc, int fd, const ch_info *info,
    const struct peer *peer)
{
	napi_env		 env;
	napi_handle_scope	 scope;
	napi_value		 argv[4], cb, recv, result, error;
	napi_status		 status;
	char			 addr[INET6_ADDRSTRLEN];

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
	    alpn_to_js(env, info, &argv[2]) != napi_ok ||
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
 * The offered ALPN protocols as a JS array of strings, latin1 byte for
 * byte (ALPN names are opaque bytes). The parser keeps CH_MAX_ALPN names
 * but flags acme-tls/1 wherever it was: a challenge must not be missed
 * behind a long list, so it is appended when it was offered past them.
 */
napi_status
alpn_to_js(napi_env env, const ch_info *info, napi_value *out)
{
	napi_value	item;
	napi_status	status;
	size_t		i;
	int		acme_listed;

	if ((status = napi_create_array(env, out)) != napi_ok || info == NULL)
		return (status);

	acme_listed = 0;
	for (i = 0; i < info->alpn_count; i++) {
		if (strcmp(info->alpn[i], "acme-tls/1") == 0)
			acme_listed = 1;
		if ((status = napi_create_string_latin1(env, info->alpn[i],
		    NAPI_AUTO_LENGTH, &item)) != napi_ok ||
		    (status = napi_set_element(env, *out, (uint32_t)i,
		    item)) != napi_ok)
			return (status);
	}

	if (!info->offers_acme_tls || acme_listed)
		return (napi_ok);
	if ((status = napi_create_string_latin1(env, "acme-tls/1",
	    NAPI_AUTO_LENGTH, &item)) != napi_ok)
		return (status);
	return (napi_set_element(env, *out, (uint32_t)i, item));
}

/*
 * Stop accepting, close every waiting connection and release the handles;
 * acc itself is freed when libuv has closed them and the JavaScript object
 * is gone. Safe to call from inside onConnection.
 */
void
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
void
acceptor_env_cleanup(void *arg)
{
	acceptor_close(arg);
}

void
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
		alert_and_close(acc->state, fd, TLS_ALERT_RECORD_OVERFLOW);
		return;
	default:
		acc->stats.rejected++;
		alert_and_close(acc->state, fd, TLS_ALERT_DECODE_ERROR);
		return;
	}
}

/*
 * A fatal alert record (RFC 8446 section 6): content type 21, version 3.3,
 * length 2, level fatal (2), then the description.
 */
void
alert_and_close(struct env_state *state, int fd, uint8_t description)
{
	uint8_t		alert[7] = { 21, 3, 3, 0, 2, 2, 0 };

	alert[6] = description;
	answer_and_close(state, fd, alert, sizeof(alert));
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
