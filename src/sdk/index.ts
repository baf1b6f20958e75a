/**
 * The SWOOSH TypeScript SDK: the one entry point for producers, feeders, followers, the CLI and
 * the examples (docs/sdk.md).
 *
 * Portable modules (no node:* imports; @noble for keys, signatures and hashes; global `fetch`):
 * identity, clock, proposal, vote, fact, answers, http, producer, verify (whose noble verifier
 * shares src/crypto/verify.ts with the node:crypto server verifier, see docs/sdk.md).
 * Node-only modules: nats (@nats-io/transport-node, msgpack envelopes) and keyfile (node:fs).
 */
export {
  type Identity,
  bytesSignerOf,
  generateIdentity,
  identityFromSecretHex,
  identityFromSeed,
  secretHexOf,
} from './identity.js';
export { type ProducerClockOptions, ProducerClock } from './clock.js';
export {
  type BuildProposalArgs,
  type SignedProposal,
  type UnsignedProposal,
  buildProposal,
  checkProposal,
  hashFor,
  inputsHashOf,
  newIdemKey,
  proposalHashTarget,
  randomUuid,
  signProposal,
} from './proposal.js';
export {
  type QuorumCertInputs,
  type SignedVote,
  type UnsignedVote,
  buildVote,
  memberSetHash,
  quorumCertInputs,
  signVote,
} from './vote.js';
export {
  type FactKind,
  type SignedFact,
  type UnsignedFact,
  buildFact,
  checkFact,
  signFact,
} from './fact.js';
export type {
  AcceptedAnswer,
  DecisionsPage,
  DeploymentAnswer,
  ErrorAnswer,
  HealthAnswer,
  HttpResult,
  InvalidAnswer,
  ProjectRowAnswer,
  ProjectsPage,
  RejectedAnswer,
  StateAnswer,
  SubmitAnswer,
  TimeoutAnswer,
} from './answers.js';
export {
  type DecisionsQuery,
  type FetchFn,
  type HttpClientOptions,
  HTTP_TIMEOUT_MS_DEFAULT,
  HttpClient,
  HttpNetworkError,
} from './http-client.js';
export {
  type ProducerOptions,
  type ProducerTransport,
  type ProposeOptions,
  PRODUCER_RETRIES_DEFAULT,
  Producer,
  RETRYABLE_CODES,
} from './producer.js';
export {
  type VerifyChainOptions,
  type VerifyRecordOptions,
  type VerifyResult,
  verifyChain,
  verifyFact,
  verifyProposal,
  verifyRecord,
  verifyVote,
} from './verify-records.js';
export {
  type FollowOptions,
  type NatsClientOptions,
  type PublishResult,
  NatsClient,
} from './nats.js';
export { type SaveIdentityOptions, loadIdentity, saveIdentity } from './keyfile.js';
export { unlockAgeFiles } from '../protocol/age-secrets.js';
export {
  type NatsAuth,
  NATS_AUTH_SETTINGS,
  natsAuthEnv,
  natsAuthOf,
  redactNatsUrl,
} from '../protocol/nats-auth.js';
export type { DecisionRecord } from '../protocol/decision-record.js';
export type { GuardOutcome, Outcome } from '../core/index.js';
export type { JsonObject } from '../core/index.js';
export { parseUcxl, type Ucxl } from '../core/index.js';
export type { SignatureVerifier } from '../crypto/verify-portable.js';
