// Writes schema/watchbell.schema.json from the schema the validator uses (run: npm run schema).
import { writeFileSync } from 'node:fs';
import { publishedConfigSchema } from '../dist/src/config/config-schema.js';

writeFileSync(new URL('../schema/watchbell.schema.json', import.meta.url), JSON.stringify(publishedConfigSchema(), null, 2) + '\n');
console.log('wrote schema/watchbell.schema.json');
