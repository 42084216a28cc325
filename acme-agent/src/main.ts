/**
 * The acme-agent process. It will be the only process that talks to a
 * certificate authority (RFC 8555), asking the keyvault for every
 * signature; it must never see a private key nor write a file.
 *
 * For now it joins the supervisor's IPC, answers pings and stops when
 * asked. It obtains no certificates yet.
 */
import { startChild } from '@gatehouse/gateway/ipc';

const runtime = startChild('acme-agent');
runtime.log.info('acme-agent started; it obtains no certificates yet');
runtime.ready();
