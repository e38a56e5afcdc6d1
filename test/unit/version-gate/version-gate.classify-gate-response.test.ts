import { describe, expect, it } from 'vitest';
import { classifyGateResponse } from '../../../src/version-gate/index.js';

describe('classifyGateResponse', () => {
  it.each([
    [200, 'ok'],
    [201, 'ok'],
    [204, 'ok'],
    [400, 'fatal'],
    [412, 'fatal'],
    [404, 'fatal'],
    [413, 'fatal'],
    [503, 'retry'],
    [500, 'retry'],
    [502, 'retry'],
    [429, 'retry'],
    [408, 'retry'],
    [0, 'retry'],
  ] as const)('%i is %s', (status, verdict) => {
    expect(classifyGateResponse(status).verdict).toBe(verdict);
  });

  it('picks the remediation and commits out of a JSON body, as text, bytes or an object', () => {
    const body = {
      code: 'COMMIT_NOT_RECENT',
      message: 'too old',
      remediation: 'cd /srv/app && git pull\nsudo systemctl restart app',
      your_commit: 'a'.repeat(40),
      head_commit: 'b'.repeat(40),
    };
    const expected = {
      verdict: 'fatal',
      status: 412,
      code: 'COMMIT_NOT_RECENT',
      message: 'too old',
      remediation: body.remediation,
      yourCommit: body.your_commit,
      headCommit: body.head_commit,
    };
    expect(classifyGateResponse(412, body)).toEqual(expected);
    expect(classifyGateResponse(412, JSON.stringify(body))).toEqual(expected);
    expect(classifyGateResponse(412, new TextEncoder().encode(JSON.stringify(body)))).toEqual(expected);
  });

  it('tolerates bodies that are not the gate’s JSON', () => {
    expect(classifyGateResponse(502, '<html>bad gateway</html>')).toMatchObject({ verdict: 'retry', code: null, remediation: null });
    expect(classifyGateResponse(412, { remediation: 42 }).remediation).toBeNull();
    expect(classifyGateResponse(412, null).code).toBeNull();
  });
});
