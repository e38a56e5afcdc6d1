// Replaces the Concelier LNM release plan's pipeline step 3 "Create offline
// bundle: migrations/21-101/, migrations/21-102/, seeds/object-store/, SHA256SUMS + .sig,
// SBOMs … offline kit slice with all above + DSSE manifest" and step 4 "Verification
// stage: cosign verify-blob for bundles; sha256sum --check".
//
//   npx tsx examples/release-bundle.ts [outDir]
//
// SIGNING_KEY=path/to/cosign.key (an unencrypted ECDSA P-256 PEM key) signs with your
// key; without it a throwaway key is made and its public half written as cosign.pub.
// Exit status 0 only when every check passes and `sha256sum --check` (when installed)
// reaches the same verdicts as verifyChecksums; 2, before anything is written, for a
// SIGNING_KEY that cannot be read or cannot sign (an ECDSA key on another curve).
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { writeDataset } from '../src/dataset/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../src/testing/index.js';
import {
  IN_TOTO_PAYLOAD_TYPE,
  signDsse,
  verifyChecksums,
  verifyDataset,
  verifyDsse,
  verifyInTotoSubject,
  writeChecksums,
} from '../src/verify/index.js';
import { answerHelp, reportStdoutFailure } from '../src/_internals/script-stdout.js';

// A reader that stops early (`| head -1`) is no failure; stdout that cannot be written (a full disk) is, and says so.
reportStdoutFailure('release-bundle');

const args = process.argv.slice(2);
const USAGE =
  'usage: release-bundle [outDir] (a new temporary directory when not given; SIGNING_KEY=path/to/cosign.key in the environment)';
answerHelp(args, USAGE);
// A flag is refused, not taken for the directory to write the kit into (`./--help/`).
if (args.length > 1 || args[0]?.startsWith('-')) {
  console.error(`${USAGE}; got ${JSON.stringify(args)} (write a directory that starts with - as ./-…)`);
  process.exit(2);
}
const out = args[0] ?? mkdtempSync(join(tmpdir(), 'lnm-offline-kit-'));
const DATASET = 'datasets/linksets-stage-backfill.tar.zst';
const failures: string[] = [];

function put(path: string, text: string): void {
  mkdirSync(dirname(join(out, path)), { recursive: true });
  writeFileSync(join(out, path), text);
}

/** The key of SIGNING_KEY, read before anything is written; one that cannot sign stops the run with exit 2. */
function givenKey(): KeyObject | undefined {
  const path = process.env.SIGNING_KEY;
  if (!path) return undefined;
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(path));
  } catch (error) {
    return badKey(path, (error as Error).message);
  }
  // The DSSE signature at step 3 would refuse it (a P-384 key, say) only after the kit is written.
  const probe = signDsse('{}', IN_TOTO_PAYLOAD_TYPE, { key, keyid: 'probe' });
  if (probe.isErr()) return badKey(path, probe.error.message.replace(/\.$/, ''));
  return key;
}

function badKey(path: string, why: string): never {
  console.error(
    `release-bundle: SIGNING_KEY ${path} cannot sign: ${why}. Point it at an unencrypted ECDSA P-256 (or RSA) PEM private key, or unset it to sign with a throwaway key; nothing was written.`,
  );
  process.exit(2);
}

const given = givenKey();

function signingKey(): KeyObject {
  if (given !== undefined) return given;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(out, 'cosign.pub'), publicKey.export({ format: 'pem', type: 'spki' }));
  return privateKey;
}

// 1. The artefacts of the offline kit slice (placeholders where the release plan has none yet).
put('migrations/21-101/README.md', '# 21-101 shard/index migrations\nIdempotent; record the duration.\n');
put('migrations/21-101/EnsureLinkNotMergeShardingAndTtlMigration.sql', '-- shard and TTL migration (placeholder)\nselect 1;\n');
put('migrations/21-102/README.md', '# 21-102 backfill / tombstone / rollback\nRun with --batch-size=500 --stop-on-error.\n');
put('migrations/21-102/rollback-lnm-backfill.sql', 'truncate table lnm_raw.linksets_raw;\ntruncate table lnm_raw.advisory_chunks_raw;\n');
put('seeds/object-store/README.md', '# 21-103 object-store seeds\nPlaceholder until the 21-103 contract is final.\n');
put(
  'sbom/migration-runner.spdx.json',
  `${JSON.stringify({ spdxVersion: 'SPDX-2.3', dataLicense: 'CC0-1.0', SPDXID: 'SPDXRef-DOCUMENT', name: 'migration-runner', packages: [] }, null, 2)}\n`,
);
mkdirSync(dirname(join(out, DATASET)), { recursive: true });
const dataset = await writeDataset(join(out, DATASET), {
  members: { 'linksets.ndjson': generateLinksets(2000, 1), 'advisory_chunks.ndjson': generateAdvisoryChunks(500, 2) },
});
if (dataset.isErr()) throw dataset.error;
const artefacts = [
  DATASET,
  'migrations/21-101/EnsureLinkNotMergeShardingAndTtlMigration.sql',
  'migrations/21-101/README.md',
  'migrations/21-102/README.md',
  'migrations/21-102/rollback-lnm-backfill.sql',
  'sbom/migration-runner.spdx.json',
  'seeds/object-store/README.md',
];

