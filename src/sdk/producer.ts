/**
 * The high-level producer a council agent or an ingestion worker uses: one call reads the state,
 * stamps, builds, signs and submits a proposal over HTTP, and retries when its view of the state
 * was out of date. Portable: no node:* imports.
 *
 * Why retries keep the SAME idem key: the idem key names the intent, and the server applies an
 * idem key at most once (a repeat answers `duplicate` with the original decision). A rejection
 * is not remembered, so resubmitting the key after `stale_state_hash` is a fresh try; and if an
 * earlier attempt did get through unseen (its answer lost to a timeout), the retry answers
 * `duplicate` instead of applying the intent twice. A new key per attempt would lose that
 * exactly-once guarantee. Each attempt carries a new HLC and the hash just read.
 */
import { CHART, isControlTransition, type JsonObject } from '../core/index.js';
import type {
  DeploymentAnswer,
  ErrorAnswer,
  HttpResult,
  StateAnswer,
  SubmitAnswer,
} from './answers.js';
import { ProducerClock } from './clock.js';
import type { Identity } from './identity.js';
import {
  buildProposal,
  hashFor,
  newIdemKey,
  proposalHashTarget,
  signProposal,
  type SignedProposal,
} from './proposal.js';

/** Retries after the first attempt, by default. Why 3: enough to ride out a burst of writes. */
export const PRODUCER_RETRIES_DEFAULT = 3;
/** Most retries allowed: a producer stuck this long is contending, not unlucky. */
export const PRODUCER_RETRIES_MAX = 100;

/**
 * Rejection codes that mean "your view of the state was old": re-read `GET /state` and try
 * again. Nothing else is retried; a 504 in particular is not (the proposal is in the WAL and
 * will be decided; look it up by `wal_seq`).
 */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set(['stale_state_hash', 'hlc_regression']);

/**
 * The projection a producer asks `GET /state` for. Why: it needs only the hashes and
 * `hlc_last`, which every answer carries, and without a projection the server sends every
 * section; `clock` is the smallest one.
 */
export const PRODUCER_STATE_PROJECTION: readonly string[] = ['clock'];

/** What a producer submits through: an {@link HttpClient} or anything shaped like one. */
export interface ProducerTransport {
  /** A project's state (`project` undefined: the default project, `GET /state`). */
  state(projection?: readonly string[], project?: string): Promise<HttpResult<StateAnswer>>;
  /** `GET /deployment`: needed only to propose control transitions. */
  deployment?(): Promise<HttpResult<DeploymentAnswer>>;
  submit(signed: SignedProposal): Promise<SubmitAnswer>;
}

/** Options of a {@link Producer}. */
export interface ProducerOptions {
  readonly identity: Identity;
  /**
   * The project proposals are for (signed into each one). Default: none, the v1 form that the
   * default project takes. Control transitions (Identity_*, Project_*) never name one.
   */
  readonly project?: string;
  readonly http: ProducerTransport;
  /** Default: a fresh clock on `Date.now`. Share one clock per identity. */
  readonly clock?: ProducerClock;
  /** Retries after a retryable rejection; default {@link PRODUCER_RETRIES_DEFAULT}. */
  readonly retries?: number;
}

/** Per-proposal options. */
export interface ProposeOptions {
  /** Default `<transition>:<uuid>`; pass your own to make a retry of an older intent. */
  readonly idemKey?: string;
  readonly windowId?: string;
  readonly evidence?: readonly string[];
  /** Overrides the producer's retries for this call. */
  readonly retries?: number;
}

function checkRetries(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0 || n > PRODUCER_RETRIES_MAX) {
    throw new RangeError(`Producer: retries must be an integer in 0..${PRODUCER_RETRIES_MAX}`);
  }
  return n;
}

/** Builds, signs and submits proposals for one identity. */
export class Producer {
  readonly identity: Identity;
  readonly project: string | undefined;
  readonly http: ProducerTransport;
  readonly clock: ProducerClock;
  private readonly retries: number;

  /** A producer for `opts.identity` over `opts.http`. */
  constructor(opts: ProducerOptions) {
    this.identity = opts.identity;
    this.project = opts.project;
    this.http = opts.http;
    this.clock = opts.clock ?? new ProducerClock();
    this.retries = checkRetries(opts.retries ?? PRODUCER_RETRIES_DEFAULT);
  }

  /**
   * Propose `transition` with `inputs`: read `GET /state` for the hash the transition names,
   * observe its `hlc_last`, stamp, build, sign and submit. On a retryable rejection
   * ({@link RETRYABLE_CODES}) re-read and resubmit with the same idem key, up to `retries`
   * times. Returns the last answer; a failed state read is returned as its ErrorAnswer.
   * Throws only on network failure (HttpNetworkError), or RangeError for a transition this
   * SDK's statechart does not know or a state answer without the region hash it needs.
   */
  async propose(
    transition: string,
    inputs: JsonObject = {},
    opts: ProposeOptions = {},
  ): Promise<SubmitAnswer> {
    proposalHashTarget(transition); // an unknown transition fails here, before any I/O
    const retries = checkRetries(opts.retries ?? this.retries);
    const idemKey = opts.idemKey ?? newIdemKey(transition);
    for (let attempt = 0; ; attempt++) {
      const answer = await this.attempt(transition, inputs, idemKey, opts);
      if (answer.kind === 'rejected') this.clock.observe(answer.head.hlc_last);
      const again = answer.kind === 'rejected' && RETRYABLE_CODES.has(answer.code);
      if (!again || attempt >= retries) return answer;
    }
  }

  /** One attempt: fresh state, fresh HLC, same idem key. */
  private async attempt(
    transition: string,
    inputs: JsonObject,
    idemKey: string,
    opts: ProposeOptions,
  ): Promise<SubmitAnswer | ErrorAnswer> {
    const control = isControlName(transition);
    const state = control ? await this.deploymentState() : await this.http.state(
      PRODUCER_STATE_PROJECTION,
      this.project,
    );
    if (state.kind !== 'ok') return state;
    this.clock.observe(state.body.hlc_last);
    const proposal = buildProposal({
      project: control ? undefined : this.project,
      transition,
      inputs,
      signer: this.identity.signer,
      idemKey,
      hlc: this.clock.next(),
      windowId: opts.windowId,
      evidence: opts.evidence,
      currentStateHash: hashFor(transition, state.body),
    });
    return this.http.submit(signProposal(proposal, this.identity));
  }

  /** The deployment's hash and HLC in the shape hashFor reads (control transitions). */
  private async deploymentState(): Promise<
    HttpResult<{ hash: string; hlc_last: string | null; region_hashes: Record<string, string> }>
  > {
    if (this.http.deployment === undefined) {
      throw new RangeError('Producer: control transitions need a transport with deployment()');
    }
    const d = await this.http.deployment();
    if (d.kind !== 'ok') return d;
    return { ...d, body: { hash: d.body.hash, hlc_last: d.body.hlc_last, region_hashes: {} } };
  }
}

/** True for a control transition (deployment chain) of this SDK's statechart. */
function isControlName(transition: string): boolean {
  const spec = CHART.transitions.find((t) => t.name === transition);
  return spec !== undefined && isControlTransition(spec);
}
