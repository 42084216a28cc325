export {
  type Migration,
  type MigrateOptions,
  applyMigrations,
  schemaVersion,
} from './migrations.js';
