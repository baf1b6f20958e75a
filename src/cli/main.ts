#!/usr/bin/env node
/**
 * The `swoosh` command line. Every command explains itself with `--help`, with an example.
 */
import { Command } from 'commander';
import { registerAudit } from './commands/audit.js';
import { registerBench } from './commands/bench.js';
import { registerChaos } from './commands/chaos.js';
import { registerDev } from './commands/dev.js';
import { registerFeeder } from './commands/feeder.js';
import { registerKeygen } from './commands/keygen.js';
import { registerMirror } from './commands/mirror.js';
import { registerNatsConfig } from './commands/nats-config.js';
import { registerProject } from './commands/project.js';
import { registerPropose } from './commands/propose.js';
import { registerState } from './commands/state.js';
import { registerTail } from './commands/tail.js';
import { registerServe } from './commands/serve.js';
import { registerSnapshot } from './commands/snapshot.js';
import { registerStreams } from './commands/streams.js';

/** Build the program (exported for tests). */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('swoosh')
    .description('SWOOSH: a deterministic orchestrator event-sourced on NATS JetStream.')
    .version('0.1.0')
    .showHelpAfterError();
  registerDev(program);
  registerServe(program);
  registerKeygen(program);
  registerNatsConfig(program);
  registerPropose(program);
  registerProject(program);
  registerState(program);
  registerTail(program);
  registerStreams(program);
  registerAudit(program);
  registerChaos(program);
  registerBench(program);
  registerSnapshot(program);
  registerFeeder(program);
  registerMirror(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
