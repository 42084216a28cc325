export { Logger, LEVELS, isLevel, type Level, type LogFields } from './logger.js';
export { LogStream, type LogFormat, type Origin } from './stream.js';
