/*
 * One answer of the ClientHello parser equals another: the same status and
 * the fields that go with it. Shared by the table driver and the fuzz
 * target, which both check that a prefix decides as the whole input does.
 */
#ifndef GATEHOUSE_CLIENTHELLO_COMPARE_H
#define GATEHOUSE_CLIENTHELLO_COMPARE_H

#include <string.h>

#include "clienthello.h"

static inline int
same_result(ch_status a, const ch_info *ia, ch_status b, const ch_info *ib)
{
  size_t i;

  if (a != b)
    return 0;

  switch (a) {
  case CH_NEED_MORE:
    return ia->need == ib->need;
  case CH_OK:
    if (ia->sni_len != ib->sni_len || strcmp(ia->sni, ib->sni) != 0 ||
        ia->alpn_count != ib->alpn_count ||
        ia->alpn_offered != ib->alpn_offered ||
        ia->offers_acme_tls != ib->offers_acme_tls)
      return 0;
    for (i = 0; i < ia->alpn_count; i++)
      if (strcmp(ia->alpn[i], ib->alpn[i]) != 0)
        return 0;
    return 1;
  default:
    return ia->error == ib->error;
  }
}

#endif
