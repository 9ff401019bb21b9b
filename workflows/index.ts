export { incrementalSync, progressQuery } from './incremental-sync';
