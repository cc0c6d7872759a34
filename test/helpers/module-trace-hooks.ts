/**
 * Module hooks (node:module register()) that append the URL of every module the process resolves to a file,
 * one a line: the evidence behind the test that a daemon loads dockerode and nodemailer only when its config
 * needs them. Registered by module-trace.ts; nothing of the product knows about it.
 */
import { appendFileSync } from 'node:fs';

let file = '';

/** Receives the trace file from register()'s `data`. */
export function initialize(data: { file: string }): void {
  file = data.file;
}

/** Resolves as Node would, and records the result. */
export async function resolve(
  specifier: string,
  context: unknown,
  next: (specifier: string, context: unknown) => Promise<{ url: string }>,
): Promise<{ url: string }> {
  const resolved = await next(specifier, context);
  appendFileSync(file, `${resolved.url}\n`);
  return resolved;
}
