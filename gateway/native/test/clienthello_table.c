/*
 * Table test for the ClientHello parser (../src/clienthello.c).
 *
 * Reads fixtures/clienthello/manifest.json, runs ch_parse on every fixture
 * and compares status, server name, ALPN list, `need` or the reason with
 * the manifest. Then it feeds every prefix of the fixture, shortest first,
 * and checks that `need` is exact: a prefix shorter than `need` gets the
 * same answer, one of exactly `need` bytes gets further, and whatever is
 * decided on a prefix is what the whole input gives. Each input sits at
 * the very end of its own allocation, so AddressSanitizer catches a read
 * past `len`.
 *
 * Usage: clienthello_table FIXTURE_DIR. Prints "N passed, M failed" last
 * and exits 1 on any failure. Built and run by scripts/test-clienthello-table.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clienthello.h"
#include "clienthello_compare.h"

#define MAX_ALPN_EXPECTED 64

struct fixture {
  char file[256];
  char status[32];
  int has_sni;
  char sni[512];
  size_t sni_len;
  size_t alpn_count;
  char alpn[MAX_ALPN_EXPECTED][256];
  int acme; /* -1 when the manifest does not say */
  long need;
  char error[512];
};

struct json {
  const char *p;
  const char *end;
  int bad;
};

static int passed, failed;
static char failure[1024];

static const char *status_name(ch_status);
static int check_fixture(const char *, const struct fixture *);
static int check_prefixes(const char *, const struct fixture *);
static ch_status parse_at_end(const uint8_t *, size_t, ch_info *);
static uint8_t *read_file(const char *, const char *, size_t *);
static int fixture_listed(const char *, const char *);
static void note(const char *, ...);
static int json_fixture(struct json *, struct fixture *);
static void json_ws(struct json *);
static int json_eat(struct json *, char);
static int json_string(struct json *, char *, size_t, size_t *);
static int json_skip(struct json *);

int
main(int argc, char **argv)
{
  struct json j;
  struct fixture *fx;
  char *manifest;
  size_t len;
  struct dirent *de;
  DIR *dir;

  if (argc != 2) {
    fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
    return 2;
  }

  manifest = (char *)read_file(argv[1], "manifest.json", &len);
  if (manifest == NULL)
    return 2;

  fx = malloc(sizeof(*fx));
  if (fx == NULL)
    return 2;

  /* { "fixtures": [ {...}, ... ] } */
  j.p = manifest;
  j.end = manifest + len;
  j.bad = 0;
  json_ws(&j);
  if (!json_eat(&j, '{') || !json_string(&j, fx->file, sizeof(fx->file),
      NULL) || strcmp(fx->file, "fixtures") != 0 || !json_eat(&j, ':') ||
      !json_eat(&j, '[')) {
    fprintf(stderr, "manifest.json: expected {\"fixtures\": [\n");
    return 2;
  }

  while (!json_eat(&j, ']')) {
    if (!json_fixture(&j, fx)) {
      fprintf(stderr, "manifest.json: cannot read fixture near offset %ld\n",
          (long)(j.p - manifest));
      return 2;
    }

    if (check_fixture(argv[1], fx)) {
      passed++;
    } else {
      failed++;
      printf("FAIL %s: %s\n", fx->file, failure);
    }

    if (check_prefixes(argv[1], fx)) {
      passed++;
    } else {
      failed++;
      printf("FAIL %s (prefixes): %s\n", fx->file, failure);
    }

    (void)json_eat(&j, ',');
  }

  /* Every .bin must be in the table, or it tests nothing. */
  dir = opendir(argv[1]);
  if (dir == NULL) {
    perror(argv[1]);
    return 2;
  }
  while ((de = readdir(dir)) != NULL) {
    len = strlen(de->d_name);
    if (len < 4 || strcmp(de->d_name + len - 4, ".bin") != 0)
      continue;
    if (fixture_listed(manifest, de->d_name)) {
      passed++;
    } else {
      failed++;
      printf("FAIL %s: not listed in manifest.json\n", de->d_name);
    }
  }
  closedir(dir);

  free(fx);
  free(manifest);
  printf("%d passed, %d failed\n", passed, failed);

  return failed == 0 ? 0 : 1;
}

