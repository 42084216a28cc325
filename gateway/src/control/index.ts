export { createControlApi, type Health, type ProcessRow, type SupervisorView } from './api.js';
export { controlRequest, ControlSocketError, type ControlResponse } from './client.js';
export { serveControlSocket, type ControlServer } from './server.js';
