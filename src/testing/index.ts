/**
 * Fixture builders for test suites: datasets, realistic records, raw VEX
 * documents, episode tarballs and throwaway PostgreSQL databases.
 *
 * @module testing
 */
export { generateLinksets, generateAdvisoryChunks, type LinksetRecord, type AdvisoryChunkRecord } from './dataset-records.js';
export { SeededRandom } from './random.js';
export { createThrowawayDatabase, type ThrowawayDatabase, type ThrowawayDatabaseOptions } from './throwaway-database.js';
export { buildEpisodeTarball, type EpisodeTarballOptions, type EpisodeTarball } from './episode-tarball.js';
export {
  generateVexDocuments,
  type GeneratedVexDocument,
  type GenerateVexDocumentsOptions,
  type GeneratedVexKind,
  type BrokenVexKind,
} from './vex-documents.js';