static int
check_fixture(const char *dir, const struct fixture *fx)
{
  ch_info info;
  ch_status st;
  uint8_t *buf;
  size_t len, i;
  int ok;

  buf = read_file(dir, fx->file, &len);
  if (buf == NULL) {
    note("cannot read the file");
    return 0;
  }

  st = parse_at_end(buf, len, &info);
  ok = 0;
  if (strcmp(status_name(st), fx->status) != 0) {
    note("status %s, expected %s (%s)", status_name(st), fx->status,
        info.error ? info.error : "no reason");
    goto cleanup;
  }

  switch (st) {
  case CH_OK:
    if (!fx->has_sni && info.sni_len != 0) {
      note("server name \"%s\", expected none", info.sni);
      goto cleanup;
    }
    if (fx->has_sni && (info.sni_len != fx->sni_len ||
        memcmp(info.sni, fx->sni, fx->sni_len) != 0)) {
      note("server name \"%s\", expected \"%s\"", info.sni, fx->sni);
      goto cleanup;
    }
    if (info.sni[info.sni_len] != '\0') {
      note("server name not NUL-terminated");
      goto cleanup;
    }
    if (info.alpn_offered != fx->alpn_count ||
        info.alpn_count != (fx->alpn_count < CH_MAX_ALPN ?
        fx->alpn_count : CH_MAX_ALPN)) {
      note("%zu ALPN names offered, %zu kept, expected %zu offered",
          info.alpn_offered, info.alpn_count, fx->alpn_count);
      goto cleanup;
    }
    for (i = 0; i < info.alpn_count; i++) {
      if (strcmp(info.alpn[i], fx->alpn[i]) != 0) {
        note("ALPN name %zu \"%s\", expected \"%s\"", i, info.alpn[i],
            fx->alpn[i]);
        goto cleanup;
      }
    }
    if (fx->acme != -1 && info.offers_acme_tls != fx->acme) {
      note("offers_acme_tls %d, expected %d", info.offers_acme_tls, fx->acme);
      goto cleanup;
    }
    break;
  case CH_NEED_MORE:
    if ((long)info.need != fx->need) {
      note("need %zu, expected %ld", info.need, fx->need);
      goto cleanup;
    }
    break;
  default:
    if (info.error == NULL || strcmp(info.error, fx->error) != 0) {
      note("reason \"%s\", expected \"%s\"",
          info.error ? info.error : "(none)", fx->error);
      goto cleanup;
    }
    break;
  }
  ok = 1;

cleanup:
  free(buf);
  return ok;
}

/*
 * Walk every prefix, shortest first, following the chain of `need`s. A
 * prefix shorter than the current `need` must answer exactly as the last
 * one; at `need` the answer must move on (another status or a larger
 * `need`); a decided answer must be the whole input's answer.
 */
