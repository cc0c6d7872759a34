/**
 * A job's `user`: a user name or numeric uid, resolved to uid, gid and home through /etc/passwd, so that a
 * daemon running as root can run the job's command as that user. Users known only to NSS (LDAP, sssd) are
 * not found by name; give their numeric uid.
 */
import { readFileSync } from 'node:fs';

/** Where users are looked up. */
export const PASSWD_FILE = '/etc/passwd';

/** One line of /etc/passwd. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** Whom a job's command runs as. */
export interface SystemUser {
  /** null for a numeric uid that /etc/passwd does not list. */
  name: string | null;
  uid: number;
  gid: number;
  /** null when unknown. */
  home: string | null;
}

/** Parses passwd text (`name:password:uid:gid:gecos:home:shell` lines); comments, NIS `+`/`-` lines and malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const f = line.split(':');
    if (f.length < 7 || f[0] === '' || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! });
  }
  return out;
}

/**
 * Resolves a `user` value: a name must be listed; a numeric uid (number or digits) is taken as is, with the
 * gid and home of its entry, or, when none lists it, a gid equal to the uid: never root's group by accident.
 * Returns null for an unknown name.
 */
export function lookupUser(user: string | number, passwd: readonly PasswdEntry[] = readPasswd()): SystemUser | null {
  if (typeof user === 'number' || /^\d+$/.test(user)) {
    // `|| 0`: JSON's -0 passes the schema's `minimum: 0`, and Node's spawn aborts the whole process on a uid of -0.
    const uid = Number(user) || 0;
    const entry = passwd.find((e) => e.uid === uid);
    return entry ? { name: entry.name, uid, gid: entry.gid, home: entry.home } : { name: null, uid, gid: uid, home: null };
  }
  const entry = passwd.find((e) => e.name === user);
  return entry ? { name: entry.name, uid: entry.uid, gid: entry.gid, home: entry.home } : null;
}

/** The entries of /etc/passwd, read now (users may be added while the daemon runs); none if it cannot be read. */
export function readPasswd(file = PASSWD_FILE): PasswdEntry[] {
  try {
    return parsePasswd(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
}

/** The daemon's uid; switching users needs 0 (root). null where there are no uids (Windows). */
export function daemonUid(): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null;
}
