import { describe, expect, it } from 'vitest';
import { maskSecrets } from '../../../src/cli/secrets.js';

describe('maskSecrets', () => {
  it.for([
    ['postgres://ops:s3cret@db/x', 'postgres://ops:***@db/x'],
    ['postgres://ops:s3@cret@db:5432/x?sslmode=require', 'postgres://ops:***@db:5432/x?sslmode=require'],
    ['postgresql://:s3cret@db', 'postgresql://:***@db'],
    ['postgres://ops@db/x?password=s3cret&sslmode=disable', 'postgres://ops@db/x?password=***&sslmode=disable'],
    ['postgres://ops@db/x?sslmode=require&sslpassword=s3cret', 'postgres://ops@db/x?sslmode=require&sslpassword=***'],
    ['--pg=postgres://ops:s3cret@db/x', '--pg=postgres://ops:***@db/x'],
    ['Host=db;Username=ops;Password=s3cret;Database=x', 'Host=db;Username=ops;Password=***;Database=x'],
    ['Host=db;PWD="s3;cret";Database=x', 'Host=db;PWD=***;Database=x'],
    ["host=db password='s3 \\'cret' dbname=x", 'host=db password=*** dbname=x'],
    // Unquoted in libpq's form, everything after it is masked: it cannot tell where the value ends for sure.
    ['host=db password=s3cret dbname=x', 'host=db password=***'],
    ['--pg=Password=s3cret;Host=db', '--pg=Password=***;Host=db'],
    // A password holding an unencoded / ? or # (the URL then does not parse): still masked, up to the last @.
    ['postgres://ops:s3/cret@db/x', 'postgres://ops:***@db/x'],
    ['--pg=postgres://ops:s3#cr?et@db:5432/x?sslmode=require', '--pg=postgres://ops:***@db:5432/x?sslmode=require'],
    ['postgres://ops:s3/cr@t@db/x', 'postgres://ops:***@db/x'],
    ['postgres://ops@corp:s3cret@db/x', 'postgres://ops@corp:***@db/x'],
    ['postgres://ops@db:5432/x?application_name=a@b', 'postgres://ops@db:5432/x?application_name=a@b'],
    // A shell line holding a URL with a port and, later, an @: nothing there is a password.
    [
      'git fetch https://git.example:8443/org/repo.git && echo done@host',
      'git fetch https://git.example:8443/org/repo.git && echo done@host',
    ],
    ['postgres://ops@db/x', 'postgres://ops@db/x'],
    ['Host=db;Database=x', 'Host=db;Database=x'],
    ['nightly-2024', 'nightly-2024'],
    ['-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBnA\n-----END EC PRIVATE KEY-----', '(EC PRIVATE KEY, not shown)'],
    ['--key=-----BEGIN PRIVATE KEY-----\nMHcCAQEEIBnA', '--key=(PRIVATE KEY, not shown)'],
    [
      '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0C\n-----END PUBLIC KEY-----',
      '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0C\n-----END PUBLIC KEY-----',
    ],
  ] as const)('%s', ([typed, shown]) => {
    expect(maskSecrets(typed)).toBe(shown);
  });
});
