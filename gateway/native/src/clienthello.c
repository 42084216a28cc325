/*
 * ClientHello reader: learns the server name and the offered ALPN
 * protocols from the first bytes of a TLS connection, for the acceptor that
 * peeks before it hands the fd on. The contract is in clienthello.h.
 *
 * The bytes are read in two passes:
 *   1. walk the TLS records (RFC 8446 section 5.1) that carry the handshake
 *      message and find where it ends;
 *   2. once all of it is there, read the ClientHello body through a cursor
 *      that steps over the record headers between fragments.
 *
 * Pass 1 moves in units: the first byte, a record header, the handshake
 * header, and a stretch of handshake bytes up to the end of its record or
 * of the message. A decision is only taken once a whole unit is there, so
 * `need` is exact: every prefix shorter than `need` gets the same answer,
 * and the acceptor can sleep (SO_RCVLOWAT) until that many bytes arrived.
 */
#include <string.h>

#include "clienthello.h"

#define TLS_RECORD_HEADER 5
#define TLS_RECORD_MAX 16384 /* 2^14, RFC 8446 section 5.1 */
#define TLS_CT_HANDSHAKE 22
#define TLS_HS_HEADER 4
#define TLS_HS_CLIENT_HELLO 1
#define TLS_EXT_SERVER_NAME 0 /* RFC 6066 section 3 */
#define TLS_EXT_ALPN 16       /* RFC 7301 section 3.1 */
#define SNI_HOST_NAME 0

/* One string for one reason: callers may compare reasons by pointer. */
static const char too_wide[] =
    "ClientHello spans more record bytes than the peek buffer holds";

/* Reads handshake bytes in order across record boundaries. Pass 1 has
 * checked every record header up to the end of the message, so the cursor
 * trusts them; each read is bounded by a logical end within the message. */
typedef struct {
  const uint8_t *buf;
  size_t wire; /* offset in buf of the next byte */
  size_t left; /* bytes of the current record not read yet */
  size_t pos;  /* offset in the handshake message */
} cursor;

static ch_status need_more(ch_info *, size_t);
static ch_status need_more_hint(ch_info *, size_t, size_t);
static ch_status fail(ch_info *, ch_status, const char *);
static ch_status read_client_hello(cursor *, size_t, ch_info *);
static ch_status read_extensions(cursor *, size_t, ch_info *);
static ch_status read_server_name(cursor *, size_t, ch_info *);
static ch_status read_alpn(cursor *, size_t, ch_info *);
static int host_name_ok(const char *, size_t);
static int cur_read(cursor *, size_t, uint8_t *, size_t);
static int cur_u8(cursor *, size_t, size_t *);
static int cur_u16(cursor *, size_t, size_t *);

