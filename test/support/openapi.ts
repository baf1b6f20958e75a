/**
 * Response conformance against docs/openapi.yaml. The document's schemas are JSON Schema
 * 2020-12 (OpenAPI 3.1), so they are compiled by ajv's 2020 build (+ formats) as they are:
 * component references (`#/components/schemas/X`) are pointed at one registered schema that
 * holds every component under `$defs`. `expectConforms` fails with ajv's errors.
 */
import { readFileSync } from 'node:fs';
import Ajv2020Module, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

/** The parsed document (loaded once). */
export const OPENAPI = parse(readFileSync('docs/openapi.yaml', 'utf8')) as OpenApiDoc;

/** The parts of an OpenAPI document used here. */
interface OpenApiDoc {
  readonly paths: Record<string, Record<string, { responses: Record<string, ResponseObj> }>>;
  readonly components: {
    readonly schemas: Record<string, unknown>;
    readonly responses?: Record<string, ResponseObj>;
  };
}

interface ResponseObj {
  readonly $ref?: string;
  readonly content?: Record<string, { schema: unknown }>;
}

const COMPONENTS_ID = 'https://swoosh.invalid/openapi/components.json';

/** Point `#/components/schemas/X` at `<COMPONENTS_ID>#/$defs/X`, everywhere in `v`. */
function rewriteRefs(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(rewriteRefs);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    out[k] = k === '$ref' && typeof x === 'string' && x.startsWith('#/components/schemas/')
      ? `${COMPONENTS_ID}#/$defs/${x.slice('#/components/schemas/'.length)}`
      : rewriteRefs(x);
  }
  return out;
}

// ajv and ajv-formats are CommonJS; under NodeNext their default export is the module object.
const Ajv2020 = Ajv2020Module.default;
const addFormats = addFormatsModule.default;
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
addFormats(ajv);
ajv.addSchema({ $id: COMPONENTS_ID, $defs: rewriteRefs(OPENAPI.components.schemas) });

const compiled = new Map<string, ValidateFunction>();

/** The response object for a route, method and status (following a components $ref). */
export function responseFor(method: string, route: string, status: number): ResponseObj {
  const op = OPENAPI.paths[route]?.[method.toLowerCase()];
  if (op === undefined) throw new Error(`openapi: no operation ${method} ${route}`);
  let res = op.responses[String(status)];
  if (res === undefined) {
    throw new Error(`openapi: ${method} ${route} documents no ${status} response`);
  }
  if (res.$ref !== undefined) {
    const name = res.$ref.replace('#/components/responses/', '');
    res = OPENAPI.components.responses?.[name];
    if (res === undefined) throw new Error(`openapi: unresolved response ${name}`);
  }
  return res;
}

function validatorFor(method: string, route: string, status: number): ValidateFunction {
  const key = `${method.toUpperCase()} ${route} ${status}`;
  let v = compiled.get(key);
  if (v === undefined) {
    const content = responseFor(method, route, status).content ?? {};
    const media = content['application/json'] ?? content['text/plain'];
    if (media === undefined) throw new Error(`openapi: ${key} has no JSON or text schema`);
    v = ajv.compile(rewriteRefs(media.schema) as object);
    compiled.set(key, v);
  }
  return v;
}

function describe(errors: readonly ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
    .join('\n');
}

/**
 * Throw unless `body` is a response `status` of `method routeTemplate` as docs/openapi.yaml
 * describes it (e.g. `expectConforms('GET', '/decisions/{id}', 404, body)`).
 */
export function expectConforms(
  method: string,
  routeTemplate: string,
  status: number,
  body: unknown,
): void {
  const v = validatorFor(method, routeTemplate, status);
  if (!v(body)) {
    throw new Error(`response does not conform to openapi ${method} ${routeTemplate} ${status}:\n` +
      `${describe(v.errors)}\nbody: ${JSON.stringify(body).slice(0, 2000)}`);
  }
}
