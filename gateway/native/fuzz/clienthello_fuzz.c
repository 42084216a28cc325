/*
 * libFuzzer target for the ClientHello parser (../src/clienthello.c).
 * Built and run by scripts/fuzz-clienthello, with ASan and UBSan.
 *
 * Besides memory safety it checks what the acceptor relies on:
 *   - the status is one of the five, and each comes with its fields: on
 *     CH_OK a NUL-terminated name of at most 255 allowed bytes and
 *     NUL-terminated non-empty ALPN names, on CH_NEED_MORE
 *     len < need <= CH_MAX_WIRE, on a refusal a reason;
 *   - the parser keeps no state: the same bytes give the same answer;
 *   - `need` is exact: following the chain of `need`s from zero bytes
 *     reaches the whole input's answer, the prefix one byte short of each
 *     `need` answers as the previous step did, and a decided answer never
 *     changes when more bytes follow (the acceptor acts on it at once).
 *     The chain costs a parse per unit, quadratic in the input with tiny
 *     records, so past CHAIN_MAX bytes it is checked from sampled starts.
 * Every parse reads from its own allocation of exactly the bytes it is
 * given, so ASan sees a read past `len` even on a prefix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clienthello.h"
#include "../test/clienthello_compare.h"

#define CHAIN_MAX 4096
#define CHAIN_SAMPLES 24

#define CHECK(cond, what)                                                 \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "clienthello_fuzz: invariant broken: %s\n", what); \
      abort();                                                            \
    }                                                                     \
  } while (0)

static void check_chain(const uint8_t *, size_t, size_t, size_t, ch_status,
    const ch_info *);
static ch_status parse_copy(const uint8_t *, size_t, ch_info *);
static void check_fields(ch_status, const ch_info *, size_t);
static int host_byte_ok(char);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static ch_info whole, again, info;
  ch_status whole_st, st;
  size_t cut, i;
  uint8_t *more;

  /* The acceptor never peeks more than CH_MAX_WIRE bytes; a little more
   * checks that what lies past them changes nothing. */
  if (size > CH_MAX_WIRE + 64)
    return 0;

  whole_st = ch_parse(data, size, &whole);
  check_fields(whole_st, &whole, size);

  st = parse_copy(data, size, &again);
  CHECK(same_result(st, &again, whole_st, &whole),
      "same bytes, different answer");

  /* Follow the need chain from nothing, or on a large input from a few
   * starting points for a few steps each. */
  if (size <= CHAIN_MAX) {
    check_chain(data, size, 0, (size_t)-1, whole_st, &whole);
  } else {
    for (i = 0; i < CHAIN_SAMPLES; i++)
      check_chain(data, size, size * i / CHAIN_SAMPLES, 3, whole_st,
          &whole);
  }

  /* A few cuts: undecided, or decided as the whole input. */
  for (cut = 1; cut <= 3; cut++) {
    st = parse_copy(data, size * cut / 4, &info);
    CHECK(st == CH_NEED_MORE || same_result(st, &info, whole_st, &whole),
        "prefix decided otherwise than the whole input");
  }

  /* One byte more never changes a decided answer. */
  if (whole_st != CH_NEED_MORE) {
    more = malloc(size + 1);
    CHECK(more != NULL, "malloc");
    if (size)
      memcpy(more, data, size);
    more[size] = 0xff;
    st = ch_parse(more, size + 1, &info);
    free(more);
    CHECK(same_result(st, &info, whole_st, &whole),
        "a byte after a decided input changed the answer");
  }

  return 0;
}

/*
 * From the prefix of p bytes, follow `need` for at most `steps` steps: the
 * prefix one byte short of each `need` must answer as the step before it,
 * and where the chain ends it must agree with the whole input.
 */
static void
check_chain(const uint8_t *data, size_t size, size_t p, size_t steps,
    ch_status whole_st, const ch_info *whole)
{
  static ch_info info, before;
  ch_status st, before_st;

  for (; steps > 0; steps--) {
    st = parse_copy(data, p, &info);
    check_fields(st, &info, p);
    if (st != CH_NEED_MORE) {
      CHECK(same_result(st, &info, whole_st, whole),
          "decided on a prefix, answered otherwise on the whole input");
      return;
    }
    if (info.need > size) {
      CHECK(whole_st == CH_NEED_MORE && whole->need == info.need,
          "need chain ends past the input, whole input disagrees");
      return;
    }

    before_st = parse_copy(data, info.need - 1, &before);
    CHECK(same_result(before_st, &before, st, &info),
        "answer changed before need");
    p = info.need;
  }
}

static ch_status
parse_copy(const uint8_t *data, size_t len, ch_info *out)
{
  ch_status st;
  uint8_t *copy;

  copy = malloc(len ? len : 1);
  CHECK(copy != NULL, "malloc");
  if (len)
    memcpy(copy, data, len);
  memset(out, 0xa5, sizeof(*out));

  st = ch_parse(copy, len, out);

  free(copy);
  return st;
}

static void
check_fields(ch_status st, const ch_info *info, size_t len)
{
  size_t i, n;
  int acme;

  switch (st) {
  case CH_OK:
    CHECK(info->error == NULL, "reason set on CH_OK");
    CHECK(info->sni_len <= CH_MAX_SNI, "sni_len over 255");
    CHECK(info->sni[info->sni_len] == '\0', "server name not terminated");
    CHECK(strlen(info->sni) == info->sni_len, "NUL inside server name");
    for (i = 0; i < info->sni_len; i++)
      CHECK(host_byte_ok(info->sni[i]), "bad byte in server name");

    acme = 0;
    CHECK(info->alpn_count <= CH_MAX_ALPN &&
        info->alpn_count <= info->alpn_offered &&
        (info->alpn_count == info->alpn_offered ||
        info->alpn_count == CH_MAX_ALPN), "ALPN counts inconsistent");
    for (i = 0; i < info->alpn_count; i++) {
      n = strnlen(info->alpn[i], sizeof(info->alpn[i]));
      CHECK(n > 0 && n < sizeof(info->alpn[i]), "ALPN name length");
      if (strcmp(info->alpn[i], "acme-tls/1") == 0)
        acme = 1;
    }
    CHECK(!acme || info->offers_acme_tls == 1, "acme-tls/1 not flagged");
    CHECK(info->offers_acme_tls == 0 || info->offers_acme_tls == 1,
        "offers_acme_tls not 0 or 1");
    CHECK(info->offers_acme_tls == 0 || info->alpn_count > 0,
        "acme-tls/1 flagged without ALPN");
    break;
  case CH_NEED_MORE:
    CHECK(info->need > len, "need not past len");
    CHECK(info->need <= CH_MAX_WIRE, "need past CH_MAX_WIRE");
    CHECK(info->hint >= info->need && info->hint <= CH_MAX_WIRE,
        "hint below need or past CH_MAX_WIRE");
    break;
  case CH_NOT_TLS:
  case CH_MALFORMED:
  case CH_TOO_LARGE:
    CHECK(info->error != NULL && info->error[0] != '\0', "no reason");
    break;
  default:
    CHECK(0, "status out of range");
  }
}

/* What the parser promises to let through in a host name. */
static int
host_byte_ok(char ch)
{
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_';
}