ch_status
ch_parse(const uint8_t *buf, size_t len, ch_info *out)
{
  size_t off, rec_end, p, stop, got, total;
  uint8_t hs[TLS_HS_HEADER];
  cursor c;

  out->sni[0] = '\0';
  out->sni_len = 0;
  out->alpn_count = 0;
  out->alpn_offered = 0;
  out->offers_acme_tls = 0;
  out->need = 0;
  out->hint = 0;
  out->error = NULL;

  /* The first byte alone tells a TLS handshake record from plain HTTP or
   * an SSLv2-compatible hello, whose two-byte header sets the high bit
   * (RFC 5246 appendix E.2). Decide at once so such clients are not kept. */
  if (len == 0)
    return need_more(out, 1);

  if (buf[0] & 0x80)
    return fail(out, CH_NOT_TLS,
        "SSLv2-compatible ClientHello (RFC 5246 appendix E.2) is refused");

  if (buf[0] != TLS_CT_HANDSHAKE)
    return fail(out, CH_NOT_TLS,
        "first byte is not a TLS handshake record (plain HTTP?)");

  off = 0;
  got = 0;
  total = 0;
  for (;;) {
    /* Record header: type, legacy_record_version, length (RFC 8446
     * section 5.1). The acceptor peeks into CH_MAX_WIRE bytes at most. */
    if (off + TLS_RECORD_HEADER > CH_MAX_WIRE)
      return fail(out, CH_TOO_LARGE, too_wide);

    /* Once the message length is known, this header and the rest of the
     * message must all come: hint at that much. */
    if (len < off + TLS_RECORD_HEADER)
      return need_more_hint(out, off + TLS_RECORD_HEADER,
          total == 0 ? 0 : off + TLS_RECORD_HEADER + (total - got));

    /* Handshake messages must not be interleaved with other record types
     * (RFC 8446 section 5.1). */
    if (buf[off] != TLS_CT_HANDSHAKE)
      return fail(out, CH_MALFORMED,
          "record inside the ClientHello is not a handshake record");

    /* Every TLS version so far keeps 3 as the major version; the minor
     * one is to be ignored (RFC 8446 section 5.1, legacy_record_version). */
    if (buf[off + 1] != 3)
      return fail(out, off == 0 ? CH_NOT_TLS : CH_MALFORMED,
          "record version is not 3.x");

    p = off + TLS_RECORD_HEADER;
    rec_end = p + ((size_t)buf[off + 3] << 8 | buf[off + 4]);

    /* RFC 8446 section 5.1: no zero-length handshake fragments. */
    if (rec_end == p)
      return fail(out, CH_MALFORMED, "zero-length handshake record");

    if (rec_end - p > TLS_RECORD_MAX)
      return fail(out, CH_MALFORMED, "record longer than 2^14 bytes");

    /* Handshake header: msg_type and a 24-bit length (RFC 8446 section
     * 4), perhaps split over several records. Records are never empty, so
     * it ends within the first four, far inside CH_MAX_WIRE. */
    if (got < TLS_HS_HEADER) {
      stop = p + (TLS_HS_HEADER - got);
      if (stop > rec_end)
        stop = rec_end;
      if (len < stop)
        return need_more(out, stop);

      while (p < stop)
        hs[got++] = buf[p++];
      if (got < TLS_HS_HEADER) {
        off = rec_end;
        continue;
      }

      if (hs[0] != TLS_HS_CLIENT_HELLO)
        return fail(out, CH_MALFORMED,
            "first handshake message is not a ClientHello");

      total = TLS_HS_HEADER + ((size_t)hs[1] << 16 |
          (size_t)hs[2] << 8 | hs[3]);
      if (total > CH_MAX_HANDSHAKE)
        return fail(out, CH_TOO_LARGE,
            "ClientHello is longer than CH_MAX_HANDSHAKE");
    }

    /* The message body, up to the end of this record or of the message.
     * Bytes after the message (early data, a ChangeCipherSpec) are not
     * ours to read. */
    if (got < total && p < rec_end) {
      stop = p + (total - got);
      if (stop > rec_end)
        stop = rec_end;
      if (stop > CH_MAX_WIRE)
        return fail(out, CH_TOO_LARGE, too_wide);
      /* A message that goes on past this record needs one more header. */
      if (len < stop)
        return need_more_hint(out, stop, stop == rec_end &&
            got + (stop - p) < total ?
            rec_end + TLS_RECORD_HEADER + (total - got - (stop - p)) :
            stop);
      got += stop - p;
    }

    if (got == total)
      break;
    off = rec_end;
  }

  c.buf = buf;
  c.wire = TLS_RECORD_HEADER;
  c.left = (size_t)buf[3] << 8 | buf[4];
  c.pos = 0;
  (void)cur_read(&c, total, NULL, TLS_HS_HEADER);

  return read_client_hello(&c, total, out);
}

/* `hint` is a lower bound on the whole hello's wire size, or 0 when the
 * handshake header has not been read yet; see clienthello.h. */
static ch_status
need_more_hint(ch_info *out, size_t need, size_t hint)
{
  if (hint < need)
    hint = need;
  if (hint > CH_MAX_WIRE)
    hint = CH_MAX_WIRE;
  out->need = need;
  out->hint = hint;

  return CH_NEED_MORE;
}

static ch_status
need_more(ch_info *out, size_t need)
{
  out->need = need;
  out->hint = need;

  return CH_NEED_MORE;
}

static ch_status
fail(ch_info *out, ch_status status, const char *reason)
{
  out->sni[0] = '\0';
  out->sni_len = 0;
  out->alpn_count = 0;
  out->alpn_offered = 0;
  out->offers_acme_tls = 0;
  out->error = reason;

  return status;
}

/*
 * The ClientHello body, RFC 8446 section 4.1.2 (same layout as RFC 5246
 * section 7.4.1.2). Only the extensions matter here; the rest is checked
 * for length so that the extensions are found where they really are.
 */
