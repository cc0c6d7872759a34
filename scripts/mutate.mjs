// `npm run mutate [-- MODULE...]`: StrykerJS over each module of stryker.config.mjs (all by default), one after
// another, then one score line per module. Slow (minutes per module): run it by hand, not in the test suite.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { MODULES } from '../stryker.config.mjs';

const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(MODULES);
const scores = [];
for (const module of chosen) {
  if (!MODULES[module]) throw new Error(`${module} is not one of: ${Object.keys(MODULES).join(', ')}`);
  const run = spawnSync('npx', ['stryker', 'run', 'stryker.config.mjs'], { stdio: 'inherit', env: { ...process.env, WATCHBELL_MUTATE: module } });
  if (run.status !== 0) throw new Error(`stryker failed on ${module} (exit ${run.status})`);
  const report = JSON.parse(readFileSync(`reports/mutation/${module.replace(/[/.]/g, '-')}.json`, 'utf8'));
  const count = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0 };
  for (const file of Object.values(report.files)) for (const m of file.mutants) if (m.status in count) count[m.status]++;
  const detected = count.Killed + count.Timeout;
  const score = (100 * detected) / (detected + count.Survived + count.NoCoverage);
  scores.push(`${module}: ${score.toFixed(2)}% (${count.Killed} killed, ${count.Timeout} timed out, ${count.Survived} survived)`);
}
console.log(`\nMutation scores\n${scores.join('\n')}`);
