/**
 * The deployment files, checked statically (no Docker engine runs here): compose.yaml, the
 * Dockerfile, the NATS config, the Prometheus scrape config and alert rules, the Grafana
 * provisioning and dashboard. Each check is one a typo or a rename would break: a mount whose
 * host path is gone, a port published beyond loopback, a dashboard or alert naming a series
 * that metrics.ts no longer defines, a CMD that does not match the build output.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createCore } from '../../src/core/index.js';
import { nodeHasher } from '../../src/crypto/hasher.js';
import { loadGenesisFile } from '../../src/protocol/files.js';
import { METRIC_NAMES, type MetricName } from '../../src/server/observability/metrics.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SERVICES = ['nats', 'swoosh', 'prometheus', 'grafana'] as const;
const METRICS = Object.keys(METRIC_NAMES) as MetricName[];

type Obj = Record<string, unknown>;

function read(rel: string): string {
  return readFileSync(join(ROOT, rel), 'utf8');
}

function obj(v: unknown, what: string): Obj {
  expect(v, `${what}: expected a mapping`).toBeTypeOf('object');
  expect(Array.isArray(v), `${what}: expected a mapping, got a list`).toBe(false);
  return v as Obj;
}

function list(v: unknown, what: string): unknown[] {
  expect(Array.isArray(v), `${what}: expected a list`).toBe(true);
  return v as unknown[];
}

function str(v: unknown, what: string): string {
  expect(v, what).toBeTypeOf('string');
  return v as string;
}

const compose = obj(parseYaml(read('compose.yaml')), 'compose.yaml');
const services = obj(compose['services'], 'services');
const service = (name: string): Obj => obj(services[name], `services.${name}`);

/** A volume entry in either compose syntax. */
interface Mount {
  readonly type: 'bind' | 'volume';
  readonly source: string;
  readonly target: string;
}

function mountsOf(name: string): Mount[] {
  return list(service(name)['volumes'] ?? [], `${name}.volumes`).map((v): Mount => {
    if (typeof v === 'string') {
      const [source = '', target = ''] = v.split(':');
      const bind = source.startsWith('.') || source.startsWith('/');
      return { type: bind ? 'bind' : 'volume', source, target };
    }
    const o = obj(v, `${name}.volumes[]`);
    const type = o['type'] === 'bind' ? 'bind' : 'volume';
    return { type, source: str(o['source'], 'source'), target: str(o['target'], 'target') };
  });
}

/** The host file behind a container path, through the service's bind mounts. */
function hostPathOf(name: string, containerPath: string): string {
  for (const m of mountsOf(name).filter((x) => x.type === 'bind')) {
    if (containerPath === m.target) return resolve(ROOT, m.source);
    if (containerPath.startsWith(`${m.target}/`)) {
      return resolve(ROOT, m.source, posix.relative(m.target, containerPath));
    }
  }
  throw new Error(`${name}: ${containerPath} is not bind-mounted`);
}

function envOf(name: string): Record<string, string> {
  const env = service(name)['environment'] ?? {};
  if (!Array.isArray(env)) {
    const entries = Object.entries(obj(env, 'environment'));
    return Object.fromEntries(entries.map(([k, v]) => [k, String(v)]));
  }
  return Object.fromEntries(env.map((e) => {
    const [k = '', ...rest] = str(e, 'environment[]').split('=');
    return [k, rest.join('=')];
  }));
}

function dependsOn(name: string): string[] {
  const d = service(name)['depends_on'];
  if (d === undefined) return [];
  if (Array.isArray(d)) return d.map((x) => str(x, 'depends_on[]'));
  return Object.keys(obj(d, 'depends_on'));
}

