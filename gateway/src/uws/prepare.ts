/**
 * Build step: make the patched uWS.js binary copy for this machine's Node
 * ABI and architecture (see load.ts), so workers never have to write one at
 * run time. Run by the gateway's `build` script after tsc.
 */
import { preparePatchedUws } from './load.js';

const patched = preparePatchedUws();
console.log(patched === undefined ? 'uws: no patched copy needed here' : `uws: ${patched}`);
