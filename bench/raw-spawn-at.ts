/**
 * The floor of the process-start bench (dispatch-process.ts): a bare script that, at a given instant, spawns the
 * same N processes the daemon would, one after another as fast as child_process.spawn goes, and exits when all
 * have exited. Each process appends its own start time to the stamp file, as the jobs do.
 *
 *   node dist/bench/raw-spawn-at.js SLOT_MS N ARGV_JSON
 */
import { spawn } from 'node:child_process';

const [slotArg, nArg, argvJson] = process.argv.slice(2);
const slot = Number(slotArg);
const n = Number(nArg);
const [file, ...args] = JSON.parse(argvJson!) as string[];

await new Promise((resolve) => setTimeout(resolve, Math.max(0, slot - Date.now())));
let left = n;
await new Promise<void>((done) => {
  for (let i = 0; i < n; i++) {
    const child = spawn(file!, args, { stdio: 'ignore' });
    child.on('error', (err) => { console.error(err); process.exit(1); });
    child.on('exit', () => { if (--left === 0) done(); });
  }
});