describe('compose.yaml', () => {
  it('defines the four services', () => {
    for (const name of SERVICES) expect(services, name).toHaveProperty(name);
  });

  it('bind-mounts only paths that exist in the repository; named volumes are declared', () => {
    const declared = Object.keys(obj(compose['volumes'] ?? {}, 'volumes'));
    for (const name of Object.keys(services)) {
      for (const m of mountsOf(name)) {
        if (m.type === 'volume') {
          expect(declared, `${name}: volume ${m.source}`).toContain(m.source);
        }
        else {
          expect(m.source.startsWith('./'), `${name}: ${m.source} is repo-relative`).toBe(true);
          expect(existsSync(resolve(ROOT, m.source)), `${name}: ${m.source} exists`).toBe(true);
        }
      }
    }
  });

  it('depends only on services it defines', () => {
    for (const name of Object.keys(services)) {
      for (const dep of dependsOn(name)) {
        expect(Object.keys(services), `${name} → ${dep}`).toContain(dep);
      }
    }
    const swooshDeps = obj(service('swoosh')['depends_on'], 'swoosh.depends_on');
    expect(swooshDeps['nats']).toEqual({ condition: 'service_healthy' });
  });

  it('publishes every port on 127.0.0.1 only', () => {
    let count = 0;
    for (const name of Object.keys(services)) {
      for (const p of list(service(name)['ports'] ?? [], `${name}.ports`)) {
        count += 1;
        if (typeof p === 'string') expect(p, `${name}: ${p}`).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
        else expect(obj(p, 'port')['host_ip'], `${name}: long-syntax port`).toBe('127.0.0.1');
      }
    }
    expect(count).toBeGreaterThanOrEqual(4);
  });

  it('gives every service a healthcheck', () => {
    for (const name of SERVICES) {
      const test = list(obj(service(name)['healthcheck'], `${name}.healthcheck`)['test'], 'test');
      expect(test[0], name).toBe('CMD');
    }
  });
});

describe('nats', () => {
  const nats = service('nats');
  const command = list(nats['command'], 'nats.command').map((c) => str(c, 'command[]'));
  const confPath = command[command.indexOf('-c') + 1] ?? '';
  const conf = readFileSync(hostPathOf('nats', confPath), 'utf8');

  it('runs NATS 2.10 with JetStream and the mounted config', () => {
    expect(str(nats['image'], 'image')).toMatch(/^nats:2\.10(\b|-)/);
    expect(command).toContain('-js');
    expect(confPath).toBe('/etc/nats/nats.conf');
  });

  it('syncs every write and stores JetStream data on the named volume', () => {
    const js = /jetstream\s*\{([^}]*)\}/.exec(conf)?.[1] ?? '';
    expect(js).toMatch(/^\s*sync_interval:\s*always\s*$/m);
    const storeDir = /^\s*store_dir:\s*(\S+)\s*$/m.exec(js)?.[1];
    const volume = mountsOf('nats').find((m) => m.type === 'volume');
    expect(storeDir).toBeDefined();
    expect(volume?.target).toBe(storeDir);
  });

  it('health-checks /healthz on the monitoring port it configures', () => {
    const port = /^\s*http_port:\s*(\d+)\s*$/m.exec(conf)?.[1];
    expect(port).toBeDefined();
    const test = list(obj(nats['healthcheck'], 'healthcheck')['test'], 'test').join(' ');
    expect(test).toContain(`http://127.0.0.1:${port ?? ''}/healthz`);
  });
});