static int
check_prefixes(const char *dir, const struct fixture *fx)
{
  ch_info whole, info, last;
  ch_status whole_st, st, last_st;
  uint8_t *buf;
  size_t len, p;
  int ok;

  buf = read_file(dir, fx->file, &len);
  if (buf == NULL) {
    note("cannot read the file");
    return 0;
  }

  ok = 0;
  whole_st = parse_at_end(buf, len, &whole);
  if (whole_st == CH_NEED_MORE &&
      (whole.need <= len || whole.need > CH_MAX_WIRE)) {
    note("whole input: need %zu with %zu bytes", whole.need, len);
    goto cleanup;
  }

  last_st = parse_at_end(buf, 0, &last);
  for (p = 0; p <= len; p++) {
    st = parse_at_end(buf, p, &info);

    if (st == CH_NEED_MORE && (info.need <= p || info.need > CH_MAX_WIRE)) {
      note("prefix %zu: need %zu is out of range", p, info.need);
      goto cleanup;
    }

    /* The hint is a lower bound: never below need, never past the wire
     * size of a hello that turned out whole. */
    if (st == CH_NEED_MORE && (info.hint < info.need ||
        info.hint > CH_MAX_WIRE || (whole_st == CH_OK && info.hint > len))) {
      note("prefix %zu: hint %zu out of range (need %zu, whole %zu)", p,
          info.hint, info.need, len);
      goto cleanup;
    }

    if (st == CH_NEED_MORE && whole_st != CH_NEED_MORE && info.need > len) {
      note("prefix %zu: need %zu, past the %zu bytes that decided", p,
          info.need, len);
      goto cleanup;
    }

    if (last_st == CH_NEED_MORE && p < last.need &&
        !same_result(st, &info, last_st, &last)) {
      note("prefix %zu: answer changed before need %zu", p, last.need);
      goto cleanup;
    }

    if (last_st == CH_NEED_MORE && p == last.need && st == CH_NEED_MORE &&
        info.need <= last.need) {
      note("prefix %zu: no progress at need", p);
      goto cleanup;
    }

    if (st != CH_NEED_MORE && !same_result(st, &info, whole_st, &whole)) {
      note("prefix %zu: decided %s, whole input %s", p, status_name(st),
          status_name(whole_st));
      goto cleanup;
    }

    last_st = st;
    last = info;
  }
  ok = 1;

cleanup:
  free(buf);
  return ok;
}

/*
 * Copy the first len bytes to the end of an allocation of exactly len
 * bytes, so that ASan sees any read past them, and parse. `out` starts
 * filled with junk so that a field the parser forgets to set shows.
 */
static ch_status
parse_at_end(const uint8_t *buf, size_t len, ch_info *out)
{
  uint8_t *copy;
  ch_status st;

  copy = malloc(len ? len : 1);
  if (copy == NULL) {
    perror("malloc");
    exit(2);
  }
  if (len)
    memcpy(copy, buf, len);
  memset(out, 0xa5, sizeof(*out));

  st = ch_parse(copy, len, out);

  free(copy);
  return st;
}

static const char *
status_name(ch_status st)
{
  switch (st) {
  case CH_OK:
    return "ok";
  case CH_NEED_MORE:
    return "need_more";
  case CH_NOT_TLS:
    return "not_tls";
  case CH_MALFORMED:
    return "malformed";
  case CH_TOO_LARGE:
    return "too_large";
  }

  return "(out of range)";
}

static uint8_t *
read_file(const char *dir, const char *name, size_t *len)
{
  char path[1024];
  uint8_t *buf;
  long size;
  FILE *f;

  if (strchr(name, '/') != NULL ||
      (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
      sizeof(path))
    return NULL;

  f = fopen(path, "rb");
  if (f == NULL) {
    perror(path);
    return NULL;
  }

  buf = NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) != 0)
    goto cleanup;

  buf = malloc((size_t)size + 1);
  if (buf == NULL)
    goto cleanup;

  if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
    free(buf);
    buf = NULL;
    goto cleanup;
  }
  buf[size] = '\0';
  *len = (size_t)size;

cleanup:
  fclose(f);
  return buf;
}

static int
fixture_listed(const char *manifest, const char *name)
{
  char quoted[300];

  if ((size_t)snprintf(quoted, sizeof(quoted), "\"%s\"", name) >=
      sizeof(quoted))
    return 0;

  return strstr(manifest, quoted) != NULL;
}

static void
note(const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(failure, sizeof(failure), fmt, ap);
  va_end(ap);
}

/*
 * A small reader for the manifest's JSON: one flat object per fixture with
 * strings, numbers, booleans, null and an array of strings. Keys it does
 * not know are skipped.
 */
