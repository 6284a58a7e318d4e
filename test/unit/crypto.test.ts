import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { generatePassword, scramSha256VerifierAsync } from '../../src/crypto/passwords.js';
import { sealSecret, unsealSecret } from '../../src/crypto/secret-box.js';

describe('secret box', () => {
  const key = randomBytes(32);
  it('opens what it sealed, and seals the same text differently each time', () => {
    const sealed = sealSecret('pool admin password', key);
    assert.equal(unsealSecret(sealed, key), 'pool admin password');
    assert.notEqual(sealSecret('pool admin password', key), sealed);
    assert.ok(!sealed.includes('pool admin password'));
  });
  it('refuses a tampered value or another key', () => {
    const sealed = sealSecret('secret', key);
    const parts = sealed.split(':');
    parts[3] = Buffer.from('SECRET').toString('base64');
    assert.throws(() => unsealSecret(parts.join(':'), key));
    assert.throws(() => unsealSecret(sealed, randomBytes(32)));
  });
});

describe('passwords', () => {
  it('are 32 letters and digits, and differ', () => {
    const passwords = new Set(Array.from({ length: 100 }, () => generatePassword()));
    assert.equal(passwords.size, 100);
    for (const password of passwords) assert.match(password, /^[A-Za-z0-9]{32}$/);
  });
  it('have a SCRAM-SHA-256 verifier in PostgreSQL format (RFC 7677 test vector)', async () => {
    const verifier = await scramSha256VerifierAsync('pencil', 4096, Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'));
    assert.equal(
      verifier,
      'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=',
    );
  });
});