describe('swoosh service', () => {
  const env = envOf('swoosh');

  it('builds this repository and talks to the nats service', () => {
    expect(service('swoosh')['build']).toBe('.');
    expect(env['NATS_URL']).toBe('nats://nats:4222');
  });

  it('reads genesis and key from ./docs/compose, whose example genesis is valid', () => {
    const genesis = hostPathOf('swoosh', str(env['SWOOSH_GENESIS'], 'SWOOSH_GENESIS'));
    const key = hostPathOf('swoosh', str(env['SWOOSH_KEY_FILE'], 'SWOOSH_KEY_FILE'));
    expect(dirname(genesis)).toBe(join(ROOT, 'docs/compose'));
    expect(dirname(key)).toBe(join(ROOT, 'docs/compose'));
    const example = join(ROOT, 'docs/compose/genesis.example.yaml');
    const g = loadGenesisFile(createCore(nodeHasher), example);
    expect(Object.keys(g.identities).length).toBeGreaterThan(0);
    expect(read('docs/compose/genesis.example.yaml')).toContain('swoosh keygen');
  });

  it('listens on all interfaces inside the container, on the port it publishes', () => {
    expect(env['SWOOSH_HTTP_HOST']).toBe('0.0.0.0');
    const port = env['SWOOSH_HTTP_PORT'] ?? '8080';
    expect(list(service('swoosh')['ports'], 'ports')).toContain(`127.0.0.1:${port}:${port}`);
    const test = list(obj(service('swoosh')['healthcheck'], 'healthcheck')['test'], 'test');
    expect(test.join(' ')).toContain(`http://127.0.0.1:${port}/health`);
  });
});

/** Dockerfile instructions by stage, continuation lines joined. */
function dockerStages(): { from: string; lines: string[] }[] {
  const text = read('Dockerfile').replace(/\\\n/g, ' ');
  const args = new Map<string, string>();
  const stages: { from: string; lines: string[] }[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const arg = /^ARG\s+(\w+)=(\S+)$/.exec(line);
    // Only ARGs before the first FROM are in scope of FROM lines.
    if (arg?.[1] !== undefined && arg[2] !== undefined && stages.length === 0) {
      args.set(arg[1], arg[2]);
    }
    const from = /^FROM\s+(\S+)/.exec(line)?.[1];
    if (from !== undefined) {
      const image = from.replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? '');
      stages.push({ from: image, lines: [] });
    }
    stages[stages.length - 1]?.lines.push(line);
  }
  return stages;
}

