/**
 * DSSE, in-toto subjects and cosign-style blob signatures, with keys and
 * signatures made by the openssl command-line tool at test time.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  preAuthEncoding,
  signDsse,
  MAX_WHOLE_FILE_BYTES,
  verifyBlobSignature,
  verifyChecksums,
  verifyDsse,
  verifyInTotoSubject,
  type DsseEnvelope,
} from '../../../src/verify/index.js';
import { needTools } from '../../support/tmp.js';

const opensslTool = needTools('openssl');

let dir: string;
const keys: Record<string, { priv: string; pub: string }> = {};

function openssl(...args: string[]): Buffer {
  return execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
}

function makeKey(name: string, genArgs: string[]): void {
  openssl('genpkey', ...genArgs, '-out', `${name}.key`);
  openssl('pkey', '-in', `${name}.key`, '-pubout', '-out', `${name}.pub`);
  keys[name] = { priv: readFileSync(join(dir, `${name}.key`), 'utf8'), pub: readFileSync(join(dir, `${name}.pub`), 'utf8') };
}

/** PAE written out by hand here, independently of the library's. */
function pae(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body]);
}

/** Signs `data` with openssl for the given key. */
function opensslSign(keyName: string, data: Buffer, mode: 'ed' | 'dgst' | 'pss' = 'dgst'): Buffer {
  const input = join(dir, 'to-sign.bin');
  const out = join(dir, 'sig.bin');
  writeFileSync(input, data);
  if (mode === 'ed') openssl('pkeyutl', '-sign', '-inkey', `${keyName}.key`, '-rawin', '-in', input, '-out', out);
  else if (mode === 'pss')
    openssl(
      'dgst',
      '-sha256',
      '-sign',
      `${keyName}.key`,
      '-sigopt',
      'rsa_padding_mode:pss',
      '-sigopt',
      'rsa_pss_saltlen:-1',
      '-out',
      out,
      input,
    );
  else openssl('dgst', '-sha256', '-sign', `${keyName}.key`, '-out', out, input);
  return readFileSync(out);
}

function opensslVerify(keyName: string, data: Buffer, signature: Buffer, mode: 'ed' | 'dgst'): boolean {
  const input = join(dir, 'to-verify.bin');
  const sigFile = join(dir, 'to-verify.sig');
  writeFileSync(input, data);
  writeFileSync(sigFile, signature);
  const args =
    mode === 'ed'
      ? ['pkeyutl', '-verify', '-pubin', '-inkey', `${keyName}.pub`, '-rawin', '-in', input, '-sigfile', sigFile]
      : ['dgst', '-sha256', '-verify', `${keyName}.pub`, '-signature', sigFile, input];
  return spawnSync('openssl', args, { cwd: dir }).status === 0;
}

const TYPE = 'application/vnd.example+json';
// bytes chosen so that standard and URL-safe base64 differ (+ and / appear)
const PAYLOAD = Buffer.from([0xfb, 0xff, 0xbf, 0x7b, 0x22, 0x61, 0x22, 0x3a, 0x31, 0x7d, 0xfe, 0xff]);

