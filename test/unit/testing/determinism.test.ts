import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fingerprint = fileURLToPath(new URL('./fixture-fingerprint.ts', import.meta.url));

/** The fixtures' fingerprint computed in a child process with this environment. */
function fingerprintIn(env: Record<string, string>): string {
  const run = spawnSync(process.execPath, ['--import', 'tsx', fingerprint], { encoding: 'utf8', env: { ...process.env, ...env } });
  expect(run.stderr).toBe('');
  return run.stdout.trim();
}

describe('fixtures are the same bytes on every machine', () => {
  // Recorded once: both runs of the suite (Node 22 and 24) must reproduce it; a change means fixtures users
  // recorded results against have changed, which the CHANGELOG must say.
  const RECORDED = {
    vex: '9007e37231cf2101048ef6544b820114f4b74d2df1ac3ba053ac67e5a09d978d',
    records: '24e70083c04e05ba86d511bab70d34c9e130b0b8762187d30638cbac6ef26f7f',
    tarball: 'fcbf7f1f3a5920abb4470f46ab0ac37b6a0df6e7a702958a1f9d783599b38744',
  };

  it('matches the recorded fingerprint, whatever the time zone and locale', () => {
    const seen = new Set<string>();
    for (const env of [
      { TZ: 'UTC', LANG: 'C.UTF-8', LC_ALL: 'C' },
      { TZ: 'Pacific/Kiritimati', LANG: 'tr_TR.UTF-8', LC_ALL: 'tr_TR.UTF-8' },
      { TZ: 'America/St_Johns', LANG: 'de_DE.UTF-8', LC_ALL: '' },
    ]) {
      seen.add(fingerprintIn(env));
    }
    expect([...seen]).toEqual([JSON.stringify(RECORDED)]);
  });
});
