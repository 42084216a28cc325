/**
 * The keyvault process. It will hold every private key Gatehouse has,
 * sealed at rest, and do all signing; it must never open a network socket
 * and never send an ACME account key to anyone.
 *
 * For now it holds nothing: it joins the supervisor's IPC, answers pings
 * and stops when asked. Key storage and signing are not built yet, so no
 * process can ask it for either.
 */
import { startChild } from '@gatehouse/gateway/ipc';

const runtime = startChild('keyvault');
runtime.log.info('keyvault started; it stores no keys yet');
runtime.ready();
