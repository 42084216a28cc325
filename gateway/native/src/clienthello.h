/*
 * ClientHello reader for Gatehouse's acceptor.
 *
 * Parses the first bytes a client sent on the HTTPS port (TLS records that
 * carry a ClientHello, RFC 8446 section 4.1.2, RFC 5246 section 7.4.1.2)
 * just far enough to learn the server name (RFC 6066 section 3) and the
 * offered application protocols (RFC 7301). It never allocates, never reads
 * past `len`, and keeps no state between calls: the acceptor peeks again
 * from the first byte each time more data arrives.
 */
#ifndef GATEHOUSE_CLIENTHELLO_H
#define GATEHOUSE_CLIENTHELLO_H

#include <stddef.h>
#include <stdint.h>

/* Largest ClientHello handshake message accepted (body plus its 4-byte
 * header). Real ones are under 2 KiB; 16 KiB leaves room for padding and
 * large post-quantum key shares. */
#define CH_MAX_HANDSHAKE 16384
/* Upper bound of bytes on the wire that a ClientHello may take, records
 * headers included; the acceptor's peek buffer has this size. */
#define CH_MAX_WIRE (CH_MAX_HANDSHAKE + 5 * 8)
#define CH_MAX_SNI 255
#define CH_MAX_ALPN 16 /* protocols kept; more are counted, not stored */

typedef enum {
  CH_OK = 0,        /* a whole ClientHello was read */
  CH_NEED_MORE = 1, /* valid so far; at least `need` bytes in all are needed */
  CH_NOT_TLS = 2,   /* the first bytes are not a TLS handshake record */
  CH_MALFORMED = 3, /* TLS, but the ClientHello breaks its own grammar */
  CH_TOO_LARGE = 4  /* longer than CH_MAX_HANDSHAKE */
} ch_status;

typedef struct {
  /* The host_name from server_name, NUL-terminated, as sent (no case
   * folding); sni_len is 0 when the extension is absent. */
  char sni[CH_MAX_SNI + 1];
  size_t sni_len;
  /* The first CH_MAX_ALPN offered ALPN protocol names, each
   * NUL-terminated, in the client's order. alpn_count is how many are
   * stored (never more than CH_MAX_ALPN, so a loop over it stays inside
   * the array); alpn_offered is how many the client offered in all. */
  char alpn[CH_MAX_ALPN][256];
  size_t alpn_count;
  size_t alpn_offered;
  /* 1 when "acme-tls/1" (RFC 8737) is among the offered protocols, even
   * past CH_MAX_ALPN. */
  int offers_acme_tls;
  /* With CH_NEED_MORE: the total number of bytes from the start that must
   * be available before parsing can go further (> len given). */
  size_t need;
  /* With CH_NEED_MORE: a lower bound (>= need, <= CH_MAX_WIRE) on the
   * bytes the whole ClientHello takes on the wire, known once the
   * handshake header is read. A hello cut into many small records costs
   * one wakeup per record when waiting for `need`; waiting for `hint`
   * costs a few in all. Bytes before `hint` are then checked only when it
   * arrives, or never if the client stalls (the hello timeout ends it). */
  size_t hint;
  /* With CH_NOT_TLS, CH_MALFORMED or CH_TOO_LARGE: a static, human-readable
   * reason such as "server_name extension overruns its length". */
  const char *error;
} ch_info;

ch_status ch_parse(const uint8_t *buf, size_t len, ch_info *out);

#endif