static int
json_fixture(struct json *j, struct fixture *fx)
{
  char key[64];

  memset(fx, 0, sizeof(*fx));
  fx->acme = -1;
  fx->need = -1;

  if (!json_eat(j, '{'))
    return 0;

  while (!json_eat(j, '}')) {
    if (!json_string(j, key, sizeof(key), NULL) || !json_eat(j, ':'))
      return 0;

    json_ws(j);
    if (strcmp(key, "file") == 0) {
      if (!json_string(j, fx->file, sizeof(fx->file), NULL))
        return 0;
    } else if (strcmp(key, "status") == 0) {
      if (!json_string(j, fx->status, sizeof(fx->status), NULL))
        return 0;
    } else if (strcmp(key, "error") == 0) {
      if (!json_string(j, fx->error, sizeof(fx->error), NULL))
        return 0;
    } else if (strcmp(key, "sni") == 0 && j->p < j->end && *j->p == '"') {
      fx->has_sni = 1;
      if (!json_string(j, fx->sni, sizeof(fx->sni), &fx->sni_len))
        return 0;
    } else if (strcmp(key, "need") == 0) {
      fx->need = strtol(j->p, (char **)&j->p, 10);
    } else if (strcmp(key, "acme") == 0) {
      fx->acme = j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0;
      if (!json_skip(j))
        return 0;
    } else if (strcmp(key, "alpn") == 0) {
      if (!json_eat(j, '['))
        return 0;
      while (!json_eat(j, ']')) {
        if (fx->alpn_count == MAX_ALPN_EXPECTED ||
            !json_string(j, fx->alpn[fx->alpn_count],
            sizeof(fx->alpn[0]), NULL))
          return 0;
        fx->alpn_count++;
        (void)json_eat(j, ',');
      }
    } else if (!json_skip(j)) {
      return 0;
    }

    (void)json_eat(j, ',');
  }

  return fx->file[0] != '\0' && fx->status[0] != '\0' && !j->bad;
}

static void
json_ws(struct json *j)
{
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' ||
      *j->p == '\r' || *j->p == '\t'))
    j->p++;
}

static int
json_eat(struct json *j, char ch)
{
  json_ws(j);
  if (j->p >= j->end || *j->p != ch)
    return 0;
  j->p++;

  return 1;
}

/* Strings with the escapes JSON.stringify writes; \u only below 0x100. */
static int
json_string(struct json *j, char *dst, size_t cap, size_t *outlen)
{
  unsigned int u;
  size_t n;
  char ch;

  if (!json_eat(j, '"'))
    return 0;

  n = 0;
  while (j->p < j->end && *j->p != '"') {
    ch = *j->p++;
    if (ch == '\\') {
      if (j->p >= j->end)
        return 0;
      ch = *j->p++;
      switch (ch) {
      case 'n': ch = '\n'; break;
      case 'r': ch = '\r'; break;
      case 't': ch = '\t'; break;
      case 'b': ch = '\b'; break;
      case 'f': ch = '\f'; break;
      case 'u':
        if (j->end - j->p < 4 || sscanf(j->p, "%4x", &u) != 1 || u > 0xff)
          return 0;
        j->p += 4;
        ch = (char)u;
        break;
      default:
        break; /* '"', '\\', '/' stand for themselves */
      }
    }
    if (n + 1 >= cap)
      return 0;
    dst[n++] = ch;
  }
  dst[n] = '\0';
  if (outlen != NULL)
    *outlen = n;

  return json_eat(j, '"') || (j->bad = 1, 0);
}

static int
json_skip(struct json *j)
{
  char scratch[1024];

  json_ws(j);
  if (j->p >= j->end)
    return 0;

  if (*j->p == '"')
    return json_string(j, scratch, sizeof(scratch), NULL);

  if (*j->p == '[') {
    j->p++;
    while (!json_eat(j, ']')) {
      if (!json_skip(j))
        return 0;
      (void)json_eat(j, ',');
    }
    return 1;
  }

  /* number, true, false or null */
  while (j->p < j->end && *j->p != ',' && *j->p != '}' && *j->p != ']' &&
      *j->p != ' ' && *j->p != '\n')
    j->p++;

  return 1;
}
