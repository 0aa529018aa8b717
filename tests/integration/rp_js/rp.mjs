// SPDX-License-Identifier: Apache-2.0
// A relying party made of @simplewebauthn/server, driven step by step by
// tests/integration/test_options_json.py. State (challenge, registered credentials) lives in a JSON
// file between steps, as an RP keeps it in a session and a database.
//
//   node rp.mjs NODE_MODULES_DIR STATE_FILE reg-options  '{"userName": ..., ...generateRegistrationOptions args}'
//   node rp.mjs NODE_MODULES_DIR STATE_FILE reg-verify   < RegistrationResponseJSON
//   node rp.mjs NODE_MODULES_DIR STATE_FILE auth-options '{"allow": true|false, ...generateAuthenticationOptions args}'
//   node rp.mjs NODE_MODULES_DIR STATE_FILE auth-verify  < AuthenticationResponseJSON
//
// Options are printed exactly as the library returns them (PublicKeyCredential*OptionsJSON).
// Exit status: 0 done (verify: verified), 1 the library refused, 2 bad usage.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const [modulesDir, stateFile, op, argText] = process.argv.slice(2);
if (!modulesDir || !stateFile || !op) {
  console.error('usage: rp.mjs NODE_MODULES_DIR STATE_FILE OP [JSON]');
  process.exit(2);
}
const entry = createRequire(`${modulesDir}/`).resolve('@simplewebauthn/server');
const swa = await import(pathToFileURL(entry).href);

const RP_ID = 'example.com';
const ORIGIN = 'https://example.com';
const state = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : { credentials: [] };
const save = () => writeFileSync(stateFile, JSON.stringify(state, null, 2));
const args = argText ? JSON.parse(argText) : {};
const b64u = (bytes) => Buffer.from(bytes).toString('base64url');

try {
  if (op === 'reg-options') {
    const { excludeRegistered, userID, ...rest } = args;
    const options = await swa.generateRegistrationOptions({
      rpName: 'Example RP',
      rpID: RP_ID,
      ...rest,
      userID: userID ? Buffer.from(userID, 'base64url') : undefined,
      excludeCredentials: excludeRegistered
        ? state.credentials.map((c) => ({ id: c.id, transports: c.transports }))
        : undefined,
    });
    state.challenge = options.challenge;
    state.userVerification = options.authenticatorSelection?.userVerification;
    save();
    console.log(JSON.stringify(options));
  } else if (op === 'reg-verify') {
    const response = JSON.parse(readFileSync(0, 'utf8'));
    const v = await swa.verifyRegistrationResponse({
      response,
      expectedChallenge: state.challenge,
      expectedOrigin: ORIGIN,
      expectedRPID: RP_ID,
      requireUserVerification: state.userVerification === 'required',
    });
    if (!v.verified) throw new Error('registration not verified');
    const { credential, fmt, userVerified } = v.registrationInfo;
    state.credentials.push({ id: credential.id, publicKey: b64u(credential.publicKey), counter: credential.counter,
                             transports: credential.transports });
    save();
    console.log(JSON.stringify({ verified: true, credentialID: credential.id, fmt, userVerified,
                                 transports: credential.transports ?? null }));
  } else if (op === 'auth-options') {
    const { allow, ...rest } = args;
    const options = await swa.generateAuthenticationOptions({
      rpID: RP_ID,
      ...rest,
      allowCredentials: allow ? state.credentials.map((c) => ({ id: c.id, transports: c.transports })) : undefined,
    });
    state.challenge = options.challenge;
    state.userVerification = options.userVerification;
    save();
    console.log(JSON.stringify(options));
  } else if (op === 'auth-verify') {
    const response = JSON.parse(readFileSync(0, 'utf8'));
    const stored = state.credentials.find((c) => c.id === response.id);
    if (!stored) throw new Error(`unknown credential ${response.id}`);
    const v = await swa.verifyAuthenticationResponse({
      response,
      expectedChallenge: state.challenge,
      expectedOrigin: ORIGIN,
      expectedRPID: RP_ID,
      credential: { id: stored.id, publicKey: Buffer.from(stored.publicKey, 'base64url'), counter: stored.counter,
                    transports: stored.transports },
      requireUserVerification: state.userVerification === 'required',
    });
    if (!v.verified) throw new Error('authentication not verified');
    stored.counter = v.authenticationInfo.newCounter;
    save();
    console.log(JSON.stringify({ verified: true, credentialID: v.authenticationInfo.credentialID,
                                 newCounter: v.authenticationInfo.newCounter,
                                 userVerified: v.authenticationInfo.userVerified }));
  } else {
    console.error(`unknown operation ${op}`);
    process.exit(2);
  }
} catch (e) {
  console.error(`rp.mjs ${op}: ${e.message}`);
  process.exit(1);
}
