/** The package version, shown by /health and `watchbell --version`; a module of its own so the CLI prints it without loading the daemon. */
export const VERSION = '0.1.0';