static ch_status
read_client_hello(cursor *c, size_t end, ch_info *out)
{
  size_t n;

  /* legacy_version (2 bytes) and random (32 bytes). */
  if (!cur_read(c, end, NULL, 2 + 32))
    return fail(out, CH_MALFORMED,
        "ClientHello ends inside its version or random");

  /* legacy_session_id<0..32>. */
  if (!cur_u8(c, end, &n))
    return fail(out, CH_MALFORMED, "ClientHello ends before session id");

  if (n > 32)
    return fail(out, CH_MALFORMED, "session id longer than 32 bytes");

  if (!cur_read(c, end, NULL, n))
    return fail(out, CH_MALFORMED, "session id overruns the ClientHello");

  /* cipher_suites<2..2^16-2>, two bytes per suite. */
  if (!cur_u16(c, end, &n))
    return fail(out, CH_MALFORMED, "ClientHello ends before cipher suites");

  if (n < 2 || n % 2 != 0)
    return fail(out, CH_MALFORMED,
        "cipher suites length is zero or odd");

  if (!cur_read(c, end, NULL, n))
    return fail(out, CH_MALFORMED,
        "cipher suites overrun the ClientHello");

  /* legacy_compression_methods<1..2^8-1>. */
  if (!cur_u8(c, end, &n))
    return fail(out, CH_MALFORMED,
        "ClientHello ends before compression methods");

  if (n == 0)
    return fail(out, CH_MALFORMED, "no compression method offered");

  if (!cur_read(c, end, NULL, n))
    return fail(out, CH_MALFORMED,
        "compression methods overrun the ClientHello");

  /* Before TLS 1.3 the extensions block may be left out entirely
   * (RFC 5246 section 7.4.1.2). */
  if (c->pos == end)
    return CH_OK;

  if (!cur_u16(c, end, &n))
    return fail(out, CH_MALFORMED,
        "ClientHello ends inside the extensions length");

  /* Nothing may follow the extensions (RFC 5246 section 7.4.1.2). */
  if (n != end - c->pos)
    return fail(out, CH_MALFORMED,
        "extensions length does not match the ClientHello length");

  return read_extensions(c, end, out);
}

/*
 * The extensions block (RFC 8446 section 4.2). A second server_name or
 * ALPN extension is refused: an extension type must not repeat, and the
 * two readers could otherwise disagree with the TLS stack that runs the
 * handshake after the hand-off. Other types pass unchecked; that stack
 * checks them.
 */
static ch_status
read_extensions(cursor *c, size_t end, ch_info *out)
{
  size_t type, n, ext_end;
  int seen_sni, seen_alpn;
  ch_status status;

  seen_sni = 0;
  seen_alpn = 0;
  while (c->pos < end) {
    if (!cur_u16(c, end, &type) || !cur_u16(c, end, &n))
      return fail(out, CH_MALFORMED,
          "extension header overruns the extensions block");

    if (n > end - c->pos)
      return fail(out, CH_MALFORMED,
          "extension overruns the extensions block");

    ext_end = c->pos + n;
    switch (type) {
    case TLS_EXT_SERVER_NAME:
      if (seen_sni)
        return fail(out, CH_MALFORMED, "server_name extension repeated");
      seen_sni = 1;
      status = read_server_name(c, ext_end, out);
      break;
    case TLS_EXT_ALPN:
      if (seen_alpn)
        return fail(out, CH_MALFORMED, "ALPN extension repeated");
      seen_alpn = 1;
      status = read_alpn(c, ext_end, out);
      break;
    default:
      (void)cur_read(c, ext_end, NULL, n);
      status = CH_OK;
      break;
    }

    if (status != CH_OK)
      return status;
  }

  return CH_OK;
}

/*
 * server_name, RFC 6066 section 3: a ServerNameList<1..2^16-1> of
 * (name_type, name). Only host_name (0) is defined; the RFC makes every
 * future type start with a 16-bit length, so those are skipped by it. The
 * list must not hold two names of one type.
 */
static ch_status
read_server_name(cursor *c, size_t end, ch_info *out)
{
  size_t list, type, n;

  if (!cur_u16(c, end, &list))
    return fail(out, CH_MALFORMED,
        "server_name extension too short for its list length");

  if (list != end - c->pos)
    return fail(out, CH_MALFORMED,
        "server_name list length does not match the extension");

  if (list == 0)
    return fail(out, CH_MALFORMED, "server_name list is empty");

  while (c->pos < end) {
    if (!cur_u8(c, end, &type) || !cur_u16(c, end, &n))
      return fail(out, CH_MALFORMED,
          "server name entry overruns the server_name extension");

    if (n > end - c->pos)
      return fail(out, CH_MALFORMED,
          "server name overruns the server_name extension");

    if (type != SNI_HOST_NAME) {
      (void)cur_read(c, end, NULL, n);
      continue;
    }

    if (out->sni_len != 0)
      return fail(out, CH_MALFORMED, "more than one host_name in server_name");

    /* HostName<1..2^16-1>; a DNS name has at most 253 characters, so
     * the 255 kept here is no limit for real names. */
    if (n == 0)
      return fail(out, CH_MALFORMED, "empty host_name in server_name");

    if (n > CH_MAX_SNI)
      return fail(out, CH_MALFORMED, "host_name longer than 255 bytes");

    (void)cur_read(c, end, (uint8_t *)out->sni, n);
    out->sni[n] = '\0';
    if (!host_name_ok(out->sni, n))
      return fail(out, CH_MALFORMED,
          "host_name has a byte that cannot be in a DNS host name");
    out->sni_len = n;
  }

  return CH_OK;
}

