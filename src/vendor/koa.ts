/**
 * Koa and its router, as the daemon imports them. tsc compiles this file to plain re-exports; the build
 * (scripts/bundle-vendor.mjs, run by prepare.mjs and the Dockerfile) then replaces the output with one file
 * holding these packages and all they require: Node loads ~60 CommonJS files for them otherwise, and resolving
 * and compiling them one by one was the largest share of an empty daemon's start (docs/benchmarks.md, issue 16
 * fourth pass). Import the packages through here for values; types may still come from the packages.
 */
export { default as Koa } from 'koa';
export { default as Router } from '@koa/router';
