import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { compareCodePoints, parsePythonJson, pythonJsonDumps } from '../../../src/index-backfill/python-json.js';
import { formatReceivedAt } from '../../../src/index-backfill/index-row.js';
import { needTools } from '../../support/tmp.js';

const pythonTool = needTools('python3');

/** Runs a Python snippet that reads JSON from stdin and prints JSON lines. */
function python(code: string, input: unknown): string[] {
  const r = spawnSync(
    'python3',
    ['-c', `import json, sys\nfrom datetime import datetime, timezone\ndata = json.loads(sys.stdin.read())\n${code}`],
    { input: JSON.stringify(input), encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.split('\n').slice(0, -1);
}

const STRINGS = [
  'plain',
  '',
  'quote " backslash \\ slash /',
  'tab\tnl\ncr\rbs\bff\f',
  '\u0000\u0001\u001f\u007f\u0080',
  'café Ü',
  '\u2028\u2029',
  '😀 astral',
  '\ud800 lone high',
  'lone low \udc00',
  '\ue000',
  '\uffff',
  '~ }',
];
const NUMBERS = [
  0,
  -0,
  1,
  -1,
  42,
  2 ** 53 - 1,
  -(2 ** 53),
  1.5,
  -2.25,
  0.1,
  1 / 3,
  1e-4,
  1.5e-5,
  123456789.125,
  1.7976931348623157e308,
  5e-324,
  1.2345e22,
  0.000123,
  12345678901234.5,
];

describe('pythonJsonDumps (oracle: python3 json.dumps(sort_keys=True))', () => {
  it.skipIf(pythonTool.missing)(pythonTool.title('escapes strings exactly as ensure_ascii does'), () => {
    expect(STRINGS.map((s) => pythonJsonDumps(s))).toEqual(python('for s in data: print(json.dumps(s, sort_keys=True))', STRINGS));
  });

  it.skipIf(pythonTool.missing)(pythonTool.title('writes floats as repr() and ints as str()'), () => {
    // JSON.stringify sends integral values as ints and the rest as floats, which is how they round-trip here.
    expect(NUMBERS.map((n) => pythonJsonDumps(n))).toEqual(python('for n in data: print(json.dumps(n))', NUMBERS));
  });

  it.skipIf(pythonTool.missing)(pythonTool.title('sorts keys by code point and uses ", " and ": " separators'), () => {
    const docs = [
      { b: 1, a: [1, 'x', null, true, false, { z: {}, y: [] }], '😀': 1, '\ue000': 2, A: 3, '': 4, é: 5 },
      {
        received_at_wall: '2026-11-23T14:47:29.123456+00:00',
        host_id: 'lab-01',
        episode_id: 'ep-1',
        sha256: 'ab',
        size_bytes: 12,
        schema_version: 1,
        backfilled: true,
        commit: 'c',
      },
      [],
      {},
      [[[]]],
    ];
    expect(docs.map((d) => pythonJsonDumps(d))).toEqual(python('for d in data: print(json.dumps(d, sort_keys=True))', docs));
  });

  it('writes the non-finite numbers as Python does', () => {
    expect([NaN, Infinity, -Infinity].map((n) => pythonJsonDumps(n))).toEqual(['NaN', 'Infinity', '-Infinity']);
  });
});

describe('compareCodePoints', () => {
  it.skipIf(pythonTool.missing)(pythonTool.title("orders like Python's sorted() on str"), () => {
    const names = ['b', 'a', 'B', 'lab-10', 'lab-2', '\ue000', '😀', '\uffff', 'é', 'e', '', 'ab', 'a\u0000'];
    expect([...names].sort(compareCodePoints)).toEqual(JSON.parse(python('print(json.dumps(sorted(data)))', names)[0]!));
    // JavaScript's default sort differs on astral characters:
    expect(['😀', '\ue000'].sort()).toEqual(['😀', '\ue000']);
    expect(['😀', '\ue000'].sort(compareCodePoints)).toEqual(['\ue000', '😀']);
  });
});

describe('parsePythonJson', () => {
  it('reads standard JSON and the NaN / Infinity literals Python accepts', () => {
    expect(parsePythonJson('{"a": [1, "NaN"]}')._unsafeUnwrap()).toEqual({ a: [1, 'NaN'] });
    expect(parsePythonJson('{"a": NaN, "b": -Infinity, "c": [Infinity], "d": "Infinity \\" NaN"}')._unsafeUnwrap()).toEqual({
      a: null,
      b: null,
      c: [null],
      d: 'Infinity " NaN',
    });
  });

  it.each(['{NaN: 1}', '-NaN', 'NaNx', '\ufeff{}', '{"a": 1,}', '{"a": 01}', "{'a': 1}", ''])('refuses %j as Python does', (text) => {
    expect(parsePythonJson(text).isErr()).toBe(true);
  });
});

describe('formatReceivedAt (oracle: datetime.isoformat())', () => {
  it.skipIf(pythonTool.missing)(pythonTool.title('matches datetime.now(timezone.utc).isoformat() for the same instant'), () => {
    const instants = [
      Date.UTC(2026, 10, 23, 14, 47, 29, 123),
      Date.UTC(2026, 0, 1, 0, 0, 0, 0),
      Date.UTC(999, 1, 3, 4, 5, 6, 7),
      Date.UTC(2030, 11, 31, 23, 59, 59, 999),
    ];
    const expected = python(
      'for ms in data: print(datetime.fromtimestamp(ms // 1000, timezone.utc).replace(microsecond=(ms % 1000) * 1000).isoformat())',
      instants,
    );
    expect(instants.map((ms) => formatReceivedAt(new Date(ms)))).toEqual(expected);
    expect(expected[1]).toBe('2026-01-01T00:00:00+00:00');
  });
});