/*
 * application_layer_protocol_negotiation, RFC 7301 section 3.1: a
 * ProtocolNameList<2..2^16-1> of ProtocolName<1..2^8-1>. Names are opaque
 * bytes, but the acceptor hands them on as C strings, so a name holding a
 * NUL is refused rather than passed on cut short. No real client sends one.
 */
static ch_status
read_alpn(cursor *c, size_t end, ch_info *out)
{
  static const char acme[] = "acme-tls/1"; /* RFC 8737 section 6.2 */
  uint8_t name[255];
  size_t list, n;

  if (!cur_u16(c, end, &list))
    return fail(out, CH_MALFORMED,
        "ALPN extension too short for its list length");

  if (list != end - c->pos)
    return fail(out, CH_MALFORMED,
        "ALPN list length does not match the extension");

  if (list == 0)
    return fail(out, CH_MALFORMED, "ALPN protocol list is empty");

  while (c->pos < end) {
    if (!cur_u8(c, end, &n))
      return fail(out, CH_MALFORMED,
          "ALPN protocol name overruns the ALPN extension");

    if (n == 0)
      return fail(out, CH_MALFORMED,
          "empty ALPN protocol name (RFC 7301 section 3.1)");

    if (!cur_read(c, end, name, n))
      return fail(out, CH_MALFORMED,
          "ALPN protocol name overruns the ALPN extension");

    if (memchr(name, '\0', n) != NULL)
      return fail(out, CH_MALFORMED, "ALPN protocol name holds a NUL byte");

    if (n == sizeof(acme) - 1 && memcmp(name, acme, n) == 0)
      out->offers_acme_tls = 1;

    if (out->alpn_count < CH_MAX_ALPN) {
      memcpy(out->alpn[out->alpn_count], name, n);
      out->alpn[out->alpn_count][n] = '\0';
      out->alpn_count++;
    }
    out->alpn_offered++;
  }

  return CH_OK;
}

/*
 * RFC 6066 section 3 wants the host name as an ASCII DNS host name (IDNs
 * as A-labels, no IP literals). Keep to letters, digits, '-', '.' and '_'
 * (seen in real names): anything else, NUL, control bytes, spaces, '/',
 * ':', '%' or bytes past ASCII, would be a lie about the name or a way to
 * confuse what the gateway looks up with it. Case is kept as sent.
 */
static int
host_name_ok(const char *name, size_t len)
{
  size_t i;
  char ch;

  for (i = 0; i < len; i++) {
    ch = name[i];
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
        (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_')
      continue;
    return 0;
  }

  return 1;
}

/*
 * Copy (or with dst NULL, skip) n bytes of the handshake message, stepping
 * over the record headers in between. Returns 0, reading nothing, when the
 * n bytes would pass `end`.
 */
static int
cur_read(cursor *c, size_t end, uint8_t *dst, size_t n)
{
  size_t chunk;

  if (n > end - c->pos)
    return 0;

  c->pos += n;
  while (n > 0) {
    if (c->left == 0) {
      c->left = (size_t)c->buf[c->wire + 3] << 8 | c->buf[c->wire + 4];
      c->wire += TLS_RECORD_HEADER;
    }

    chunk = n < c->left ? n : c->left;
    if (dst != NULL) {
      memcpy(dst, c->buf + c->wire, chunk);
      dst += chunk;
    }
    c->wire += chunk;
    c->left -= chunk;
    n -= chunk;
  }

  return 1;
}

static int
cur_u8(cursor *c, size_t end, size_t *v)
{
  uint8_t b;

  if (!cur_read(c, end, &b, 1))
    return 0;
  *v = b;

  return 1;
}

static int
cur_u16(cursor *c, size_t end, size_t *v)
{
  uint8_t b[2];

  if (!cur_read(c, end, b, 2))
    return 0;
  *v = (size_t)b[0] << 8 | b[1];

  return 1;
}
