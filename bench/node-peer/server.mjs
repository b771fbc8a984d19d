// The node-oidc-provider 9 peer for bench/run: one client_credentials client with
// client_secret_basic, JWT access tokens through resource indicators, PKCE required, the
// default in-memory adapter. One process signs with one algorithm (BENCH_ALG), so bench/run
// starts one instance per algorithm, one after another.
//
//   BENCH_PORT=3000 BENCH_ALG=ES256 BENCH_CLIENT_SECRET=... node server.mjs
//
// The JWK Set has the same shape as Segl's (an active and a next key for each of ES256, RS256,
// PS256 and EdDSA; RSA 2048 bits), so /jwks serves a document of similar size.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.BENCH_PORT ?? 3000);
const alg = process.env.BENCH_ALG ?? 'ES256';
const clientId = process.env.BENCH_CLIENT_ID ?? 'bench';
const clientSecret = process.env.BENCH_CLIENT_SECRET;
if (!clientSecret) {
  console.error('BENCH_CLIENT_SECRET is required');
  process.exit(2);
}
if (!['ES256', 'RS256'].includes(alg)) {
  console.error(`BENCH_ALG must be ES256 or RS256, not ${alg}`);
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const resource = 'urn:segl:bench:api';

function privateJwk(type, options, jwkAlg, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: jwkAlg, use: 'sig' };
}

// The first key of an algorithm signs; the second is published only, like Segl's "next" key.
const keys = [];
for (const state of ['active', 'next']) {
  keys.push(privateJwk('ec', { namedCurve: 'P-256' }, 'ES256', `es256-${state}`));
  keys.push(privateJwk('rsa', { modulusLength: 2048 }, 'RS256', `rs256-${state}`));
  keys.push(privateJwk('rsa', { modulusLength: 2048 }, 'PS256', `ps256-${state}`));
  keys.push(privateJwk('ed25519', {}, 'EdDSA', `eddsa-${state}`));
}
// Signing picks the first key usable for the algorithm: put the active ones first.
keys.sort((a, b) => Number(b.kid.endsWith('-active')) - Number(a.kid.endsWith('-active')));

const configuration = {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: '',
        audience: resource,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg } },
      }),
    },
  },
};

const provider = new Provider(issuer, configuration);
// A failed request must show in the bench's error counts, not vanish: log server errors.
provider.on('server_error', (_ctx, error) => console.error('server_error', error));
provider.listen(port, '127.0.0.1', () => {
  console.log(`node-oidc-provider listening on ${issuer} signing ${alg}`);
});
