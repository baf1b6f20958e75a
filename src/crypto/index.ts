/**
 * Ed25519 identities, domain-separated signing and verification, and the SHA-256 hashers
 * (docs/signatures.md). This barrel includes the node:crypto verifier and hasher; portable
 * code (the SDK) should import domains.js, keys.js, sign.js and hasher-portable.js directly.
 */
export { DOMAIN, type Domain, isDomain, signingBytes, stripSignature } from './domains.js';
export {
  type KeyPair,
  SIGNER_PREFIX,
  bytesToHex,
  generateKeyPair,
  hexToBytes,
  isAcceptablePublicKey,
  keyPairFromSeed,
  parseSigner,
  signerFromPublicKey,
} from './keys.js';
export {
  acceptableSignature,
  isCanonicalPointEncoding,
  isCanonicalScalar,
  isSmallOrderEncoding,
} from './rule.js';
export { signObject, withSignature } from './sign.js';
export {
  DEFAULT_KEY_CACHE_MAX,
  type NodeSignatureVerifier,
  type NodeVerifierOptions,
  type SignatureVerifier,
  createNobleVerifier,
  createNodeVerifier,
  verifyObject,
} from './verify.js';
export { nodeHasher } from './hasher.js';
export { nobleHasher } from './hasher-portable.js';
