/** The cgtrain library entry point. */
export { loadBackend } from './backend/device';