describe('Dockerfile', () => {
  const stages = dockerStages();
  const runtime = stages[stages.length - 1] ?? { from: '', lines: [] };
  const instr = (kw: string): string[] => runtime.lines.filter((l) => l.startsWith(`${kw} `));

  it('builds in one stage and runs node:26-slim (the current LTS) with production dependencies', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]?.lines.join('\n')).toMatch(/RUN npm ci\b[^\n]*\n[\s\S]*RUN npm run build/);
    expect(runtime.from).toBe('node:26-slim');
    // The image's major is one package.json's engines names.
    const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
    expect(pkg.engines.node.split('||').map((r) => r.trim())).toContain('^26.0.0');
    expect(instr('RUN').join('\n')).toMatch(/npm ci --omit=dev/);
  });

  it('copies every file: dependency before each npm ci', () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    const local = Object.values(pkg.dependencies).filter((v) => v.startsWith('file:'));
    expect(local.length).toBeGreaterThan(0);
    for (const stage of stages) {
      const ci = stage.lines.findIndex((l) => /^RUN npm ci\b/.test(l));
      const before = stage.lines.slice(0, ci).join('\n');
      for (const dep of local) {
        expect(before, stage.from).toContain(dep.slice('file:'.length).replace(/^\.\//, ''));
      }
    }
  });

  it('runs as a non-root user', () => {
    const user = instr('USER').at(-1)?.slice('USER '.length).trim();
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
  });

  it('has a curl-free HEALTHCHECK on /health', () => {
    const hc = instr('HEALTHCHECK').join(' ');
    expect(hc).toMatch(/CMD \["node", "-e", /);
    expect(hc).toContain('/health');
    expect(hc).toContain('SWOOSH_HTTP_PORT');
    expect(hc).not.toMatch(/curl|wget/);
  });

  it('starts `serve` from the path the TypeScript build emits for src/cli/main.ts', () => {
    const cmd = JSON.parse(instr('CMD').at(-1)?.slice('CMD '.length) ?? '[]') as string[];
    const ts = JSON.parse(read('tsconfig.json')) as { compilerOptions: Obj };
    const build = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    const outDir = str(ts.compilerOptions['outDir'], 'outDir');
    const rootDir = str(ts.compilerOptions['rootDir'], 'rootDir');
    const source = 'src/cli/main.ts';
    const emitted = posix.join(outDir, posix.relative(rootDir, source)).replace(/\.ts$/, '.js');
    expect(cmd).toEqual(['node', emitted, 'serve']);
    expect(emitted).toBe('dist/src/cli/main.js');
    expect(build.include).toContain('src');
    expect(read('bin/swoosh.js')).toContain("join(root, 'dist', 'src', 'cli', 'main.js')");
  });

  it('has a .dockerignore that keeps dependencies, output and secrets out of the context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const p of ['node_modules', 'dist', '.git', '**/*.key.json']) expect(ignored).toContain(p);
    for (const p of ['src', 'src/stubs', 'guards', 'streams']) expect(ignored).not.toContain(p);
  });
});

/**
 * Every `swoosh_*` series a PromQL expression names, by contract name: a histogram's
 * `_bucket`, `_sum` and `_count` series map to the histogram (but `swoosh_retry_count` is a
 * counter of its own), and anything else is returned as written, to fail as unknown.
 */
function seriesIn(expr: string): string[] {
  return [...expr.matchAll(/\bswoosh_[a-z_]+/g)].map(([token]) => {
    if (token in METRIC_NAMES) return token;
    const base = token.replace(/_(bucket|sum|count)$/, '');
    return METRIC_NAMES[base as MetricName] === 'histogram' ? base : token;
  });
}

/** Brackets, braces and parentheses balance, and quotes pair up. */
function expectWellFormed(expr: string, what: string): void {
  const open: string[] = [];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  for (const ch of expr.replace(/"[^"]*"/g, '""')) {
    if ('([{'.includes(ch)) open.push(ch);
    const want = pairs[ch];
    if (want !== undefined) expect(open.pop(), `${what}: ${expr}`).toBe(want);
  }
  expect(open, `${what}: unclosed in ${expr}`).toEqual([]);
  expect((expr.match(/"/g) ?? []).length % 2, `${what}: quotes`).toBe(0);
}

function expectKnownSeries(expr: string, what: string): void {
  expectWellFormed(expr, what);
  for (const name of seriesIn(expr)) {
    expect(METRICS as string[], `${what}: unknown series ${name}`).toContain(name);
  }
}

describe('Grafana', () => {
  const dash = obj(JSON.parse(read('docs/grafana/swoosh-dashboard.json')), 'dashboard');
  const panels = list(dash['panels'], 'panels').map((p) => obj(p, 'panel'));
  const targets = panels
    .flatMap((p) => list(p['targets'] ?? [], 'targets').map((t) => obj(t, 'target')));
  const ds = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };

  it('is a schemaVersion ≥ 38 dashboard on a DS_PROMETHEUS datasource variable', () => {
    expect(dash['schemaVersion']).toBeGreaterThanOrEqual(38);
    const vars = list(obj(dash['templating'], 'templating')['list'], 'templating.list')
      .map((v) => obj(v, 'var'));
    expect(vars.find((v) => v['name'] === 'DS_PROMETHEUS'))
      .toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const p of panels.filter((x) => x['type'] !== 'row')) {
      expect(p['datasource'], String(p['title'])).toEqual(ds);
    }
    for (const t of targets) expect(t['datasource']).toEqual(ds);
  });

  it('charts every series of METRIC_NAMES and no other', () => {
    const exprs = targets.map((t) => str(t['expr'], 'expr'));
    for (const e of exprs) expectKnownSeries(e, 'dashboard');
    const used = new Set(exprs.flatMap(seriesIn));
    for (const name of METRICS) expect(used.has(name), `dashboard charts ${name}`).toBe(true);
    const ids = panels.map((p) => p['id']);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('is provisioned from where compose mounts it, against the prometheus service', () => {
    const mount = mountsOf('grafana').find((m) => m.source.endsWith('swoosh-dashboard.json'));
    const provider = obj(parseYaml(read('docs/grafana/provisioning/dashboards/swoosh.yaml')), 'p');
    const providers = list(provider['providers'], 'providers').map((p) => obj(p, 'provider'));
    const path = str(obj(providers[0]?.['options'], 'options')['path'], 'path');
    expect(mount !== undefined && posix.dirname(mount.target)).toBe(path);
    const provisioning = mountsOf('grafana').find((m) => m.target === '/etc/grafana/provisioning');
    expect(provisioning?.source).toBe('./docs/grafana/provisioning');
    const ds = obj(parseYaml(read('docs/grafana/provisioning/datasources/prometheus.yaml')), 'ds');
    const sources = list(ds['datasources'], 'datasources').map((d) => obj(d, 'datasource'));
    expect(sources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
  });
});

describe('Prometheus', () => {
  const prom = obj(parseYaml(read('docs/prometheus.yml')), 'prometheus.yml');
  const rules = obj(parseYaml(read('docs/prometheus-alerts.yml')), 'alerts');
  const alerts = list(rules['groups'], 'groups')
    .flatMap((g) => list(obj(g, 'group')['rules'], 'rules').map((r) => obj(r, 'rule')));

  it('scrapes /metrics of the swoosh service on its HTTP port', () => {
    const jobs = list(prom['scrape_configs'], 'scrape_configs').map((j) => obj(j, 'job'));
    const job = jobs.find((j) => j['job_name'] === 'swoosh');
    expect(job?.['metrics_path'] ?? '/metrics').toBe('/metrics');
    const targets = list(job?.['static_configs'], 'static_configs')
      .flatMap((s) => list(obj(s, 'static_config')['targets'], 'targets'));
    const port = envOf('swoosh')['SWOOSH_HTTP_PORT'] ?? '8080';
    expect(targets).toContain(`swoosh:${port}`);
  });

  it('loads the alert rules from where compose mounts them', () => {
    const files = list(prom['rule_files'], 'rule_files').map((f) => str(f, 'rule_file'));
    expect(files.map((f) => hostPathOf('prometheus', f)))
      .toContain(join(ROOT, 'docs/prometheus-alerts.yml'));
    const config = hostPathOf('prometheus', '/etc/prometheus/prometheus.yml');
    expect(statSync(config).isFile()).toBe(true);
  });

  it('alerts on divergence, WAL lag, snapshot age, no writer and fence rejections', () => {
    const byName = new Map(alerts.map((a) => [str(a['alert'], 'alert'), str(a['expr'], 'expr')]));
    const want: Record<string, MetricName> = {
      SwooshDivergence: 'swoosh_divergences_total',
      SwooshWalLagHigh: 'swoosh_wal_lag_records',
      SwooshSnapshotAgeHigh: 'swoosh_snapshot_age_seconds',
      SwooshNoWriter: 'swoosh_role',
      SwooshFenceRejectionsRising: 'swoosh_fence_rejections_total',
    };
    for (const [alert, series] of Object.entries(want)) {
      expect(seriesIn(byName.get(alert) ?? ''), alert).toContain(series);
    }
    for (const [alert, expr] of byName) expectKnownSeries(expr, alert);
    for (const a of alerts) {
      expect(obj(a['labels'], 'labels')['severity']).toMatch(/^(critical|warning)$/);
      expect(obj(a['annotations'], 'annotations')).toHaveProperty('summary');
    }
  });
});

describe('docs/observability.md', () => {
  it('documents every metric', () => {
    const doc = read('docs/observability.md');
    for (const name of METRICS) expect(doc, name).toContain(`\`${name}`);
  });
});