// 2. SHA256SUMS (the same bytes `sha256sum` writes) and its cosign-style signature.
const sums = await writeChecksums(artefacts, join(out, 'SHA256SUMS'));
if (sums.isErr()) throw sums.error;
const key = signingKey();
const sumsBytes = readFileSync(join(out, 'SHA256SUMS'));
writeFileSync(join(out, 'SHA256SUMS.sig'), sign('sha256', sumsBytes, { key, dsaEncoding: 'der' }).toString('base64'));

// 3. The DSSE-signed manifest: an in-toto statement naming every artefact and SHA256SUMS.
const subjects = sums.value.entries.map((e) => ({ name: e.path, digest: { sha256: e.sha256 } }));
subjects.push({ name: 'SHA256SUMS', digest: { sha256: createHash('sha256').update(sumsBytes).digest('hex') } });
const statement = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: subjects,
  predicateType: 'https://stella-ops.org/lnm/offline-kit/v1',
  predicate: { release: 'DEVOPS-LNM-21-101-REL/102-REL/103-REL', datasetManifest: dataset.value.manifest },
};
const envelope = signDsse(JSON.stringify(statement), IN_TOTO_PAYLOAD_TYPE, { key, keyid: 'lnm-release' });
if (envelope.isErr()) throw envelope.error;
writeFileSync(join(out, 'manifest.dsse.json'), `${JSON.stringify(envelope.value, null, 2)}\n`);

// 4. Verification stage.
const publicKey = createPublicKey(key);
// One read of SHA256SUMS: the signature is checked over the very bytes whose lines are checked.
const checked = await verifyChecksums(join(out, 'SHA256SUMS'), {
  strict: true,
  signature: { signatureBase64: readFileSync(join(out, 'SHA256SUMS.sig'), 'utf8'), publicKey },
});
if (checked.isErr()) throw checked.error;
console.log(`SHA256SUMS.sig: Verified OK (signed SHA-256 ${checked.value.signature?.sha256 ?? '?'})`);
for (const e of checked.value.entries) console.log(`${e.path}: ${e.status}`);
if (!checked.value.ok) failures.push('verifyChecksums');

const gnu = spawnSync('sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: out, encoding: 'utf8' });
if (gnu.error) {
  console.log('sha256sum not installed; skipped the comparison with it');
} else {
  const ours = checked.value.entries.map((e) => `${e.path}: ${e.status === 'OK' ? 'OK' : 'FAILED'}`).join('\n');
  const same = gnu.stdout.trim() === ours && (gnu.status === 0) === checked.value.ok;
  console.log(`sha256sum --check: exit ${String(gnu.status)}, ${same ? 'same verdicts' : 'DIFFERENT verdicts'}`);
  if (!same) failures.push('sha256sum --check disagrees');
}

const manifestText = readFileSync(join(out, 'manifest.dsse.json'), 'utf8');
const dsse = verifyDsse(manifestText, { keys: [publicKey] });
console.log(`manifest.dsse.json: ${dsse.isOk() ? `${dsse.value.validKeys} valid signature(s)` : dsse.error.code}`);
if (dsse.isErr()) failures.push('manifest.dsse.json');

const attested = await verifyInTotoSubject(manifestText, join(out, DATASET), { keys: [publicKey] });
console.log(`${DATASET}: ${attested.isOk() ? `attested as ${attested.value.subject.name ?? '?'}` : attested.error.code}`);
if (attested.isErr()) failures.push('in-toto subject');

const expectedSha256 = sums.value.entries.find((e) => e.path === DATASET)?.sha256;
const verified = await verifyDataset(join(out, DATASET), expectedSha256 === undefined ? {} : { expectedSha256 });
if (verified.isErr()) throw verified.error;
for (const m of verified.value.members)
  console.log(`  ${m.name}: ${m.verdict} (records ${m.actual?.records ?? '-'}/${m.expected?.records ?? '-'})`);
if (!verified.value.ok) failures.push('verifyDataset');

console.log(
  `offline kit slice in ${relative(process.cwd(), out) || '.'}: ${failures.length === 0 ? 'all checks passed' : `FAILED: ${failures.join(', ')}`}`,
);
process.exitCode = failures.length === 0 ? 0 : 1;
