/**
 * The textual forms of the ids every layer checks: a signer id names an Ed25519 public key
 * (ARCHITECTURE §2), a signature is 64 bytes in lowercase hex. One home, so the core, the
 * crypto helpers, the HTTP gateway and the SDK accept exactly the same strings.
 */

/** `hmmm:pubkey:<64 lowercase hex>`: a signer id. */
export const SIGNER_RE = /^hmmm:pubkey:[0-9a-f]{64}$/;

/** 128 lowercase hex digits: a detached Ed25519 signature. */
export const SIGNATURE_RE = /^[0-9a-f]{128}$/;
