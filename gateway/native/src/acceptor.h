/*
 * The interface between the two halves of Gatehouse's acceptor addon:
 * acceptor.c, the accept loop and the waiting connections on libuv, and
 * addon.c, the Node-API surface that makes, closes and reports on
 * acceptors. It holds the state both read and the few functions of
 * acceptor.c that addon.c calls; nothing here is seen by JavaScript.
 */
#ifndef GATEHOUSE_ACCEPTOR_H
#define GATEHOUSE_ACCEPTOR_H

#include <stddef.h>
#include <stdint.h>

#include <node_api.h>
#include <uv.h>

#include "clienthello.h"

struct conn;		/* a waiting connection, private to acceptor.c */
struct env_state;

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

/*
 * For addon.c: createAcceptor() starts the listening poll and registers the
 * cleanup hook and the finalizer; close() and sendAlertAndClose() end
 * things the way the accept loop does.
 */
void	acceptor_on_listen(uv_poll_t *, int, int);
void	acceptor_close(struct acceptor *);
void	acceptor_env_cleanup(void *);
void	acceptor_finalize(napi_env, void *, void *);
void	alert_and_close(struct env_state *, int, uint8_t);
napi_status	alpn_to_js(napi_env, const ch_info *, napi_value *);

#endif
