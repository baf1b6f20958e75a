/**
 * `swoosh bench` without going through src/cli/main.ts (`npm run bench` runs it with --quick).
 * Usage: npx tsx bench/run.ts [--quick] [--json] [--only ceilings,e2e,...]
 */
import { Command } from 'commander';
import { registerBench } from '../src/cli/commands/bench.js';

const program = new Command().name('swoosh');
registerBench(program);
await program.parseAsync(['node', 'swoosh', 'bench', ...process.argv.slice(2)]);