function envelopeWith(signatures: Array<{ sig: Buffer; keyid?: string }>, payload: Buffer = PAYLOAD, type = TYPE): DsseEnvelope {
  return {
    payload: payload.toString('base64'),
    payloadType: type,
    signatures: signatures.map((s) => ({ ...(s.keyid === undefined ? {} : { keyid: s.keyid }), sig: s.sig.toString('base64') })),
  };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bk-verify-sig-'));
  if (opensslTool.missing) return;
  makeKey('ed', ['-algorithm', 'ed25519']);
  makeKey('ec', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
  makeKey('ec2', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
  makeKey('rsa', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']);
  makeKey('p384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384']);
  makeKey('rsa1024', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024']);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('preAuthEncoding', () => {
  it('matches the DSSE specification example', () => {
    expect(preAuthEncoding('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe(
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
    // lengths are bytes, not characters
    expect(preAuthEncoding('tÿpe', Buffer.from('é')).toString()).toBe('DSSEv1 5 tÿpe 2 é');
  });
});

describe.skipIf(opensslTool.missing)(opensslTool.title('verifyDsse with openssl-made signatures'), () => {
  it('accepts Ed25519, ECDSA P-256 (DER), RSA-PSS and RSA PKCS#1 v1.5 signatures', () => {
    const data = pae(TYPE, PAYLOAD);
    const cases: Array<[string, Buffer]> = [
      ['ed', opensslSign('ed', data, 'ed')],
      ['ec', opensslSign('ec', data)],
      ['rsa', opensslSign('rsa', data, 'pss')],
      ['rsa', opensslSign('rsa', data)],
    ];
    for (const [name, sig] of cases) {
      const result = verifyDsse(envelopeWith([{ sig }]), { keys: [keys[name]!.pub] });
      expect(result.isOk(), name).toBe(true);
      expect(result._unsafeUnwrap().payload.equals(PAYLOAD)).toBe(true);
    }
  });

  it('accepts URL-safe base64 and unpadded base64', () => {
    const sig = opensslSign('ec', pae(TYPE, PAYLOAD));
    const env = { payload: PAYLOAD.toString('base64url'), payloadType: TYPE, signatures: [{ sig: sig.toString('base64url') }] };
    expect(env.payload).toMatch(/[-_]/);
    expect(verifyDsse(env, { keys: [keys.ec!.pub] }).isOk()).toBe(true);
    expect(verifyDsse(JSON.stringify(env), { keys: [keys.ec!.pub] }).isOk()).toBe(true);
  });

  it('signatures made by signDsse verify with openssl', () => {
    for (const [name, mode] of [
      ['ed', 'ed'],
      ['ec', 'dgst'],
      ['rsa', 'dgst'],
    ] as const) {
      const env = signDsse(PAYLOAD, TYPE, {
        key: keys[name]!.priv,
        ...(name === 'rsa' ? { rsaPadding: 'pkcs1' as const } : {}),
      })._unsafeUnwrap();
      expect(opensslVerify(name, pae(TYPE, PAYLOAD), Buffer.from(env.signatures[0]!.sig, 'base64'), mode), name).toBe(true);
      expect(verifyDsse(env, { keys: [keys[name]!.pub] }).isOk()).toBe(true);
    }
    // default RSA padding is PSS: openssl verifies it with PSS options
    const pss = signDsse(PAYLOAD, TYPE, keys.rsa!.priv)._unsafeUnwrap();
    writeFileSync(join(dir, 'pss.sig'), Buffer.from(pss.signatures[0]!.sig, 'base64'));
    writeFileSync(join(dir, 'pss.in'), pae(TYPE, PAYLOAD));
    const r = spawnSync(
      'openssl',
      [
        'dgst',
        '-sha256',
        '-verify',
        'rsa.pub',
        '-sigopt',
        'rsa_padding_mode:pss',
        '-sigopt',
        'rsa_pss_saltlen:32',
        '-signature',
        'pss.sig',
        'pss.in',
      ],
      { cwd: dir },
    );
    expect(r.status).toBe(0);
  });

  it('rejects a tampered payload, a wrong key and a truncated signature', () => {
    const sig = opensslSign('ec', pae(TYPE, PAYLOAD));
    const tampered = verifyDsse(envelopeWith([{ sig }], Buffer.from('{"a":2}')), { keys: [keys.ec!.pub] });
    expect(tampered._unsafeUnwrapErr().code).toBe('SIGNATURE_INVALID');
    const otherType = verifyDsse(envelopeWith([{ sig }], PAYLOAD, 'text/plain'), { keys: [keys.ec!.pub] });
    expect(otherType._unsafeUnwrapErr().code).toBe('SIGNATURE_INVALID');
    const wrongKey = verifyDsse(envelopeWith([{ sig }]), { keys: [keys.ec2!.pub, keys.ed!.pub, keys.rsa!.pub] });
    expect(wrongKey._unsafeUnwrapErr().code).toBe('SIGNATURE_INVALID');
    expect(wrongKey._unsafeUnwrapErr().partial).toEqual({
      threshold: 1,
      validKeys: 0,
      signatures: [{ index: 0, verdict: 'invalid', keyIndex: null, code: 'SIGNATURE_INVALID' }],
    });
    // the verdicts live in `partial` only, not also in the context
    expect(wrongKey._unsafeUnwrapErr().context).toEqual({});
    const truncated = verifyDsse(envelopeWith([{ sig: sig.subarray(0, sig.length - 3) }]), { keys: [keys.ec!.pub] });
    expect(truncated._unsafeUnwrapErr().code).toBe('SIGNATURE_INVALID');
    const edSig = opensslSign('ed', pae(TYPE, PAYLOAD), 'ed');
    expect(verifyDsse(envelopeWith([{ sig: edSig.subarray(1) }]), { keys: [keys.ed!.pub] })._unsafeUnwrapErr().code).toBe(
      'SIGNATURE_INVALID',
    );
  });

  it('never trusts keyid', () => {
    const sig = opensslSign('ec', pae(TYPE, PAYLOAD));
    // claims to be ec2 but was made by ec: it verifies with ec and not with ec2
    const env = envelopeWith([{ sig, keyid: 'ec2' }]);
    expect(verifyDsse(env, { keys: [keys.ec2!.pub] })._unsafeUnwrapErr().code).toBe('SIGNATURE_INVALID');
    const ok = verifyDsse(env, { keys: [keys.ec2!.pub, keys.ec!.pub] })._unsafeUnwrap();
    expect(ok.signatures[0]).toMatchObject({ keyid: 'ec2', verdict: 'valid', keyIndex: 1 });
  });

  it('t-of-n thresholds count distinct keys once', () => {
    const data = pae(TYPE, PAYLOAD);
    const a = opensslSign('ec', data);
    const b = opensslSign('ed', data, 'ed');
    const pubs = [keys.ec!.pub, keys.ed!.pub, keys.rsa!.pub];
    expect(verifyDsse(envelopeWith([{ sig: a }, { sig: b }]), { keys: pubs, threshold: 2 })._unsafeUnwrap().validKeys).toBe(2);
    const three = verifyDsse(envelopeWith([{ sig: a }, { sig: b }]), { keys: pubs, threshold: 3 });
    expect(three._unsafeUnwrapErr().code).toBe('SIGNATURE_INVALID');
    expect(three._unsafeUnwrapErr().partial).toMatchObject({ threshold: 3, validKeys: 2 });
    // the same key signing twice is one key
    const twice = verifyDsse(envelopeWith([{ sig: a }, { sig: opensslSign('ec', data) }]), { keys: pubs, threshold: 2 });
    expect(twice._unsafeUnwrapErr().code).toBe('SIGNATURE_INVALID');
    expect(twice._unsafeUnwrapErr().partial?.signatures.map((s) => s.verdict)).toEqual(['valid', 'duplicate']);
    // the same key listed twice cannot meet a threshold of two
    expect(verifyDsse(envelopeWith([{ sig: a }]), { keys: [keys.ec!.pub, keys.ec!.pub], threshold: 2 })._unsafeUnwrapErr().code).toBe(
      'INVALID_ARGUMENT',
    );
    // signDsse with several keys meets the threshold
    const multi = signDsse(PAYLOAD, TYPE, [keys.ec!.priv, { key: keys.ed!.priv, keyid: 'ed' }, keys.rsa!.priv])._unsafeUnwrap();
    expect(verifyDsse(multi, { keys: pubs, threshold: 3 }).isOk()).toBe(true);
  });

  it('gives clear codes for bad envelopes, base64 and keys', () => {
    const sig = opensslSign('ec', pae(TYPE, PAYLOAD));
    const pub = [keys.ec!.pub];
    expect(verifyDsse(envelopeWith([]), { keys: pub })._unsafeUnwrapErr().code).toBe('SIGNATURE_MISSING');
    expect(verifyDsse({ ...envelopeWith([{ sig }]), payload: 'not base64!' }, { keys: pub })._unsafeUnwrapErr().code).toBe(
      'BASE64_INVALID',
    );
    expect(verifyDsse({ ...envelopeWith([{ sig }]), payload: 'abcde' }, { keys: pub })._unsafeUnwrapErr().code).toBe('BASE64_INVALID');
    const allMalformed = verifyDsse({ ...envelopeWith([]), signatures: [{ sig: '%%%' }] }, { keys: pub })._unsafeUnwrapErr();
    expect(allMalformed.code).toBe('BASE64_INVALID');
    expect(allMalformed.partial?.signatures).toEqual([{ index: 0, verdict: 'malformed', keyIndex: null, code: 'BASE64_INVALID' }]);
    // one good signature is enough even next to a malformed one
    expect(
      verifyDsse({ ...envelopeWith([{ sig }]), signatures: [{ sig: '%%%' }, { sig: sig.toString('base64') }] }, { keys: pub }).isOk(),
    ).toBe(true);
    expect(verifyDsse('{not json', { keys: pub })._unsafeUnwrapErr().code).toBe('ENVELOPE_INVALID');
    expect(verifyDsse({ payload: 'x' } as unknown as DsseEnvelope, { keys: pub })._unsafeUnwrapErr().code).toBe('ENVELOPE_INVALID');
    expect(verifyDsse(envelopeWith([{ sig }]), { keys: ['not a key'] })._unsafeUnwrapErr().code).toBe('KEY_INVALID');
    expect(verifyDsse(envelopeWith([{ sig }]), { keys: [keys.p384!.pub] })._unsafeUnwrapErr().code).toBe('KEY_INVALID');
    // A bundle of two trusted keys in one PEM text: read whole or not at all, never as its first key alone.
    const bundle = verifyDsse(envelopeWith([{ sig }]), { keys: [keys.ed!.pub + keys.ec!.pub] });
    expect(bundle._unsafeUnwrapErr().code).toBe('KEY_INVALID');
    expect(bundle._unsafeUnwrapErr().message).toMatch(/holds 2 keys or certificates \(PUBLIC KEY, PUBLIC KEY\)/);
    expect(verifyDsse(envelopeWith([{ sig }]), { keys: [keys.rsa1024!.pub] })._unsafeUnwrapErr().code).toBe('KEY_INVALID');
    expect(signDsse(PAYLOAD, TYPE, keys.ec!.pub)._unsafeUnwrapErr().code).toBe('KEY_INVALID');
    // Two private keys in one PEM text sign with both or not at all, as text or as bytes, never with one of them alone.
    for (const twoKeys of [keys.ed!.priv + keys.ec!.priv, Buffer.from(keys.ec!.priv + keys.rsa!.priv)]) {
      const signed = signDsse(PAYLOAD, TYPE, twoKeys);
      expect(signed._unsafeUnwrapErr().code).toBe('KEY_INVALID');
      expect(signed._unsafeUnwrapErr().message).toMatch(
        /holds 2 keys or certificates \(PRIVATE KEY, PRIVATE KEY\).*each private key on its own/,
      );
    }
    // A key beside its certificate (a server's key file) is one key to sign with; the certificate names it.
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ed25519',
      '-nodes',
      '-subj',
      '/CN=signer',
      '-days',
      '1',
      '-keyout',
      'signer.key',
      '-out',
      'signer.crt',
    );
    openssl('pkey', '-in', 'signer.key', '-pubout', '-out', 'signer.pub');
    const keyAndCert = readFileSync(join(dir, 'signer.crt'), 'utf8') + readFileSync(join(dir, 'signer.key'), 'utf8');
    const byKeyFile = signDsse(PAYLOAD, TYPE, keyAndCert)._unsafeUnwrap();
    expect(verifyDsse(byKeyFile, { keys: [readFileSync(join(dir, 'signer.pub'))] }).isOk()).toBe(true);
    // A key openssl writes after the parameters naming its curve is still one key.
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-out', 'ec-with-params.key');
    openssl('pkey', '-in', 'ec-with-params.key', '-pubout', '-out', 'ec-with-params.pub');
    const withParams = signDsse(PAYLOAD, TYPE, readFileSync(join(dir, 'ec-with-params.key')))._unsafeUnwrap();
    expect(verifyDsse(withParams, { keys: [readFileSync(join(dir, 'ec-with-params.pub'))] }).isOk()).toBe(true);
    expect(verifyDsse(envelopeWith([{ sig }]), { keys: [] })._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    // an error before any signature was tried has no verdicts to hand back
    for (const early of [
      verifyDsse(envelopeWith([]), { keys: pub }),
      verifyDsse('{not json', { keys: pub }),
      verifyDsse(envelopeWith([{ sig }]), { keys: ['not a key'] }),
      verifyDsse(envelopeWith([{ sig }]), { keys: pub, threshold: 2 }),
    ]) {
      expect(early._unsafeUnwrapErr().partial).toBeUndefined();
    }
  });

  it('accepts ECDSA signatures in IEEE P1363 (r||s) form', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const sig = sign('sha256', pae(TYPE, PAYLOAD), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    expect(sig.length).toBe(64);
    expect(verifyDsse(envelopeWith([{ sig }]), { keys: [publicKey] }).isOk()).toBe(true);
  });
});

describe.skipIf(opensslTool.missing)(opensslTool.title('one key in several encodings counts once toward a threshold'), () => {
  /** Every public encoding of `name`'s key that openssl writes, as verifyDsse inputs. */
  function encodings(name: string, kind: 'ec' | 'rsa' | 'ed'): Record<string, string | Buffer> {
    const der = (args: string[]): Buffer => openssl('pkey', '-pubin', '-in', `${name}.pub`, '-outform', 'DER', ...args);
    const out: Record<string, string | Buffer> = { 'SPKI PEM': keys[name]!.pub, 'SPKI DER': der([]) };
    if (kind === 'ec') {
      for (const form of ['compressed', 'uncompressed', 'hybrid'])
        out[`${form} point`] = openssl('ec', '-in', `${name}.key`, '-pubout', '-conv_form', form).toString('utf8');
      out['explicit curve parameters'] = openssl('ec', '-in', `${name}.key`, '-pubout', '-param_enc', 'explicit').toString('utf8');
    }
    if (kind === 'rsa') {
      out['PKCS#1 RSAPublicKey'] = openssl('rsa', '-pubin', '-in', `${name}.pub`, '-RSAPublicKey_out').toString('utf8');
      out['PKCS#1 RSAPublicKey DER'] = openssl('rsa', '-pubin', '-in', `${name}.pub`, '-RSAPublicKey_out', '-outform', 'DER');
      // The same modulus and exponent under the id-RSASSA-PSS algorithm, assembled by openssl's DER generator.
      openssl('asn1parse', '-in', `${name}.pub`, '-strparse', '19', '-noout', '-out', `${name}.pkcs1.der`);
      const hex = readFileSync(join(dir, `${name}.pkcs1.der`)).toString('hex');
      writeFileSync(
        join(dir, `${name}.pss.cnf`),
        `asn1=SEQUENCE:spki\n[spki]\nalg=SEQUENCE:alg\nkey=FORMAT:HEX,BITSTRING:${hex}\n[alg]\noid=OID:rsassaPss\n`,
      );
      openssl('asn1parse', '-genconf', `${name}.pss.cnf`, '-noout', '-out', `${name}.pss.der`);
      out['id-RSASSA-PSS SPKI'] = readFileSync(join(dir, `${name}.pss.der`));
    }
    return out;
  }

  it.each([
    ['ec', 'ec'],
    ['rsa', 'rsa'],
    ['ed', 'ed'],
  ] as const)('%s: signing twice with one key never meets 2-of-n, whichever two encodings are trusted', (name, kind) => {
    const forms = encodings(name, kind);
    const signedTwice = signDsse(PAYLOAD, TYPE, [keys[name]!.priv, keys[name]!.priv])._unsafeUnwrap();
    const labels = Object.keys(forms);
    expect(labels.length).toBeGreaterThanOrEqual(2);
    for (const a of labels) {
      // each encoding alone verifies the envelope: they really are the same key
      expect(verifyDsse(signedTwice, { keys: [forms[a]!] }).isOk(), a).toBe(true);
      for (const b of labels) {
        if (a === b) continue;
        const twice = verifyDsse(signedTwice, { keys: [forms[a]!, forms[b]!], threshold: 2 });
        expect(twice.isErr(), `${a} + ${b}`).toBe(true);
        expect(twice._unsafeUnwrapErr().code, `${a} + ${b}`).toBe('INVALID_ARGUMENT');
        // next to a second, real signer the duplicate still counts once
        const three = verifyDsse(signedTwice, { keys: [forms[a]!, forms[b]!, keys.ec2!.pub], threshold: 2 });
        expect(three._unsafeUnwrapErr().partial, `${a} + ${b}`).toMatchObject({ validKeys: 1 });
      }
    }
  });
});

describe.skipIf(opensslTool.missing)(opensslTool.title('verifyBlobSignature (cosign verify-blob --key)'), () => {
  let blob: string;
  beforeAll(() => {
    blob = join(dir, 'bundle.bin');
    // larger than one read chunk, so streaming really happens
    writeFileSync(blob, Buffer.alloc(9 * 1024 * 1024 + 17, 'bundle-bytes '));
  });

  it('verifies an openssl dgst -sha256 -sign signature (ECDSA P-256, DER, base64)', async () => {
    const sig = opensslSign('ec', readFileSync(blob));
    const r = await verifyBlobSignature(blob, `${sig.toString('base64')}\n`, keys.ec!.pub);
    expect(r._unsafeUnwrap()).toMatchObject({
      sha256: createHash('sha256').update(readFileSync(blob)).digest('hex'),
      keyKind: 'ecdsa-p256',
    });
    const rsa = opensslSign('rsa', readFileSync(blob));
    expect((await verifyBlobSignature(blob, rsa.toString('base64'), keys.rsa!.pub)).isOk()).toBe(true);
  });

  it('rejects a tampered blob, a wrong key, a truncated signature and bad input', async () => {
    const sig = opensslSign('ec', readFileSync(blob)).toString('base64');
    const tampered = join(dir, 'tampered.bin');
    const bytes = readFileSync(blob);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    writeFileSync(tampered, bytes);
    expect((await verifyBlobSignature(tampered, sig, keys.ec!.pub))._unsafeUnwrapErr().code).toBe('SIGNATURE_INVALID');
    expect((await verifyBlobSignature(blob, sig, keys.ec2!.pub))._unsafeUnwrapErr().code).toBe('SIGNATURE_INVALID');
    const raw = Buffer.from(sig, 'base64');
    expect(
      (await verifyBlobSignature(blob, raw.subarray(0, raw.length - 4).toString('base64'), keys.ec!.pub))._unsafeUnwrapErr().code,
    ).toBe('SIGNATURE_INVALID');
    expect((await verifyBlobSignature(blob, 'not*base64', keys.ec!.pub))._unsafeUnwrapErr().code).toBe('BASE64_INVALID');
    expect((await verifyBlobSignature(blob, sig, keys.ed!.pub))._unsafeUnwrapErr().code).toBe('KEY_INVALID');
    expect((await verifyBlobSignature(join(dir, 'nope.bin'), sig, keys.ec!.pub))._unsafeUnwrapErr().code).toBe('IO_ERROR');
  });
});

describe.skipIf(opensslTool.missing)(opensslTool.title('verifyChecksums with a signature (cosign verify-blob + sha256sum --check)'), () => {
  const sha = (data: string) => createHash('sha256').update(data).digest('hex');
  let sums: string;
  let signed: Buffer;
  let signatureBase64: string;
  beforeAll(() => {
    writeFileSync(join(dir, 'good.tar.zst'), 'the released dataset');
    writeFileSync(join(dir, 'evil.tar.zst'), 'a dataset nobody signed');
    signed = Buffer.from(`${sha('the released dataset')}  good.tar.zst\n`);
    sums = join(dir, 'SIGNED-SUMS');
    writeFileSync(sums, signed);
    signatureBase64 = opensslSign('ec', signed).toString('base64');
  });

  it('checks the signature over the bytes it parses, and reports it', async () => {
    const report = (await verifyChecksums(sums, { signature: { signatureBase64, publicKey: keys.ec!.pub } }))._unsafeUnwrap();
    expect(report.ok).toBe(true);
    expect(report.entries.map((e) => [e.path, e.status])).toEqual([['good.tar.zst', 'OK']]);
    expect(report.signature).toEqual({
      path: sums,
      sha256: createHash('sha256').update(signed).digest('hex'),
      bytes: signed.length,
      keyKind: 'ecdsa-p256',
    });
    expect((await verifyChecksums(sums))._unsafeUnwrap().signature).toBeNull();
  });

  it('an unsigned sums file is SIGNATURE_INVALID, and none of its files is hashed', async () => {
    const unsigned = join(dir, 'UNSIGNED-SUMS');
    writeFileSync(unsigned, `${sha('a dataset nobody signed')}  evil.tar.zst\n`);
    const seen: number[] = [];
    const r = await verifyChecksums(unsigned, {
      signature: { signatureBase64, publicKey: keys.ec!.pub },
      onProgress: (p) => seen.push(p.filesDone),
    });
    expect(r._unsafeUnwrapErr().code).toBe('SIGNATURE_INVALID');
    expect(seen).toEqual([]);
    expect((await verifyChecksums(sums, { signature: { signatureBase64, publicKey: keys.ed!.pub } }))._unsafeUnwrapErr().code).toBe(
      'KEY_INVALID',
    );
  });

  it('a piped sums file (a FIFO, as <(curl …) gives) is verified with a signature as without one', async () => {
    const fifo = join(dir, 'SUMS-FIFO');
    spawnSync('mkfifo', [fifo]);
    const writer = writeFile(fifo, signed);
    const report = (await verifyChecksums(fifo, { baseDir: dir, signature: { signatureBase64, publicKey: keys.ec!.pub } }))._unsafeUnwrap();
    await writer;
    expect(report.entries.map((e) => [e.path, e.status])).toEqual([['good.tar.zst', 'OK']]);
    expect(report.signature?.bytes).toBe(signed.length);
  });

  it(`a sums file over ${MAX_WHOLE_FILE_BYTES / 1024 / 1024} MiB is IO_ERROR, not read into memory`, async () => {
    const huge = join(dir, 'HUGE-SUMS');
    writeFileSync(huge, Buffer.alloc(MAX_WHOLE_FILE_BYTES + 1, '#'));
    const r = await verifyChecksums(huge, { signature: { signatureBase64, publicKey: keys.ec!.pub } });
    expect(r._unsafeUnwrapErr().code).toBe('IO_ERROR');
    expect(r._unsafeUnwrapErr().message).toMatch(/larger than 16 MiB/);
  });
});

describe.skipIf(opensslTool.missing)(opensslTool.title('verifyInTotoSubject'), () => {
  const IN_TOTO = 'application/vnd.in-toto+json';
  let file: string;
  let digest: string;
  beforeAll(() => {
    file = join(dir, 'linksets.tar.zst');
    writeFileSync(file, 'pretend tarball');
    digest = createHash('sha256').update('pretend tarball').digest('hex');
  });

  function statement(sha: string, type = 'https://in-toto.io/Statement/v1'): Buffer {
    return Buffer.from(
      JSON.stringify({
        _type: type,
        subject: [
          { name: 'other', digest: { sha256: 'ab'.repeat(32) } },
          { name: 'linksets.tar.zst', digest: { sha256: sha } },
        ],
        predicateType: 'https://example.com/release/v1',
        predicate: {},
      }),
    );
  }

  it('finds the subject in an openssl-signed statement', async () => {
    const body = statement(digest.toUpperCase());
    const env = envelopeWith([{ sig: opensslSign('ec', pae(IN_TOTO, body)) }], body, IN_TOTO);
    const r = await verifyInTotoSubject(env, file, { keys: [keys.ec!.pub] });
    expect(r._unsafeUnwrap().subject.name).toBe('linksets.tar.zst');
    expect(r._unsafeUnwrap().verification?.validKeys).toBe(1);
    const unsigned = await verifyInTotoSubject(JSON.stringify(env), file);
    expect(unsigned._unsafeUnwrap().verification).toBeNull();
    const wrongKey = (await verifyInTotoSubject(env, file, { keys: [keys.ec2!.pub] }))._unsafeUnwrapErr();
    expect(wrongKey.code).toBe('SIGNATURE_INVALID');
    expect(wrongKey.partial?.signatures).toEqual([{ index: 0, verdict: 'invalid', keyIndex: null, code: 'SIGNATURE_INVALID' }]);
  });

  it('SUBJECT_MISMATCH for another file, ENVELOPE_INVALID for a non-statement', async () => {
    const env = signDsse(statement(digest), IN_TOTO, keys.ed!.priv)._unsafeUnwrap();
    const other = join(dir, 'other.bin');
    writeFileSync(other, 'something else');
    const mismatch = await verifyInTotoSubject(env, other, { keys: [keys.ed!.pub] });
    expect(mismatch._unsafeUnwrapErr().code).toBe('SUBJECT_MISMATCH');
    expect(mismatch._unsafeUnwrapErr().context.subjects).toEqual(['other', 'linksets.tar.zst']);
    expect(mismatch._unsafeUnwrapErr().partial).toBeUndefined();
    const wrongType = signDsse(statement(digest), 'application/json', keys.ed!.priv)._unsafeUnwrap();
    expect((await verifyInTotoSubject(wrongType, file))._unsafeUnwrapErr().code).toBe('ENVELOPE_INVALID');
    const notStatement = signDsse(statement(digest, 'https://example.com/x'), IN_TOTO, keys.ed!.priv)._unsafeUnwrap();
    expect((await verifyInTotoSubject(notStatement, file))._unsafeUnwrapErr().code).toBe('ENVELOPE_INVALID');
    expect(
      (
        await verifyInTotoSubject(
          signDsse(statement(digest, 'https://in-toto.io/Statement/v0.1'), IN_TOTO, keys.ed!.priv)._unsafeUnwrap(),
          file,
        )
      ).isOk(),
    ).toBe(true);
  });
});
