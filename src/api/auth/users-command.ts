// kisflow users hash: reads a password on stdin and prints the password_hash line for the platform
// section (or users_file). The password never goes on the command line, where ps and shell history see it.
import { KisError } from '../../kernel/errors.js';
import { hashPassword } from './password.js';

export const USERS_USAGE = `usage: kisflow users hash
  Reads a password from stdin (one line; a trailing newline is dropped) and prints
    password_hash: "scrypt$N$r$p$<salt>$<hash>"
  for a user of the global document's platform section, e.g.
    printf '%s' "$PASSWORD" | kisflow users hash
`;

async function readAll(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of input as AsyncIterable<Buffer | string>) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

export async function usersCommand(args: readonly string[], io: { readonly input: NodeJS.ReadableStream; readonly out: (text: string) => void }): Promise<number> {
  if (args[0] === '--help' || args[0] === '-h') {
    io.out(USERS_USAGE);
    return 0;
  }
  if (args.length !== 1 || args[0] !== 'hash') throw new KisError('KIS_ERR_USAGE', `kisflow users: expected 'hash', found '${args.join(' ')}'\n\n${USERS_USAGE}`);
  const password = (await readAll(io.input)).replace(/\r?\n$/, '');
  if (password === '') throw new KisError('KIS_ERR_USAGE', `kisflow users hash: no password on stdin\n\n${USERS_USAGE}`);
  io.out(`password_hash: "${await hashPassword(password)}"\n`);
  return 0;
}
